/**
 * ffmpeg for every container the gateway does not parse itself: uploads in any format, browser
 * MediaRecorder streams (WebM/Opus, Safari's fragmented MP4), and encoded speech for
 * /v1/audio/speech. ffmpeg runs as a child process over stdin/stdout pipes. No npm wrapper:
 * the usual one, fluent-ffmpeg, was archived in May 2025 and only builds argument lists, and
 * each call here is one fixed argument list; WASM builds of ffmpeg decode several times slower
 * than the native binary and ship without libmp3lame.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { abortError } from '../errors/abort.ts';
import { SpeechbridgeError } from '../errors/registry.ts';
import { sniffContainer, SNIFF_BYTES } from './container.ts';
import { ffmpegPath, QUIET_ARGS, readStdout, spawnFfmpeg, type FfmpegProcess } from './ffmpeg-process.ts';
import { int16ToBytes, type PcmAudio } from './pcm.ts';
import { resample } from './resample.ts';
import { readWav, wavHeader } from './wav.ts';

export { FFMPEG_INSTALL_HINT, ffmpegPath } from './ffmpeg-process.ts';

/**
 * Longest audio decodeAudio returns unless told otherwise: 1 hour, 115 MB of PCM16 at 16 kHz.
 * Past it the call fails with payload_too_large instead of growing the buffer further.
 */
export const DEFAULT_MAX_DECODE_MS = 3_600_000;

/** `ffmpeg -version` should answer in tens of ms; 10 s covers a cold disk and a loaded CI machine. */
const VERSION_TIMEOUT_MS = 10_000;

/**
 * Stream decoder stdin bounds. Above 64 KB queued (4 s of 128 kbps Opus, 16 s at 32 kbps) write()
 * returns false: the caller should pause its source until drain(). Above 1 MB (65 s at 128 kbps)
 * the caller has ignored that for a minute, and write() refuses with payload_too_large.
 */
const STREAM_HIGH_WATER_BYTES = 64 * 1024;
const DEFAULT_MAX_PENDING_BYTES = 1024 * 1024;

export interface FfmpegInfo {
  /** The version word of `ffmpeg -version`, e.g. "5.1.6-0+deb12u1". */
  version: string;
  /** The binary that answered (FFMPEG_PATH or `ffmpeg` on PATH). */
  path: string;
}

/** Start-up check: resolves with the version, or throws engine_unavailable saying how to install ffmpeg. */
export async function checkFfmpeg(options: { signal?: AbortSignal } = {}): Promise<FfmpegInfo> {
  const { signal } = options;
  if (signal?.aborted) throw abortError(signal?.reason);
  const ffmpeg = spawnFfmpeg(['-version']);
  let stdout = '';
  ffmpeg.child.stdout.setEncoding('utf8');
  ffmpeg.child.stdout.on('data', (text: string) => {
    if (stdout.length < 4096) stdout += text;
  });
  ffmpeg.child.stdin.end();
  const timer = setTimeout(() => ffmpeg.kill(), VERSION_TIMEOUT_MS);
  const onAbort = () => ffmpeg.kill();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const exit = await ffmpeg.exited;
    if (signal?.aborted) throw abortError(signal?.reason);
    if (exit.type === 'spawn_failed') throw exit.error;
    const match = /ffmpeg version (\S+)/.exec(stdout);
    if (exit.code !== 0 || !match) {
      const said = ffmpeg.lastStderrLine() || stdout.split('\n')[0] || `exit code ${exit.code ?? exit.signal}`;
      throw new SpeechbridgeError('engine_unavailable', `${ffmpegPath()} -version did not identify ffmpeg (${said}): check FFMPEG_PATH or reinstall ffmpeg`);
    }
    return { version: match[1], path: ffmpegPath() };
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}

// ── Whole-file decode ────────────────────────────────────────────────────────────────────

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

// ── Streaming decode ─────────────────────────────────────────────────────────────────────

export interface StreamDecoderOptions {
  /** Output sample rate (mono PCM16). */
  sampleRate: number;
  /**
   * ffmpeg demuxer name (`webm`, `ogg`, `mp4`, `mp3`, `wav`, `flac`, …). Absent: sniffed from
   * the first 12 bytes, and ffmpeg probes on its own when sniffing does not recognise them.
   */
  inputFormat?: string;
  signal?: AbortSignal;
  /** Bytes queued for ffmpeg beyond which write() refuses (default 1 MB). */
  maxPendingBytes?: number;
}

