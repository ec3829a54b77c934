/**
 * The session's turn detection on the stream's time scale. It owns the voice detector and a
 * TurnDetector built from the session's turn settings, and reports speech start and stop in
 * ms from the start of the stream, although the TurnDetector's own clock restarts each time it
 * is rebuilt (a settings change) or reset (a clear or a manual commit mid-turn).
 *
 * A new voice detector (another engine or WebRTC mode) loads asynchronously; until it is
 * ready the old one keeps running, and it is swapped in at the next push, so push stays
 * synchronous. Rebuilding ends an open turn as if the stream had ended there, so a settings
 * change never loses a turn that was being spoken.
 */
import { toSpeechbridgeError, type SpeechbridgeError } from '../errors/registry.ts';
import type { TurnDetectionConfig } from './events.ts';
import { sameTurnOptions, sameVoiceDetector, turnSettingsOf } from './session-config.ts';
import { TurnDetector, type TurnEvent } from '../vad/turn-detector.ts';
import type { VoiceDetector, VoiceDetectorFactory } from '../vad/voice-detector.ts';

const SAMPLES_PER_MS = 16;
const NO_EVENTS: readonly TurnEvent[] = Object.freeze([]);

type DetectorState =
  | { kind: 'unloaded' }
  | { kind: 'ready'; voice: VoiceDetector }
  /** `next` is loading (or loaded, waiting for the next push); `voice` runs meanwhile. */
  | { kind: 'swapping'; voice: VoiceDetector; generation: number; next: VoiceDetector | null }
  | { kind: 'closed' };

export class TurnTracker {
  readonly #factory: VoiceDetectorFactory;
  readonly #onError: (error: SpeechbridgeError) => void;
  #config: TurnDetectionConfig;
  #state: DetectorState = { kind: 'unloaded' };
  /** Null while turn detection is off. */
  #turns: TurnDetector | null = null;
  /** Stream position (16 kHz samples) where #turns started counting. */
  #baseSample = 0;
  /** Stream position just after the last sample pushed. */
  #position = 0;
  #generation = 0;
  #loading: Promise<void> = Promise.resolve();

  constructor(factory: VoiceDetectorFactory, config: TurnDetectionConfig, onError: (error: SpeechbridgeError) => void) {
    this.#factory = factory;
    this.#config = config;
    this.#onError = onError;
  }

  /** Loads the voice detector; a missing engine fails here, at session start. */
  async start(): Promise<void> {
    if (this.#state.kind !== 'unloaded') return;
    const voice = await this.#factory(turnSettingsOf(this.#config).detector);
    if (this.#state.kind !== 'unloaded') {
      voice.close?.();
      return;
    }
    this.#state = { kind: 'ready', voice };
    this.#rebuild(voice);
  }

  get inSpeech(): boolean {
    return this.#turns?.state === 'speech';
  }

  /** Frame length of the running detector, ms (20 for WebRTC VAD, 32 for Silero); 20 before start. */
  get frameMs(): number {
    return this.#turns?.frameMs ?? 20;
  }

  /**
   * Applies new settings at the current position. Returns the events of ending an open turn
   * when the turn detector had to be rebuilt (a speech.stopped with reason end_of_stream).
   */
  configure(config: TurnDetectionConfig): readonly TurnEvent[] {
    const previous = this.#config;
    this.#config = config;
    const state = this.#state;
    if (state.kind !== 'ready' && state.kind !== 'swapping') return NO_EVENTS;
    if (!sameVoiceDetector(previous, config)) this.#loadNext(state.voice, config);
    const enabled = config.type !== 'none';
    const wasEnabled = this.#turns !== null;
    if (enabled === wasEnabled && (!enabled || sameTurnOptions(previous, config))) return NO_EVENTS;
    const events = this.#endTurn();
    if (enabled) this.#rebuild(state.voice);
    else this.#turns = null;
    return events;
  }

  /** Runs 16 kHz audio through the detector; returns its events on the stream's time scale. */
  push(samples: Int16Array): readonly TurnEvent[] {
    let swapEvents: readonly TurnEvent[] = NO_EVENTS;
    const state = this.#state;
    if (state.kind === 'swapping' && state.next) swapEvents = this.#swap(state.voice, state.next);
    this.#position += samples.length;
    const turns = this.#turns;
    if (!turns) return swapEvents;
    const events = turns.push(samples);
    if (events.length === 0 && swapEvents.length === 0) return events;
    return [...swapEvents, ...this.#shift(events)];
  }

  /** Forgets the open turn without events (audio cleared, or committed by hand mid-turn). */
  reset(): void {
    if (this.#turns) {
      this.#turns.reset();
      this.#baseSample = this.#position;
    }
  }

  /** Frees the voice detectors; waits for one still loading. */
  async close(): Promise<void> {
    const state = this.#state;
    this.#state = { kind: 'closed' };
    this.#turns = null;
    if (state.kind === 'ready' || state.kind === 'swapping') state.voice.close?.();
    if (state.kind === 'swapping') state.next?.close?.();
    await this.#loading;
  }

  #loadNext(current: VoiceDetector, config: TurnDetectionConfig): void {
    const state = this.#state;
    if (state.kind === 'swapping') state.next?.close?.();
    const generation = ++this.#generation;
    this.#state = { kind: 'swapping', voice: current, generation, next: null };
    this.#loading = this.#factory(turnSettingsOf(config).detector).then(
      (next) => {
        const now = this.#state;
        if (now.kind === 'swapping' && now.generation === generation) now.next = next;
        else next.close?.();
      },
      (error: unknown) => {
        const now = this.#state;
        if (now.kind !== 'swapping' || now.generation !== generation) return;
        // The old detector keeps running; the client hears why its change did not apply.
        this.#state = { kind: 'ready', voice: now.voice };
        this.#onError(toSpeechbridgeError(error, 'engine_unavailable'));
      },
    );
  }

  #swap(old: VoiceDetector, next: VoiceDetector): readonly TurnEvent[] {
    const events = this.#endTurn();
    this.#state = { kind: 'ready', voice: next };
    if (this.#config.type !== 'none') this.#rebuild(next);
    old.close?.();
    return events;
  }

  /** Ends an open turn at the current position, as the end of a stream would. */
  #endTurn(): readonly TurnEvent[] {
    const turns = this.#turns;
    if (!turns || turns.state !== 'speech') return NO_EVENTS;
    return this.#shift(turns.flush());
  }

  #rebuild(voice: VoiceDetector): void {
    if (this.#config.type === 'none') {
      this.#turns = null;
      return;
    }
    this.#turns = new TurnDetector(voice, turnSettingsOf(this.#config).turn);
    this.#baseSample = this.#position;
  }

  #shift(events: readonly TurnEvent[]): TurnEvent[] {
    const baseMs = this.#baseSample / SAMPLES_PER_MS;
    return events.map((event) =>
      event.type === 'speech.started'
        ? { ...event, audioStartMs: Math.round(baseMs + event.audioStartMs) }
        : { ...event, audioEndMs: Math.round(baseMs + event.audioEndMs) },
    );
  }
}
