/**
 * The input audio buffer of one session. Audio arrives at the session's input rate (24 kHz by
 * default, 8 kHz for G.711) and is resampled once, as it arrives, to 16 kHz: the rate of the
 * VAD and of the transcribers. Positions are ms of 16 kHz audio from the start of the stream,
 * the same scale as the turn detector's events, and they keep counting across commits and
 * clears.
 *
 * Bound: audio older than the retention point is dropped in whole chunks as new audio arrives.
 * With VAD the retention point is the current turn's start minus padMs (or, between turns, a
 * short tail long enough for the next turn's padding), so the buffer never holds more than one
 * turn; without VAD everything is kept until commit or clear. In both cases an append that
 * would take the buffer past maxBufferMs is refused.
 *
 * Hot path: append does one resampler call, which writes straight into the buffer's one array
 * (no allocation per frame), and no promise. commit and peek hand out views of that array, not
 * copies: the buffer never writes below its end again once a view is out (it moves to a new
 * array instead of compacting in place), so a view stays valid for as long as its holder
 * keeps it.
 */
import { createStreamResamplerSync, type StreamResampler } from '../audio/resample.ts';
import type { PcmAudio } from '../audio/pcm.ts';

export const BUFFER_SAMPLE_RATE = 16000;
const SAMPLES_PER_MS = BUFFER_SAMPLE_RATE / 1000;
/**
 * 2 s of 16 kHz audio (64 KB). Between VAD turns the buffer keeps padMs + startMs + 80 ms
 * (about 0.5 s by default), so the kept audio moves to the front once per ~1.5 s of input.
 */
const MIN_CAPACITY_SAMPLES = 2 * BUFFER_SAMPLE_RATE;

/** What the buffer keeps: everything, the last `samples`, or everything from `sample` on. */
type Retention = { kind: 'all' } | { kind: 'tail'; samples: number } | { kind: 'from'; sample: number };

export interface InputBufferOptions {
  inputSampleRate: number;
  maxBufferMs: number;
}

export interface CommittedAudio {
  audio: PcmAudio;
  /** Stream position of the first committed sample, ms. */
  startMs: number;
  /** Stream position just after the last committed sample, ms. */
  endMs: number;
}

export class InputBuffer {
  readonly #maxSamples: number;
  #resampler: StreamResampler;
  #inputSampleRate: number;
  /** The 16 kHz audio: the kept audio is #storage[#storageStart, #storageEnd). */
  #storage = new Int16Array(MIN_CAPACITY_SAMPLES);
  #storageStart = 0;
  #storageEnd = 0;
  /** A view of #storage was handed out: nothing below #storageEnd may be written again. */
  #shared = false;
  /**
   * Stream positions where each append's audio ends, oldest first (entries before #head are
   * dropped): audio is dropped in whole appends, as it arrived.
   */
  #chunkEnds: number[] = [];
  #head = 0;
  /** Stream position (16 kHz samples) of the first kept sample. */
  #startSample = 0;
  /** Stream position just after the last sample. */
  #endSample = 0;
  #retention: Retention = { kind: 'all' };

  constructor(options: InputBufferOptions) {
    this.#maxSamples = Math.round(options.maxBufferMs * SAMPLES_PER_MS);
    this.#inputSampleRate = options.inputSampleRate;
    this.#resampler = createStreamResamplerSync(options.inputSampleRate, BUFFER_SAMPLE_RATE);
  }

  get inputSampleRate(): number {
    return this.#inputSampleRate;
  }

  /** Position of the oldest kept audio, ms from the start of the stream. */
  get startMs(): number {
    return this.#startSample / SAMPLES_PER_MS;
  }

  /** Position just after the newest audio, ms from the start of the stream. */
  get endMs(): number {
    return this.#endSample / SAMPLES_PER_MS;
  }

