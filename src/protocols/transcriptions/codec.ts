/**
 * The /v1/transcriptions wire format. Text frames from the client are JSON control messages
 * (`{"action":"start",…}`, `{"action":"stop"}` or `{"action":"end"}`); binary frames are audio.
 * The server sends one JSON object per message, told apart by its one required key:
 * `{"session_id"}`, `{"partial"}`, `{"final"}` or `{"error"}`. Unknown client fields are
 * tolerated; parseClientMessage never throws.
 */
import { z } from 'zod';
import type { ErrorCode } from '../../errors/registry.ts';
import type { EngineEvent, SessionUpdate, TurnDetectionConfig } from '../../engine/events.ts';
import { SESSION_RANGES } from '../../engine/ranges.ts';
import { integerIn } from '../range-schemas.ts';
import { TURN_KNOB_FIELDS, turnKnobsFromWire } from '../turn-knobs.ts';
import { parseBoundedJson } from '../bounded-json.ts';
import { describeValue, quote } from '../client-values.ts';

/**
 * Raw PCM16 is read at 24 kHz unless `sample_rate` says otherwise: OpenAI's pcm16, which the
 * clients of live transcription services are built against, and every other door's default.
 */
export const DEFAULT_PCM_SAMPLE_RATE = 24000;
export const DEFAULT_LANGUAGE = 'en';

/**
 * `auto` tells raw PCM from a container by its first bytes. MP3 is left out of detection: its
 * 11-bit frame sync also opens raw PCM that starts with a sample near -1, so it must be named.
 */
export const AUDIO_FORMATS = ['auto', 'pcm16', 'webm', 'ogg', 'mp4', 'wav', 'flac', 'mp3'] as const;
export type AudioFormat = (typeof AUDIO_FORMATS)[number];

const vad = z.object({
  engine: z.enum(['webrtc', 'silero']).optional(),
  threshold: z.number().min(0).max(1).optional(),
  ...TURN_KNOB_FIELDS,
});

const startMessage = z.object({
  action: z.literal('start'),
  language: z
    .string()
    // BCP 47 tags are at most 35 characters in practice (RFC 5646 §4.4.1).
    .max(35)
    .regex(/^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$/, 'must be a language code such as "en" or "pt-BR"')
    .default(DEFAULT_LANGUAGE),
  /** 8 kHz (telephony) to 48 kHz (browser capture), the rates the engine accepts. */
  sample_rate: integerIn(SESSION_RANGES.sampleRate).default(DEFAULT_PCM_SAMPLE_RATE),
  /** Case-insensitive: clients write MIME-style names in either case ("WebM", "PCM16"). */
  format: z.preprocess((value) => (typeof value === 'string' ? value.trim().toLowerCase() : value), z.enum(AUDIO_FORMATS)).default('auto'),
  interim_results: z.boolean().default(true),
  vad: vad.optional(),
});

/** The text messages' schema (exported for the fuzz test, which fuzzes every field). */
export const clientMessage = z.discriminatedUnion('action', [startMessage, z.object({ action: z.literal('stop') }), z.object({ action: z.literal('end') })]);

export type StartRequest = z.infer<typeof startMessage>;
export type ClientMessage = z.infer<typeof clientMessage>;

export type ServerMessage =
  { session_id: string } | { partial: string } | { final: string; language?: string; duration_ms: number } | { error: string; code: ErrorCode };

export type ParsedClientMessage = { type: 'message'; message: ClientMessage } | { type: 'error'; message: Extract<ServerMessage, { error: string }> };

/** One text frame → a control message, or the error to send. Bounds: src/protocols/bounded-json.ts. */
export function parseClientMessage(text: string): ParsedClientMessage {
  const bounded = parseBoundedJson(text);
  if (!bounded.ok) {
    const { error } = bounded;
    const hint = error.code === 'invalid_json' ? '; send {"action":"start"}, {"action":"stop"} or binary audio' : '';
    return { type: 'error', message: errorMessage(error.code, `${error.message}${hint}`) };
  }
  const json = bounded.value;
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return { type: 'error', message: errorMessage('invalid_value', 'a text message must be a JSON object with an "action": "start", "stop" or "end"') };
  }
  const action = (json as { action?: unknown }).action;
  if (action !== 'start' && action !== 'stop' && action !== 'end') {
    const got = action === undefined ? 'no "action"' : typeof action === 'string' ? `action ${quote(action)}` : `an action that is ${describeValue(action)}`;
    return { type: 'error', message: errorMessage('invalid_value', `unknown message: ${got}; expected "action": "start", "stop" or "end"`) };
  }
  const parsed = clientMessage.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue.path.join('.') || 'message';
    return { type: 'error', message: errorMessage('invalid_value', `invalid ${field}: ${issue.message}`) };
  }
  return { type: 'message', message: parsed.data };
}

/** The engine settings a start message asks for; interim transcripts feed the `partial` messages. */
export function sessionUpdateOf(start: StartRequest): SessionUpdate {
  const turnDetection: Partial<TurnDetectionConfig> = { type: 'server_vad' };
  const knobs = start.vad;
  if (knobs) {
    if (knobs.engine !== undefined) turnDetection.engine = knobs.engine;
    if (knobs.threshold !== undefined) turnDetection.threshold = knobs.threshold;
    Object.assign(turnDetection, turnKnobsFromWire(knobs));
  }
  return {
    inputSampleRate: start.sample_rate,
    interimTranscripts: start.interim_results,
    transcription: { language: start.language },
    turnDetection,
  };
}

export function errorMessage(code: ErrorCode, message: string): Extract<ServerMessage, { error: string }> {
  return { error: message, code };
}

/**
 * Engine events → messages, for one connection. Speech boundaries, items and session updates
 * are not shown; an empty interim text is not sent (it carries nothing). An empty final clears
 * a partial the client shows, so it goes out after a partial and says nothing otherwise: the
 * encoder remembers which utterances showed a partial until their final (at most the
 * utterances being transcribed).
 */
export class TranscriptEncoder {
  readonly #withPartial = new Set<string>();

  encode(event: EngineEvent): ServerMessage | null {
    switch (event.type) {
      case 'transcript.interim': {
        const text = event.text.trim();
        if (text === '') return null;
        this.#withPartial.add(event.itemId);
        return { partial: text };
      }
      case 'transcript.completed': {
        const hadPartial = this.#withPartial.delete(event.itemId);
        const text = event.transcript.trim();
        if (text === '' && !hadPartial) return null;
        return { final: text, ...(event.language !== undefined && { language: event.language }), duration_ms: Math.round(event.audioMs) };
      }
      case 'transcript.failed':
        this.#withPartial.delete(event.itemId);
        return errorMessage(event.error.code, `the transcription of an utterance failed: ${event.error.message}`);
      case 'error':
        return errorMessage(event.code, event.message);
      default:
        return null;
    }
  }
}
