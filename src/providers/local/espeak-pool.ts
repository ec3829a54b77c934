/**
 * A small pool of espeak-ng worker threads (espeak-worker.mjs) with one bounded job queue.
 * A job is one sentence. Each worker holds its own engine (about 25 MB of voice data and
 * 200–300 ms to start), so the pool is small: one or two workers keep a 2-core machine's event
 * loop free while sentences, at 10–60 ms each, rarely wait long.
 *
 * Queue policy: at most `maxQueuedJobs` sentences wait; beyond that a job is refused with
 * engine_unavailable (503, retryable) rather than growing the queue without bound.
 * Abort: a queued job leaves the queue; a running job is stopped inside the engine through a
 * shared cancel flag, and its promise rejects at once without waiting for the worker.
 * Workers are unref'd while idle so an idle pool never keeps the process alive.
 */
import { Worker } from 'node:worker_threads';
import { abortError } from '../../errors/abort.ts';
import { SpeechbridgeError } from '../../errors/registry.ts';
import type { EspeakCatalogue } from './espeak-voices.ts';

export interface EspeakPoolOptions {
  workers: number;
  maxQueuedJobs: number;
  /** Synthesize two throw-away sentences at start-up (about 350 ms) so the first requests are fast; default true. */
  warmUp?: boolean;
}

export interface EspeakJob {
  text: string;
  /** Argument for espeak's set_voice, as EspeakVoices.resolve gives it. */
  voice: string;
  /** Words per minute. */
  rate: number;
  signal?: AbortSignal;
}

type WorkerReply =
  | { type: 'ready'; catalogue: EspeakCatalogue }
  | { type: 'init_failed'; message: string }
  | { type: 'audio'; jobId: number; samples: Int16Array }
  | { type: 'cancelled'; jobId: number }
  | { type: 'failed'; jobId: number; message: string };

interface PendingJob extends EspeakJob {
  id: number;
  resolve(samples: Int16Array): void;
  reject(error: unknown): void;
  settled: boolean;
  detach(): void;
}

type SlotState = { type: 'starting' } | { type: 'idle' } | { type: 'busy'; job: PendingJob } | { type: 'dead' };

interface Slot {
  worker: Worker;
  cancel: Int32Array;
  state: SlotState;
}

const WORKER_URL = new URL('./espeak-worker.mjs', import.meta.url);
const INSTALL_HINT = 'the npm package @echogarden/espeak-ng-emscripten must be installed (npm install)';

export class EspeakPool {
  readonly catalogue: EspeakCatalogue;
  private readonly slots: Slot[];
  private readonly queue: PendingJob[] = [];
  private readonly maxQueuedJobs: number;
  private readonly warmUp: boolean;
  private nextJobId = 1;
  private closed = false;

  private constructor(catalogue: EspeakCatalogue, slots: Slot[], options: EspeakPoolOptions) {
    this.catalogue = catalogue;
    this.slots = slots;
    this.maxQueuedJobs = options.maxQueuedJobs;
    this.warmUp = options.warmUp ?? true;
    for (const slot of slots) this.attach(slot);
  }

