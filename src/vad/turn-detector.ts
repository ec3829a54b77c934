/**
 * Turn detection on top of any VoiceDetector: frames 16 kHz PCM pushed in chunks of any size,
 * asks the detector for a speech probability per frame, weighs it against the frame's level
 * over the background (src/vad/noise-floor.ts, knob minSnrDb), and says when a turn starts
 * and stops. Synchronous and allocation-free per frame (one frame buffer, reused), so the
 * engine can call it on every audio.append without a promise.
 *
 * Times are ms from the start of the stream (samples pushed since creation, reset() or
 * flush()), on frame boundaries (20 ms for WebRTC VAD, 32 ms for Silero).
 *
 * The turn detector does not own the VoiceDetector (it resets it on creation and on reset()):
 * the caller closes it.
 */
import { SpeechbridgeError } from '../errors/registry.ts';
import { NoiseFloor } from './noise-floor.ts';
import { resolveTurnOptions, type TurnOptions } from './turn-options.ts';
import type { VoiceDetector } from './voice-detector.ts';

export type TurnStopReason = 'silence' | 'max_duration' | 'end_of_stream';

export type TurnEvent =
  | {
      type: 'speech.started';
      /**
       * Start of the first voiced frame of the run that lasted startMs. It does not include
       * padMs: the caller cuts the turn from max(0, audioStartMs − padMs), as OpenAI's
       * prefix_padding_ms keeps audio before the detected start.
       */
      audioStartMs: number;
    }
  | {
      type: 'speech.stopped';
      /** End of the last voiced frame of the turn (the endMs of silence after it is not included). */
      audioEndMs: number;
      reason: TurnStopReason;
    };

export type TurnState = 'silence' | 'speech';

/**
 * In silence, `runStart` is the first frame of the current voiced run (−1 when the last frame
 * was unvoiced) and `loud` whether a frame of the run stood minSnrDb above the background.
 * In speech, frames are counted from the turn's first voiced frame.
 */
type Phase = { kind: 'silence'; runStart: number; loud: boolean } | { kind: 'speech'; startFrame: number; lastVoicedFrame: number };

function silence(): Phase {
  return { kind: 'silence', runStart: -1, loud: false };
}

/**
 * Once in a turn, a frame stays voiced down to threshold − 0.15: Silero's own VADIterator
 * uses this hysteresis so a turn does not end on one frame that dips to 0.45. WebRTC VAD's
 * 0/1 answers are unaffected.
 */
const HYSTERESIS = 0.15;
/** Lowest stay-voiced level, so that a threshold of 0.1 still lets a 0 end a turn. */
const MIN_STAY_THRESHOLD = 0.01;
/**
 * Inside a turn a frame needs half of minSnrDb (6 dB at the default 12) above the background:
 * enough to drop WebRTC VAD's hangover frames and the room tone it keeps calling speech after
 * a sentence (up to 400 ms on en_ls_1272-128104-0000.wav), low enough to keep a trailing
 * fricative, which stands 20–30 dB above a quiet room.
 */
const STAY_SNR_FRACTION = 0.5;

const NO_EVENTS: readonly TurnEvent[] = Object.freeze([]);

export class TurnDetector {
  readonly options: Readonly<TurnOptions>;
  readonly frameMs: number;
  readonly #detector: VoiceDetector;
  readonly #frame: Int16Array;
  readonly #startFrames: number;
  readonly #endFrames: number;
  readonly #maxFrames: number;
  readonly #stayThreshold: number;
  readonly #noiseFloor: NoiseFloor;
  readonly #snrGate: boolean;
  readonly #staySnrDb: number;
  /** Samples of the next frame already in #frame. */
  #filled = 0;
  /** Index of the next frame to run. */
  #frameIndex = 0;
  #phase: Phase = silence();
  /** Events of the current push; the shared empty array when there are none. */
  #events: TurnEvent[] | null = null;

  constructor(detector: VoiceDetector, options: Partial<TurnOptions> = {}) {
    if (detector.sampleRate !== 16000) {
      throw new SpeechbridgeError('invalid_value', `the turn detector runs at 16 kHz, ${detector.name} runs at ${detector.sampleRate} Hz`);
    }
    this.#detector = detector;
    this.options = Object.freeze(resolveTurnOptions(options));
    this.frameMs = (detector.frameSamples * 1000) / detector.sampleRate;
    this.#frame = new Int16Array(detector.frameSamples);
    // A run must cover startMs; at least one frame so startMs 0 still needs a voiced frame.
    this.#startFrames = Math.max(1, Math.ceil(this.options.startMs / this.frameMs));
    this.#endFrames = Math.max(1, Math.ceil(this.options.endMs / this.frameMs));
    this.#maxFrames = Math.max(1, Math.ceil(this.options.maxMs / this.frameMs));
    const { threshold } = this.options;
    this.#stayThreshold = Math.min(threshold, Math.max(threshold - HYSTERESIS, MIN_STAY_THRESHOLD));
    this.#noiseFloor = new NoiseFloor(this.frameMs);
    this.#snrGate = this.options.minSnrDb > 0;
    this.#staySnrDb = this.options.minSnrDb * STAY_SNR_FRACTION;
    // A detector reused from an earlier stream must not carry its noise estimate or state over.
    detector.reset();
  }

