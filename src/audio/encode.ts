/**
 * Streaming encode: PCM16 chunks in, an encoded file (mp3, opus, webm, aac, flac, wav) out as
 * ffmpeg writes it, for /v1/audio/speech and /tts-proxy. WAV needs no ffmpeg.
 */
import { abortError } from '../errors/abort.ts';
import { SpeechbridgeError } from '../errors/registry.ts';
import { checkSampleRate, QUIET_ARGS, readStdout, spawnFfmpeg, type FfmpegProcess } from './ffmpeg-process.ts';
import { int16ToBytes } from './pcm.ts';
import { wavHeader } from './wav.ts';

/** `opus` is Opus in Ogg; `webm` is Opus in WebM (what browsers record and play through MediaSource). */
export type EncodeFormat = 'mp3' | 'opus' | 'webm' | 'aac' | 'flac' | 'wav';

export interface EncodeOptions {
  /** Sample rate of the incoming PCM. */
  sampleRate: number;
  format: EncodeFormat;
  signal?: AbortSignal;
}

/** MIME types of what encodeAudio yields, for Content-Type. */
export const ENCODE_CONTENT_TYPES: Record<EncodeFormat, string> = {
  mp3: 'audio/mpeg',
  opus: 'audio/ogg; codecs=opus',
  webm: 'audio/webm',
  aac: 'audio/aac',
  flac: 'audio/flac',
  wav: 'audio/wav',
};

/** libopus encodes only at these rates; others are resampled by ffmpeg to 48 kHz, Opus's native rate. */
const OPUS_RATES = new Set([8000, 12000, 16000, 24000, 48000]);

/**
 * Encoder settings for speech. Bit rates: MP3 64 kbps and AAC 64 kbps are transparent for mono
 * speech at 24 kHz; Opus 32 kbps is what Opus's own guidance gives for fullband mono speech.
 * Every container here can be written front to back (Ogg, WebM in live mode, ADTS, raw MP3
 * frames, FLAC), so bytes can leave before the input ends; MP4 could not without fragmenting.
 */
function encoderArgs(format: Exclude<EncodeFormat, 'wav'>, sampleRate: number): string[] {
  switch (format) {
    case 'mp3':
      return ['-c:a', 'libmp3lame', '-b:a', '64k', '-f', 'mp3'];
    case 'opus':
      // 100 ms Ogg pages instead of the 1 s default, so the first audio leaves sooner; each page
      // costs about 30 bytes, 2.4 kbps at this page rate.
      return [...(OPUS_RATES.has(sampleRate) ? [] : ['-ar', '48000']), ...['-c:a', 'libopus', '-b:a', '32k', '-page_duration', '100000', '-f', 'ogg']];
    case 'webm':
      // 100 ms clusters instead of the muxer's default (5 s), for the same reason as the Ogg
      // pages; live mode writes no seek index, which would need the whole stream first.
      return [
        ...(OPUS_RATES.has(sampleRate) ? [] : ['-ar', '48000']),
        ...['-c:a', 'libopus', '-b:a', '32k', '-cluster_time_limit', '100', '-live', '1', '-f', 'webm'],
      ];
    case 'aac':
      return ['-c:a', 'aac', '-b:a', '64k', '-f', 'adts'];
    case 'flac':
      return ['-c:a', 'flac', '-f', 'flac'];
  }
}

/**
 * Encodes a PCM stream (mono PCM16 at `sampleRate`) into `format`, yielding bytes as the encoder
 * makes them. WAV is written here (a header with open-ended sizes, then the samples); the rest
 * go through ffmpeg, reading the input only as fast as ffmpeg takes it. The chunks are passed to
 * ffmpeg without a copy, so the source must not reuse their memory. Stopping the iteration or
 * aborting kills ffmpeg; an error from `pcm` ends the output with that error.
 */
export function encodeAudio(pcm: AsyncIterable<Int16Array>, options: EncodeOptions): AsyncIterable<Buffer> {
  checkSampleRate(options.sampleRate);
  if (!(options.format in ENCODE_CONTENT_TYPES)) {
    throw new SpeechbridgeError(
      'unsupported_format',
      `unknown output format ${JSON.stringify(options.format)}; expected one of ${Object.keys(ENCODE_CONTENT_TYPES).join(', ')}`,
      {
        param: 'response_format',
      },
    );
  }
  return options.format === 'wav' ? encodeWav(pcm, options) : encodeWithFfmpeg(pcm, options, options.format);
}

async function* encodeWav(pcm: AsyncIterable<Int16Array>, options: EncodeOptions): AsyncGenerator<Buffer> {
  const { signal } = options;
  if (signal?.aborted) throw abortError(signal?.reason);
  yield wavHeader(options.sampleRate);
  for await (const chunk of pcm) {
    if (signal?.aborted) throw abortError(signal?.reason);
    if (chunk.length > 0) yield int16ToBytes(chunk);
  }
}

async function* encodeWithFfmpeg(pcm: AsyncIterable<Int16Array>, options: EncodeOptions, format: Exclude<EncodeFormat, 'wav'>): AsyncGenerator<Buffer> {
  const { signal, sampleRate } = options;
  if (signal?.aborted) throw abortError(signal?.reason);
  const ffmpeg = spawnFfmpeg([
    ...QUIET_ARGS,
    ...['-f', 's16le', '-ar', String(sampleRate), '-ac', '1', '-i', 'pipe:0'],
    ...encoderArgs(format, sampleRate),
    ...['-flush_packets', '1', 'pipe:1'],
  ]);
  const onAbort = () => ffmpeg.kill();
  signal?.addEventListener('abort', onAbort, { once: true });
  const feeding = feedPcm(pcm, ffmpeg);
  try {
    for await (const chunk of readStdout(ffmpeg)) {
      if (signal?.aborted) break;
      yield chunk;
    }
    const exit = await ffmpeg.exited;
    if (signal?.aborted) throw abortError(signal?.reason);
    const fed = await feeding;
    if (fed.type === 'source_failed') throw fed.error;
    if (exit.type === 'spawn_failed') throw exit.error;
    if (exit.code !== 0) {
      throw new SpeechbridgeError('engine_failed', `ffmpeg could not encode ${format}: ${ffmpeg.lastStderrLine() || `exit code ${exit.code ?? exit.signal}`}`);
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    ffmpeg.kill();
  }
}

type FeedResult = { type: 'fed' } | { type: 'stopped' } | { type: 'source_failed'; error: unknown };

/**
 * Copies the PCM source into ffmpeg's stdin, waiting for 'drain' whenever the pipe is full, so
 * at most one chunk beyond the 16 KB stream buffer is queued. Never rejects: a source error kills
 * ffmpeg and comes back as `source_failed` for the reader to throw.
 */
async function feedPcm(pcm: AsyncIterable<Int16Array>, ffmpeg: FfmpegProcess): Promise<FeedResult> {
  const stdin = ffmpeg.child.stdin;
  let ended = false;
  void ffmpeg.exited.then(() => {
    ended = true;
  });
  try {
    for await (const chunk of pcm) {
      if (ended || stdin.destroyed) return { type: 'stopped' };
      if (chunk.length === 0) continue;
      if (!stdin.write(int16ToBytes(chunk))) {
        await new Promise<void>((resolve) => {
          const done = () => {
            stdin.off('drain', done);
            stdin.off('close', done);
            resolve();
          };
          stdin.once('drain', done);
          stdin.once('close', done);
        });
      }
    }
    stdin.end();
    return { type: 'fed' };
  } catch (error) {
    ffmpeg.kill();
    return { type: 'source_failed', error };
  }
}
