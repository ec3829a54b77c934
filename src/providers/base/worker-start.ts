/**
 * Starts a worker thread and waits for its first word: the engine it loads (a whisper model,
 * espeak-ng's voice data) says `ready`, or why it could not load. Fails early, at start-up, and
 * terminates the worker on failure so nothing is left running.
 */
import { Worker, type WorkerOptions } from 'node:worker_threads';

/** Reads one message from the starting worker: its ready value, an Error that says why it failed, or undefined for anything else. */
export type ReadyCheck<Ready> = (message: unknown) => Ready | Error | undefined;

export interface StartedWorker<Ready> {
  worker: Worker;
  ready: Ready;
}

export function startWorker<Ready>(url: URL, options: WorkerOptions, readyOf: ReadyCheck<Ready>): Promise<StartedWorker<Ready>> {
  let worker: Worker;
  try {
    worker = new Worker(url, options);
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
  return new Promise<StartedWorker<Ready>>((resolve, reject) => {
    const fail = (error: Error) => {
      cleanup();
      void worker.terminate();
      reject(error);
    };
    const onMessage = (message: unknown) => {
      const ready = readyOf(message);
      if (ready instanceof Error) fail(ready);
      else if (ready !== undefined) {
        cleanup();
        resolve({ worker, ready });
      }
    };
    const onError = (error: Error) => fail(error);
    const onExit = (code: number) => fail(new Error(`the worker exited with code ${code}`));
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
