/**
 * Bounded pocketsphinx processes: at most `maxConcurrent` decoding at once (each is one
 * single-threaded process), at most `maxQueue` calls waiting for one (the providers' shared job
 * slots, src/providers/base/job-slots.ts, so a full queue refuses as whisper's and espeak-ng's
 * do), and `warmProcesses` started ahead of need so a turn does not wait for the models to load.
 *
 * One process serves one turn: Debian's pocketsphinx_continuous can end an utterance only where
 * its own voice-activity detector hears 0.5 s of silence, and prints nothing at all for a turn
 * in which it heard no speech, so a process kept for a whole session could not tell us when a
 * turn's text is complete. End of input can: the process prints the last utterance and exits.
 * So each turn takes a process that has already loaded its models (about 0.6 s of CPU, 1.6 s
 * on a busy machine), and a fresh one starts in the background to take its place.
 *
 * A process that dies takes only its own turn down (its lease reports the exit); the next turn
 * gets another process. A warm process that dies while idle is dropped, not restarted at once,
 * so a binary that cannot start does not loop: the next call starts a fresh one.
 */
import { abortError } from '../../errors/abort.ts';
import { SpeechbridgeError } from '../../errors/registry.ts';
import { JobSlots } from '../base/job-slots.ts';
import type { PocketsphinxProcess } from './pocketsphinx-process.ts';

export interface PocketsphinxPoolOptions {
  /** Starts one process in the pool's default mode. */
  start: () => PocketsphinxProcess;
  /** Idle processes kept started (0 starts one per call). */
  warmProcesses: number;
  maxConcurrent: number;
  maxQueue: number;
}

export interface PocketsphinxLease {
  readonly process: PocketsphinxProcess;
  /** Whether the process was started before the call asked for it. */
  readonly warm: boolean;
  /** Frees the slot; kills the process if it is still running. Idempotent. */
  release(): void;
}

export interface AcquireOptions {
  signal: AbortSignal;
  /** Fail with engine_busy at once instead of waiting for a slot. */
  bestEffort?: boolean;
  /** Starts a process in another mode instead of taking a warm one. */
  start?: () => PocketsphinxProcess;
}

export class PocketsphinxPool {
  readonly #options: PocketsphinxPoolOptions;
  readonly #idle: PocketsphinxProcess[] = [];
  readonly #leased = new Set<PocketsphinxProcess>();
  readonly #slots: JobSlots;
  #closed = false;

  constructor(options: PocketsphinxPoolOptions) {
    this.#options = options;
    this.#slots = new JobSlots({ slots: options.maxConcurrent, maxWaiting: options.maxQueue, engine: 'pocketsphinx' });
  }

  /** Starts the warm processes (after start-up checks passed). */
  warmUp(): void {
    while (!this.#closed && this.#idle.length < this.#options.warmProcesses) this.#startIdle();
  }

  /** Pids of every live process, idle and leased. */
  get processIds(): number[] {
    return [...this.#idle, ...this.#leased].filter((process) => process.running && process.pid !== undefined).map((process) => process.pid!);
  }

  get idleCount(): number {
    return this.#idle.length;
  }

  /** Calls holding a process slot and calls waiting for one. */
  get jobs(): JobSlots {
    return this.#slots;
  }

  async acquire(options: AcquireOptions): Promise<PocketsphinxLease> {
    if (this.#closed) throw closedError();
    const releaseSlot = await this.#slots.acquire({ signal: options.signal, bestEffort: options.bestEffort === true });
    if (this.#closed) {
      releaseSlot();
      throw closedError();
    }
    let process: PocketsphinxProcess;
    let warm = false;
    if (options.start) {
      process = options.start();
    } else {
      const idle = this.#idle.shift();
      warm = idle !== undefined;
      process = idle ?? this.#options.start();
      this.warmUp();
    }
    process.setIdle(false);
    this.#leased.add(process);
    let released = false;
    return {
      process,
      warm,
      release: () => {
        if (released) return;
        released = true;
        process.kill();
        this.#leased.delete(process);
        releaseSlot();
      },
    };
  }

  /** Kills every process; waiting calls fail with an AbortError; later calls are refused. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#slots.close(abortError(undefined, 'pocketsphinx was shut down'));
    const all = [...this.#idle.splice(0), ...this.#leased];
    for (const process of all) {
      // Referenced again, so the caller's event loop waits for the exit it awaits.
      process.setIdle(false);
      process.kill(abortError(undefined, 'pocketsphinx was shut down'));
    }
    await Promise.all(all.map((process) => process.exited));
  }

  #startIdle(): void {
    const process = this.#options.start();
    process.setIdle(true);
    this.#idle.push(process);
    void process.exited.then(() => {
      const index = this.#idle.indexOf(process);
      if (index >= 0) this.#idle.splice(index, 1);
    });
  }
}

function closedError(): SpeechbridgeError {
  return new SpeechbridgeError('engine_unavailable', 'pocketsphinx was shut down (the transcriber is closed)');
}
