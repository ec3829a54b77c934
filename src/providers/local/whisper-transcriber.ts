/**
 * The embedded whisper.cpp transcriber (npm @napi-rs/whisper). The model loads once, on a
 * worker thread (whisper-worker.mjs), because the binding's `full()` blocks its thread for the
 * whole decode. Jobs wait in a bounded queue on this side and go to the worker one at a time.
 *
 * Cancellation: a queued job is removed and rejects at once. A running `full()` cannot be
 * stopped — the binding's abort callback always answers "continue" — so an aborted running job
 * rejects at once and its result is dropped when the worker finishes; the worker keeps its one
 * job slot until then (about 0.3 × the audio duration on tiny.en with 2 threads).
 */
import { availableParallelism } from 'node:os';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { Worker } from 'node:worker_threads';
import { durationMs, type PcmAudio } from '../../audio/pcm.ts';
import { resample } from '../../audio/resample.ts';
import { abortError, throwIfAborted } from '../../errors/abort.ts';
import { SpeechbridgeError } from '../../errors/registry.ts';
import { JobSlots, type ReleaseSlot } from '../base/job-slots.ts';
import { startWorker } from '../base/worker-start.ts';
import type { JobLoad, Transcriber, TranscriberCapabilities, TranscribeOptions, Transcription, TranscriptSegment } from '../contracts.ts';
import { startDeadline, type Deadline } from '../deadline.ts';
import { languageCode } from '../languages.ts';

const WORKER_URL = new URL('./whisper-worker.mjs', import.meta.url);

export const WHISPER_SAMPLE_RATE = 16_000;

/**
 * Jobs that may wait behind the running one. A 3 s turn takes about 1 s on tiny.en (2 threads),
 * so 8 waiting turns already mean ~8 s before the last is heard; beyond that a caller is better
 * served by an engine_busy error it can report than by a reply after its user has gone.
 */
export const DEFAULT_MAX_QUEUE = 8;

/**
 * whisper.cpp skips input shorter than 1 s (100 mel frames) and returns no text: measured,
 * 16,160 samples are skipped and 16,320 decoded. Shorter turns ("yes", "stop") are padded with
 * silence to 1.1 s.
 */
const MIN_SAMPLES = 17_600;

/** The encoder window is 1500 positions for 30 s of audio: 20 ms each. */
const FULL_AUDIO_CONTEXT = 1500;
const MS_PER_AUDIO_CONTEXT = 20;
/** 64 positions (1.28 s) past the end of the audio, so the last word is inside the window. */
const AUDIO_CONTEXT_MARGIN = 64;

/**
 * Threads for one decode when none are configured: every core but one, shared among the
 * processes that each load whisper (at least 1). whisper's threads meet at every step of the
 * compute, so one that loses its core to other work (the event loop, another worker, any other
 * program) holds up the rest: on 2 cores with one of them busy elsewhere, a 3 s turn took
 * 5.5 times as long with 2 threads as with 1, which lost only 8 % to the busy core; quiet, 2
 * threads were 1.3 times as fast as 1 (bench/whisper-threads.ts).
 */
export function defaultWhisperThreads(processes = 1): number {
  return Math.max(1, Math.floor((availableParallelism() - 1) / processes));
}

export interface WhisperTranscriberOptions {
  /** A ggml model file (resolveModel in model-store.ts turns a name into one). */
  modelPath: string;
  /** CPU threads for one decode; default defaultWhisperThreads(). */
  threads?: number;
  /**
   * whisper's audio_ctx: encoder positions per window, 1500 (30 s) by default. 512 decodes a
   * 3 s turn 1.6× (tiny.en) to 1.8× (base.en) faster and a 10 s turn up to 3× faster
   * (bench/whisper.ts, 2 threads), at some cost in accuracy. It is a floor: a turn longer than
   * audioContext × 20 ms gets the context it needs, so its end is not cut off.
   */
  audioContext?: number;
  /** Per call, queue wait included (REQUEST_TIMEOUT). */
  timeoutMs: number;
  /** Jobs waiting behind the running one before calls fail with engine_busy; default 8. */
  maxQueue?: number;
}

