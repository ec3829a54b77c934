/**
 * REQUEST_TIMEOUT for streamed calls: the deadline restarts whenever data arrives, so it
 * bounds the wait for the first byte and every silence after it, not the whole stream. A
 * spoken answer can stream for longer than REQUEST_TIMEOUT (30 s of speech is not unusual);
 * an upstream that stops sending is still caught within REQUEST_TIMEOUT. Built on
 * src/providers/deadline.ts, which keeps its caller-abort and timeout semantics.
 */
import { startDeadline, type Deadline } from '../deadline.ts';

export interface IdleDeadline extends Deadline {
  /** Data arrived: restart the wait. */
  touch(): void;
}

export function startIdleDeadline(timeoutMs: number, callerSignal?: AbortSignal): IdleDeadline {
  const controller = new AbortController();
  let current = startDeadline(timeoutMs, callerSignal);
  let expired = false;
  const forward = () => {
    if (current.timedOut()) expired = true;
    controller.abort(current.signal.reason);
  };
  const link = () => {
    if (current.signal.aborted) forward();
    else current.signal.addEventListener('abort', forward, { once: true });
  };
  const unlink = () => {
    current.signal.removeEventListener('abort', forward);
    current.dispose();
  };
  link();
  return {
    signal: controller.signal,
    timedOut: () => expired,
    translate: (error, what) => (expired ? current.translate(error, what) : error),
    touch() {
      if (controller.signal.aborted) return;
      unlink();
      current = startDeadline(timeoutMs, callerSignal);
      link();
    },
    dispose: unlink,
  };
}
