/**
 * A provider's job slots: at most `slots` jobs run at once (one whisper worker, a core per
 * pocketsphinx process, one sentence per espeak-ng worker) and at most `maxWaiting` wait for a
 * slot, first come first served. Past that a call is refused at once with an error the caller
 * can report (engine_busy by default), rather than a queue that grows without bound.
 *
 * The count changes synchronously inside acquire(), so a call made right after another sees
 * that one's slot taken. A released slot passes straight to the oldest waiter. An aborted
 * waiter leaves the queue and rejects with an AbortError.
 */
import { abortError } from '../../errors/abort.ts';
import { SpeechbridgeError } from '../../errors/registry.ts';

/** Frees the slot; calling it again does nothing. */
export type ReleaseSlot = () => void;

export interface JobSlotsOptions {
  slots: number;
  maxWaiting: number;
  /** Names the engine in refusals ("whisper has 8 jobs waiting …"). */
  engine: string;
  /** What a full queue refuses with: engine_busy (default) or engine_unavailable (503, retryable). */
  busyCode?: 'engine_busy' | 'engine_unavailable';
}

export interface AcquireOptions {
  signal?: AbortSignal;
  /** A call nobody waits for (an interim transcript): refused with engine_busy unless a slot is free now. */
  bestEffort?: boolean;
}

interface Waiter {
  grant(): void;
  fail(error: unknown): void;
}

export class JobSlots {
  readonly maxWaiting: number;
  readonly #engine: string;
  readonly #busyCode: 'engine_busy' | 'engine_unavailable';
  readonly #waiting: Waiter[] = [];
  #capacity: number;
  #taken = 0;
  #closed: unknown = undefined;

  constructor(options: JobSlotsOptions) {
    this.#capacity = Math.max(1, Math.floor(options.slots));
    this.maxWaiting = Math.max(0, Math.floor(options.maxWaiting));
    this.#engine = options.engine;
    this.#busyCode = options.busyCode ?? 'engine_busy';
  }

  get capacity(): number {
    return this.#capacity;
  }

  /** Jobs holding a slot. */
  get running(): number {
    return this.#taken;
  }

  /** Calls waiting for a slot. */
  get waiting(): number {
    return this.#waiting.length;
  }

  acquire(options: AcquireOptions = {}): Promise<ReleaseSlot> {
    const { signal } = options;
    if (this.#closed !== undefined) return Promise.reject(this.#closed);
    if (signal?.aborted) return Promise.reject(abortError(signal.reason));
    if (this.#taken < this.#capacity && this.#waiting.length === 0) {
      this.#taken++;
      return Promise.resolve(this.#releaser());
    }
    if (options.bestEffort) {
      return Promise.reject(new SpeechbridgeError('engine_busy', `${this.#engine} is busy; a best-effort call does not wait for it`));
    }
    if (this.#waiting.length >= this.maxWaiting) {
      return Promise.reject(
        new SpeechbridgeError(this.#busyCode, `${this.#engine} has ${this.#waiting.length} jobs waiting (limit ${this.maxWaiting}); retry shortly`),
      );
    }
    return new Promise<ReleaseSlot>((resolve, reject) => {
      const onAbort = () => {
        const index = this.#waiting.indexOf(waiter);
        if (index >= 0) this.#waiting.splice(index, 1);
        reject(abortError(signal?.reason));
      };
      const waiter: Waiter = {
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve(this.#releaser());
        },
        fail: (error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
      };
      this.#waiting.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * One slot fewer for good (an espeak-ng worker that could not be restarted). With none left,
   * the slots close with `error`.
   */
  retire(error: unknown): void {
    this.#capacity--;
    if (this.#capacity <= 0) this.close(error);
  }

  /** Fails every waiting and later call with `error`; slots already held are released as usual. */
  close(error: unknown): void {
    if (this.#closed !== undefined) return;
    this.#closed = error;
    for (const waiter of this.#waiting.splice(0)) waiter.fail(error);
  }

  #releaser(): ReleaseSlot {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      // The slot passes straight to the oldest waiter, so `taken` only drops when none waits
      // (or when a retired slot leaves the count above the capacity).
      const next = this.#taken <= this.#capacity ? this.#waiting.shift() : undefined;
      if (next) next.grant();
      else this.#taken--;
    };
  }
}