export interface WhisperModelInfo {
  path: string;
  multilingual: boolean;
  loadMs: number;
  threads: number;
  audioContext: number;
}

type WorkerRequest = {
  type: 'transcribe';
  jobId: number;
  samples: Int16Array;
  language: string;
  audioContext: number;
  prompt?: string;
  temperature?: number;
};

type WorkerReply =
  | { type: 'ready'; multilingual: boolean; languages: string[]; loadMs: number }
  | { type: 'load_failed'; message: string }
  | { type: 'result'; jobId: number; text: string; language?: string; segments: { text: string; start: number; end: number }[] }
  | { type: 'failed'; jobId: number; message: string };

interface Job {
  request: WorkerRequest;
  durationMs: number;
  deadline: Deadline;
  resolve: (transcription: Transcription) => void;
  reject: (error: unknown) => void;
  /** Frees the worker's slot when the worker answers, not when the caller gives up. */
  release: ReleaseSlot;
}

type TranscriberState = { type: 'ready' } | { type: 'failed'; error: SpeechbridgeError } | { type: 'closed' };

/** Returns the transcriber once its model has loaded; fails early when the model cannot load. */
export async function createWhisperTranscriber(options: WhisperTranscriberOptions): Promise<WhisperTranscriber> {
  const modelPath = path.resolve(options.modelPath);
  const info = await stat(modelPath).catch(() => undefined);
  if (!info?.isFile()) {
    throw new SpeechbridgeError(
      'model_not_found',
      `whisper model file ${modelPath} does not exist: set WHISPER_MODEL to a ggml .bin file or a model name such as base.en`,
      {
        param: 'model',
      },
    );
  }
  const threads = options.threads ?? defaultWhisperThreads();
  let started: { worker: Worker; ready: Extract<WorkerReply, { type: 'ready' }> };
  try {
    // execArgv []: the worker is plain JavaScript, so it does not need the `--import tsx` it would inherit.
    started = await startWorker(WORKER_URL, { workerData: { modelPath, threads }, execArgv: [] }, (message) => {
      const reply = message as WorkerReply;
      if (reply.type === 'ready') return reply;
      if (reply.type === 'load_failed') return new Error(reply.message);
      return undefined;
    });
  } catch (error) {
    throw new SpeechbridgeError('engine_unavailable', `whisper could not load ${modelPath}: ${(error as Error).message}`, { param: 'model', cause: error });
  }
  const { worker, ready } = started;
  return new WhisperTranscriber(
    worker,
    {
      path: modelPath,
      multilingual: ready.multilingual,
      loadMs: ready.loadMs,
      threads,
      audioContext: options.audioContext ?? 0,
    },
    ready.languages,
    options,
  );
}

export class WhisperTranscriber implements Transcriber {
  readonly name = 'whisper';
  readonly capabilities: TranscriberCapabilities;
  readonly model: WhisperModelInfo;
  private readonly worker: Worker;
  private readonly timeoutMs: number;
  /** One slot: the worker decodes one job at a time. */
  private readonly slots: JobSlots;
  private running: Job | undefined;
  /** The job the worker is decoding, kept when its caller gave up so the reply can be matched and the slot freed. */
  private busy: { jobId: number; release: ReleaseSlot } | undefined;
  private nextJobId = 1;
  private state: TranscriberState = { type: 'ready' };

