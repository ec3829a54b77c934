/**
 * Per-call deadline: one signal that fires when the caller aborts or the time passes
 * (REQUEST_TIMEOUT unless another setting is named). Providers call this once around their core
 * call so timeouts live in one place.
 */
import { SpeechbridgeError } from '../errors/registry.ts';

export interface Deadline {
  signal: AbortSignal;
  /** True when the deadline (not the caller) ended the call. */
  timedOut(): boolean;
  /** Turns an error thrown by an aborted call into upstream_timeout when the deadline caused it. */
  translate(error: unknown, what: string): unknown;
  dispose(): void;
}

/** `setting` is what the timeout message names, for the reader to know what to raise. */
export function startDeadline(timeoutMs: number, callerSignal?: AbortSignal, setting = 'REQUEST_TIMEOUT'): Deadline {
  const controller = new AbortController();
  let expired = false;
  const timer = setTimeout(() => {
    expired = true;
    controller.abort(new DOMException(`timed out after ${timeoutMs} ms`, 'TimeoutError'));
  }, timeoutMs);
  timer.unref?.();
  const onCallerAbort = () => controller.abort(callerSignal?.reason);
  if (callerSignal?.aborted) onCallerAbort();
  else callerSignal?.addEventListener('abort', onCallerAbort, { once: true });
  return {
    signal: controller.signal,
    timedOut: () => expired,
    translate(error: unknown, what: string) {
      if (expired) {
        return new SpeechbridgeError('upstream_timeout', `${what} took longer than ${timeoutMs} ms (${setting})`, { cause: error });
      }
      return error;
    },
    dispose() {
      clearTimeout(timer);
      callerSignal?.removeEventListener('abort', onCallerAbort);
    },
  };
}
