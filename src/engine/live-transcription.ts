/**
 * Live transcription of the turn being spoken, for recognizers that declare they stream
 * (capabilities.streaming with transcribeStream). One stream per VAD turn: opened at
 * speech.started with the prefix padding already buffered, fed each input frame as it
 * arrives, finished at the commit (the turn's TranscriptionJob then waits for its final text,
 * with no second pass over the turn), and aborted when the turn's speech is discarded (a
 * clear, a commit too short to transcribe) or the session closes. Its text goes out as it
 * comes: each piece as transcript.delta (append-only, OpenAI's input_audio_transcription.delta)
 * and, when the session shows partials, the whole text so far as transcript.interim.
 *
 * With turn detection off (the client commits), the engine opens the stream at the first
 * append after a commit or clear, with what the buffer holds, and the client's commit finishes it.
 *
 * Audio: a frame already at the recognizer's rate (24 kHz input to a 24 kHz recognizer) goes
 * on as the client sent it; otherwise the 16 kHz audio of the input buffer is resampled once to
 * the recognizer's rate. The prefix comes from the input buffer (16 kHz). G.711 input to a
 * recognizer that takes G.711 (capabilities.inputEncodings) streams as the client's own bytes
 * at 8 kHz, prefix included (the last bytes received are kept for it), so the upstream gets
 * exactly what the client sent; a turn keeps the encoding it started in, and a frame in another
 * one (the client changed its format mid-turn) is converted to it.
 *
 * Bound: frames the recognizer has not taken yet (it is still connecting, or its upstream is
 * far behind) wait in a queue of at most `maxPendingMs` of audio; past that the stream is
 * stopped and the turn fails with upstream_timeout naming the upstream, rather than holding
 * the audio of a stalled upstream without end. A manual turn (turn detection off) may come
 * faster than real time — a client that sends a recording at once and then commits — so its
 * bound is the input buffer's own (limits.maxBufferMs): the queue never holds more than the
 * buffer already does, and a burst that arrives while the upstream connects is not refused.
 */
import { g711Decode, type G711Audio } from '../audio/g711.ts';
import { createStreamResamplerSync, resampleSync, type StreamResampler } from '../audio/resample.ts';
import type { PcmAudio } from '../audio/pcm.ts';
import { abortError } from '../errors/abort.ts';
import { SpeechbridgeError } from '../errors/registry.ts';
import type { StreamFrame, TranscribeOptions, Transcriber, TranscriberInputEncoding, Transcription } from '../providers/contracts.ts';
import type { EngineEvent, TranscriptionConfig } from './events.ts';
import { BUFFER_SAMPLE_RATE } from './input-buffer.ts';

/**
 * 10 s of speech may wait for a recognizer that has not taken it: a connecting upstream is
 * ready in 50–100 ms (Gradium) to ~1 s (a cold TLS handshake), so only a stalled one fills it.
 * At 24 kHz that is 480 KB per session at most.
 */
export const MAX_PENDING_STREAM_MS = 10_000;

/** G.711 is 8 kHz, one byte per sample. */
const G711_SAMPLE_RATE = 8000;
const G711_BYTES_PER_MS = G711_SAMPLE_RATE / 1000;

/**
 * The client's G.711 bytes kept for the next turn's prefix: 3 s (24 KB), past the padding
 * (300 ms by default) and the speech a VAD needs before it starts a turn.
 */
const MAX_RECENT_G711_MS = 3000;

export interface LiveTranscriptionOptions {
  /** The session's recognizer (its openSession handle where it has one). */
  transcriber: Transcriber;
  emit: (event: EngineEvent) => void;
  /** Holds the stream's task until it settles, so the session's close waits for it. */
  track: (task: Promise<unknown>) => void;
  maxPendingMs?: number;
}

export interface LiveTurnSettings {
  transcription: TranscriptionConfig;
  /** Also emit transcript.interim (the whole text so far) for each piece. */
  interim: boolean;
  /** Ask for the tokens' log probabilities and send them with each delta (the session's include). */
  logprobs?: boolean;
  /** The bound of audio waiting for the recognizer, for this turn; default the manager's. */
  maxPendingMs?: number;
}

/** True when the recognizer takes a live stream per turn. */
export function streamsLive(transcriber: Transcriber): boolean {
  return transcriber.capabilities.streaming && typeof transcriber.transcribeStream === 'function';
}

/** The manager of the session's one open stream (the turn being spoken). */
export class LiveTranscription {
  readonly #options: LiveTranscriptionOptions;
  #open: LiveTurnStream | null = null;
  /** The encoding of the last frame. */
  #encoding: TranscriberInputEncoding = 'pcm16';
  /** Its last bytes (G.711 taken by the recognizer only), oldest first, at most MAX_RECENT_G711_MS. */
  #recent: Uint8Array[] = [];
  #recentBytes = 0;

  constructor(options: LiveTranscriptionOptions) {
    this.#options = options;
  }

