/**
 * The embedded speech synthesizer: espeak-ng compiled to WebAssembly
 * (@echogarden/espeak-ng-emscripten, which ships its voice data), run on worker threads.
 *
 * Streaming: the text is cut into sentences (src/providers/sentences.ts) and each sentence's
 * PCM is yielded as soon as it is synthesized, so first audio waits for one sentence only
 * (10–60 ms warm) instead of the whole text. One sentence of look-ahead is synthesized while
 * the caller handles the previous one; no more, so an abandoned stream wastes at most one.
 * Output is 22050 Hz, espeak-ng's native rate; callers resample once (synthesize-at.ts).
 * A request's `instructions` and `model` are ignored: espeak-ng has one engine and no style
 * control beyond voice, variant and rate.
 */
import { availableParallelism } from 'node:os';
import type { PcmAudio } from '../../audio/pcm.ts';
import { isAbortError, throwIfAborted } from '../../errors/abort.ts';
import type { JobLoad, SynthesizeRequest, Synthesizer, SynthesizerCapabilities } from '../contracts.ts';
import { startDeadline } from '../deadline.ts';
import { splitSentences } from '../sentences.ts';
import { EspeakPool } from './espeak-pool.ts';
import { EspeakVoices, wordsPerMinute } from './espeak-voices.ts';

export const ESPEAK_SAMPLE_RATE = 22050;

export interface EspeakSentenceTiming {
  index: number;
  text: string;
  /** From submitting the sentence to its audio (queue wait included). */
  synthesisMs: number;
  audioMs: number;
}

export interface EspeakSynthesizerOptions {
  /** Worker threads; default one per spare core, at most 2 (each holds its own engine). */
  workers?: number;
  /** Sentences allowed to wait for a worker across all calls; default 64 (a few seconds of work). */
  maxQueuedSentences?: number;
  /** Voice used when a request names none; default 'alloy' (American English). */
  defaultVoice?: string;
  /** REQUEST_TIMEOUT for each sentence (queue wait and synthesis); default 30000 ms. */
  timeoutMs?: number;
  /** Called as each sentence finishes synthesizing, for metrics and tracing. */
  onSentenceSynthesized?: (timing: EspeakSentenceTiming) => void;
  /** Warm the engine up at start-up so the first requests are fast (default true); a one-shot command skips it. */
  warmUp?: boolean;
  /** A pool started earlier with startPool() (workers and warmUp were given there); closed with the synthesizer. */
  pool?: EspeakPool;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_QUEUED_SENTENCES = 64;

export class EspeakSynthesizer implements Synthesizer {
  readonly name = 'espeak-ng';
  readonly capabilities: SynthesizerCapabilities;
  private readonly pool: EspeakPool;
  private readonly voices: EspeakVoices;
  private readonly timeoutMs: number;
  private readonly onSentenceSynthesized?: (timing: EspeakSentenceTiming) => void;

  private constructor(pool: EspeakPool, options: EspeakSynthesizerOptions) {
    this.pool = pool;
    this.voices = new EspeakVoices(pool.catalogue);
    const defaultVoice = options.defaultVoice ?? 'alloy';
    this.voices.resolve(defaultVoice);
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.onSentenceSynthesized = options.onSentenceSynthesized;
    this.capabilities = { streaming: true, sampleRate: ESPEAK_SAMPLE_RATE, voices: this.voices.names, defaultVoice };
  }

  get jobs(): JobLoad {
    return this.pool.jobSlots;
  }

  /** Starts loading the engine on its workers, for create({ pool }) once the rest of the options are known. */
  static startPool(options: Pick<EspeakSynthesizerOptions, 'workers' | 'maxQueuedSentences' | 'warmUp'> = {}): Promise<EspeakPool> {
    const workers = options.workers ?? Math.min(2, Math.max(1, availableParallelism() - 1));
    return EspeakPool.start({ workers, maxQueuedJobs: options.maxQueuedSentences ?? DEFAULT_MAX_QUEUED_SENTENCES, warmUp: options.warmUp });
  }

  /** Loads the engine on its workers; fails here (start-up), not at the first request. */
  static async create(options: EspeakSynthesizerOptions = {}): Promise<EspeakSynthesizer> {
    const pool = options.pool ?? (await EspeakSynthesizer.startPool(options));
    try {
      return new EspeakSynthesizer(pool, options);
    } catch (error) {
      await pool.close();
      throw error;
    }
  }

  /** The espeak voice a name resolves to ("coral" → "gmw/en-US+f3"); throws unknown_voice. */
  resolveVoice(voice: string): string {
    return this.voices.resolve(voice);
  }

  async *synthesize(request: SynthesizeRequest): AsyncIterable<PcmAudio> {
    const voice = this.voices.resolve(request.voice ?? this.capabilities.defaultVoice);
    const rate = wordsPerMinute(request.speed);
    // Pieces with no letter or digit ("...", "—") have nothing to say.
    const sentences = splitSentences(request.text).filter((sentence) => /[\p{L}\p{N}]/u.test(sentence));
    throwIfAborted(request.signal);
    if (sentences.length === 0) return;
    // Aborted on exit, so a look-ahead sentence stops when the caller stops reading.
    const stream = new AbortController();
    const onCallerAbort = () => stream.abort();
    request.signal?.addEventListener('abort', onCallerAbort, { once: true });
    try {
      let next = this.submit(sentences, 0, voice, rate, stream.signal);
      for (let index = 0; index < sentences.length; index++) {
        const current = next;
        if (index + 1 < sentences.length) next = this.submit(sentences, index + 1, voice, rate, stream.signal);
        const samples = await current;
        throwIfAborted(request.signal);
        yield { samples, sampleRate: ESPEAK_SAMPLE_RATE };
      }
    } finally {
      request.signal?.removeEventListener('abort', onCallerAbort);
      stream.abort();
    }
  }

  async close(): Promise<void> {
    await this.pool.close();
  }

  private submit(sentences: string[], index: number, voice: string, rate: number, signal: AbortSignal): Promise<Int16Array> {
    const text = sentences[index];
    const deadline = startDeadline(this.timeoutMs, signal);
    const startedAt = performance.now();
    const result = this.pool.synthesize({ text, voice, rate, signal: deadline.signal }).then(
      (samples) => {
        this.onSentenceSynthesized?.({
          index,
          text,
          synthesisMs: performance.now() - startedAt,
          audioMs: (samples.length * 1000) / ESPEAK_SAMPLE_RATE,
        });
        return samples;
      },
      (error: unknown) => {
        throw isAbortError(error) ? deadline.translate(error, `espeak-ng synthesis of sentence ${index + 1}`) : error;
      },
    );
    const settled = result.finally(() => deadline.dispose());
    // A look-ahead sentence may fail while the caller is still reading the previous one; its
    // error is raised when awaited, so it must not count as unhandled meanwhile.
    settled.catch(() => {});
    return settled;
  }
}
