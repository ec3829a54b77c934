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
 * Hot path: append does one resampler call (synchronous, one output array the buffer keeps)
 * and no promise; commit does the one concatenation.
 */
import { createStreamResamplerSync, type StreamResampler } from '../audio/resample.ts';
import type { PcmAudio } from '../audio/pcm.ts';

export const BUFFER_SAMPLE_RATE = 16000;
const SAMPLES_PER_MS = BUFFER_SAMPLE_RATE / 1000;

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
  /** Chunks of 16 kHz audio, oldest first; entries before #head are already dropped. */
  #chunks: Int16Array[] = [];
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
   * Resamples and keeps `samples` (at the input rate), returning the 16 kHz audio for the VAD,
   * or null when it would take the buffer past maxBufferMs (nothing is kept then).
   */
  append(samples: Int16Array): Int16Array | null {
    const expected = Math.ceil((samples.length * BUFFER_SAMPLE_RATE) / this.#inputSampleRate);
    if (this.#endSample - this.#startSample + expected > this.#maxSamples) return null;
    let chunk = this.#resampler.push(samples);
    // At 16 kHz input the resampler hands back the caller's array, which the caller may reuse.
    if (chunk === samples) chunk = samples.slice();
    if (chunk.length > 0) {
      this.#chunks.push(chunk);
      this.#endSample += chunk.length;
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

  /** A copy of the audio from stream position `fromMs` (default: all kept audio) to the end; the buffer keeps it. */
  peek(fromMs?: number): CommittedAudio {
    const fromSample = Math.min(this.#endSample, Math.max(this.#startSample, fromMs === undefined ? 0 : Math.floor(fromMs * SAMPLES_PER_MS)));
    const samples = new Int16Array(this.#endSample - fromSample);
    let position = this.#startSample;
    let written = 0;
    for (let index = this.#head; index < this.#chunks.length; index++) {
      const chunk = this.#chunks[index];
      const chunkEnd = position + chunk.length;
      if (chunkEnd > fromSample) {
        const skip = Math.max(0, fromSample - position);
        samples.set(skip === 0 ? chunk : chunk.subarray(skip), written);
        written += chunk.length - skip;
      }
      position = chunkEnd;
    }
    return { audio: { samples, sampleRate: BUFFER_SAMPLE_RATE }, startMs: fromSample / SAMPLES_PER_MS, endMs: this.endMs };
  }

  /** Drops all kept audio; positions keep counting. */
  clear(): void {
    this.#chunks = [];
    this.#head = 0;
    this.#startSample = this.#endSample;
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
    const chunks = this.#chunks;
    while (this.#head < chunks.length && this.#startSample + chunks[this.#head].length <= keepFrom) {
      this.#startSample += chunks[this.#head].length;
      this.#head++;
    }
    // Compacting once half the array is dropped keeps both the array and the trim O(1) per append.
    if (this.#head > 64 && this.#head * 2 > chunks.length) {
      this.#chunks = chunks.slice(this.#head);
      this.#head = 0;
    }
  }
}
