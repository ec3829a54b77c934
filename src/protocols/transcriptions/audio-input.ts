/**
 * The binary side of a /v1/transcriptions connection: audio messages in, PCM16 for the engine
 * out. The first bytes decide the format for the whole session (unless the start message named
 * one): a container signature (WebM, Ogg, fragmented MP4, WAV, FLAC) means a compressed stream,
 * such as a browser's MediaRecorder chunks, decoded by one ffmpeg process; anything else is raw
 * PCM16 little-endian mono at the session's sample rate.
 *
 * - Raw PCM: message boundaries may fall inside a sample; the odd byte waits for the next
 *   message (a 1-byte carry), so any split works.
 * - Containers: chunks go to ffmpeg's stdin as they come. Backpressure policy: when more than
 *   64 KB waits for ffmpeg the socket is paused until ffmpeg has read it; past 1 MB the decoder
 *   refuses (payload_too_large). Either way at most 1 MB is held per connection.
 * - A decode failure (ffmpeg rejects the stream, overflow, ffmpeg missing) is reported once;
 *   the rest of that stream cannot be decoded without its header, so later chunks are dropped
 *   until one opens with the container's signature again (a restarted MediaRecorder), which
 *   starts a new ffmpeg.
 * - WAV files one after another (a recorder that sends a whole file per message): ffmpeg stops
 *   where the first header says the file ends, so each new WAV header starts a new ffmpeg, once
 *   the one before has decoded its file (one ffmpeg at a time; the socket is paused meanwhile
 *   and at most 1 MB waits).
 */
import { SNIFF_BYTES, sniffContainer, type Container } from '../../audio/container.ts';
import { createStreamDecoder, type StreamDecoder } from '../../audio/stream-decoder.ts';
import { SpeechbridgeError, toSpeechbridgeError } from '../../errors/registry.ts';
import type { AudioFormat } from './codec.ts';

/** The rate compressed streams are decoded to: the rate the VAD and the transcriber run at. */
export const DECODE_SAMPLE_RATE = 16000;

/** WAV files that wait while the file before is decoded: the decoder's own input bound. */
const MAX_QUEUED_BYTES = 1024 * 1024;

/** Containers detected from the first bytes; MP3 only by name (codec.ts AUDIO_FORMATS says why). */
const DETECTED_CONTAINERS: ReadonlySet<Container> = new Set(['webm', 'ogg', 'mp4', 'wav', 'flac']);

export interface AudioInputOptions {
  format: AudioFormat;
  /** The rate raw PCM16 arrives at. */
  pcmSampleRate: number;
  /** PCM for the engine, in order. */
  onAudio(samples: Int16Array, sampleRate: number): void;
  /** A decode failure (the input goes on, waiting for a new stream). */
  onError(error: SpeechbridgeError): void;
  /** Stop reading the socket until resume(): ffmpeg has fallen behind. */
  pause(): void;
  resume(): void;
}

type InputState =
  /** No format yet: the first bytes (at most SNIFF_BYTES of them) wait here. */
  | { type: 'sniffing'; head: Buffer[]; bytes: number }
  | { type: 'pcm'; carry: number | null }
  | { type: 'decoding'; format: string; decoder: StreamDecoder; pumped: Promise<void> }
  /** A new WAV file arrived: the previous decoder finishes its file, then `queued` goes to a new one. */
  | { type: 'switching'; format: string; previous: StreamDecoder; queued: Buffer[]; bytes: number; switched: Promise<void> }
  /** The stream could not be decoded: chunks are dropped until a new one begins. */
  | { type: 'failed'; format: string }
  | { type: 'ended' };

export class AudioInput {
  #state: InputState = { type: 'sniffing', head: [], bytes: 0 };
  #droppedBytes = 0;
  #format: string | null = null;

  constructor(private readonly options: AudioInputOptions) {}

  /** Bytes dropped after decode failures, for the close log. */
  get droppedBytes(): number {
    return this.#droppedBytes;
  }

  /** The stream's format once known: 'pcm16' or a container name. */
  get format(): string | null {
    return this.#format;
  }