  get durationMs(): number {
    return (this.#endSample - this.#startSample) / SAMPLES_PER_MS;
  }

  /** Stream position just after the newest audio, in 16 kHz samples. */
  get endSample(): number {
    return this.#endSample;
  }

  /**
   * Resamples and keeps `samples` (at the input rate), returning the 16 kHz audio for the VAD
   * (a view, valid until the next append), or null when it would take the buffer past
   * maxBufferMs (nothing is kept then). The caller may reuse `samples` afterwards.
   */
  append(samples: Int16Array): Int16Array | null {
    const expected = Math.ceil((samples.length * BUFFER_SAMPLE_RATE) / this.#inputSampleRate);
    if (this.#endSample - this.#startSample + expected > this.#maxSamples) return null;
    this.#reserve(this.#resampler.maxOutput(samples.length));
    const from = this.#storageEnd;
    const written = this.#resampler.pushInto(samples, this.#storage, from);
    const chunk = this.#storage.subarray(from, from + written);
    if (written > 0) {
      this.#storageEnd += written;
      this.#endSample += written;
      this.#chunkEnds.push(this.#endSample);
      this.#trim();
    }
    return chunk;
  }

  /** Keeps everything (manual commits). */
  retainAll(): void {
    this.#retention = { kind: 'all' };
  }

  /** Keeps only the last `ms` (between VAD turns: enough for the next turn's padding). */
  retainTail(ms: number): void {
    this.#retention = { kind: 'tail', samples: Math.ceil(ms * SAMPLES_PER_MS) };
    this.#trim();
  }

  /** Keeps everything from stream position `ms` on (a VAD turn, from its start minus padMs). */
  retainFrom(ms: number): void {
    this.#retention = { kind: 'from', sample: Math.max(0, Math.floor(ms * SAMPLES_PER_MS)) };
    this.#trim();
  }

  /**
   * Takes the audio from stream position `fromMs` (default: all kept audio) to the end and
   * empties the buffer; later audio starts a new buffer at the current position.
   */
  commit(fromMs?: number): CommittedAudio {
    const committed = this.peek(fromMs);
    this.clear();
    return committed;
  }

  /**
   * The audio from stream position `fromMs` (default: all kept audio) to the end, as a view the
   * buffer never overwrites; the buffer keeps it.
   */
  peek(fromMs?: number): CommittedAudio {
    const fromSample = Math.min(this.#endSample, Math.max(this.#startSample, fromMs === undefined ? 0 : Math.floor(fromMs * SAMPLES_PER_MS)));
    const from = this.#storageStart + (fromSample - this.#startSample);
    const samples = this.#storage.subarray(from, this.#storageEnd);
    this.#shared = true;
    return { audio: { samples, sampleRate: BUFFER_SAMPLE_RATE }, startMs: fromSample / SAMPLES_PER_MS, endMs: this.endMs };
  }

  /** Drops all kept audio; positions keep counting. */
  clear(): void {
    this.#chunkEnds = [];
    this.#head = 0;
    this.#startSample = this.#endSample;
    this.#storageStart = this.#storageEnd;
  }

  /** Switches the input rate (e.g. to 8 kHz for G.711); kept audio stays, already at 16 kHz. */
  setInputSampleRate(rate: number): void {
    if (rate === this.#inputSampleRate) return;
    const next = createStreamResamplerSync(rate, BUFFER_SAMPLE_RATE);
    this.#resampler.close();
    this.#resampler = next;
    this.#inputSampleRate = rate;
  }

  close(): void {
    this.#resampler.close();
    this.clear();
  }

  #trim(): void {
    const retention = this.#retention;
    if (retention.kind === 'all') return;
    const keepFrom = retention.kind === 'tail' ? this.#endSample - retention.samples : retention.sample;
    const ends = this.#chunkEnds;
    let start = this.#startSample;
    while (this.#head < ends.length && ends[this.#head] <= keepFrom) start = ends[this.#head++];
    this.#storageStart += start - this.#startSample;
    this.#startSample = start;
    // Compacting once half the list is dropped keeps both the list and the trim O(1) per append.
    if (this.#head > 64 && this.#head * 2 > ends.length) {
      this.#chunkEnds = ends.slice(this.#head);
      this.#head = 0;
    }
  }

  /**
   * Room for `samples` more after #storageEnd. The kept audio moves to the front of the array
   * when that frees at least half of it and no view is out (so each sample moves O(1) times),
   * else to a new array twice its size.
   */
  #reserve(samples: number): void {
    if (this.#storageEnd + samples <= this.#storage.length) return;
    const kept = this.#storageEnd - this.#storageStart;
    const needed = kept + samples;
    if (!this.#shared && 2 * needed <= this.#storage.length) {
      this.#storage.copyWithin(0, this.#storageStart, this.#storageEnd);
    } else {
      const next = new Int16Array(Math.max(MIN_CAPACITY_SAMPLES, 2 * needed));
      next.set(this.#storage.subarray(this.#storageStart, this.#storageEnd));
      this.#storage = next;
      this.#shared = false;
    }
    this.#storageStart = 0;
    this.#storageEnd = kept;
  }
}
