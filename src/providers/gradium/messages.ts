/**
 * Gradium's WebSocket messages: JSON text frames tagged by `type`, the same framing for
 * speech-to-text and text-to-speech. What the server sends is checked here (zod); a type this
 * client does not know is tolerated and skipped, as new server messages may come; a known type
 * with the wrong fields, a frame that is not JSON or a binary frame is a broken answer.
 * Every message of a multiplexed request carries its `client_req_id`.
 */
import { z } from 'zod';

const requestId = z.string().max(200).optional();
const seconds = z.number().finite().optional();

const readySchema = z.looseObject({
  type: z.literal('ready'),
  request_id: z.string().optional(),
  sample_rate: z.number().int().positive().optional(),
  client_req_id: requestId,
});
const textSchema = z.looseObject({ type: z.literal('text'), text: z.string(), start_s: seconds, stop_s: seconds, client_req_id: requestId });
const endTextSchema = z.looseObject({ type: z.literal('end_text'), stop_s: seconds, client_req_id: requestId });
const stepSchema = z.looseObject({ type: z.literal('step'), client_req_id: requestId });
const flushedSchema = z.looseObject({ type: z.literal('flushed'), flush_id: z.union([z.number(), z.string()]), client_req_id: requestId });
const audioSchema = z.looseObject({ type: z.literal('audio'), audio: z.string(), client_req_id: requestId });
const endOfStreamSchema = z.looseObject({ type: z.literal('end_of_stream'), client_req_id: requestId });
const errorSchema = z.looseObject({
  type: z.literal('error'),
  message: z.string().optional(),
  code: z.number().optional(),
  client_req_id: requestId,
});

const serverMessageSchema = z.discriminatedUnion('type', [
  readySchema,
  textSchema,
  endTextSchema,
  stepSchema,
  flushedSchema,
  audioSchema,
  endOfStreamSchema,
  errorSchema,
]);

export type ServerMessage = z.infer<typeof serverMessageSchema>;

const KNOWN_TYPES = new Set(['ready', 'text', 'end_text', 'step', 'flushed', 'audio', 'end_of_stream', 'error']);

/** Frame text quoted in messages is cut here: a broken upstream can send anything. */
const QUOTED_CHARS = 80;

export type ParsedFrame = { kind: 'message'; message: ServerMessage } | { kind: 'unknown'; type: string } | { kind: 'broken'; problem: string };

/** One frame from the server, as the ws library hands it over. */
export function parseServerFrame(data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): ParsedFrame {
  if (isBinary) return { kind: 'broken', problem: 'a binary frame (the protocol sends JSON text)' };
  const text = Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data as ArrayBuffer).toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { kind: 'broken', problem: `a frame that is not JSON: ${quote(text)}` };
  }
  const type = (value as { type?: unknown } | null)?.type;
  if (typeof value !== 'object' || value === null || Array.isArray(value) || typeof type !== 'string') {
    return { kind: 'broken', problem: `JSON without a "type": ${quote(text)}` };
  }
  if (!KNOWN_TYPES.has(type)) return { kind: 'unknown', type };
  const parsed = serverMessageSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? issue.path.join('.') : 'the message';
    return { kind: 'broken', problem: `a "${type}" message with ${where}: ${issue?.message ?? 'invalid'} (${quote(text)})` };
  }
  return { kind: 'message', message: parsed.data };
}

function quote(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return JSON.stringify(flat.length > QUOTED_CHARS ? `${flat.slice(0, QUOTED_CHARS)}…` : flat);
}

// ── What the client sends ─────────────────────────────────────────────────────────────────

export interface SttSetup {
  type: 'setup';
  model_name: string;
  input_format: string;
  json_config?: Record<string, unknown>;
}

export interface TtsSetup {
  type: 'setup';
  model_name: string;
  voice_id: string;
  output_format: string;
  client_req_id?: string;
  close_ws_on_eos?: boolean;
}

export type ClientMessage =
  | SttSetup
  | TtsSetup
  | { type: 'audio'; audio: string }
  | { type: 'text'; text: string; client_req_id?: string }
  | { type: 'flush'; flush_id: number }
  | { type: 'end_of_stream'; client_req_id?: string };
