/**
 * Responder over an OpenAI-compatible streamed chat completion (OpenAI, vLLM, llama.cpp,
 * Ollama, LiteLLM…). Text and tool-call pieces are passed on as they arrive; the request is
 * aborted with the caller's signal (the SDK closes the HTTP request when its stream stops).
 *
 * Usage comes from `stream_options.include_usage`. Upstreams that reject that field get one
 * retry without it, after which this instance stops sending it; upstreams that ignore it give
 * a `done` without usage.
 *
 * Bounds (src/providers/upstream-limits.ts): `max_tokens` is always sent (MAX_RESPONSE_TOKENS,
 * or the request's lower value), so the upstream stops by itself; an upstream that rejects
 * `max_tokens` (OpenAI's reasoning models) gets one retry with `max_completion_tokens`, which
 * this instance then keeps. Whatever the upstream does, the stream ends with
 * upstream_response_too_large past MAX_RESPONSE_CHARS characters of text and tool-call
 * arguments (or 256 bytes of stream a character, for streams of empty chunks or one endless
 * line), and with upstream_timeout after RESPONSE_TIMEOUT in total, however steadily it drips.
 */
import type OpenAI from 'openai';
import { APIError } from 'openai';
import type {
  ChatCompletionChunk,
  ChatCompletionCreateParamsStreaming,
  ChatCompletionMessageParam,
  ChatCompletionTool,
  ChatCompletionToolChoiceOption,
} from 'openai/resources/chat/completions';
import { abortError, throwIfAborted } from '../../errors/abort.ts';
import { SpeechbridgeError } from '../../errors/registry.ts';
import type {
  ChatMessage,
  FinishReason,
  RespondRequest,
  Responder,
  ResponderCapabilities,
  ResponderEvent,
  TokenUsage,
  ToolChoice,
  ToolDefinition,
} from '../contracts.ts';
import { RESPONSE_MODES } from '../contracts.ts';
import { systemPromptFor } from '../prompts.ts';
import { CHAT_STREAM_BYTES_PER_CHAR, defaultUpstreamLimits, formatBytes, LIMIT_SETTINGS } from '../upstream-limits.ts';
import { createOpenAIClient } from './client.ts';
import { badResponse, displayURL, isRejectedParameter, upstreamError, type UpstreamContext } from './errors.ts';
import { startIdleDeadline } from './idle-deadline.ts';

export interface OpenAIResponderOptions {
  /** OPENAI_API_BASE, e.g. https://api.openai.com/v1. */
  baseURL: string;
  apiKey?: string;
  /** Named in auth failures, e.g. 'OPENAI_API_KEY'. */
  apiKeyName?: string;
  /** OPENAI_API_MODEL; a request's model wins. */
  model: string;
  /** REQUEST_TIMEOUT in ms: the longest wait for the first chunk and between chunks. */
  timeoutMs: number;
  /** RESPONSE_TIMEOUT in ms: the whole stream; default 4 × timeoutMs. */
  responseTimeoutMs?: number;
  /** MAX_RESPONSE_CHARS; default 16,000. */
  maxOutputChars?: number;
  /** MAX_RESPONSE_TOKENS, sent as max_tokens; 0 sends none unless the request asks; default 4096. */
  maxOutputTokens?: number;
  /** DEFAULT_SYSTEM_PROMPT: replaces the built-in reply prompt. */
  defaultSystemPrompt?: string;
  /** For tests and proxies; wrapped in the stream's byte bound. */
  fetch?: typeof fetch;
}

type TokenField = 'max_tokens' | 'max_completion_tokens';

interface CallShape {
  includeUsage: boolean;
  tokenField: TokenField;
  /** reasoning_effort and parallel_tool_calls go up while the upstream accepts them (chat models refuse reasoning_effort). */
  reasoningEffort: boolean;
  parallelToolCalls: boolean;
}

export class OpenAIResponder implements Responder {
  readonly name = 'openai-responder';
  readonly capabilities: ResponderCapabilities = { tools: true, modes: RESPONSE_MODES };
  readonly upstream: string;
  private readonly client: OpenAI;
  private readonly model: string;
  private readonly timeoutMs: number;
  private readonly responseTimeoutMs: number;
  private readonly maxOutputChars: number;
  private readonly maxOutputTokens: number;
  private readonly defaultSystemPrompt?: string;
  private readonly context: UpstreamContext;
  private shape: CallShape = { includeUsage: true, tokenField: 'max_tokens', reasoningEffort: true, parallelToolCalls: true };

