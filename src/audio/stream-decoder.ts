/**
 * Streaming decode: a browser's MediaRecorder stream (WebM/Opus, Safari's fragmented MP4) fed
 * as it arrives through one ffmpeg process, PCM16 out as ffmpeg produces it.
 */
import { abortError } from '../errors/abort.ts';
import { SpeechbridgeError } from '../errors/registry.ts';
import { sniffContainer, SNIFF_BYTES } from './container.ts';
import { checkSampleRate, QUIET_ARGS, readStdout, spawnFfmpeg, unreadable, type FfmpegProcess } from './ffmpeg-process.ts';

/**
 * Stream decoder stdin bounds. Above 64 KB queued (4 s of 128 kbps Opus, 16 s at 32 kbps) write()
 * returns false: the caller should pause its source until drain(). Above 1 MB (65 s at 128 kbps)
 * the caller has ignored that for a minute, and write() refuses with payload_too_large.
 */
const STREAM_HIGH_WATER_BYTES = 64 * 1024;
const DEFAULT_MAX_PENDING_BYTES = 1024 * 1024;

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
