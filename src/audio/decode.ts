/**
 * Whole-file decode: an upload in any container to mono PCM16 at the rate asked for. PCM WAV is
 * read directly; everything else goes through ffmpeg (ffmpeg-process.ts).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { abortError } from '../errors/abort.ts';
import { SpeechbridgeError } from '../errors/registry.ts';
import { sniffContainer } from './container.ts';
import { checkSampleRate, QUIET_ARGS, spawnFfmpeg, tooLong, unreadable } from './ffmpeg-process.ts';
import type { PcmAudio } from './pcm.ts';
import { resample } from './resample.ts';
import { readWav } from './wav.ts';

/**
 * Longest audio decodeAudio returns unless told otherwise: 1 hour, 115 MB of PCM16 at 16 kHz.
 * Past it the call fails with payload_too_large instead of growing the buffer further.
 */
export const DEFAULT_MAX_DECODE_MS = 3_600_000;

export interface DecodeOptions {
  /** Output sample rate (mono PCM16). */
  sampleRate: number;
  signal?: AbortSignal;
  /** Longer audio fails with payload_too_large; defaults to DEFAULT_MAX_DECODE_MS. */
  maxDurationMs?: number;
}

/**
 * Any container ffmpeg reads (WAV, WebM/Opus, Ogg/Opus, MP3, M4A/AAC, FLAC…) → mono PCM16 at
 * `sampleRate`. PCM and float WAV skip ffmpeg (readWav + resample: no process start, about
 * 20 ms saved per call). Unreadable input fails with unreadable_audio carrying ffmpeg's own
 * explanation; an abort kills ffmpeg and ends the call with an AbortError.
 */
export async function decodeAudio(input: Uint8Array, options: DecodeOptions): Promise<PcmAudio> {
  const { sampleRate, signal } = options;
  const maxDurationMs = options.maxDurationMs ?? DEFAULT_MAX_DECODE_MS;
  if (signal?.aborted) throw abortError(signal?.reason);
  checkSampleRate(sampleRate);
  if (input.byteLength === 0) throw new SpeechbridgeError('empty_input', 'the audio is empty (0 bytes)', { param: 'file' });
  const maxBytes = Math.ceil((maxDurationMs * sampleRate) / 1000) * 2;
  const container = sniffContainer(input);
  if (container === 'wav') {
    const direct = readWavOrUndefined(input);
    if (direct) {
      if (direct.samples.length / direct.sampleRate > maxDurationMs / 1000) throw tooLong(maxDurationMs);
      return resample(direct, sampleRate);
    }
  }
  if (container === 'mp4') return decodeViaTemporaryFile(input, sampleRate, maxBytes, maxDurationMs, signal);
  return runDecode(['-i', 'pipe:0'], input, sampleRate, maxBytes, maxDurationMs, signal);
}

/** WAV encodings readWav does not handle (μ-law, ADPCM, …) or a damaged header go to ffmpeg instead. */
function readWavOrUndefined(input: Uint8Array): PcmAudio | undefined {
  try {
    return readWav(input);
  } catch {
    return undefined;
  }
}

/**
 * MP4/M4A writers usually put the index (moov box) after the audio (mdat); ffmpeg then has to
 * seek back to the audio, which a pipe cannot do (it fails with "partial file"). So MP4 goes
 * through a temporary file, removed when the call ends.
 */
async function decodeViaTemporaryFile(
  input: Uint8Array,
  sampleRate: number,
  maxBytes: number,
  maxDurationMs: number,
  signal: AbortSignal | undefined,
): Promise<PcmAudio> {
  const folder = await mkdtemp(path.join(os.tmpdir(), 'speechbridge-decode-'));
  try {
    const file = path.join(folder, 'input.mp4');
    await writeFile(file, input, { signal });
    return await runDecode(['-i', file], undefined, sampleRate, maxBytes, maxDurationMs, signal);
  } catch (error) {
    // ffmpeg names its input in its reasons; the client should not see the server's temporary path.
    if (error instanceof SpeechbridgeError && error.code === 'unreadable_audio') {
      throw new SpeechbridgeError(error.code, error.message.replaceAll(path.join(folder, 'input.mp4'), 'the MP4 input'), { param: error.param });
    }
    throw error;
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}

async function runDecode(
  inputArgs: readonly string[],
  stdinBytes: Uint8Array | undefined,
  sampleRate: number,
  maxBytes: number,
  maxDurationMs: number,
  signal: AbortSignal | undefined,
): Promise<PcmAudio> {
  const ffmpeg = spawnFfmpeg([...QUIET_ARGS, ...inputArgs, ...pcmOutputArgs(sampleRate)]);
  const chunks: Buffer[] = [];
  let totalBytes = 0;
  let exceeded = false;
  ffmpeg.child.stdout.on('data', (chunk: Buffer) => {
    if (exceeded) return;
    if (totalBytes + chunk.length > maxBytes) {
      exceeded = true;
      ffmpeg.kill();
      return;
    }
    chunks.push(chunk);
    totalBytes += chunk.length;
  });
  const onAbort = () => ffmpeg.kill();
  signal?.addEventListener('abort', onAbort, { once: true });
  ffmpeg.child.stdin.end(stdinBytes);
  try {
    const exit = await ffmpeg.exited;
    if (signal?.aborted) throw abortError(signal?.reason);
    if (exit.type === 'spawn_failed') throw exit.error;
    if (exceeded) throw tooLong(maxDurationMs);
    if (exit.code !== 0) throw unreadable(ffmpeg, exit.code, exit.signal);
    return { samples: joinPcm(chunks, totalBytes), sampleRate };
  } finally {
    signal?.removeEventListener('abort', onAbort);
    ffmpeg.kill();
  }
}

/** `-map 0:a:0` takes the first audio stream and ignores video and cover art; no audio stream is an error. */
function pcmOutputArgs(sampleRate: number): string[] {
  return ['-map', '0:a:0', '-ac', '1', '-ar', String(sampleRate), '-f', 's16le', 'pipe:1'];
}

function joinPcm(chunks: readonly Buffer[], totalBytes: number): Int16Array {
  const samples = new Int16Array(totalBytes >> 1);
  const bytes = new Uint8Array(samples.buffer);
  let offset = 0;
  for (const chunk of chunks) {
    const take = Math.min(chunk.length, bytes.length - offset);
    bytes.set(chunk.subarray(0, take), offset);
    offset += take;
  }
  return samples;
}
