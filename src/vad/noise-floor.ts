/**
 * Background level by minimum statistics (after R. Martin, 2001): the lowest smoothed frame
 * level over the last 2 s. Speech pauses between words and sentences within that span, so
 * the minimum follows the room, not the talker; a steady noise, however loud, sits at it.
 * The turn detector uses it to refuse turns on sound that never rises above its own
 * background (WebRTC VAD calls the steady −26 dBFS noise of noise_stationary_leopard_empty.wav
 * speech for its first 2.4 s) and to stop counting frames at the background as speech at the
 * end of a turn (WebRTC VAD's 60–100 ms hangover, Silero's slow decay).
 *
 * Bounded memory: the window is kept as 8 sub-window minima, not as frames.
 */

/**
 * Smoothing time constant. In dB rather than power: a power average stays within a few dB of
 * the loudest frame for ~30 frames, so a 100 ms pause between words (−22 → −60 dBFS) never
 * showed in the minimum; in dB, 60 ms evens out the ±3 dB jitter of 20 ms noise frames and
 * still lets such a pause through.
 */
const SMOOTHING_MS = 60;
/** 8 × 250 ms = 2 s: spans a sentence's pauses, and follows a louder room within 2 s. */
const SUBWINDOW_MS = 250;
const SUBWINDOW_COUNT = 8;
/** −100 dBFS: digital silence gets a finite level. */
const MIN_POWER = 1e-10;

export class NoiseFloor {
  readonly #alpha: number;
  readonly #subwindowFrames: number;
  readonly #minima = new Float64Array(SUBWINDOW_COUNT);
  #next = 0;
  #smoothedDb = 0;
  #subwindowMin = Infinity;
  #subwindowFilled = 0;
  #started = false;

  constructor(frameMs: number) {
    this.#alpha = Math.exp(-frameMs / SMOOTHING_MS);
    this.#subwindowFrames = Math.max(1, Math.round(SUBWINDOW_MS / frameMs));
    this.reset();
  }

  /** Takes the next frame and returns its level in dB above the floor (negative below it). */
  update(frame: Int16Array): number {
    let sum = 0;
    for (let i = 0; i < frame.length; i++) sum += frame[i] * frame[i];
    const levelDb = 10 * Math.log10(Math.max(sum / frame.length / (32768 * 32768), MIN_POWER));
    this.#smoothedDb = this.#started ? this.#alpha * this.#smoothedDb + (1 - this.#alpha) * levelDb : levelDb;
    this.#started = true;
    if (this.#smoothedDb < this.#subwindowMin) this.#subwindowMin = this.#smoothedDb;
    let floorDb = this.#subwindowMin;
    for (let i = 0; i < SUBWINDOW_COUNT; i++) if (this.#minima[i] < floorDb) floorDb = this.#minima[i];
    if (++this.#subwindowFilled === this.#subwindowFrames) {
      this.#minima[this.#next] = this.#subwindowMin;
      this.#next = (this.#next + 1) % SUBWINDOW_COUNT;
      this.#subwindowMin = Infinity;
      this.#subwindowFilled = 0;
    }
    return levelDb - floorDb;
  }

  reset(): void {
    this.#minima.fill(Infinity);
    this.#next = 0;
    this.#smoothedDb = 0;
    this.#subwindowMin = Infinity;
    this.#subwindowFilled = 0;
    this.#started = false;
  }
}
