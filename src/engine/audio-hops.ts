/**
 * Cuts a response's output audio into hops of a fixed length (50 ms by default), whatever
 * chunk sizes the synthesizer yields: each audio.delta then carries the same amount of audio,
 * and only the last hop of a response may be shorter. A hop leaves as soon as it is full, so
 * the first audio waits for one hop of the first sentence, not for the sentence.
 */

export class AudioHops {
  readonly hopSamples: number;
  #hop: Int16Array;
  #filled = 0;
  /** Samples taken in since creation. */
  #received = 0;

  constructor(sampleRate: number, hopMs: number) {
    this.hopSamples = Math.max(1, Math.round((sampleRate * hopMs) / 1000));
    this.#hop = new Int16Array(this.hopSamples);
  }

  get receivedSamples(): number {
    return this.#received;
  }

  /** Takes audio in; calls `emit` with each hop it fills. The hop handed to emit is the caller's to keep. */
  push(samples: Int16Array, emit: (hop: Int16Array) => void): void {
    this.#received += samples.length;
    let offset = 0;
    while (offset < samples.length) {
      const take = Math.min(this.hopSamples - this.#filled, samples.length - offset);
      this.#hop.set(samples.subarray(offset, offset + take), this.#filled);
      this.#filled += take;
      offset += take;
      if (this.#filled === this.hopSamples) {
        const full = this.#hop;
        this.#hop = new Int16Array(this.hopSamples);
        this.#filled = 0;
        emit(full);
      }
    }
  }

  /** Emits what is left as one shorter hop (nothing when empty). */
  flush(emit: (hop: Int16Array) => void): void {
    if (this.#filled === 0) return;
    const rest = this.#hop.slice(0, this.#filled);
    this.#filled = 0;
    emit(rest);
  }
}
