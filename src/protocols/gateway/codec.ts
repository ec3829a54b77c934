/**
 * The gateway protocol's wire messages: zod schemas of what a client sends (`start`, `audio`,
 * `end`; audio may also come as binary frames, which need no schema), the server's messages,
 * and the translation of `start` into the session the engine runs. parseClientMessage never
 * throws: what does not parse becomes a SpeechbridgeError naming the problem, for an `error`
 * message. Unknown fields are tolerated, so newer clients keep working.
 */
import { z } from 'zod';
import { type ErrorCode, SpeechbridgeError } from '../../errors/registry.ts';
import type { SessionUpdate } from '../../engine/events.ts';
import { parseBoundedJson } from '../bounded-json.ts';
import { describeValue, quote } from '../client-values.ts';
import { DEFAULT_PCM_SAMPLE_RATE, type GatewayAudioFormat, parseAudioFormat, pcm } from './formats.ts';

// ── Client → server ─────────────────────────────────────────────────────────────────────

/** null is taken as absent: clients often serialize unset options that way. */
const name = (max: number) => z.string().trim().min(1).max(max).nullish();
/**
 * A model name, where "default" (what the Gradium gateway's clients send) means the server's
 * own model, as absence does: passed on, it would name no model of this server's upstreams.
 */
const modelName = (max: number) =>
  name(max)
    .transform((value) => (value?.toLowerCase() === 'default' ? undefined : value))
    .optional();

const startSchema = z.looseObject({
  type: z.literal('start'),
  input_format: name(40),
  output_format: name(40),
  voice_id: name(100),
  stt_model: modelName(200),
  tts_model: modelName(200),
  openai_model: modelName(200),
  /** The LLM's instructions; replaces the default rewrite prompt. */
  prompt: z.string().max(100_000).nullish(),
});

const audioSchema = z.looseObject({
  type: z.literal('audio'),
  audio: z.string({ error: 'audio must be a base64 string of audio in the input format' }),
});

const endSchema = z.looseObject({ type: z.literal('end') });

/** The client messages' schemas by type (exported for the fuzz test, which fuzzes every field). */
export const CLIENT_MESSAGE_SCHEMAS = { start: startSchema, audio: audioSchema, end: endSchema } as const;
const SCHEMAS = CLIENT_MESSAGE_SCHEMAS;
const MESSAGE_TYPES = Object.keys(SCHEMAS) as Array<keyof typeof SCHEMAS>;

export type StartMessage = z.infer<typeof startSchema>;
export type ClientMessage = StartMessage | z.infer<typeof audioSchema> | z.infer<typeof endSchema>;

/** One text frame → a client message, or the error to report. Bounds: src/protocols/bounded-json.ts. */
export function parseClientMessage(text: string): { message: ClientMessage } | { error: SpeechbridgeError } {
  const bounded = parseBoundedJson(text);
  if (!bounded.ok) {
    const { error } = bounded;
    const hint = error.code === 'invalid_json' ? '; send {"type":"start"|"audio"|"end", …} or binary audio frames' : '';
    return { error: new SpeechbridgeError(error.code, `${error.message}${hint}`, { param: error.param }) };
  }
  const json = bounded.value;
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return { error: new SpeechbridgeError('invalid_value', 'the message must be a JSON object with a "type" field', { param: 'type' }) };
  }
  const type = (json as { type?: unknown }).type;
  if (typeof type !== 'string' || !MESSAGE_TYPES.includes(type as keyof typeof SCHEMAS)) {
    const got = type === undefined ? 'no type' : typeof type === 'string' ? `type ${quote(type)}` : `a type that is ${describeValue(type)}`;
    return { error: new SpeechbridgeError('unknown_event', `unknown message: ${got}; the types are ${MESSAGE_TYPES.join(', ')}`, { param: 'type' }) };
  }
  const parsed = SCHEMAS[type as keyof typeof SCHEMAS].safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const param = issue?.path.join('.') || 'type';
    return { error: new SpeechbridgeError('invalid_value', `${type}.${param}: ${issue?.message ?? 'invalid value'}`, { param }) };
  }
  return { message: parsed.data };
}

// ── start → session ────────────────────────────────────────────────────────────────────

export interface GatewaySession {
  input: GatewayAudioFormat;
  output: GatewayAudioFormat;
  /** The LLM model (openai_model). */
  model?: string;
  session: SessionUpdate;
}

/** Server-wide settings for gateway sessions. */
export interface GatewayDefaults {
  /** The rewrite prompt when `start` gives none (OPENAI_PROMPT); else the responder's own rewrite prompt. */
  rewritePrompt?: string;
}

/**
 * The session a `start` asks for; throws unsupported_format for an unknown format name.
 * The engine runs in mode 'rewrite' with the prompt given, else the server's rewrite prompt,
 * else none, so the responder uses its rewrite prompt (DEFAULT_SYSTEM_PROMPT, the server-wide
 * reply prompt, is the responder's reply default and never reaches a rewrite).
 * Each turn is answered on its own: VAD ends turns and starts their responses, and a new turn
 * does not cancel the previous turn's answer (no barge-in), so every turn gets its result.
 */
export function sessionOf(start: StartMessage, defaults: GatewayDefaults = {}): GatewaySession {
  const input = start.input_format ? parseAudioFormat(start.input_format, 'input_format') : pcm(DEFAULT_PCM_SAMPLE_RATE);
  const output = start.output_format ? parseAudioFormat(start.output_format, 'output_format') : pcm(DEFAULT_PCM_SAMPLE_RATE);
  const instructions = start.prompt?.trim() || defaults.rewritePrompt?.trim();
  const session: SessionUpdate = {
    mode: 'rewrite',
    ...(instructions && { instructions }),
    outputModalities: ['audio'],
    inputSampleRate: input.sampleRate,
    outputSampleRate: output.sampleRate,
    interimTranscripts: true,
    turnDetection: { type: 'server_vad', createResponse: true, interruptResponse: false },
    ...(start.voice_id && { voice: start.voice_id }),
    ...(start.stt_model && { transcription: { model: start.stt_model } }),
    ...(start.tts_model && { ttsModel: start.tts_model }),
  };
  return { input, output, ...(start.openai_model && { model: start.openai_model }), session };
}

// ── Server → client ─────────────────────────────────────────────────────────────────────

export type ServerMessage =
  | {
      type: 'ready';
      stt_input_format: string;
      tts_output_format: string;
      input_sample_rate: number;
      output_sample_rate: number;
      voice_id: string;
      stt_model: string | null;
      openai_model: string | null;
      tts_model: string | null;
    }
  | { type: 'stt_partial'; turn_id: string; text: string }
  | { type: 'stt_final'; turn_id: string; text: string }
  | { type: 'text_final'; turn_id: string | null; text: string }
  | { type: 'tts_start'; turn_id: string | null; format: string; sample_rate: number }
  | { type: 'tts_end'; turn_id: string | null }
  | { type: 'error'; code: ErrorCode; message: string; param: string | null; turn_id?: string | null };

export function errorMessage(error: SpeechbridgeError | { code: ErrorCode; message: string; param?: string | null }, turnId?: string | null): ServerMessage {
  return { type: 'error', code: error.code, message: error.message, param: error.param ?? null, ...(turnId !== undefined && { turn_id: turnId }) };
}
