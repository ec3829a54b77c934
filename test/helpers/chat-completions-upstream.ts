/**
 * A real OpenAI-compatible chat completions server on 127.0.0.1, port 0: `POST
 * /v1/chat/completions`, streamed (SSE chunks, usage when `stream_options.include_usage`) or as
 * one JSON body. Replies come from a Responder (a ScriptedResponder, for exact text and tool
 * calls) or from a function of the request. Every request is recorded (model, messages, the
 * raw body and headers) for assertions. Point OPENAI_API_BASE, or an OpenAIResponder's baseURL,
 * at `baseURL`. A reply may also misbehave (misbehaviour.ts: a huge, endless, dripping or empty
 * stream), and `connections` counts the sockets still open.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import type { ChatMessage, FinishReason, RespondRequest, Responder, ResponderEvent, ToolDefinition } from '../../src/providers/contracts.ts';
import { ScriptedResponder, type ScriptedTurn } from '../../src/providers/testing/scripted-responder.ts';
import { countConnections, recordAnswer, writeBody, type AnswerRecord, type ConnectionCount, type Misbehaviour } from './misbehaviour.ts';

/** Request bodies past 4 MB are refused with 413: no test conversation comes near it. */
const MAX_BODY_BYTES = 4 * 1024 * 1024;

export interface RecordedMessage {
  role: string;
  /** Text parts joined; '' for a message without text. */
  content: string;
  toolCallId?: string;
}

export interface RecordedChatRequest {
  model: string;
  messages: RecordedMessage[];
  stream: boolean;
  /** The whole parsed JSON body, for fields not lifted out above. */
  body: Record<string, unknown>;
  headers: IncomingHttpHeaders;
}

/** A reply as text, a scripted turn (text and tool calls), an HTTP error to answer with, or a misbehaving stream. */
export type ChatReply = string | ScriptedTurn | { status: number; message: string } | { misbehave: Misbehaviour };

export interface ChatCompletionsUpstreamOptions {
  /**
   * What to answer: a Responder (the request's system message becomes its instructions, the
   * rest its messages), or a function of the request and its 0-based index. Default: the
   * text "This is a scripted reply.". A string is the same text for every request.
   */
  reply?: string | Responder | ((request: RecordedChatRequest, index: number) => ChatReply | Promise<ChatReply>);
  /** Characters per streamed delta when replying with text or a turn; default 5. */
  deltaChars?: number;
  /** Close each connection after its answer (`Connection: close`), so `connections` counts only live requests; default false. */
  closeAfterAnswer?: boolean;
}

export interface ChatCompletionsUpstream {
  /** API root to configure, e.g. http://127.0.0.1:41234/v1. */
  baseURL: string;
  /** Every well-formed chat completion request received, oldest first. */
  requests: RecordedChatRequest[];
  /** The misbehaving answers, oldest first. */
  misbehaved: AnswerRecord[];
  connections: ConnectionCount;
  close(): Promise<void>;
}

const MESSAGE = z.looseObject({
  role: z.string(),
  content: z.union([z.string(), z.array(z.looseObject({ type: z.string(), text: z.string().optional() })), z.null()]).optional(),
  tool_call_id: z.string().optional(),
});

const BODY = z.looseObject({
  model: z.string({ error: 'model is required' }),
  messages: z.array(MESSAGE, { error: 'messages must be an array' }).min(1, 'messages must not be empty'),
  stream: z.boolean().optional(),
  stream_options: z.looseObject({ include_usage: z.boolean().optional() }).nullish(),
  tools: z.array(z.looseObject({ function: z.looseObject({ name: z.string(), description: z.string().optional() }) })).optional(),
  temperature: z.number().optional(),
});