export interface StreamDecoder {
  /**
   * Queues a chunk for ffmpeg; the decoder holds `chunk` until ffmpeg has read it, so do not
   * reuse its memory. Backpressure policy: returns false once more than 64 KB is queued (pause
   * the source, then await drain()); throws payload_too_large, and closes the decoder, past
   * `maxPendingBytes`. Throws the decoder's failure if ffmpeg has already given up.
   */
  write(chunk: Uint8Array): boolean;
  /** Resolves when the queue is empty or the decoder has ended. */
  drain(): Promise<void>;
  /** No more input: ffmpeg decodes what is left and `output` ends. */
  end(): void;
  /**
   * PCM chunks as ffmpeg makes them (one consumer). Ends after end() once ffmpeg is done, or
   * quietly after close(); throws unreadable_audio if ffmpeg cannot decode the stream, and an
   * AbortError when the signal aborts. Not reading it stalls ffmpeg, which fills the input queue.
   */
  readonly output: AsyncIterable<Int16Array>;
  /** Kills ffmpeg and ends `output`. Idempotent. */
  close(): void;
}

export function createStreamDecoder(options: StreamDecoderOptions): StreamDecoder {
  checkSampleRate(options.sampleRate);
  if (options.inputFormat !== undefined && !/^[a-z0-9_,]+$/i.test(options.inputFormat)) {
    throw new SpeechbridgeError('invalid_value', `inputFormat must be an ffmpeg demuxer name such as webm or ogg, got ${JSON.stringify(options.inputFormat)}`, {
      param: 'inputFormat',
    });
  }
  return new FfmpegStreamDecoder(options);
}

type DecoderState =
  /** No process yet: collecting the first bytes to sniff the container. */
  | { type: 'sniffing'; head: Uint8Array[]; headBytes: number }
  | { type: 'running'; ffmpeg: FfmpegProcess }
  /** Input ended before any byte arrived: nothing to decode. */
  | { type: 'empty' }
  | { type: 'closed' };

class FfmpegStreamDecoder implements StreamDecoder {
  readonly output: AsyncIterable<Int16Array>;
  readonly #sampleRate: number;
  readonly #inputFormat: string | undefined;
  readonly #signal: AbortSignal | undefined;
  readonly #maxPendingBytes: number;
  #state: DecoderState = { type: 'sniffing', head: [], headBytes: 0 };
  #inputEnded = false;
  /** Why decoding stopped, when the caller must hear about it: overflow, undecodable input, no ffmpeg. */
  #failure: SpeechbridgeError | undefined;
  readonly #started: Promise<FfmpegProcess | undefined>;
  #resolveStarted!: (ffmpeg: FfmpegProcess | undefined) => void;
  readonly #onAbort = () => this.close();

