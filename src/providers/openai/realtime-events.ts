/**
 * The OpenAI Realtime (GA) events of a transcription session, as this provider reads and
 * writes them. Client events are typed with the official `openai` package's own event types;
 * server events are checked with zod when they arrive, since an upstream can send anything.
 * Only the events a transcription session needs are read; others (conversation.item.added,
 * rate_limits.updated…) are ignored, as the protocol lets a client do. Fields past what the
 * schemas name are tolerated.
 */
import type {
  InputAudioBufferAppendEvent,
  InputAudioBufferClearEvent,
  InputAudioBufferCommitEvent,
  SessionUpdateEvent,
} from 'openai/resources/realtime/realtime';
import { z } from 'zod';

export type RealtimeClientEvent = SessionUpdateEvent | InputAudioBufferAppendEvent | InputAudioBufferCommitEvent | InputAudioBufferClearEvent;

/** The G.711 and PCM formats of a GA session (`audio.input.format`). */
export type RealtimeInputFormat = { type: 'audio/pcm'; rate: 24000 } | { type: 'audio/pcmu' } | { type: 'audio/pcma' };

export type RealtimeTurnDetection = 'none' | 'server_vad' | 'semantic_vad';

export interface TranscriptionSessionSettings {
  format: RealtimeInputFormat;
  model: string;
  language?: string;
  prompt?: string;
  turnDetection: RealtimeTurnDetection;
  /** Ask for the tokens' log probabilities with each delta and completion. */
  logprobs?: boolean;
}

export const LOGPROBS_INCLUDE = 'item.input_audio_transcription.logprobs';

/** `session.update` for a transcription session; turn detection `none` is null (our VAD commits). */
export function sessionUpdateEvent(eventId: string, settings: TranscriptionSessionSettings): SessionUpdateEvent {
  return {
    type: 'session.update',
    event_id: eventId,
    session: {
      type: 'transcription',
      audio: {
        input: {
          format: settings.format,
          transcription: {
            model: settings.model,
            ...(settings.language !== undefined && { language: settings.language }),
            ...(settings.prompt !== undefined && { prompt: settings.prompt }),
          },
          turn_detection: settings.turnDetection === 'none' ? null : { type: settings.turnDetection },
        },
      },
      ...(settings.logprobs && { include: [LOGPROBS_INCLUDE] }),
    },
  };
}

/** Ids are bounded: an id is only ever compared and kept in a map, never shown whole. */
const id = z.string().min(1).max(256);
const optionalText = z.string().max(100_000).nullish();
/** OpenAI's token log probabilities; a message is at most 1 MB (realtime-connection.ts), which bounds the count. */
const logprobs = z
  .array(z.object({ token: z.string().max(1000), logprob: z.number(), bytes: z.array(z.number().int().min(0).max(255)).max(1000) }).passthrough())
  .nullish();

const upstreamError = z
  .object({
    type: optionalText,
    code: optionalText,
    message: optionalText,
    param: optionalText,
    event_id: optionalText,
  })
  .passthrough();

const SERVER_EVENT_SCHEMAS = {
  'session.created': z.object({ type: z.literal('session.created') }).passthrough(),
  'session.updated': z
    .object({ type: z.literal('session.updated'), session: z.object({ type: z.string().optional() }).passthrough().optional() })
    .passthrough(),
  error: z.object({ type: z.literal('error'), error: upstreamError }).passthrough(),
  'input_audio_buffer.committed': z.object({ type: z.literal('input_audio_buffer.committed'), item_id: id, previous_item_id: id.nullish() }).passthrough(),
  'input_audio_buffer.cleared': z.object({ type: z.literal('input_audio_buffer.cleared') }).passthrough(),
  'input_audio_buffer.speech_started': z.object({ type: z.literal('input_audio_buffer.speech_started'), item_id: id.nullish() }).passthrough(),
  'input_audio_buffer.speech_stopped': z.object({ type: z.literal('input_audio_buffer.speech_stopped'), item_id: id.nullish() }).passthrough(),
  'conversation.item.input_audio_transcription.delta': z
    .object({ type: z.literal('conversation.item.input_audio_transcription.delta'), item_id: id, delta: z.string().nullish(), logprobs })
    .passthrough(),
  'conversation.item.input_audio_transcription.completed': z
    .object({
      type: z.literal('conversation.item.input_audio_transcription.completed'),
      item_id: id,
      transcript: z.string(),
      language: z.string().max(32).nullish(),
      logprobs,
    })
    .passthrough(),
  'conversation.item.input_audio_transcription.failed': z
    .object({ type: z.literal('conversation.item.input_audio_transcription.failed'), item_id: id, error: upstreamError.nullish() })
    .passthrough(),
} as const;

type Schemas = typeof SERVER_EVENT_SCHEMAS;
export type RealtimeServerEvent = { [Type in keyof Schemas]: z.infer<Schemas[Type]> }[keyof Schemas];
export type UpstreamErrorBody = z.infer<typeof upstreamError>;

export type ParsedServerEvent =
  | { kind: 'event'; event: RealtimeServerEvent }
  /** A type this provider does not read. */
  | { kind: 'ignored'; type: string }
  | { kind: 'invalid'; problem: string };

/** One WebSocket message → a checked event; never throws. */
export function parseServerEvent(data: string): ParsedServerEvent {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return { kind: 'invalid', problem: `a message that is not JSON (${quote(data)})` };
  }
  if (!value || typeof value !== 'object' || Array.isArray(value) || typeof (value as { type?: unknown }).type !== 'string') {
    return { kind: 'invalid', problem: `a message without an event type (${quote(data)})` };
  }
  const type = (value as { type: string }).type;
  if (!(type in SERVER_EVENT_SCHEMAS)) return { kind: 'ignored', type };
  const parsed = SERVER_EVENT_SCHEMAS[type as keyof Schemas].safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { kind: 'invalid', problem: `a ${quote(type)} event with a bad ${issue?.path.join('.') || 'shape'}: ${issue?.message ?? 'unreadable'}` };
  }
  return { kind: 'event', event: parsed.data as RealtimeServerEvent };
}

/** Upstream text in messages is cut at 200 characters: enough to read, never a whole payload. */
export function quote(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 200 ? `${flat.slice(0, 200)}…` : flat;
}
