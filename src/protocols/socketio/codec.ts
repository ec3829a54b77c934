/**
 * The Socket.IO `/realtime` codec: client events (`update_session`, `audio`, `commit`,
 * `system_prompt`) → engine inputs, and engine events → the `message` payloads the server
 * emits (`connected`, `event` turn.start, `transcript_temp`, `transcript_final`, `audio`,
 * `turn_done`, `error`). Audio is base64 PCM16 at 24 kHz both ways.
 *
 * decode() never throws: what does not parse becomes an error naming the event and the field.
 * update_session is strict (an unknown field is refused, so a misspelt knob is not silently
 * ignored); the other payloads tolerate extra fields, and system_prompt takes a bare string or
 * an object holding the prompt under any of the names clients use.
 */
import { z } from 'zod';
import { decodeBase64Audio, decodeWireAudio, encodeBase64Audio } from '../../audio/base64.ts';
import { type ErrorCode, toSpeechbridgeError } from '../../errors/registry.ts';
import type { EngineEvent, EngineInput, SessionUpdate, TurnDetectionConfig } from '../../engine/events.ts';
import { TURN_KNOB_FIELDS, turnKnobsFromWire } from '../turn-knobs.ts';
import { describeValue as describe, quote } from '../client-values.ts';

/** The wire's one audio format, both ways: PCM16 mono little-endian at 24 kHz. */
export const SOCKETIO_SAMPLE_RATE = 24000;

/** The session settings every /realtime session starts with (live partials are part of this protocol). */
export function socketIoSession(): SessionUpdate {
  return { inputSampleRate: SOCKETIO_SAMPLE_RATE, outputSampleRate: SOCKETIO_SAMPLE_RATE, outputModalities: ['audio'], interimTranscripts: true };
}

export const CLIENT_EVENTS = ['update_session', 'audio', 'commit', 'system_prompt'] as const;
export type ClientEventName = (typeof CLIENT_EVENTS)[number];

/** Everything the server sends goes out as this event. */
export const SERVER_EVENT = 'message';

export type ServerMessage =
  | { type: 'connected'; content: { engine: string; sr: number } }
  | { type: 'event'; content: { type: 'turn.start' } }
  | { type: 'transcript_temp'; content: string }
  | { type: 'transcript_final'; content: string }
  | { type: 'audio'; content: string }
  | { type: 'turn_done' }
  /** `code` is the stable error code (docs/errors.md); `content` says what went wrong. */
  | { type: 'error'; content: string; code: ErrorCode };

/**
 * Engine inputs for one client event, applied in order. A manual commit is a turn.end that
 * answers the turn: this protocol's clients expect an answer to every turn they end.
 */
export type DecodeResult = { ok: true; inputs: EngineInput[] } | { ok: false; code: ErrorCode; message: string };

// ── Client payload schemas ────────────────────────────────────────────────────────────────

/** null or type "none" turns VAD off (manual commits only). */
const turnDetectionSchema = z
  .strictObject({
    type: z.enum(['server_vad', 'none']).optional(),
    ...TURN_KNOB_FIELDS,
  })
  .nullable();

export const updateSessionSchema = z.strictObject({
  session: z.strictObject({
    voice: z.string().trim().min(1).max(100).optional(),
    turn_detection: turnDetectionSchema.optional(),
  }),
});

/** Field names per object, for the message that refuses an unknown one. */
const KNOWN_FIELDS: Readonly<Record<string, readonly string[]>> = {
  '': ['session'],
  session: ['voice', 'turn_detection'],
  'session.turn_detection': ['type', 'aggressiveness', 'start_ms', 'end_ms', 'pad_ms', 'max_ms'],
};

export const audioSchema = z.object({
  /** Base64 text, or raw bytes when the client sends a binary attachment. */
  audio: z.union([z.string(), z.instanceof(Uint8Array)], { error: 'audio must be a base64 string of PCM16 24 kHz audio' }),
  commit: z.boolean().optional(),
});

/** system_prompt: the prompt itself, or an object holding it under one of these names. */
const PROMPT_FIELDS = ['prompt', 'system_prompt', 'instructions', 'content', 'text'] as const;
const MAX_PROMPT_CHARS = 100_000;
/** Unknown fields named in one refusal. */
const MAX_NAMED_FIELDS = 5;

// ── Decoding ──────────────────────────────────────────────────────────────────────────────

export function isClientEvent(name: string): name is ClientEventName {
  return (CLIENT_EVENTS as readonly string[]).includes(name);
}

/** One client event → the engine inputs it stands for, or the error to send back. */
export function decodeClientEvent(name: ClientEventName, payload: unknown): DecodeResult {
  try {
    switch (name) {
      case 'update_session':
        return decodeUpdateSession(payload);
      case 'audio':
        return decodeAudio(payload);
      case 'commit':
        return { ok: true, inputs: [{ type: 'turn.end', respond: true }] };
      case 'system_prompt':
        return decodeSystemPrompt(payload);
    }
  } catch (error) {
    const failure = toSpeechbridgeError(error, 'invalid_value');
    return refuse(name, failure.code, failure.message);
  }
}

function decodeUpdateSession(payload: unknown): DecodeResult {
  const parsed = updateSessionSchema.safeParse(payload, { reportInput: true });
  if (!parsed.success) return refuse('update_session', 'invalid_value', describeIssue(parsed.error.issues[0]));
  const { voice, turn_detection: detection } = parsed.data.session;
  const session: SessionUpdate = {};
  if (voice !== undefined) session.voice = voice;
  if (detection !== undefined) session.turnDetection = detection === null ? null : turnDetectionFromWire(detection);
  return { ok: true, inputs: [{ type: 'session.update', session }] };
}