  constructor(options: StreamDecoderOptions) {
    this.#sampleRate = options.sampleRate;
    this.#inputFormat = options.inputFormat;
    this.#signal = options.signal;
    this.#maxPendingBytes = options.maxPendingBytes ?? DEFAULT_MAX_PENDING_BYTES;
    this.#started = new Promise((resolve) => {
      this.#resolveStarted = resolve;
    });
    this.output = this.#readOutput();
    if (this.#signal?.aborted) this.close();
    else this.#signal?.addEventListener('abort', this.#onAbort, { once: true });
    if (this.#inputFormat !== undefined && this.#state.type === 'sniffing') this.#start([]);
  }

  write(chunk: Uint8Array): boolean {
    if (this.#failure) throw this.#failure;
    if (this.#signal?.aborted) throw abortError(this.#signal?.reason);
    if (this.#inputEnded) throw new SpeechbridgeError('internal_error', 'stream decoder: write() after end()');
    const state = this.#state;
    if (state.type === 'closed' || state.type === 'empty') throw new SpeechbridgeError('internal_error', 'stream decoder: write() after close()');
    if (chunk.byteLength === 0) return true;
    if (state.type === 'sniffing') {
      state.head.push(chunk);
      state.headBytes += chunk.byteLength;
      if (state.headBytes >= SNIFF_BYTES) this.#start(state.head);
      return true;
    }
    const stdin = state.ffmpeg.child.stdin;
    if (stdin.writableLength + chunk.byteLength > this.#maxPendingBytes) {
      const error = new SpeechbridgeError(
        'payload_too_large',
        `audio arrives faster than it is decoded: more than ${this.#maxPendingBytes} bytes are waiting for ffmpeg (the sender should wait for drain)`,
        { status: 413 },
      );
      this.#failure = error;
      this.close();
      throw error;
    }
    stdin.write(chunk);
    return stdin.writableLength <= STREAM_HIGH_WATER_BYTES;
  }

  drain(): Promise<void> {
    const state = this.#state;
    if (state.type !== 'running' || state.ffmpeg.child.stdin.writableLength === 0) return Promise.resolve();
    const { child, exited } = state.ffmpeg;
    return new Promise<void>((resolve) => {
      const done = () => {
        child.stdin.off('drain', done);
        child.stdin.off('close', done);
        resolve();
      };
      child.stdin.once('drain', done);
      child.stdin.once('close', done);
      exited.then(done, done);
    });
  }

  end(): void {
    if (this.#inputEnded) return;
    this.#inputEnded = true;
    const state = this.#state;
    if (state.type === 'sniffing') {
      if (state.headBytes === 0) {
        this.#state = { type: 'empty' };
        this.#resolveStarted(undefined);
        return;
      }
      this.#start(state.head);
    }
    if (this.#state.type === 'running') this.#state.ffmpeg.child.stdin.end();
  }

  close(): void {
    const state = this.#state;
    if (state.type === 'closed') return;
    this.#state = { type: 'closed' };
    this.#signal?.removeEventListener('abort', this.#onAbort);
    if (state.type === 'running') state.ffmpeg.kill();
    else this.#resolveStarted(undefined);
  }

  #start(head: Uint8Array[]): void {
    const bytes = Buffer.concat(head);
    const sniffed = sniffContainer(bytes);
    const format = this.#inputFormat ?? (sniffed === 'unknown' ? undefined : sniffed);
    const ffmpeg = spawnFfmpeg([...QUIET_ARGS, ...streamInputArgs(format), '-i', 'pipe:0', ...streamOutputArgs(this.#sampleRate)]);
    // When a child exits, Node resumes each of its output streams that has no 'readable'
    // listener, and what nobody reads then is gone: a short stream decoded before `output` is
    // read would be lost. The listener keeps the PCM buffered (and ffmpeg paced) until it is.
    ffmpeg.child.stdout.on('readable', () => {});
    this.#state = { type: 'running', ffmpeg };
    // Recorded as soon as ffmpeg gives up, so the next write() reports it instead of queueing more.
    void ffmpeg.exited.then((exit) => {
      if (this.#state.type === 'closed') return;
      if (exit.type === 'spawn_failed') this.#failure ??= exit.error;
      else if (exit.code !== 0) this.#failure ??= unreadable(ffmpeg, exit.code, exit.signal);
    });
    if (bytes.byteLength > 0) ffmpeg.child.stdin.write(bytes);
    this.#resolveStarted(ffmpeg);
  }

  async *#readOutput(): AsyncGenerator<Int16Array> {
    const ffmpeg = await this.#started;
    try {
      if (ffmpeg) {
        let carry = -1;
        for await (const chunk of readStdout(ffmpeg)) {
          // close() and abort stop the output at once, even with PCM still buffered from the pipe.
          if (this.#state.type === 'closed') break;
          const samples = takeSamples(chunk, carry);
          carry = samples.carry;
          if (samples.pcm.length > 0) yield samples.pcm;
        }
        const exit = await ffmpeg.exited;
        if (this.#signal?.aborted) throw abortError(this.#signal?.reason);
        if (this.#failure) throw this.#failure;
        if (this.#state.type === 'closed') return;
        if (exit.type === 'spawn_failed') throw exit.error;
        if (exit.code !== 0) throw unreadable(ffmpeg, exit.code, exit.signal);
      } else {
        if (this.#signal?.aborted) throw abortError(this.#signal?.reason);
        if (this.#failure) throw this.#failure;
      }
    } finally {
      this.close();
    }
  }
}

/**
 * With the format known, ffmpeg's stream probe is cut to its minimum (`-probesize 32
 * -analyzeduration 0`). Measured with ffmpeg 5.1 on a stream fed its first 0.5 s and then held:
 * MP3 gave no output for 700 ms under the default probe (5 MB, 5 s) and 0.25 s of PCM within
 * 90 ms with these flags; WebM and Ogg carry their codec parameters in the header, so they gain
 * nothing but lose nothing either. `-fflags nobuffer` is left out on purpose: it drops the
 * packets read while probing, measured as the first 20 ms of an Ogg or WebM Opus stream and 16%
 * of an MP3. Without a known format the default probe stays, since 32 bytes cannot identify
 * every format. MP4 streams only when fragmented (MediaRecorder's MP4 is); a plain MP4 keeps
 * its index at the end and fails here with "partial file".
 */
function streamInputArgs(format: string | undefined): string[] {
  if (format === undefined) return [];
  return ['-probesize', '32', '-analyzeduration', '0', '-f', format];
}

/**
 * `-flush_packets 1` writes each decoded frame to the pipe at once. ffmpeg 5.1's default (-1,
 * left to the protocol) already did so for pipes, with no difference measured; the flag makes
 * it explicit rather than a protocol default, since an unflushed 32 KB output buffer would hold
 * 1 s of 16 kHz PCM16.
 */
function streamOutputArgs(sampleRate: number): string[] {
  return ['-map', '0:a:0', '-ac', '1', '-ar', String(sampleRate), '-flush_packets', '1', '-f', 's16le', 'pipe:1'];
}

/** Pipe reads have any length; an odd trailing byte waits for the next chunk. Copies into an aligned array. */
function takeSamples(chunk: Uint8Array, carry: number): { pcm: Int16Array; carry: number } {
  const total = chunk.byteLength + (carry >= 0 ? 1 : 0);
  const even = total & ~1;
  const pcm = new Int16Array(even >> 1);
  const bytes = new Uint8Array(pcm.buffer);
  if (carry >= 0) {
    if (even > 0) {
      bytes[0] = carry;
      bytes.set(chunk.subarray(0, even - 1), 1);
    }
  } else {
    bytes.set(chunk.subarray(0, even));
  }
  const nextCarry = total % 2 === 1 ? (chunk.byteLength > 0 ? chunk[chunk.byteLength - 1] : carry) : -1;
  return { pcm, carry: nextCarry };
}

// ── Streaming encode ─────────────────────────────────────────────────────────────────────

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
      return [
        ...(OPUS_RATES.has(sampleRate) ? [] : ['-ar', '48000']),
        ...['-c:a', 'libopus', '-b:a', '32k', '-page_duration', '100000', '-f', 'ogg'],
      ];
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
    throw new SpeechbridgeError('unsupported_format', `unknown output format ${JSON.stringify(options.format)}; expected one of ${Object.keys(ENCODE_CONTENT_TYPES).join(', ')}`, {
      param: 'response_format',
    });
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

// ── Shared helpers ───────────────────────────────────────────────────────────────────────

function checkSampleRate(sampleRate: number): void {
  if (!Number.isInteger(sampleRate) || sampleRate < 1000 || sampleRate > 384_000) {
    throw new SpeechbridgeError('invalid_value', `sampleRate must be an integer between 1000 and 384000 Hz, got ${sampleRate}`, { param: 'sampleRate' });
  }
}

function tooLong(maxDurationMs: number): SpeechbridgeError {
  return new SpeechbridgeError('payload_too_large', `the audio is longer than the ${maxDurationMs / 1000} s limit`, { param: 'file', status: 413 });
}

function unreadable(ffmpeg: FfmpegProcess, code: number | null, signal: NodeJS.Signals | null): SpeechbridgeError {
  const said = ffmpeg.lastStderrLine() || `ffmpeg exited with ${code ?? signal}`;
  return new SpeechbridgeError('unreadable_audio', `the audio could not be decoded: ${said}`, { param: 'file' });
}
