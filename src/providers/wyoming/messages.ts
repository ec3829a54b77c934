/**
 * The Wyoming events speech recognition and synthesis read, with their schemas (the protocol's
 * README and the reference `wyoming` Python package): `info` (the answer to `describe`),
 * `transcript`, `transcript-start` / `-chunk`, `audio-start` / `-chunk`, and `error`. Unknown
 * fields are tolerated, as the protocol adds them over time; a field of the wrong type is an
 * upstream_bad_response naming the event and the field.
 */
import { z } from 'zod';
import { SpeechbridgeError } from '../../errors/registry.ts';
import type { WyomingEvent } from './framing.ts';

export interface WyomingAsrModel {
  name: string;
  languages: string[];
  installed: boolean;
  description?: string;
}

export interface WyomingAsrProgram {
  name: string;
  description?: string;
  version?: string;
  models: WyomingAsrModel[];
  /** Sends transcript-start / transcript-chunk / transcript-stop while the audio streams. */
  supportsTranscriptStreaming: boolean;
}

export interface WyomingTtsVoice {
  name: string;
  languages: string[];
  installed: boolean;
  /** Speakers of a multi-speaker voice; empty for a single one. */
  speakers: string[];
  description?: string;
}

export interface WyomingTtsProgram {
  name: string;
  description?: string;
  version?: string;
  voices: WyomingTtsVoice[];
  /** Takes synthesize-start / synthesize-chunk / synthesize-stop (text as it is written). */
  supportsSynthesizeStreaming: boolean;
}

export interface WyomingInfo {
  asr: WyomingAsrProgram[];
  tts: WyomingTtsProgram[];
}

const text = z.string();
const optionalText = z.string().nullish();

const ARTIFACT = z.looseObject({
  name: text,
  description: optionalText,
  version: optionalText,
  installed: z.boolean().nullish(),
  languages: z.array(text).nullish(),
});

const ASR_PROGRAM = ARTIFACT.extend({
  models: z.array(ARTIFACT).nullish(),
  supports_transcript_streaming: z.boolean().nullish(),
});

const TTS_VOICE = ARTIFACT.extend({
  speakers: z.array(z.looseObject({ name: text })).nullish(),
});

const TTS_PROGRAM = ARTIFACT.extend({
  voices: z.array(TTS_VOICE).nullish(),
  // The protocol README lists a TTS program's voices under `models`; the reference package
  // writes `voices`. Both are read.
  models: z.array(TTS_VOICE).nullish(),
  supports_synthesize_streaming: z.boolean().nullish(),
});

const INFO = z.looseObject({
  asr: z.array(ASR_PROGRAM).nullish(),
  tts: z.array(TTS_PROGRAM).nullish(),
});

const TRANSCRIPT = z.looseObject({ text, language: optionalText });
const TRANSCRIPT_START = z.looseObject({ language: optionalText });
const TRANSCRIPT_CHUNK = z.looseObject({ text });
const ERROR = z.looseObject({ text: optionalText, code: optionalText });

/**
 * Sample rates a gateway can resample (1–384 kHz), widths of 1 to 4 bytes, and up to 8 channels:
 * anything else is not audio a voice server sends.
 */
const AUDIO_FORMAT = z.looseObject({
  rate: z.number().int().min(1000).max(384_000),
  width: z.number().int().min(1).max(4),
  channels: z.number().int().min(1).max(8),
});

export interface WyomingAudioFormat {
  /** Samples per second. */
  rate: number;
  /** Bytes per sample. */
  width: number;
  channels: number;
}

/** Reads an `info` event; `server` names the server in the message when it does not fit. */
export function parseInfo(event: WyomingEvent, server: string): WyomingInfo {
  const info = parse(INFO, event, server);
  return {
    asr: (info.asr ?? []).map((program) => ({
      name: program.name,
      ...(program.description ? { description: program.description } : {}),
      ...(program.version ? { version: program.version } : {}),
      supportsTranscriptStreaming: program.supports_transcript_streaming === true,
      models: (program.models ?? []).map((model) => ({
        name: model.name,
        languages: model.languages ?? [],
        installed: model.installed !== false,
        ...(model.description ? { description: model.description } : {}),
      })),
    })),
    tts: (info.tts ?? []).map((program) => ({
      name: program.name,
      ...(program.description ? { description: program.description } : {}),
      ...(program.version ? { version: program.version } : {}),
      supportsSynthesizeStreaming: program.supports_synthesize_streaming === true,
      voices: (program.voices ?? program.models ?? []).map((voice) => ({
        name: voice.name,
        languages: voice.languages ?? [],
        installed: voice.installed !== false,
        speakers: (voice.speakers ?? []).map((speaker) => speaker.name),
        ...(voice.description ? { description: voice.description } : {}),
      })),
    })),
  };
}

export function parseTranscript(event: WyomingEvent, server: string): { text: string; language?: string } {
  const transcript = parse(TRANSCRIPT, event, server);
  return { text: transcript.text, ...(transcript.language ? { language: transcript.language } : {}) };
}

export function parseTranscriptStart(event: WyomingEvent, server: string): { language?: string } {
  const start = parse(TRANSCRIPT_START, event, server);
  return start.language ? { language: start.language } : {};
}

export function parseTranscriptChunk(event: WyomingEvent, server: string): string {
  return parse(TRANSCRIPT_CHUNK, event, server).text;
}

export function parseAudioFormat(event: WyomingEvent, server: string): WyomingAudioFormat {
  const { rate, width, channels } = parse(AUDIO_FORMAT, event, server);
  return { rate, width, channels };
}

/** The upstream_error for a Wyoming `error` event, with the server's own words. */
export function errorEventToError(event: WyomingEvent, server: string, during: string): SpeechbridgeError {
  const parsed = ERROR.safeParse(event.data);
  const words = parsed.success ? [parsed.data.text, parsed.data.code ? `(${parsed.data.code})` : undefined].filter(Boolean).join(' ') : '';
  return new SpeechbridgeError('upstream_error', `${server} reported an error during ${during}${words ? `: ${words.slice(0, 300)}` : ''}`);
}

function parse<T>(schema: z.ZodType<T>, event: WyomingEvent, server: string): T {
  const parsed = schema.safeParse(event.data);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const field = issue.path.length > 0 ? `"${issue.path.join('.')}"` : 'its data';
  throw new SpeechbridgeError('upstream_bad_response', `${server} sent a "${event.type}" event whose ${field} is not valid (${issue.message})`);
}
