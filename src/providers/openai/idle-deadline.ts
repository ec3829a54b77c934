/**
 * Deadlines for streamed calls. REQUEST_TIMEOUT restarts whenever data arrives, so it bounds
 * the wait for the first byte and every silence after it: a spoken answer can stream for
 * longer than REQUEST_TIMEOUT (30 s of speech is not unusual), and an upstream that stops
 * sending is still caught within REQUEST_TIMEOUT. An upstream that never stops, or drips a
 * byte just often enough, is caught by the total (RESPONSE_TIMEOUT) counted from the start of
 * the call. Built on src/providers/deadline.ts, which keeps its caller-abort and timeout
 * semantics.
 */
import { startDeadline, type Deadline } from '../deadline.ts';

export interface IdleDeadline extends Deadline {
  /** Data arrived: restart the wait. */
  touch(): void;
}

export interface StreamDeadlines {
  /** REQUEST_TIMEOUT: the wait for the first data and between data. */
  idleMs: number;
  /** RESPONSE_TIMEOUT: the whole call; absent bounds only the gaps. */
  totalMs?: number;
}

export function startIdleDeadline(deadlines: StreamDeadlines, callerSignal?: AbortSignal): IdleDeadline {
  const { idleMs, totalMs } = deadlines;
  const total = totalMs === undefined ? null : startDeadline(totalMs, callerSignal, 'RESPONSE_TIMEOUT, the limit for a whole answer');
  // The total's signal fires on the caller's abort too, so the idle wait listens to it alone.
  const outer = total?.signal ?? callerSignal;
  const controller = new AbortController();
  let current = startDeadline(idleMs, outer);
  let idleExpired = false;
  const forward = () => {
    if (current.timedOut()) idleExpired = true;
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
    timedOut: () => idleExpired || (total?.timedOut() ?? false),
    translate(error, what) {
      if (idleExpired) return current.translate(error, what);
      if (total?.timedOut()) return total.translate(error, what);
      return error;
    },
    touch() {
      if (controller.signal.aborted) return;
      unlink();
      current = startDeadline(idleMs, outer);
      link();
    },
    dispose() {
      unlink();
      total?.dispose();
    },
  };
}
