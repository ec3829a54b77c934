/**
 * A small pool of espeak-ng worker threads (espeak-worker.mjs) with one bounded job queue.
 * A job is one sentence. Each worker holds its own engine (about 25 MB of voice data and
 * 200–300 ms to start), so the pool is small: one or two workers keep a 2-core machine's event
 * loop free while sentences, at 10–60 ms each, rarely wait long.
 *
 * Queue policy: one job slot per worker (src/providers/base/job-slots.ts); at most
 * `maxQueuedJobs` sentences wait; beyond that a job is refused with engine_unavailable (503,
 * retryable) rather than growing the queue without bound.
 * Abort: a queued job leaves the queue; a running job is stopped inside the engine through a
 * shared cancel flag, and its promise rejects at once without waiting for the worker.
 * Workers are unref'd while idle so an idle pool never keeps the process alive.
 */
import type { Worker } from 'node:worker_threads';
import { abortError } from '../../errors/abort.ts';
import { SpeechbridgeError } from '../../errors/registry.ts';
import { JobSlots, type ReleaseSlot } from '../base/job-slots.ts';
import { startWorker } from '../base/worker-start.ts';
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
  release: ReleaseSlot;
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
  /** One per worker; a dead worker keeps its slot until its replacement is ready. */
  /** One slot per worker; read for metrics. */
  readonly jobSlots: JobSlots;
  private readonly warmUp: boolean;
  private nextJobId = 1;
  private closed = false;

  private constructor(catalogue: EspeakCatalogue, slots: Slot[], options: EspeakPoolOptions) {
    this.catalogue = catalogue;
    this.slots = slots;
    this.jobSlots = new JobSlots({ slots: slots.length, maxWaiting: options.maxQueuedJobs, engine: 'espeak-ng', busyCode: 'engine_unavailable' });
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
  async synthesize(job: EspeakJob): Promise<Int16Array> {
    if (this.closed) throw new SpeechbridgeError('engine_unavailable', 'the espeak-ng synthesizer is closed');
    if (job.signal?.aborted) throw abortError();
    const release = await this.jobSlots.acquire({ signal: job.signal });
    return new Promise<Int16Array>((resolve, reject) => {
      const id = this.nextJobId;
      this.nextJobId = this.nextJobId >= 0x7fffffff ? 1 : this.nextJobId + 1;
      const onAbort = () => this.abort(pending);
      const pending: PendingJob = {
        ...job,
        id,
        release,
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
      const slot = this.slots.find((candidate) => candidate.state.type === 'idle');
      if (this.closed || !slot) {
        // Closed while waiting for the slot (close() fails the waiters, not one already granted).
        release();
        pending.reject(new SpeechbridgeError('engine_unavailable', 'the espeak-ng synthesizer is closed'));
        return;
      }
      slot.state = { type: 'busy', job: pending };
      slot.worker.ref();
      slot.worker.postMessage({ type: 'synthesize', jobId: pending.id, text: pending.text, voice: pending.voice, rate: pending.rate });
      if (job.signal?.aborted) onAbort();
      else job.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const closedError = new SpeechbridgeError('engine_unavailable', 'the espeak-ng synthesizer is closed');
    this.jobSlots.close(closedError);
    for (const slot of this.slots) if (slot.state.type === 'busy') slot.state.job.reject(closedError);
    await Promise.all(this.slots.map((slot) => slot.worker.terminate()));
  }

  /** A running job stops inside the engine through the shared cancel flag; its slot frees when the worker answers. */
  private abort(job: PendingJob): void {
    const slot = this.slots.find((candidate) => candidate.state.type === 'busy' && candidate.state.job === job);
    if (slot) Atomics.store(slot.cancel, 0, job.id);
    job.reject(abortError());
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
    job.release();
  }

  /** A crashed worker fails its job and is replaced, so one bad sentence cannot disable synthesis. */
  private onWorkerLost(slot: Slot, error: Error): void {
    if (slot.state.type === 'dead') return;
    // An idle worker holds no job slot; take one, so no job is sent to it until it is replaced.
    const held: Promise<ReleaseSlot> =
      slot.state.type === 'busy' ? Promise.resolve(slot.state.job.release) : this.jobSlots.acquire().catch(() => () => undefined);
    if (slot.state.type === 'busy') {
      slot.state.job.reject(new SpeechbridgeError('engine_failed', `espeak-ng worker stopped: ${error.message}`, { cause: error }));
    }
    slot.state = { type: 'dead' };
    if (this.closed) return;
    const respawned = spawn(this.warmUp).then(
      ({ slot: fresh }) => ({ fresh }),
      (spawnError: unknown) => ({ spawnError }),
    );
    void Promise.all([respawned, held]).then(([outcome, release]) => {
      if ('spawnError' in outcome) {
        // Retired first, so the released slot is not handed to a job with no worker to run it.
        this.jobSlots.retire(outcome.spawnError);
        release();
        return;
      }
      if (this.closed) {
        void outcome.fresh.worker.terminate();
        return;
      }
      const index = this.slots.indexOf(slot);
      this.slots[index] = outcome.fresh;
      this.attach(outcome.fresh);
      release();
    });
  }
}

/** Starts one worker and resolves once its engine is loaded. */
async function spawn(warmUp: boolean): Promise<{ slot: Slot; catalogue: EspeakCatalogue }> {
  const cancelBuffer = new SharedArrayBuffer(4);
  try {
    const { worker, ready } = await startWorker(WORKER_URL, { workerData: { cancelBuffer, warmUp } }, (message) => {
      const reply = message as WorkerReply;
      if (reply.type === 'ready') return reply.catalogue;
      if (reply.type === 'init_failed') return new Error(reply.message);
      return undefined;
    });
    return { slot: { worker, cancel: new Int32Array(cancelBuffer), state: { type: 'starting' } }, catalogue: ready };
  } catch (error) {
    throw new SpeechbridgeError('engine_unavailable', `espeak-ng could not start (${(error as Error).message}); ${INSTALL_HINT}`, { cause: error });
  }
}