  constructor(options: OpenAIResponderOptions) {
    const defaults = defaultUpstreamLimits(options.timeoutMs);
    this.upstream = displayURL(options.baseURL);
    this.model = options.model;
    this.timeoutMs = options.timeoutMs;
    this.responseTimeoutMs = options.responseTimeoutMs ?? defaults.responseTimeoutMs;
    this.maxOutputChars = options.maxOutputChars ?? defaults.maxResponseChars;
    this.maxOutputTokens = options.maxOutputTokens ?? defaults.maxResponseTokens;
    this.defaultSystemPrompt = options.defaultSystemPrompt;
    const maxBytes = this.maxOutputChars * CHAT_STREAM_BYTES_PER_CHAR;
    const bodyLimit = {
      maxBytes,
      tooLarge: () =>
        new SpeechbridgeError(
          'upstream_response_too_large',
          `${this.upstream} sent a chat completion stream larger than ${formatBytes(maxBytes)} (${CHAT_STREAM_BYTES_PER_CHAR} bytes per ${LIMIT_SETTINGS.maxResponseChars} character); the request was aborted`,
        ),
    };
    this.client = createOpenAIClient({ ...options, bodyLimit });
    this.context = {
      baseURL: options.baseURL,
      operation: 'chat completion',
      apiKey: options.apiKey,
      apiKeyName: options.apiKeyName,
      timeoutMs: options.timeoutMs,
    };
  }

  async *respond(request: RespondRequest): AsyncIterable<ResponderEvent> {
    throwIfAborted(request.signal);
    const deadline = startIdleDeadline({ idleMs: this.timeoutMs, totalMs: this.responseTimeoutMs }, request.signal);
    try {
      const stream = await this.open(request, deadline.signal);
      let chunks = 0;
      let written = 0;
      let sawToolCall = false;
      let finishReason: FinishReason | undefined;
      let usage: TokenUsage | undefined;
      for await (const chunk of stream) {
        deadline.touch();
        chunks++;
        if (chunk.usage) usage = { inputTokens: chunk.usage.prompt_tokens ?? 0, outputTokens: chunk.usage.completion_tokens ?? 0 };
        const choice = chunk.choices?.[0];
        if (!choice) continue;
        const calls = choice.delta?.tool_calls ?? [];
        written += (choice.delta?.content?.length ?? 0) + calls.reduce((sum, call) => sum + (call.function?.arguments?.length ?? 0), 0);
        // Leaving the loop by a throw ends the SDK's stream, which aborts the request.
        if (written > this.maxOutputChars) throw this.tooMuchText();
        if (choice.delta?.content) yield { type: 'text.delta', text: choice.delta.content };
        for (const call of calls) {
          sawToolCall = true;
          yield {
            type: 'tool_call.delta',
            index: call.index ?? 0,
            ...(call.id ? { callId: call.id } : {}),
            ...(call.function?.name ? { name: call.function.name } : {}),
            argumentsDelta: call.function?.arguments ?? '',
          };
        }
        if (choice.finish_reason) finishReason = toFinishReason(choice.finish_reason);
      }
      // The SDK ends a stream quietly when its request is aborted, so an abort (the caller's or
      // the deadline's) looks like a normal end here and has to be checked for.
      if (deadline.signal.aborted) throw abortError();
      if (chunks === 0) throw badResponse(this.context, 'the stream ended without any completion chunk');
      yield { type: 'done', finishReason: finishReason ?? (sawToolCall ? 'tool_calls' : 'stop'), ...(usage ? { usage } : {}) };
    } catch (error) {
      throw upstreamError(error, this.context, deadline);
    } finally {
      deadline.dispose();
    }
  }

  private tooMuchText(): SpeechbridgeError {
    return new SpeechbridgeError(
      'upstream_response_too_large',
      `${this.upstream} wrote more than ${this.maxOutputChars} characters for one response (${LIMIT_SETTINGS.maxResponseChars}); the request was aborted`,
    );
  }

