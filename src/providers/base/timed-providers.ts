/**
 * Times every provider call, once for all providers: how long each call took and how it ended
 * (ok, error or aborted), how long a stream took to its first chunk, and errors by code, so an
 * operator sees which engine is slow or failing. The observer records them (Prometheus in
 * src/server/provider-metrics.ts); the wrappers keep each contract as it is and pass every
 * call through unchanged.
 */
import { isAbortError } from '../../errors/abort.ts';
import { SpeechbridgeError } from '../../errors/registry.ts';
import type { PcmAudio } from '../../audio/pcm.ts';
import type {
  Responder,
  RespondRequest,
  SynthesizeRequest,
  Synthesizer,
  Transcriber,
  TranscriberSession,
  TranscriberSessionOptions,
  TranscribeOptions,
} from '../contracts.ts';

export type ProviderKind = 'transcriber' | 'responder' | 'synthesizer';
/** A deliberate abort (barge-in, a client that left) or a consumer that stopped reading is `aborted`, not an error. */
export type CallOutcome = 'ok' | 'error' | 'aborted';

export interface ProviderObserver {
  /** One finished call: its duration from the call to its end. */
  call(kind: ProviderKind, name: string, outcome: CallOutcome, seconds: number): void;
  /** A stream's first chunk (partial text, a token, audio), from the call. */
  firstChunk(kind: ProviderKind, name: string, seconds: number): void;
  /** A failed call's error code (a SpeechbridgeError's code, else `internal`). */
  error(kind: ProviderKind, name: string, code: string): void;
}

export function timedTranscriber<T extends Transcriber>(transcriber: T, observer: ProviderObserver): Transcriber {
  const timer = new CallTimer('transcriber', transcriber.name, observer);
  const timed: Transcriber = readThrough(transcriber, {
    transcribe: (audio: PcmAudio, options?: TranscribeOptions) => timer.promise(() => transcriber.transcribe(audio, options)),
  });
  if (transcriber.transcribeStream) {
    const stream = transcriber.transcribeStream.bind(transcriber);
    timed.transcribeStream = (audio, options) => timer.stream(() => stream(audio, options));
  }
  if (transcriber.openSession) {
    const open = transcriber.openSession.bind(transcriber);
    timed.openSession = (options?: TranscriberSessionOptions): TranscriberSession => {
      const session = open(options);
      return Object.assign(timedTranscriber(session, observer), { close: () => session.close() });
    };
  }
  if (transcriber.close) timed.close = transcriber.close.bind(transcriber);
  return timed;
}

export function timedResponder(responder: Responder, observer: ProviderObserver): Responder {
  const timer = new CallTimer('responder', responder.name, observer);
  return readThrough(responder, { respond: (request: RespondRequest) => timer.stream(() => responder.respond(request)) });
}

export function timedSynthesizer(synthesizer: Synthesizer, observer: ProviderObserver): Synthesizer {
  const timer = new CallTimer('synthesizer', synthesizer.name, observer);
  const timed: Synthesizer = readThrough(synthesizer, { synthesize: (request: SynthesizeRequest) => timer.stream(() => synthesizer.synthesize(request)) });
  if (synthesizer.synthesizeStream) {
    const stream = synthesizer.synthesizeStream.bind(synthesizer);
    timed.synthesizeStream = (text, request) => timer.stream(() => stream(text, request));
  }
  if (synthesizer.close) timed.close = synthesizer.close.bind(synthesizer);
  return timed;
}

const DESCRIPTION_KEYS = ['name', 'upstream', 'capabilities', 'jobs'] as const;

type Description<P> = Pick<P, Extract<keyof P, (typeof DESCRIPTION_KEYS)[number]>>;

/**
 * The wrapper with the provider's name, upstream, capabilities and job slots read through at
 * each access, so it describes the provider as it is at that moment.
 */
function readThrough<P extends object, W extends object>(provider: P, wrapper: W): W & Description<P> {
  for (const key of DESCRIPTION_KEYS) {
    Object.defineProperty(wrapper, key, { get: () => (provider as Record<string, unknown>)[key], enumerable: true });
  }
  return wrapper as W & Description<P>;
}

class CallTimer {
  readonly #kind: ProviderKind;
  readonly #name: string;
  readonly #observer: ProviderObserver;

  constructor(kind: ProviderKind, name: string, observer: ProviderObserver) {
    this.#kind = kind;
    this.#name = name;
    this.#observer = observer;
  }

  async promise<T>(call: () => Promise<T>): Promise<T> {
    const startedAt = performance.now();
    try {
      const value = await call();
      this.#end(startedAt, 'ok');
      return value;
    } catch (error) {
      this.#fail(startedAt, error);
      throw error;
    }
  }

  /** The provider's call is made now (as without the wrapper); its chunks pass through as they come. */
  stream<T>(call: () => AsyncIterable<T>): AsyncIterable<T> {
    const startedAt = performance.now();
    let source: AsyncIterable<T>;
    try {
      source = call();
    } catch (error) {
      this.#fail(startedAt, error);
      throw error;
    }
    return this.#pass(source, startedAt);
  }

  async *#pass<T>(source: AsyncIterable<T>, startedAt: number): AsyncIterable<T> {
    let first = true;
    let finished = false;
    try {
      for await (const chunk of source) {
        if (first) {
          first = false;
          this.#observer.firstChunk(this.#kind, this.#name, (performance.now() - startedAt) / 1000);
        }
        yield chunk;
      }
      finished = true;
      this.#end(startedAt, 'ok');
    } catch (error) {
      finished = true;
      this.#fail(startedAt, error);
      throw error;
    } finally {
      // The consumer stopped reading before the end (a barge-in, a cancelled response).
      if (!finished) this.#end(startedAt, 'aborted');
    }
  }

  #fail(startedAt: number, error: unknown): void {
    if (isAbortError(error)) {
      this.#end(startedAt, 'aborted');
      return;
    }
    this.#end(startedAt, 'error');
    this.#observer.error(this.#kind, this.#name, error instanceof SpeechbridgeError ? error.code : 'internal');
  }

  #end(startedAt: number, outcome: CallOutcome): void {
    this.#observer.call(this.#kind, this.#name, outcome, (performance.now() - startedAt) / 1000);
  }
}