  /** One binary message. The caller must not reuse `chunk`'s memory (ffmpeg reads it later). */
  write(chunk: Buffer): void {
    const state = this.#state;
    if (chunk.byteLength === 0) return;
    switch (state.type) {
      case 'ended':
        return;
      case 'sniffing':
        state.head.push(chunk);
        state.bytes += chunk.byteLength;
        if (this.options.format !== 'auto' || state.bytes >= SNIFF_BYTES) this.#decide(Buffer.concat(state.head));
        return;
      case 'pcm':
        this.#writePcm(state, chunk);
        return;
      case 'decoding':
        if (state.format === 'wav' && sniffContainer(chunk) === 'wav') {
          this.#nextWavFile(state, chunk);
          return;
        }
        this.#writeEncoded(state, chunk);
        return;
      case 'switching':
        state.queued.push(chunk);
        state.bytes += chunk.byteLength;
        if (state.bytes > MAX_QUEUED_BYTES) {
          state.previous.close();
          this.#fail(
            state.format,
            null,
            new SpeechbridgeError('payload_too_large', `more than ${MAX_QUEUED_BYTES} bytes of WAV files arrived while the one before was decoded`),
          );
          this.options.resume();
          return;
        }
        // The previous decoder's drain may have resumed the socket.
        this.options.pause();
        return;
      case 'failed':
        if (sniffContainer(chunk) === state.format) {
          this.#startDecoder(state.format, chunk);
        } else {
          this.#droppedBytes += chunk.byteLength;
        }
        return;
    }
  }

  /**
   * No more input: a compressed stream is decoded to its end (every PCM chunk reaches onAudio
   * before this resolves); a trailing odd PCM byte is dropped. Never rejects.
   */
  async finish(): Promise<void> {
    const state = this.#state;
    if (state.type === 'sniffing' && state.bytes > 0) this.#decide(Buffer.concat(state.head));
    for (let next = this.#state; next.type === 'switching'; next = this.#state) await next.switched;
    const current = this.#state;
    if (current.type === 'decoding') {
      current.decoder.end();
      await current.pumped;
    }
    this.#state = { type: 'ended' };
  }

  /** Kills ffmpeg, if one runs; later writes are ignored. Idempotent. */
  close(): void {
    const state = this.#state;
    this.#state = { type: 'ended' };
    if (state.type === 'decoding') state.decoder.close();
    if (state.type === 'switching') state.previous.close();
  }

  #decide(head: Buffer): void {
    const format = this.options.format === 'auto' ? detectedFormat(sniffContainer(head)) : this.options.format;
    this.#format = format;
    if (format === 'pcm16') {
      const state: InputState = { type: 'pcm', carry: null };
      this.#state = state;
      this.#writePcm(state, head);
    } else {
      this.#startDecoder(format, head);
    }
  }

  #writePcm(state: Extract<InputState, { type: 'pcm' }>, chunk: Buffer): void {
    const withCarry = state.carry === null ? chunk.byteLength : chunk.byteLength + 1;
    const even = withCarry & ~1;
    // A fresh array rather than a view: the chunk's offset may be odd, and the engine keeps the samples.
    const samples = new Int16Array(even >> 1);
    const bytes = new Uint8Array(samples.buffer);
    if (state.carry === null) {
      bytes.set(chunk.subarray(0, even));
    } else if (even > 0) {
      bytes[0] = state.carry;
      bytes.set(chunk.subarray(0, even - 1), 1);
    }
    state.carry = withCarry % 2 === 1 ? chunk[chunk.byteLength - 1] : null;
    if (samples.length > 0) this.options.onAudio(samples, this.options.pcmSampleRate);
  }

  #startDecoder(format: string, head: Buffer): void {
    let decoder: StreamDecoder;
    try {
      decoder = createStreamDecoder({ sampleRate: DECODE_SAMPLE_RATE, inputFormat: format });
    } catch (error) {
      this.#fail(format, null, error);
      return;
    }
    const state: InputState = { type: 'decoding', format, decoder, pumped: Promise.resolve() };
    state.pumped = this.#pump(state);
    this.#state = state;
    this.#writeEncoded(state, head);
  }

  /**
   * The next WAV file waits for the one before to be decoded rather than getting its own ffmpeg
   * at once, whose output would be read later: a child's stdout left unread is discarded when
   * the child exits (Node resumes it), and one ffmpeg per connection is the bound.
   */
  #nextWavFile(state: Extract<InputState, { type: 'decoding' }>, head: Buffer): void {
    state.decoder.end();
    this.options.pause();
    const switching: Extract<InputState, { type: 'switching' }> = {
      type: 'switching',
      format: state.format,
      previous: state.decoder,
      queued: [head],
      bytes: head.byteLength,
      switched: Promise.resolve(),
    };
    switching.switched = state.pumped.then(() => {
      if (this.#state !== switching) return;
      const [first, ...rest] = switching.queued;
      this.#startDecoder(switching.format, first);
      // The rest may hold yet another file, which switches again.
      for (const chunk of rest) this.write(chunk);
      if (this.#state.type !== 'switching') this.options.resume();
    });
    this.#state = switching;
  }

  /** Copies ffmpeg's PCM to onAudio until the stream ends; never rejects. */
  async #pump(state: Extract<InputState, { type: 'decoding' }>): Promise<void> {
    try {
      for await (const samples of state.decoder.output) this.options.onAudio(samples, DECODE_SAMPLE_RATE);
    } catch (error) {
      this.#fail(state.format, state.decoder, error);
    }
  }

  #writeEncoded(state: Extract<InputState, { type: 'decoding' }>, chunk: Buffer): void {
    let flowing: boolean;
    try {
      flowing = state.decoder.write(chunk);
    } catch (error) {
      this.#fail(state.format, state.decoder, error);
      return;
    }
    if (flowing) return;
    this.options.pause();
    // drain() settles when ffmpeg has read the queue or has ended; it never rejects.
    void state.decoder.drain().then(() => this.options.resume());
  }

  /** Reports a decoder's failure once (the write and the output may both see it). */
  #fail(format: string, decoder: StreamDecoder | null, error: unknown): void {
    const state = this.#state;
    if (state.type === 'ended') return;
    if (decoder !== null && !(state.type === 'decoding' && state.decoder === decoder)) return;
    decoder?.close();
    this.#state = { type: 'failed', format };
    const failure = toSpeechbridgeError(error, 'unreadable_audio');
    this.options.onError(
      new SpeechbridgeError(
        failure.code,
        `${failure.message}; audio is ignored until a new ${format} stream begins (restart the recorder so its header is sent again)`,
        { cause: failure },
      ),
    );
  }
}

function detectedFormat(container: Container): string {
  return DETECTED_CONTAINERS.has(container) ? container : 'pcm16';
}