  get state(): TurnState {
    return this.#phase.kind;
  }

  /** Ms of audio pushed so far, including a partial frame not yet run. */
  get streamMs(): number {
    return ((this.#frameIndex * this.#frame.length + this.#filled) * 1000) / this.#detector.sampleRate;
  }

  /**
   * Takes 16 kHz mono PCM of any length (a partial frame waits for the next push) and returns
   * the events its complete frames caused, oldest first.
   */
  push(samples: Int16Array): readonly TurnEvent[] {
    const frame = this.#frame;
    const frameLength = frame.length;
    let filled = this.#filled;
    try {
      for (let offset = 0; offset < samples.length;) {
        // Copying keeps one frame buffer for every chunk size, instead of a view per frame.
        const take = Math.min(frameLength - filled, samples.length - offset);
        for (let i = 0; i < take; i++) frame[filled + i] = samples[offset + i];
        filled += take;
        offset += take;
        if (filled === frameLength) {
          // Cleared and counted first, so a frame the engine throws on is skipped without
          // shifting the times of the frames after it.
          filled = 0;
          const snrDb = this.#snrGate ? this.#noiseFloor.update(frame) : Infinity;
          this.#runFrame(this.#frameIndex++, this.#detector.probability(frame), snrDb);
        }
      }
    } finally {
      this.#filled = filled;
    }
    return this.#takeEvents();
  }

  /**
   * Ends the stream: an open turn stops with reason 'end_of_stream', a partial frame (under
   * one frame of audio) is dropped, and the detector starts over as after reset().
   */
  flush(): readonly TurnEvent[] {
    const phase = this.#phase;
    if (phase.kind === 'speech') this.#emitStop(phase.lastVoicedFrame, 'end_of_stream');
    const events = this.#takeEvents();
    this.reset();
    return events;
  }

  /** Forgets the stream (position, open turn, the engine's state) without events. */
  reset(): void {
    this.#detector.reset();
    this.#filled = 0;
    this.#frameIndex = 0;
    this.#phase = silence();
    this.#noiseFloor.reset();
    this.#events = null;
  }

  #runFrame(index: number, probability: number, snrDb: number): void {
    const phase = this.#phase;
    if (phase.kind === 'silence') {
      // Negated so that a NaN from an engine counts as unvoiced.
      if (!(probability >= this.options.threshold)) {
        phase.runStart = -1;
        phase.loud = false;
        return;
      }
      if (phase.runStart < 0) phase.runStart = index;
      if (snrDb >= this.options.minSnrDb) phase.loud = true;
      // A run that stays at the background (the engine calling steady noise speech) keeps
      // only its last startMs, so speech rising out of it dates back at most startMs.
      else if (!phase.loud && index - phase.runStart + 1 > this.#startFrames) phase.runStart = index - this.#startFrames + 1;
      if (!phase.loud || index - phase.runStart + 1 < this.#startFrames) return;
      this.#startTurn(phase.runStart, index);
    } else if (probability >= this.#stayThreshold && snrDb >= this.#staySnrDb) {
      phase.lastVoicedFrame = index;
    } else if (index - phase.lastVoicedFrame >= this.#endFrames) {
      this.#emitStop(phase.lastVoicedFrame, 'silence');
      this.#phase = silence();
      return;
    }
    const current = this.#phase;
    if (current.kind === 'speech' && index + 1 - current.startFrame >= this.#maxFrames) {
      this.#emitStop(current.lastVoicedFrame, 'max_duration');
      // If the talker goes on, the next voiced frame opens a run as in any silence: the new
      // turn's audioStartMs is the frame after the cut, confirmed startMs later.
      this.#phase = silence();
    }
  }

  #startTurn(startFrame: number, confirmingFrame: number): void {
    this.#phase = { kind: 'speech', startFrame, lastVoicedFrame: confirmingFrame };
    this.#emit({ type: 'speech.started', audioStartMs: startFrame * this.frameMs });
  }

  #emitStop(lastVoicedFrame: number, reason: TurnStopReason): void {
    this.#emit({ type: 'speech.stopped', audioEndMs: (lastVoicedFrame + 1) * this.frameMs, reason });
  }

  #emit(event: TurnEvent): void {
    (this.#events ??= []).push(event);
  }

  #takeEvents(): readonly TurnEvent[] {
    const events = this.#events ?? NO_EVENTS;
    this.#events = null;
    return events;
  }
}