  /** Use createWhisperTranscriber. */
  constructor(worker: Worker, model: WhisperModelInfo, languages: string[], options: WhisperTranscriberOptions) {
    this.worker = worker;
    this.model = model;
    this.timeoutMs = options.timeoutMs;
    this.slots = new JobSlots({ slots: 1, maxWaiting: options.maxQueue ?? DEFAULT_MAX_QUEUE, engine: 'whisper' });
    this.capabilities = {
      streaming: false,
      languageDetection: model.multilingual,
      segments: true,
      sampleRate: WHISPER_SAMPLE_RATE,
      languages: model.multilingual ? languages : ['en'],
      // @napi-rs/whisper 0.0.4 hands back each segment's text and times, not its tokens' probabilities.
      logprobs: false,
    };
    worker.on('message', (reply: WorkerReply) => this.onReply(reply));
    worker.on('error', (error) => this.onWorkerLost(`the whisper worker failed: ${error.message}`));
    worker.on('exit', (code) => this.onWorkerLost(`the whisper worker exited with code ${code}`));
    // An idle transcriber must not keep the process alive; it is ref'd while a job runs.
    worker.unref();
  }

  /** Jobs waiting behind the running one. */
  get queued(): number {
    return this.slots.waiting;
  }

  get jobs(): JobLoad {
    return this.slots;
  }

  async transcribe(audio: PcmAudio, options: TranscribeOptions = {}): Promise<Transcription> {
    this.throwUnlessReady();
    throwIfAborted(options.signal);
    const language = this.languageFor(options.language);
    if (audio.samples.length === 0) throw new SpeechbridgeError('empty_input', 'the audio to transcribe is empty');
    const audioMs = durationMs(audio);
    const input = audio.sampleRate === WHISPER_SAMPLE_RATE ? audio : await resample(audio, WHISPER_SAMPLE_RATE);
    this.throwUnlessReady();
    throwIfAborted(options.signal);
    const deadline = startDeadline(this.timeoutMs, options.signal);
    // Taken synchronously, before the first await, so a call right after this one sees the slot taken.
    const acquired = this.slots.acquire({ signal: deadline.signal, bestEffort: options.bestEffort });
    let release: ReleaseSlot;
    try {
      release = await acquired;
    } catch (error) {
      deadline.dispose();
      throw deadline.timedOut() ? deadline.translate(error, 'whisper transcription') : error;
    }
    const request: WorkerRequest = {
      type: 'transcribe',
      jobId: this.nextJobId++,
      samples: paddedCopy(input.samples),
      language,
      audioContext: effectiveAudioContext(this.model.audioContext, audioMs),
      prompt: options.prompt || undefined,
      temperature: options.temperature,
    };
    return new Promise<Transcription>((resolve, reject) => {
      const job: Job = { request, durationMs: audioMs, deadline, resolve, reject, release };
      this.run(job);
      if (deadline.signal.aborted) this.giveUp(job);
      else deadline.signal.addEventListener('abort', () => this.giveUp(job), { once: true });
    });
  }

  /**
   * Rejects waiting jobs and ends the worker. A decode in progress is native code that
   * terminate() cannot interrupt, so this resolves when it finishes (under 1 s for a 3 s turn
   * on tiny.en).
   */
  async close(): Promise<void> {
    if (this.state.type === 'closed') return;
    this.state = { type: 'closed' };
    const closed = new SpeechbridgeError('engine_unavailable', 'the whisper transcriber was closed');
    this.slots.close(closed);
    const running = this.running;
    this.running = undefined;
    if (running) settle(running, () => running.reject(closed));
    await this.worker.terminate();
  }

  private languageFor(requested: string | undefined): string {
    if (!requested) return this.model.multilingual ? 'auto' : 'en';
    const code = languageCode(requested);
    if (!code) throw new SpeechbridgeError('invalid_value', `unknown language "${requested}": give an ISO-639-1 code such as en or fr`, { param: 'language' });
    if (!this.model.multilingual && code !== 'en') {
      throw new SpeechbridgeError(
        'invalid_value',
        `the whisper model ${path.basename(this.model.path)} is English-only; use a multilingual model (e.g. base instead of base.en) for "${code}"`,
        { param: 'language' },
      );
    }
    return code;
  }

