/**
 * A SessionEngine wired to the scripted fakes (or any providers), recording every event, with
 * helpers to wait for an event and to feed 24 kHz audio in 20 ms frames as a client would.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { concatPcm } from '../../src/audio/pcm.ts';
import { resample } from '../../src/audio/resample.ts';
import { readWav } from '../../src/audio/wav.ts';
import type { Clock } from '../../src/engine/clock.ts';
import type { EngineEvent, EngineEventType, EngineInput, SessionUpdate } from '../../src/engine/events.ts';
import { sequentialIds } from '../../src/engine/ids.ts';
import type { SessionDefaults } from '../../src/engine/session-config.ts';
import { SessionEngine } from '../../src/engine/session-engine.ts';
import type { Responder, Synthesizer, Transcriber } from '../../src/providers/contracts.ts';
import { ScriptedResponder } from '../../src/providers/testing/scripted-responder.ts';
import { ScriptedSynthesizer } from '../../src/providers/testing/scripted-synthesizer.ts';
import { ScriptedTranscriber } from '../../src/providers/testing/scripted-transcriber.ts';
import { createVoiceDetector } from '../../src/vad/voice-detector-factory.ts';
import { sharedAudioPath } from '../helpers/shared.ts';

export const INPUT_RATE = 24000;
/** 20 ms at 24 kHz: what an OpenAI client sends per input_audio_buffer.append. */
export const FRAME_SAMPLES = 480;

export const VAD_DEFAULTS: SessionDefaults['vad'] = {
  engine: 'webrtc',
  aggressiveness: 2,
  threshold: 0.5,
  startMs: 120,
  endMs: 450,
  padMs: 180,
  maxMs: 30_000,
  createResponse: true,
  interruptResponse: true,
};

export type EventOf<T extends EngineEventType> = Extract<EngineEvent, { type: T }>;

export interface HarnessOptions<T extends Transcriber, R extends Responder, S extends Synthesizer> {
  transcriber?: T;
  responder?: R;
  synthesizer?: S;
  defaults?: Partial<SessionDefaults>;
  session?: SessionUpdate;
  clock?: Clock;
}

export class Harness<T extends Transcriber = ScriptedTranscriber, R extends Responder = ScriptedResponder, S extends Synthesizer = ScriptedSynthesizer> {
  readonly engine: SessionEngine;
  readonly events: EngineEvent[] = [];
  /** Event types in order, and any markers tests add (e.g. when a fake finished). */
  readonly log: string[] = [];
  readonly transcriber: T;
  readonly responder: R;
  readonly synthesizer: S;
  #waiters: Array<() => void> = [];

  constructor(options: HarnessOptions<T, R, S> = {}) {
    this.transcriber = options.transcriber ?? (new ScriptedTranscriber() as Transcriber as T);
    this.responder = options.responder ?? (new ScriptedResponder() as Responder as R);
    this.synthesizer = options.synthesizer ?? (new ScriptedSynthesizer() as Synthesizer as S);
    this.engine = new SessionEngine({
      providers: { transcriber: this.transcriber, responder: this.responder, synthesizer: this.synthesizer },
      createVoiceDetector,
      defaults: { voice: 'alloy', vad: VAD_DEFAULTS, ...options.defaults },
      ...(options.session && { session: options.session }),
      ...(options.clock && { clock: options.clock }),
      ids: sequentialIds(),
      onEvent: (event) => {
        this.events.push(event);
        this.log.push(event.type);
        const waiters = this.#waiters;
        this.#waiters = [];
        for (const wake of waiters) wake();
      },
      onListenerError: (error) => {
        throw error;
      },
    });
  }

  handle(input: EngineInput): void {
    this.engine.handle(input);
  }

  /** Events of one type, in order. */
  all<K extends EngineEventType>(type: K): EventOf<K>[] {
    return this.events.filter((event): event is EventOf<K> => event.type === type);
  }

  /**
   * The first event of `type` (matching `where`) at or after index `from`, waiting for it if it
   * has not come yet. Fails after 10 s, listing what did come.
   */
  async next<K extends EngineEventType>(type: K, where: (event: EventOf<K>) => boolean = () => true, from = 0): Promise<EventOf<K>> {
    const deadline = Date.now() + 10_000;
    for (let index = from; ;) {
      for (; index < this.events.length; index++) {
        const event = this.events[index];
        if (event.type === type && where(event as EventOf<K>)) return event as EventOf<K>;
      }
      if (Date.now() > deadline) assert.fail(`no ${type} event within 10 s; saw: ${compress(this.log).join(' ')}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 100);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Waits until `condition` holds (checked every event-loop turn); fails after 10 s. */
  async until(condition: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (!condition()) {
      if (Date.now() > deadline) assert.fail(`${what} did not happen within 10 s; saw: ${compress(this.log).join(' ')}`);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /** Sends audio as 20 ms appends, as fast as possible. */
  feed(samples: Int16Array, frameSamples = FRAME_SAMPLES): void {
    for (let offset = 0; offset < samples.length; offset += frameSamples) {
      this.engine.handle({ type: 'audio.append', audio: samples.subarray(offset, offset + frameSamples) });
    }
  }

  async start(): Promise<this> {
    await this.engine.start();
    return this;
  }

  async close(): Promise<void> {
    await this.engine.close();
  }
}

export async function startHarness<
  T extends Transcriber = ScriptedTranscriber,
  R extends Responder = ScriptedResponder,
  S extends Synthesizer = ScriptedSynthesizer,
>(options: HarnessOptions<T, R, S> = {}): Promise<Harness<T, R, S>> {
  return new Harness(options).start();
}

/** A shared recording resampled to 24 kHz, with `beforeMs` and `afterMs` of digital silence around it. */
export async function speechAt24k(name: string, beforeMs: number, afterMs: number): Promise<{ samples: Int16Array; clip16k: Int16Array }> {
  const clip = readWav(readFileSync(sharedAudioPath(name)));
  const at24 = await resample(clip, INPUT_RATE);
  return { samples: concatPcm([silence(beforeMs), at24.samples, silence(afterMs)]), clip16k: clip.samples };
}

export function silence(ms: number, sampleRate = INPUT_RATE): Int16Array {
  return new Int16Array(Math.round((ms * sampleRate) / 1000));
}

/** Runs of the same entry collapsed to one ("a a b a" → "a b a"). */
export function compress(types: readonly string[]): string[] {
  return types.filter((type, index) => index === 0 || types[index - 1] !== type);
}
