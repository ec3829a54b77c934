/**
 * The embedded whisper.cpp transcriber (npm @napi-rs/whisper). The model loads once, on a
 * worker thread (whisper-worker.mjs), because the binding's `full()` blocks its thread for the
 * whole decode. Jobs wait in a bounded queue on this side and go to the worker one at a time.
 *
 * Cancellation: a queued job is removed and rejects at once. A running `full()` cannot be
 * stopped — the binding's abort callback always answers "continue" — so an aborted running job
 * rejects at once and its result is dropped when the worker finishes; the worker stays busy
 * until then (about 0.3 × the audio duration on tiny.en with 2 threads).
 */
import { availableParallelism } from 'node:os';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { durationMs, type PcmAudio } from '../../audio/pcm.ts';
import { resample } from '../../audio/resample.ts';
import { abortError, throwIfAborted } from '../../errors/abort.ts';
import { SpeechbridgeError } from '../../errors/registry.ts';
import type { Transcriber, TranscriberCapabilities, TranscribeOptions, Transcription, TranscriptSegment } from '../contracts.ts';
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

export interface WhisperTranscriberOptions {
  /** A ggml model file (resolveModel in model-store.ts turns a name into one). */
  modelPath: string;
  /** CPU threads for one decode; default os.availableParallelism(). */
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
}

type TranscriberState = { type: 'ready' } | { type: 'failed'; error: SpeechbridgeError } | { type: 'closed' };

/** Returns the transcriber once its model has loaded; fails early when the model cannot load. */
export async function createWhisperTranscriber(options: WhisperTranscriberOptions): Promise<WhisperTranscriber> {
  const modelPath = path.resolve(options.modelPath);
  const info = await stat(modelPath).catch(() => undefined);
  if (!info?.isFile()) {
    throw new SpeechbridgeError('model_not_found', `whisper model file ${modelPath} does not exist: set WHISPER_MODEL to a ggml .bin file or a model name such as base.en`, {
      param: 'model',
    });
  }
  const threads = options.threads ?? availableParallelism();
  // execArgv []: the worker is plain JavaScript, so it does not need the `--import tsx` it would inherit.
  const worker = new Worker(WORKER_URL, { workerData: { modelPath, threads }, execArgv: [] });
  let ready: Extract<WorkerReply, { type: 'ready' }>;
  try {
    ready = await waitUntilLoaded(worker);
  } catch (error) {
    await worker.terminate();
    throw new SpeechbridgeError('engine_unavailable', `whisper could not load ${modelPath}: ${(error as Error).message}`, { param: 'model', cause: error });
  }
  return new WhisperTranscriber(worker, {
    path: modelPath,
    multilingual: ready.multilingual,
    loadMs: ready.loadMs,
    threads,
    audioContext: options.audioContext ?? 0,
  }, ready.languages, options);
}

function waitUntilLoaded(worker: Worker): Promise<Extract<WorkerReply, { type: 'ready' }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (reply: WorkerReply) => {
      if (reply.type === 'ready') {
        cleanup();
        resolve(reply);
      } else if (reply.type === 'load_failed') {
        cleanup();
        reject(new Error(reply.message));
      }
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    const onExit = (code: number) => {
      cleanup();
      reject(new Error(`the worker exited with code ${code}`));
    };
    const cleanup = () => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
  });
}

export class WhisperTranscriber implements Transcriber {
  readonly name = 'whisper';
  readonly capabilities: TranscriberCapabilities;
  readonly model: WhisperModelInfo;
  private readonly worker: Worker;
  private readonly timeoutMs: number;
  private readonly maxQueue: number;
  private readonly waiting: Job[] = [];
  private running: Job | undefined;
  /** Id of the job the worker is decoding, kept when its caller gave up so the reply can be matched. */
  private busyWith: number | undefined;
  private nextJobId = 1;
  private state: TranscriberState = { type: 'ready' };

  /** Use createWhisperTranscriber. */
  constructor(worker: Worker, model: WhisperModelInfo, languages: string[], options: WhisperTranscriberOptions) {
    this.worker = worker;
    this.model = model;
    this.timeoutMs = options.timeoutMs;
    this.maxQueue = options.maxQueue ?? DEFAULT_MAX_QUEUE;
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
    return this.waiting.length;
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
    if (this.waiting.length >= this.maxQueue) {
      throw new SpeechbridgeError('engine_busy', `whisper has ${this.waiting.length} jobs waiting (maxQueue ${this.maxQueue}); retry later`);
    }
    if (options.bestEffort && (this.running || this.waiting.length > 0)) {
      throw new SpeechbridgeError('engine_busy', 'whisper is busy; a best-effort transcription is not queued');
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
    const deadline = startDeadline(this.timeoutMs, options.signal);
    return new Promise<Transcription>((resolve, reject) => {
      const job: Job = { request, durationMs: audioMs, deadline, resolve, reject };
      deadline.signal.addEventListener('abort', () => this.giveUp(job), { once: true });
      this.waiting.push(job);
      this.pump();
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
    const pending = [...this.waiting.splice(0), ...(this.running ? [this.running] : [])];
    this.running = undefined;
    for (const job of pending) settle(job, () => job.reject(closed));
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

  private pump(): void {
    if (this.busyWith !== undefined || this.state.type !== 'ready') return;
    const job = this.waiting.shift();
    if (!job) {
      this.worker.unref();
      return;
    }
    this.running = job;
    this.busyWith = job.request.jobId;
    this.worker.ref();
    this.worker.postMessage(job.request, [job.request.samples.buffer as ArrayBuffer]);
  }

  /** The caller aborted or the deadline passed: reject now; a running decode finishes unseen. */
  private giveUp(job: Job): void {
    const index = this.waiting.indexOf(job);
    if (index >= 0) this.waiting.splice(index, 1);
    if (this.running === job) this.running = undefined;
    const { deadline } = job;
    settle(job, () => job.reject(deadline.timedOut() ? deadline.translate(deadline.signal.reason, 'whisper transcription') : abortError(deadline.signal.reason, 'the transcription was aborted')));
  }

  private onReply(reply: WorkerReply): void {
    if (reply.type !== 'result' && reply.type !== 'failed') return;
    if (reply.jobId !== this.busyWith) return;
    this.busyWith = undefined;
    const job = this.running;
    this.running = undefined;
    if (job && job.request.jobId === reply.jobId) {
      if (reply.type === 'failed') {
        settle(job, () => job.reject(new SpeechbridgeError('engine_failed', `whisper failed: ${reply.message}`)));
      } else {
        settle(job, () => job.resolve(toTranscription(reply, job.durationMs)));
      }
    }
    this.pump();
  }

  private onWorkerLost(message: string): void {
    if (this.state.type !== 'ready') return;
    const error = new SpeechbridgeError('engine_failed', `${message}; restart the gateway`);
    this.state = { type: 'failed', error };
    const pending = [...this.waiting.splice(0), ...(this.running ? [this.running] : [])];
    this.running = undefined;
    this.busyWith = undefined;
    for (const job of pending) settle(job, () => job.reject(error));
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