  /**
   * Opens the stream, retrying once per parameter an upstream rejects (stream_options, then
   * max_tokens); what worked is kept for the calls after.
   */
  private async open(request: RespondRequest, signal: AbortSignal): Promise<AsyncIterable<ChatCompletionChunk>> {
    const shape = { ...this.shape };
    for (;;) {
      const params = this.params(request, shape);
      try {
        const stream = await this.client.chat.completions.create(params, { signal });
        this.shape = shape;
        return stream;
      } catch (error) {
        if (!isRejectedParameter(error) || signal.aborted) throw error;
        if (shape.tokenField === 'max_tokens' && 'max_tokens' in params && asksForNewTokenField(error)) shape.tokenField = 'max_completion_tokens';
        else if ('reasoning_effort' in params && namesParameter(error, 'reasoning_effort')) shape.reasoningEffort = false;
        else if ('parallel_tool_calls' in params && namesParameter(error, 'parallel_tool_calls')) shape.parallelToolCalls = false;
        else if (shape.includeUsage) shape.includeUsage = false;
        else throw error;
      }
    }
  }

  private params(request: RespondRequest, shape: CallShape): ChatCompletionCreateParamsStreaming {
    const system = systemPromptFor(request, { replyPrompt: this.defaultSystemPrompt });
    const tools = request.tools && request.tools.length > 0 ? request.tools.map(toTool) : undefined;
    const maxTokens = this.tokenLimit(request.maxOutputTokens);
    return {
      model: request.model ?? this.model,
      stream: true,
      messages: [{ role: 'system', content: system }, ...request.messages.map(toMessage)],
      ...(shape.includeUsage ? { stream_options: { include_usage: true } } : {}),
      ...(tools ? { tools } : {}),
      ...(tools && request.toolChoice ? { tool_choice: toToolChoice(request.toolChoice) } : {}),
      ...(tools && shape.parallelToolCalls && request.parallelToolCalls !== undefined ? { parallel_tool_calls: request.parallelToolCalls } : {}),
      ...(request.temperature !== undefined ? { temperature: request.temperature } : {}),
      ...(shape.reasoningEffort && request.reasoningEffort !== undefined ? { reasoning_effort: request.reasoningEffort } : {}),
      // max_tokens first: every compatible server (vLLM, llama.cpp, Ollama) knows it, and
      // OpenAI still accepts it for its chat models; its reasoning models want the newer name.
      ...(maxTokens !== undefined ? { [shape.tokenField]: maxTokens } : {}),
    };
  }

  /** The request's max_output_tokens, capped at MAX_RESPONSE_TOKENS (0: no cap of the server's own). */
  private tokenLimit(requested: number | undefined): number | undefined {
    if (this.maxOutputTokens <= 0) return requested;
    return requested === undefined ? this.maxOutputTokens : Math.min(requested, this.maxOutputTokens);
  }
}

/**
 * OpenAI's refusal of max_tokens for its reasoning models says "Use 'max_completion_tokens'
 * instead"; a refusal of the value (too many for the context) does not, and is not retried.
 */
/** An upstream's refusal that names the parameter (OpenAI: "Unrecognized request argument supplied: reasoning_effort", or `param`). */
function namesParameter(error: unknown, name: string): boolean {
  if (!(error instanceof APIError)) return false;
  const param = (error.error as { param?: unknown } | undefined)?.param;
  return param === name || error.message.includes(name);
}

function asksForNewTokenField(error: unknown): boolean {
  return error instanceof APIError && error.message.includes('max_completion_tokens');
}

function toMessage(message: ChatMessage): ChatCompletionMessageParam {
  switch (message.role) {
    case 'system':
      return { role: 'system', content: message.content };
    case 'user':
      return { role: 'user', content: message.content };
    case 'assistant':
      if (message.toolCalls && message.toolCalls.length > 0) {
        return {
          role: 'assistant',
          content: message.content || null,
          tool_calls: message.toolCalls.map((call) => ({
            id: call.callId,
            type: 'function' as const,
            function: { name: call.name, arguments: call.arguments },
          })),
        };
      }
      return { role: 'assistant', content: message.content };
    case 'tool':
      return { role: 'tool', tool_call_id: message.callId, content: message.content };
  }
}

function toTool(tool: ToolDefinition): ChatCompletionTool {
  return {
    type: 'function',
    function: {
      name: tool.name,
      ...(tool.description ? { description: tool.description } : {}),
      ...(tool.parameters ? { parameters: tool.parameters } : {}),
    },
  };
}

function toToolChoice(choice: ToolChoice): ChatCompletionToolChoiceOption {
  return typeof choice === 'string' ? choice : { type: 'function', function: { name: choice.name } };
}

function toFinishReason(reason: string): FinishReason {
  switch (reason) {
    case 'length':
      return 'length';
    case 'tool_calls':
    case 'function_call':
      return 'tool_calls';
    case 'content_filter':
      return 'content_filter';
    default:
      return 'stop';
  }
}