  /** Starts the workers and waits until each has loaded the engine (fails early, at start-up). */
  static async start(options: EspeakPoolOptions): Promise<EspeakPool> {
    const count = Math.max(1, Math.floor(options.workers));
    const started = await Promise.allSettled(Array.from({ length: count }, () => spawn(options.warmUp ?? true)));
    const slots = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value.slot] : []));
    const failure = started.find((result) => result.status === 'rejected');
    if (failure) {
      await Promise.all(slots.map((slot) => slot.worker.terminate()));
      throw failure.reason;
    }
    const first = started[0] as PromiseFulfilledResult<{ slot: Slot; catalogue: EspeakCatalogue }>;
    return new EspeakPool(first.value.catalogue, slots, options);
  }

  /** Synthesizes one sentence to PCM16 at 22050 Hz. */
  synthesize(job: EspeakJob): Promise<Int16Array> {
    return new Promise<Int16Array>((resolve, reject) => {
      if (this.closed) {
        reject(new SpeechbridgeError('engine_unavailable', 'the espeak-ng synthesizer is closed'));
        return;
      }
      if (job.signal?.aborted) {
        reject(abortError());
        return;
      }
      if (this.queue.length >= this.maxQueuedJobs) {
        reject(
          new SpeechbridgeError(
            'engine_unavailable',
            `espeak-ng is busy: ${this.queue.length} sentences are already waiting (limit ${this.maxQueuedJobs}); retry shortly`,
          ),
        );
        return;
      }
      const id = this.nextJobId;
      this.nextJobId = this.nextJobId >= 0x7fffffff ? 1 : this.nextJobId + 1;
      const onAbort = () => this.abort(pending);
      const pending: PendingJob = {
        ...job,
        id,
        settled: false,
        resolve: (samples) => settle(() => resolve(samples)),
        reject: (error) => settle(() => reject(error)),
        detach: () => job.signal?.removeEventListener('abort', onAbort),
      };
      function settle(finish: () => void): void {
        if (pending.settled) return;
        pending.settled = true;
        pending.detach();
        finish();
      }
      job.signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(pending);
      this.dispatch();
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const closedError = new SpeechbridgeError('engine_unavailable', 'the espeak-ng synthesizer is closed');
    for (const job of this.queue.splice(0)) job.reject(closedError);
    for (const slot of this.slots) if (slot.state.type === 'busy') slot.state.job.reject(closedError);
    await Promise.all(this.slots.map((slot) => slot.worker.terminate()));
  }

  private abort(job: PendingJob): void {
    const queued = this.queue.indexOf(job);
    if (queued >= 0) this.queue.splice(queued, 1);
    else {
      const slot = this.slots.find((candidate) => candidate.state.type === 'busy' && candidate.state.job === job);
      if (slot) Atomics.store(slot.cancel, 0, job.id);
    }
    job.reject(abortError());
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (this.queue.length === 0) return;
      if (slot.state.type !== 'idle') continue;
      const job = this.queue.shift()!;
      slot.state = { type: 'busy', job };
      slot.worker.ref();
      slot.worker.postMessage({ type: 'synthesize', jobId: job.id, text: job.text, voice: job.voice, rate: job.rate });
    }
  }

  private attach(slot: Slot): void {
    slot.state = { type: 'idle' };
    slot.worker.unref();
    slot.worker.on('message', (reply: WorkerReply) => this.onReply(slot, reply));
    slot.worker.on('error', (error) => this.onWorkerLost(slot, error));
    slot.worker.on('exit', (code) => this.onWorkerLost(slot, new Error(`espeak-ng worker exited with code ${code}`)));
  }

  private onReply(slot: Slot, reply: WorkerReply): void {
    if (slot.state.type !== 'busy') return;
    const job = slot.state.job;
    if (reply.type === 'audio' && reply.jobId === job.id) job.resolve(reply.samples);
    else if (reply.type === 'failed' && reply.jobId === job.id) {
      job.reject(new SpeechbridgeError('engine_failed', `espeak-ng failed: ${reply.message}`));
    } else if (reply.type === 'cancelled' && reply.jobId === job.id) job.reject(abortError());
    else return;
    slot.state = { type: 'idle' };
    slot.worker.unref();
    this.dispatch();
  }

  /** A crashed worker fails its job and is replaced, so one bad sentence cannot disable synthesis. */
  private onWorkerLost(slot: Slot, error: Error): void {
    if (slot.state.type === 'dead') return;
    if (slot.state.type === 'busy') {
      slot.state.job.reject(new SpeechbridgeError('engine_failed', `espeak-ng worker stopped: ${error.message}`, { cause: error }));
    }
    slot.state = { type: 'dead' };
    if (this.closed) return;
    void spawn(this.warmUp).then(
      ({ slot: fresh }) => {
        if (this.closed) {
          void fresh.worker.terminate();
          return;
        }
        const index = this.slots.indexOf(slot);
        this.slots[index] = fresh;
        this.attach(fresh);
        this.dispatch();
      },
      (spawnError: unknown) => {
        if (this.slots.every((candidate) => candidate.state.type === 'dead')) {
          for (const job of this.queue.splice(0)) job.reject(spawnError);
        }
      },
    );
  }
}

/** Starts one worker and resolves once its engine is loaded. */
function spawn(warmUp: boolean): Promise<{ slot: Slot; catalogue: EspeakCatalogue }> {
  return new Promise((resolve, reject) => {
    const cancelBuffer = new SharedArrayBuffer(4);
    let worker: Worker;
    try {
      worker = new Worker(WORKER_URL, { workerData: { cancelBuffer, warmUp } });
    } catch (error) {
      reject(new SpeechbridgeError('engine_unavailable', `could not start the espeak-ng worker: ${String(error)}`, { cause: error }));
      return;
    }
    const slot: Slot = { worker, cancel: new Int32Array(cancelBuffer), state: { type: 'starting' } };
    const fail = (message: string, cause?: unknown) => {
      cleanup();
      void worker.terminate();
      reject(new SpeechbridgeError('engine_unavailable', `espeak-ng could not start (${message}); ${INSTALL_HINT}`, { cause }));
    };
    const onMessage = (reply: WorkerReply) => {
      if (reply.type === 'ready') {
        cleanup();
        resolve({ slot, catalogue: reply.catalogue });
      } else if (reply.type === 'init_failed') fail(reply.message);
    };
    const onError = (error: Error) => fail(error.message, error);
    const onExit = (code: number) => fail(`worker exited with code ${code}`);
    function cleanup(): void {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    }
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
  });
}
