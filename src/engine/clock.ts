/**
 * The engine's only source of time: `now()` for stage timings and one-shot timers for idle
 * and provider timeouts. The engine never calls Date or setTimeout itself, so tests drive
 * time with a ManualClock and get exact, instant results.
 */

export type TimerHandle = { readonly timer: unknown };

export interface Clock {
  /** Milliseconds on a monotonic scale (not wall time). */
  now(): number;
  setTimeout(callback: () => void, delayMs: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** Real time: performance.now() and unref'd timers, so a forgotten timer never holds the process open. */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout(callback, delayMs) {
    const timer = setTimeout(callback, Math.max(0, delayMs));
    timer.unref();
    return { timer };
  },
  clearTimeout(handle) {
    clearTimeout(handle.timer as ReturnType<typeof setTimeout>);
  },
};

interface ManualTimer {
  dueMs: number;
  order: number;
  callback: () => void;
}

/** A clock that moves only when told to; timers fire inside advance(), in due order. */
export class ManualClock implements Clock {
  #nowMs: number;
  #order = 0;
  readonly #timers = new Map<TimerHandle, ManualTimer>();

  constructor(startMs = 0) {
    this.#nowMs = startMs;
  }

  now(): number {
    return this.#nowMs;
  }

  setTimeout(callback: () => void, delayMs: number): TimerHandle {
    const handle: TimerHandle = { timer: this.#order };
    this.#timers.set(handle, { dueMs: this.#nowMs + Math.max(0, delayMs), order: this.#order++, callback });
    return handle;
  }

  clearTimeout(handle: TimerHandle): void {
    this.#timers.delete(handle);
  }

  /** Timers not yet fired. */
  get pendingTimers(): number {
    return this.#timers.size;
  }

  /** Moves time forward by `ms`, firing each timer that falls due at its own time, earliest first. */
  advance(ms: number): void {
    const targetMs = this.#nowMs + ms;
    for (;;) {
      let nextHandle: TimerHandle | undefined;
      let next: ManualTimer | undefined;
      for (const [handle, timer] of this.#timers) {
        if (timer.dueMs > targetMs) continue;
        if (!next || timer.dueMs < next.dueMs || (timer.dueMs === next.dueMs && timer.order < next.order)) {
          next = timer;
          nextHandle = handle;
        }
      }
      if (!next || !nextHandle) break;
      this.#timers.delete(nextHandle);
      this.#nowMs = next.dueMs;
      next.callback();
    }
    this.#nowMs = targetMs;
  }
}