  get enabled(): boolean {
    return streamsLive(this.#options.transcriber);
  }

  /** The item of the open stream, or null. */
  get openItemId(): string | null {
    return this.#open?.itemId ?? null;
  }

  /**
   * A turn started: opens its stream with `prefix` (16 kHz: a VAD turn's padding and first
   * frames, or what a manual turn has buffered before the frame that opens it). `encoding`: the
   * client's encoding when the frame that opens the turn comes after this call (a manual turn);
   * default that of the last frame pushed.
   */
  begin(itemId: string, prefix: PcmAudio, settings: LiveTurnSettings, encoding: TranscriberInputEncoding = this.#encoding): void {
    this.abort();
    if (!this.enabled) return;
    if (!this.#takes(encoding)) encoding = 'pcm16';
    const stream = new LiveTurnStream(itemId, this.#options, settings, encoding);
    this.#open = stream;
    this.#options.track(stream.settled);
    stream.push(null, prefix, encoding === 'pcm16' ? undefined : this.#recentG711(encoding, prefix));
  }

  /**
   * One input frame: `raw` at the client's rate `rawRate`, `chunk` the same audio at 16 kHz,
   * `encoded` the client's G.711 bytes of it when it sent G.711. Between turns only G.711 bytes
   * are kept (for the next prefix), and only for a recognizer that takes them.
   */
  push(raw: Int16Array, rawRate: number, chunk: Int16Array, encoded?: G711Audio): void {
    this.#note(encoded);
    this.#open?.push({ samples: raw, sampleRate: rawRate }, { samples: chunk, sampleRate: BUFFER_SAMPLE_RATE }, encoded);
  }

  /** The turn was committed: hands its stream over (the job finishes it), or null when none is open for it. */
  take(itemId: string): LiveTurnStream | null {
    const stream = this.#open;
    if (!stream || stream.itemId !== itemId) return null;
    this.#open = null;
    return stream;
  }

  /** The open turn's speech is discarded (cleared, reset) or the session closes: its stream stops. */
  abort(): void {
    this.#open?.abort();
    this.#open = null;
  }

  /** True when the recognizer takes `encoding` as it is in a live stream. */
  #takes(encoding: TranscriberInputEncoding): boolean {
    return encoding === 'pcm16' || (this.enabled && this.#options.transcriber.capabilities.inputEncodings?.includes(encoding) === true);
  }

  #note(encoded: G711Audio | undefined): void {
    const encoding = encoded && this.#takes(encoded.encoding) ? encoded.encoding : 'pcm16';
    if (encoding !== this.#encoding) {
      this.#encoding = encoding;
      this.#recent = [];
      this.#recentBytes = 0;
    }
    if (encoding === 'pcm16' || !encoded) return;
    this.#recent.push(encoded.bytes.slice());
    this.#recentBytes += encoded.bytes.length;
    const max = MAX_RECENT_G711_MS * G711_BYTES_PER_MS;
    while (this.#recentBytes - this.#recent[0].length >= max) this.#recentBytes -= this.#recent.shift()!.length;
  }

  /** The client's last bytes covering `prefix`, or undefined when fewer were kept (the prefix is converted then). */
  #recentG711(encoding: G711Audio['encoding'], prefix: PcmAudio): G711Audio | undefined {
    const wanted = Math.round((prefix.samples.length * G711_SAMPLE_RATE) / prefix.sampleRate);
    if (wanted === 0 || wanted > this.#recentBytes) return undefined;
    const bytes = new Uint8Array(wanted);
    let end = wanted;
    for (let index = this.#recent.length - 1; index >= 0 && end > 0; index--) {
      const piece = this.#recent[index];
      const take = Math.min(piece.length, end);
      bytes.set(piece.subarray(piece.length - take), end - take);
      end -= take;
    }
    return { encoding, bytes };
  }
}

type StreamOutcome = { ok: true; transcription: Transcription } | { ok: false; error: unknown };

/** One turn's live stream. */
export class LiveTurnStream {
  readonly itemId: string;
  /** Settles when the stream has ended; never rejects. */
  readonly settled: Promise<StreamOutcome>;
  readonly #options: LiveTranscriptionOptions;
  readonly #settings: LiveTurnSettings;
  readonly #controller = new AbortController();
  readonly #rate: number;
  readonly #encoding: TranscriberInputEncoding;
  readonly #maxPendingSamples: number;
  #resampler: StreamResampler | null = null;
  #queue: StreamFrame[] = [];
  #queuedSamples = 0;
  #ended = false;
  #wake: (() => void) | null = null;
  #overflow: SpeechbridgeError | null = null;
  #text = '';

  constructor(itemId: string, options: LiveTranscriptionOptions, settings: LiveTurnSettings, encoding: TranscriberInputEncoding = 'pcm16') {
    this.itemId = itemId;
    this.#options = options;
    this.#settings = settings;
    this.#encoding = encoding;
    this.#rate = encoding === 'pcm16' ? options.transcriber.capabilities.sampleRate : G711_SAMPLE_RATE;
    this.#maxPendingSamples = Math.round(((settings.maxPendingMs ?? options.maxPendingMs ?? MAX_PENDING_STREAM_MS) * this.#rate) / 1000);
    this.settled = this.#run().then(
      (transcription): StreamOutcome => ({ ok: true, transcription }),
      (error: unknown): StreamOutcome => ({ ok: false, error }),
    );
  }

  /**
   * Queues a frame for the recognizer: the client's G.711 bytes as they are in a G.711 turn,
   * `raw` as it is when already at its rate, else `at16k` resampled.
   */
  push(raw: PcmAudio | null, at16k: PcmAudio, encoded?: G711Audio): void {
    // A frame the input resampler has given no 16 kHz audio for yet (its first) still has its own samples or bytes.
    if (this.#ended) return;
    let frame: StreamFrame;
    if (encoded && encoded.encoding === this.#encoding && (!raw || raw.sampleRate === G711_SAMPLE_RATE)) {
      const bytes = encoded.bytes.slice();
      frame = {
        samples: raw ? raw.samples.slice() : g711Decode({ encoding: encoded.encoding, bytes }),
        sampleRate: G711_SAMPLE_RATE,
        encoded: { encoding: encoded.encoding, bytes },
      };
    } else if (raw && raw.sampleRate === this.#rate) frame = { samples: raw.samples.slice(), sampleRate: this.#rate };
    else if (at16k.sampleRate === this.#rate) frame = { samples: at16k.samples.slice(), sampleRate: this.#rate };
    else if (!raw) frame = resampleSync(at16k, this.#rate);
    else {
      this.#resampler ??= createStreamResamplerSync(at16k.sampleRate, this.#rate);
      frame = { samples: this.#resampler.push(at16k.samples), sampleRate: this.#rate };
    }
    if (frame.samples.length === 0) return;
    if (this.#queuedSamples + frame.samples.length > this.#maxPendingSamples) {
      const transcriber = this.#options.transcriber;
      const capMs = Math.round((this.#maxPendingSamples * 1000) / this.#rate);
      this.#overflow = new SpeechbridgeError(
        'upstream_timeout',
        `${transcriber.upstream ?? transcriber.name} took none of the last ${capMs} ms of speech (still connecting or stalled); the turn's live transcription is stopped`,
      );
      this.#stop();
      return;
    }
    this.#queue.push(frame);
    this.#queuedSamples += frame.samples.length;
    this.#wakeReader();
  }

  /**
   * The turn is committed: the audio ends here and the recognizer's final text is awaited.
   * `signal` (the job's timeout or the session closing) aborts the stream.
   */
  async finish(signal: AbortSignal): Promise<Transcription> {
    this.#end();
    const onAbort = () => this.abort();
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const outcome = await this.settled;
      if (outcome.ok) return outcome.transcription;
      throw outcome.error;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  abort(): void {
    this.#stop();
  }

  #stop(): void {
    this.#end();
    this.#queue = [];
    this.#queuedSamples = 0;
    this.#controller.abort();
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#resampler?.close();
    this.#resampler = null;
    this.#wakeReader();
  }

  #wakeReader(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  async *#audio(): AsyncIterable<StreamFrame> {
    while (true) {
      const frame = this.#queue.shift();
      if (frame) {
        this.#queuedSamples -= frame.samples.length;
        yield frame;
        continue;
      }
      if (this.#ended) return;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }

  async #run(): Promise<Transcription> {
    // Started on the next tick, so the prefix is queued before the recognizer first pulls.
    await Promise.resolve();
    const { transcriber, emit } = this.#options;
    const { transcription: settings, interim, logprobs } = this.#settings;
    const options: TranscribeOptions = {
      signal: this.#controller.signal,
      ...(settings.language !== undefined && { language: settings.language }),
      ...(settings.prompt !== undefined && { prompt: settings.prompt }),
      ...(settings.model !== undefined && { model: settings.model }),
      ...(this.#encoding !== 'pcm16' && { inputEncoding: this.#encoding }),
      ...(logprobs && { logprobs: true }),
    };
    let completed = false;
    try {
      // Stopped before the recognizer was called (the cap, a clear in the same tick): no call at all.
      if (this.#controller.signal.aborted) throw abortError();
      for await (const event of transcriber.transcribeStream!(this.#audio(), options)) {
        if (this.#controller.signal.aborted) break;
        if (event.type === 'completed') {
          completed = true;
          return event.transcription;
        }
        if (!event.text) continue;
        this.#text += event.text;
        emit({ type: 'transcript.delta', itemId: this.itemId, contentIndex: 0, delta: event.text, ...(logprobs && { logprobs: event.logprobs ?? [] }) });
        if (interim && this.#text.trim() !== '') emit({ type: 'transcript.interim', itemId: this.itemId, text: this.#text.trim() });
      }
    } catch (error) {
      if (this.#overflow) throw this.#overflow;
      throw error;
    } finally {
      // A completed stream has closed its upstream call itself; anything else is stopped.
      if (completed) this.#end();
      else this.#stop();
    }
    if (this.#overflow) throw this.#overflow;
    if (this.#controller.signal.aborted) throw abortError();
    throw new SpeechbridgeError('upstream_bad_response', `${transcriber.upstream ?? transcriber.name} ended its transcript stream without a result`);
  }
}