  private throwUnlessReady(): void {
    if (this.state.type === 'failed') throw this.state.error;
    if (this.state.type === 'closed') throw new SpeechbridgeError('engine_unavailable', 'the whisper transcriber was closed');
  }

  private run(job: Job): void {
    if (this.state.type !== 'ready') {
      const error = this.state.type === 'failed' ? this.state.error : new SpeechbridgeError('engine_unavailable', 'the whisper transcriber was closed');
      job.release();
      settle(job, () => job.reject(error));
      return;
    }
    this.running = job;
    this.busy = { jobId: job.request.jobId, release: job.release };
    this.worker.ref();
    this.worker.postMessage(job.request, [job.request.samples.buffer as ArrayBuffer]);
  }

  /** The caller aborted or the deadline passed: reject now; the decode finishes unseen and then frees the slot. */
  private giveUp(job: Job): void {
    if (this.running === job) this.running = undefined;
    const { deadline } = job;
    settle(job, () =>
      job.reject(
        deadline.timedOut()
          ? deadline.translate(deadline.signal.reason, 'whisper transcription')
          : abortError(deadline.signal.reason, 'the transcription was aborted'),
      ),
    );
  }

  private onReply(reply: WorkerReply): void {
    if (reply.type !== 'result' && reply.type !== 'failed') return;
    if (reply.jobId !== this.busy?.jobId) return;
    const { release } = this.busy;
    this.busy = undefined;
    const job = this.running;
    this.running = undefined;
    this.worker.unref();
    release();
    if (job && job.request.jobId === reply.jobId) {
      if (reply.type === 'failed') {
        settle(job, () => job.reject(new SpeechbridgeError('engine_failed', `whisper failed: ${reply.message}`)));
      } else {
        settle(job, () => job.resolve(toTranscription(reply, job.durationMs)));
      }
    }
  }

  private onWorkerLost(message: string): void {
    if (this.state.type !== 'ready') return;
    const error = new SpeechbridgeError('engine_failed', `${message}; restart the gateway`);
    this.state = { type: 'failed', error };
    this.slots.close(error);
    const running = this.running;
    this.running = undefined;
    this.busy = undefined;
    if (running) settle(running, () => running.reject(error));
  }
}

/**
 * The audio context for one call: 0 (the model's 1500) when none is set or the turn needs the
 * whole window; otherwise the configured value, raised to cover the turn plus a margin.
 */
export function effectiveAudioContext(configured: number, audioMs: number): number {
  if (configured <= 0 || configured >= FULL_AUDIO_CONTEXT) return 0;
  const needed = Math.ceil(audioMs / MS_PER_AUDIO_CONTEXT) + AUDIO_CONTEXT_MARGIN;
  return needed >= FULL_AUDIO_CONTEXT ? 0 : Math.max(configured, needed);
}

/** A copy the worker can own (its buffer is transferred), padded with silence to MIN_SAMPLES. */
function paddedCopy(samples: Int16Array): Int16Array {
  const copy = new Int16Array(Math.max(samples.length, MIN_SAMPLES));
  copy.set(samples);
  return copy;
}

function toTranscription(reply: Extract<WorkerReply, { type: 'result' }>, audioMs: number): Transcription {
  // Segment times come in 10 ms units; a decode can place them past the end (the window is 30 s).
  const clamp = (ms: number) => Math.min(Math.max(ms, 0), audioMs);
  const segments: TranscriptSegment[] = reply.segments
    .map((segment) => ({ startMs: clamp(segment.start * 10), endMs: clamp(segment.end * 10), text: segment.text.trim() }))
    .filter((segment) => segment.text.length > 0);
  return { text: reply.text.trim(), language: reply.language, durationMs: audioMs, segments };
}

function settle(job: Job, action: () => void): void {
  job.deadline.dispose();
  // Resolve and reject ignore all but the first call, so a late worker reply after giveUp is harmless.
  action();
}
