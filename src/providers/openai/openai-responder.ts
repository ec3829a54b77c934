/**
 * Responder over an OpenAI-compatible streamed chat completion (OpenAI, vLLM, llama.cpp,
 * Ollama, LiteLLM…). Text and tool-call pieces are passed on as they arrive; the request is
 * aborted with the caller's signal (the SDK closes the HTTP request when its stream stops).
 *
 * Usage comes from `stream_options.include_usage`. Upstreams that reject that field get one
 * retry without it, after which this instance stops sending it; upstreams that ignore it give
 * a `done` without usage.
 */
import type OpenAI from 'openai';
import type {
  ChatCompletionChunk,
  ChatCompletionCreateParamsStreaming,
  ChatCompletionMessageParam,
  ChatCompletionTool,
  ChatCompletionToolChoiceOption,
} from 'openai/resources/chat/completions';
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
import { throwIfAborted } from '../deadline.ts';
import { systemPromptFor } from '../prompts.ts';
import { createOpenAIClient } from './client.ts';
import { abortError, badResponse, isRejectedParameter, upstreamError, type UpstreamContext } from './errors.ts';
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
  /** DEFAULT_SYSTEM_PROMPT: replaces the built-in reply prompt. */
  defaultSystemPrompt?: string;
  client?: OpenAI;
}

export class OpenAIResponder implements Responder {
  readonly name = 'openai-responder';
  readonly capabilities: ResponderCapabilities = { tools: true, modes: ['reply', 'translate', 'rewrite'] };
  private readonly client: OpenAI;
  private readonly model: string;
  private readonly timeoutMs: number;
  private readonly defaultSystemPrompt?: string;
  private readonly context: UpstreamContext;
  private includeUsage = true;

  constructor(options: OpenAIResponderOptions) {
    this.client = options.client ?? createOpenAIClient(options);
    this.model = options.model;
    this.timeoutMs = options.timeoutMs;
    this.defaultSystemPrompt = options.defaultSystemPrompt;
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
    const deadline = startIdleDeadline(this.timeoutMs, request.signal);
    try {
      const stream = await this.open(this.params(request), deadline.signal);
      let chunks = 0;
      let sawToolCall = false;
      let finishReason: FinishReason | undefined;
      let usage: TokenUsage | undefined;
      for await (const chunk of stream) {
        deadline.touch();
        chunks++;
        if (chunk.usage) usage = { inputTokens: chunk.usage.prompt_tokens ?? 0, outputTokens: chunk.usage.completion_tokens ?? 0 };
        const choice = chunk.choices?.[0];
        if (!choice) continue;
        if (choice.delta?.content) yield { type: 'text.delta', text: choice.delta.content };
        for (const call of choice.delta?.tool_calls ?? []) {
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

  private async open(params: ChatCompletionCreateParamsStreaming, signal: AbortSignal): Promise<AsyncIterable<ChatCompletionChunk>> {
    if (!this.includeUsage) return this.client.chat.completions.create(params, { signal });
    try {
      return await this.client.chat.completions.create({ ...params, stream_options: { include_usage: true } }, { signal });
    } catch (error) {
      if (!isRejectedParameter(error) || signal.aborted) throw error;
      const stream = await this.client.chat.completions.create(params, { signal });
      this.includeUsage = false;
      return stream;
    }
  }

  private params(request: RespondRequest): ChatCompletionCreateParamsStreaming {
    const system = systemPromptFor(request, { replyPrompt: this.defaultSystemPrompt });
    const tools = request.tools && request.tools.length > 0 ? request.tools.map(toTool) : undefined;
    return {
      model: request.model ?? this.model,
      stream: true,
      messages: [{ role: 'system', content: system }, ...request.messages.map(toMessage)],
      ...(tools ? { tools } : {}),
      ...(tools && request.toolChoice ? { tool_choice: toToolChoice(request.toolChoice) } : {}),
      ...(request.temperature !== undefined ? { temperature: request.temperature } : {}),
      // max_tokens, not max_completion_tokens: every compatible server (vLLM, llama.cpp,
      // Ollama) knows it, and OpenAI still accepts it for its chat models.
      ...(request.maxOutputTokens !== undefined ? { max_tokens: request.maxOutputTokens } : {}),
    };
  }
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