export async function startChatCompletionsUpstream(options: ChatCompletionsUpstreamOptions = {}): Promise<ChatCompletionsUpstream> {
  const requests: RecordedChatRequest[] = [];
  const misbehaved: AnswerRecord[] = [];
  const server = createServer((req, res) => {
    if (options.closeAfterAnswer) res.setHeader('connection', 'close');
    if (req.method !== 'POST' || req.url?.split('?')[0] !== '/v1/chat/completions') {
      sendError(res, 404, `no route ${req.method} ${req.url}`);
      return;
    }
    const parts: Buffer[] = [];
    let size = 0;
    req.on('data', (part: Buffer) => {
      size += part.length;
      if (size <= MAX_BODY_BYTES) parts.push(part);
    });
    req.on('end', () => {
      if (size > MAX_BODY_BYTES) {
        sendError(res, 413, `request body is larger than ${MAX_BODY_BYTES} bytes`);
        return;
      }
      let json: unknown;
      try {
        json = JSON.parse(Buffer.concat(parts).toString('utf8'));
      } catch (error) {
        sendError(res, 400, `body is not JSON: ${(error as Error).message}`);
        return;
      }
      const parsed = BODY.safeParse(json);
      if (!parsed.success) {
        sendError(res, 400, parsed.error.issues[0]?.message ?? 'invalid request');
        return;
      }
      const recorded: RecordedChatRequest = {
        model: parsed.data.model,
        messages: parsed.data.messages.map(toRecordedMessage),
        stream: parsed.data.stream === true,
        body: parsed.data,
        headers: req.headers,
      };
      requests.push(recorded);
      const controller = new AbortController();
      res.on('close', () => {
        if (!res.writableEnded) controller.abort();
      });
      answer(recorded, requests.length - 1, parsed.data, res, controller.signal, options, misbehaved).catch((error: unknown) => {
        if (!res.headersSent) sendError(res, 500, (error as Error).message);
        else res.destroy();
      });
    });
  });
  const connections = countConnections(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    requests,
    misbehaved,
    connections,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The text of every message of one role in a recorded request, e.g. the system prompt. */
export function messagesOf(request: RecordedChatRequest, role: string): string[] {
  return request.messages.filter((message) => message.role === role).map((message) => message.content);
}

async function answer(
  recorded: RecordedChatRequest,
  index: number,
  body: z.infer<typeof BODY>,
  res: ServerResponse,
  signal: AbortSignal,
  options: ChatCompletionsUpstreamOptions,
  misbehaved: AnswerRecord[],
): Promise<void> {
  const reply = options.reply ?? 'This is a scripted reply.';
  let responder: Responder;
  if (typeof reply === 'function') {
    const chosen = await reply(recorded, index);
    if (typeof chosen === 'object' && 'status' in chosen) {
      sendError(res, chosen.status, chosen.message);
      return;
    }
    if (typeof chosen === 'object' && 'misbehave' in chosen) {
      const record = recordAnswer('/v1/chat/completions', chosen.misbehave, res);
      misbehaved.push(record);
      await misbehave(res, record, chosen.misbehave, recorded.model);
      return;
    }
    responder = new ScriptedResponder({ script: typeof chosen === 'string' ? { text: chosen } : chosen, deltaChars: options.deltaChars });
  } else {
    responder = typeof reply === 'string' ? new ScriptedResponder({ script: { text: reply }, deltaChars: options.deltaChars }) : reply;
  }
  const events = responder.respond({ ...toRespondRequest(body), signal });
  if (recorded.stream) await streamChunks(events, recorded.model, body.stream_options?.include_usage === true, res);
  else await sendWhole(events, recorded.model, res);
}

function toRecordedMessage(message: z.infer<typeof MESSAGE>): RecordedMessage {
  const content = typeof message.content === 'string' ? message.content : (message.content ?? []).map((part) => part.text ?? '').join('');
  return { role: message.role, content, ...(message.tool_call_id ? { toolCallId: message.tool_call_id } : {}) };
}

/** The request as a Responder sees it: system messages become the instructions. */
function toRespondRequest(body: z.infer<typeof BODY>): RespondRequest {
  const messages: ChatMessage[] = [];
  const system: string[] = [];
  for (const raw of body.messages) {
    const message = toRecordedMessage(raw);
    if (message.role === 'system' || message.role === 'developer') system.push(message.content);
    else if (message.role === 'assistant') messages.push({ role: 'assistant', content: message.content });
    else if (message.role === 'tool') messages.push({ role: 'tool', callId: message.toolCallId ?? '', content: message.content });
    else messages.push({ role: 'user', content: message.content });
  }
  const tools: ToolDefinition[] | undefined = body.tools?.map((tool) => ({ name: tool.function.name, description: tool.function.description }));
  return {
    mode: 'reply',
    messages,
    ...(system.length > 0 ? { instructions: system.join('\n\n') } : {}),
    model: body.model,
    ...(tools ? { tools } : {}),
    ...(body.temperature !== undefined ? { temperature: body.temperature } : {}),
  };
}

interface ChunkContext {
  id: string;
  created: number;
  model: string;
}

async function streamChunks(events: AsyncIterable<ResponderEvent>, model: string, includeUsage: boolean, res: ServerResponse): Promise<void> {
  const context: ChunkContext = { id: `chatcmpl-${randomUUID()}`, created: Math.floor(Date.now() / 1000), model };
  const send = (choices: unknown[], extra: Record<string, unknown> = {}) => {
    res.write(`data: ${JSON.stringify({ id: context.id, object: 'chat.completion.chunk', created: context.created, model, choices, ...extra })}\n\n`);
  };
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  send([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]);
  try {
    for await (const event of events) {
      switch (event.type) {
        case 'text.delta':
          send([{ index: 0, delta: { content: event.text }, finish_reason: null }]);
          break;
        case 'tool_call.delta':
          send([
            {
              index: 0,
              delta: {
                tool_calls: [
                  {
                    index: event.index,
                    ...(event.callId ? { id: event.callId, type: 'function' } : {}),
                    function: { ...(event.name ? { name: event.name } : {}), arguments: event.argumentsDelta },
                  },
                ],
              },
              finish_reason: null,
            },
          ]);
          break;
        case 'done':
          send([{ index: 0, delta: {}, finish_reason: event.finishReason }]);
          if (includeUsage) send([], { usage: usageOf(event) });
          break;
      }
    }
  } catch (error) {
    // An error after the headers: OpenAI's in-stream error event, which the SDK raises as an APIError.
    if (!res.writableEnded && !res.destroyed) res.write(`data: ${JSON.stringify({ error: { message: (error as Error).message, type: 'server_error' } })}\n\n`);
  }
  if (!res.writableEnded && !res.destroyed) res.end('data: [DONE]\n\n');
}

async function sendWhole(events: AsyncIterable<ResponderEvent>, model: string, res: ServerResponse): Promise<void> {
  let text = '';
  const calls = new Map<number, { id: string; name: string; arguments: string }>();
  let finishReason: FinishReason = 'stop';
  let usage = { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };
  for await (const event of events) {
    if (event.type === 'text.delta') text += event.text;
    else if (event.type === 'tool_call.delta') {
      const call = calls.get(event.index) ?? { id: '', name: '', arguments: '' };
      if (event.callId) call.id = event.callId;
      if (event.name) call.name = event.name;
      call.arguments += event.argumentsDelta;
      calls.set(event.index, call);
    } else {
      finishReason = event.finishReason;
      usage = usageOf(event);
    }
  }
  const toolCalls = [...calls.values()].map((call) => ({ id: call.id, type: 'function', function: { name: call.name, arguments: call.arguments } }));
  const body = {
    id: `chatcmpl-${randomUUID()}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [
      { index: 0, message: { role: 'assistant', content: text, ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}) }, finish_reason: finishReason },
    ],
    usage,
  };
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

function usageOf(event: Extract<ResponderEvent, { type: 'done' }>) {
  const input = event.usage?.inputTokens ?? 0;
  const output = event.usage?.outputTokens ?? 0;
  return { prompt_tokens: input, completion_tokens: output, total_tokens: input + output };
}

/**
 * A stream that is well-formed chunk by chunk: "la " deltas, `bytes` of them as fast as the
 * socket takes them (huge), without end (endless) or one every `everyMs` (drip); or a 200 with
 * no event at all (empty).
 */
async function misbehave(res: ServerResponse, record: AnswerRecord, behaviour: Misbehaviour, model: string): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  if (behaviour.kind === 'empty') {
    res.end();
    return;
  }
  const created = Math.floor(Date.now() / 1000);
  const event = (delta: Record<string, unknown>) =>
    `data: ${JSON.stringify({ id: 'chatcmpl-misbehaving', object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, finish_reason: null }] })}\n\n`;
  const la = Buffer.from(event({ content: 'la '.repeat(20) }));
  const head = event({ role: 'assistant', content: '' });
  if (behaviour.kind === 'drip') {
    const drop = Buffer.from(event({ content: 'la ' }));
    await writeBody(res, record, { head, piece: () => drop, everyMs: behaviour.everyMs });
    return;
  }
  let left = behaviour.kind === 'huge' ? behaviour.bytes : Infinity;
  const piece = () => {
    if (left <= 0) return null;
    left -= la.length;
    return la;
  };
  await writeBody(res, record, { head, piece, tail: 'data: [DONE]\n\n' });
}

function sendError(res: ServerResponse, status: number, message: string): void {
  const type = status >= 500 ? 'server_error' : 'invalid_request_error';
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message, type, param: null, code: null } }));
}