function turnDetectionFromWire(wire: NonNullable<z.infer<typeof turnDetectionSchema>>): Partial<TurnDetectionConfig> {
  return { ...(wire.type !== undefined && { type: wire.type }), ...turnKnobsFromWire(wire) };
}

function decodeAudio(payload: unknown): DecodeResult {
  const parsed = audioSchema.safeParse(payload, { reportInput: true });
  if (!parsed.success) return refuse('audio', 'invalid_value', describeIssue(parsed.error.issues[0]));
  const { audio, commit } = parsed.data;
  const samples = typeof audio === 'string' ? decodeBase64Audio(audio, 'pcm16', 'audio') : decodeWireAudio(audio, 'pcm16', 'audio', { formatName: 'PCM16' });
  const inputs: EngineInput[] = [{ type: 'audio.append', audio: samples }];
  if (commit === true) inputs.push({ type: 'turn.end', respond: true });
  return { ok: true, inputs };
}

function decodeSystemPrompt(payload: unknown): DecodeResult {
  const prompt = promptOf(payload);
  if (prompt === undefined) {
    return refuse(
      'system_prompt',
      'invalid_value',
      `the payload must be the prompt as a string, or an object with a string field ${PROMPT_FIELDS.map((field) => `"${field}"`).join(', ')}; got ${describe(payload)}`,
    );
  }
  if (prompt.length > MAX_PROMPT_CHARS) {
    return refuse('system_prompt', 'invalid_value', `the prompt must be at most ${MAX_PROMPT_CHARS} characters, got ${prompt.length}`);
  }
  return { ok: true, inputs: [{ type: 'session.update', session: { instructions: prompt } }] };
}

function promptOf(payload: unknown): string | undefined {
  if (typeof payload === 'string') return payload;
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return undefined;
  const record = payload as Record<string, unknown>;
  for (const field of PROMPT_FIELDS) if (typeof record[field] === 'string') return record[field];
  return undefined;
}

function refuse(event: string, code: ErrorCode, message: string): DecodeResult {
  return { ok: false, code, message: `invalid "${event}" message: ${message}` };
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const at = issue.path.map(String).join('.');
  const where = at === '' ? 'the payload' : at;
  switch (issue.code) {
    case 'unrecognized_keys': {
      const known = KNOWN_FIELDS[at];
      // A payload may hold thousands of keys; the message names a few.
      const shown = issue.keys.slice(0, MAX_NAMED_FIELDS).map((key) => quote(key));
      const more = issue.keys.length > MAX_NAMED_FIELDS ? ` and ${issue.keys.length - MAX_NAMED_FIELDS} more` : '';
      return `unknown field${issue.keys.length > 1 ? 's' : ''} ${shown.join(', ')}${more} in ${where}${known ? `; known: ${known.join(', ')}` : ''}`;
    }
    case 'invalid_type':
      return `${where} must be ${issue.expected === 'object' ? 'an object' : `a ${issue.expected}`}, got ${describe(issue.input)}`;
    case 'too_small':
      return `${where} must be at least ${bound(issue.minimum, issue.origin)}, got ${describe(issue.input)}`;
    case 'too_big':
      return `${where} must be at most ${bound(issue.maximum, issue.origin)}, got ${describe(issue.input)}`;
    case 'invalid_value':
      return `${where} must be ${issue.values.map((value) => JSON.stringify(value)).join(' or ')}, got ${describe(issue.input)}`;
    default:
      return `${where}: ${issue.message}`;
  }
}

/** A length bound reads "1 character" / "100 characters"; a number bound is the number. */
function bound(limit: number | bigint, origin: string): string {
  if (origin !== 'string') return String(limit);
  return `${String(limit)} character${Number(limit) === 1 ? '' : 's'}`;
}

// ── Encoding ──────────────────────────────────────────────────────────────────────────────

export function connectedMessage(engine: string): ServerMessage {
  return { type: 'connected', content: { engine, sr: SOCKETIO_SAMPLE_RATE } };
}

export function errorMessage(code: ErrorCode, content: string): ServerMessage {
  return { type: 'error', content, code };
}

/** The messages for one engine event (most engine events have none on this wire). */
export function messagesFor(event: EngineEvent): ServerMessage[] {
  switch (event.type) {
    case 'speech.started':
      return [{ type: 'event', content: { type: 'turn.start' } }];
    case 'transcript.interim':
      return event.text === '' ? [] : [{ type: 'transcript_temp', content: event.text }];
    case 'transcript.completed':
      return [{ type: 'transcript_final', content: event.transcript }];
    case 'transcript.failed':
      return [errorMessage(event.error.code, `the transcription of the turn failed: ${event.error.message}`)];
    case 'audio.delta':
      return [{ type: 'audio', content: encodeBase64Audio(event.audio, 'pcm16') }];
    case 'response.done': {
      const details = event.response.statusDetails;
      const failed = details?.type === 'failed' ? [errorMessage(details.error.code, `the response failed: ${details.error.message}`)] : [];
      return [...failed, { type: 'turn_done' }];
    }
    case 'error':
      return [errorMessage(event.code, event.message)];
    default:
      return [];
  }
}
