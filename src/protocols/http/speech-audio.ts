/**
 * Synthesized speech as an HTTP body, shared by /v1/audio/speech and /tts-proxy: the
 * synthesizer's stream resampled once to 24 kHz (OpenAI's PCM rate), its first chunk pulled
 * before any header is sent, then encoded (raw PCM here; WAV and compressed formats by
 * encodeAudio). One request may have at most MAX_RESPONSE_AUDIO_SECONDS of audio: past it the
 * synthesizer is stopped (an upstream's request aborted) and the reply fails — with a JSON 502
 * before the first audio, by cutting the connection after it (the status is already sent).
 */
import type { FastifyReply } from 'fastify';
import { encodeAudio, type EncodeFormat } from '../../audio/encode.ts';
import { int16ToBytes } from '../../audio/pcm.ts';
import type { SynthesizeRequest, Synthesizer } from '../../providers/contracts.ts';
import { synthesizeAt } from '../../providers/synthesize-at.ts';
import { LIMIT_SETTINGS } from '../../providers/upstream-limits.ts';
import { SpeechbridgeError } from '../../errors/registry.ts';
import { abortOnDisconnect } from './disconnect.ts';

export const SPEECH_SAMPLE_RATE = 24_000;

/** The formats of OpenAI's speech endpoint; 'pcm' is raw PCM16 LE mono at SPEECH_SAMPLE_RATE. */
export type SpeechEncoding = EncodeFormat | 'pcm';

/**
 * Starts synthesis and waits for its first chunk, so a bad voice or a failing engine or
 * upstream throws here, while the route can still answer with a JSON error instead of a
 * truncated audio stream.
 */
export async function startSpeech(synthesizer: Synthesizer, request: SynthesizeRequest, maxAudioMs: number): Promise<AsyncIterable<Int16Array>> {
  const limit = { maxMs: maxAudioMs, per: 'one request', setting: LIMIT_SETTINGS.maxResponseAudioMs };
  const iterator = synthesizeAt(synthesizer, SPEECH_SAMPLE_RATE, request, limit)[Symbol.asyncIterator]();
  const first = await iterator.next();
  return prepend(first, iterator);
}

/** What both speech routes read from their body. */
export interface SpeechText {
  input: string;
  voice?: string | undefined;
  speed?: number | undefined;
  instructions?: string | undefined;
  model?: string | undefined;
}

/** A speech route's start: refuses empty text, ties synthesis to the client's connection, then startSpeech. */
export async function speakFor(
  reply: FastifyReply,
  synthesizer: Synthesizer,
  text: SpeechText,
  defaultVoice: string,
  maxAudioMs: number,
): Promise<{ samples: AsyncIterable<Int16Array>; signal: AbortSignal }> {
  if (text.input.trim() === '') throw new SpeechbridgeError('empty_input', 'input is empty: give the text to speak', { param: 'input' });
  const signal = abortOnDisconnect(reply);
  const request = { text: text.input, voice: text.voice ?? defaultVoice, speed: text.speed, instructions: text.instructions, model: text.model, signal };
  const samples = await startSpeech(synthesizer, request, maxAudioMs);
  return { samples, signal };
}

/** Speech samples (at SPEECH_SAMPLE_RATE) as bytes of `format`, yielded as they are encoded. */
export function encodeSpeech(samples: AsyncIterable<Int16Array>, format: SpeechEncoding, signal: AbortSignal): AsyncIterable<Buffer> {
  return format === 'pcm' ? rawPcm(samples) : encodeAudio(samples, { sampleRate: SPEECH_SAMPLE_RATE, format, signal });
}

async function* prepend(first: IteratorResult<Int16Array>, rest: AsyncIterator<Int16Array>): AsyncIterable<Int16Array> {
  if (first.done) return;
  yield first.value;
  for (let next = await rest.next(); !next.done; next = await rest.next()) yield next.value;
}

async function* rawPcm(samples: AsyncIterable<Int16Array>): AsyncIterable<Buffer> {
  for await (const chunk of samples) yield Buffer.from(int16ToBytes(chunk));
}
