/**
 * The process's last line: an exception or a promise rejection that no session's error
 * boundary caught (src/protocols/session-boundary.ts guards every socket, timer and engine
 * callback of every door, so what arrives here comes from somewhere else: a library's own
 * timer, an engine's internal timer, a provider's stray promise). Each is logged (bounded)
 * and counted in speechbridge_process_faults_total by kind, and the process keeps serving.
 *
 * Why it keeps running rather than exit as Node does by default: such a fault belongs to one
 * session or one request far more often than to the process, and exiting would end every
 * user's session for it. A supervisor that prefers a restart can watch the counter (or the
 * `fatal` log lines) and restart the process itself. Installed by `speechbridge serve` once
 * it listens, so a failure while starting still stops it with its message.
 */
import type { Counter } from 'prom-client';
import { errorSummary } from '../protocols/session-boundary.ts';
import type { Logger } from './logging.ts';

export type ProcessFaultKind = 'uncaught_exception' | 'unhandled_rejection';

export interface ProcessFaultOptions {
  logger: Logger;
  counter: Counter<'kind'>;
  /** Default: the running process. */
  target?: NodeJS.EventEmitter;
}

/** Installs the handlers; returns their removal. */
export function watchProcessFaults({ logger, counter, target = process }: ProcessFaultOptions): () => void {
  const record = (kind: ProcessFaultKind, error: unknown) => {
    try {
      counter.inc({ kind });
      logger.fatal({ kind, fault: errorSummary(error) }, 'a fault outside every session boundary; the server keeps serving');
    } catch {
      // A handler that throws here would be an uncaught exception of its own: nothing more to do.
    }
  };
  const onException = (error: unknown) => record('uncaught_exception', error);
  const onRejection = (reason: unknown) => record('unhandled_rejection', reason);
  target.on('uncaughtException', onException);
  target.on('unhandledRejection', onRejection);
  return () => {
    target.off('uncaughtException', onException);
    target.off('unhandledRejection', onRejection);
  };
}
