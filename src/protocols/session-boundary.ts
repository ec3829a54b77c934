/**
 * The error boundary of one session. Every callback a door hands to a socket, a timer, a
 * promise or the session engine goes through guard() (or catcher() for a promise), so an
 * exception nobody expected — a bug, a value an engine event carries that cannot be
 * serialised — ends that one session and nothing else: the fault is counted
 * (speechbridge_session_faults_total by door), logged once with a bounded summary, and the
 * door's endSession sends an `error` with code internal_error and closes the socket with
 * 1011. Should endSession itself throw, destroy() drops the transport. Without the boundary
 * such an exception would reach the socket's event emitter and stop the process, ending every
 * user's session.
 */
import type { Logger } from 'pino';
import { SpeechbridgeError } from '../errors/registry.ts';

/** Characters of an error's message and stack kept in the log: the top frames, not a 100 KB dump. */
const MESSAGE_CHARS = 500;
const STACK_CHARS = 2000;

export interface SessionBoundaryOptions {
  logger: Logger;
  /** Counts a session ended by a fault (once per session). */
  countFault?: () => void;
  /** Ends the session: an `error` (internal_error) to the client, then close 1011. */
  endSession(failure: SpeechbridgeError): void;
  /** When endSession itself throws: the transport is dropped without ceremony. */
  destroy(): void;
}

export class SessionBoundary {
  #faults = 0;

  constructor(private readonly options: SessionBoundaryOptions) {}

  /** True once a fault has ended the session. */
  get faulted(): boolean {
    return this.#faults > 0;
  }

  /** `callback`, with whatever it throws caught and ending the session. */
  guard<Args extends unknown[]>(where: string, callback: (...args: Args) => void): (...args: Args) => void {
    return (...args: Args) => {
      try {
        callback(...args);
      } catch (error) {
        this.fault(where, error);
      }
    };
  }

  /** For a promise the door starts and does not await: `.catch(boundary.catcher('start'))`. */
  catcher(where: string): (error: unknown) => void {
    return (error) => this.fault(where, error);
  }

  /** Runs `callback` inside the boundary. */
  run(where: string, callback: () => void): void {
    this.guard(where, callback)();
  }

  fault(where: string, error: unknown): void {
    const { logger } = this.options;
    if (++this.#faults > 1) {
      // The session is already ending; one log line per session is enough.
      logger.debug({ where, fault: errorSummary(error) }, 'another unexpected exception while the session ends');
      return;
    }
    try {
      this.options.countFault?.();
    } catch {
      // A metrics failure must not keep the session from ending.
    }
    logger.error({ where, fault: errorSummary(error) }, 'session ended by an unexpected exception; other sessions go on');
    const failure = new SpeechbridgeError(
      'internal_error',
      `the session ended after an unexpected failure in the gateway (${where}); other sessions are not affected and a new session can be opened`,
    );
    try {
      this.options.endSession(failure);
    } catch (second) {
      logger.error({ where, fault: errorSummary(second) }, 'ending the faulted session failed; dropping its connection');
      try {
        this.options.destroy();
      } catch {
        // Nothing is left to try; the socket's own timeouts end it.
      }
    }
  }
}

/** An error as a log field: type, message and the top of the stack, each bounded; never throws. */
export function errorSummary(error: unknown): { type: string; message: string; stack?: string } {
  try {
    if (error instanceof Error) {
      const stack = typeof error.stack === 'string' ? error.stack.slice(0, STACK_CHARS) : undefined;
      return { type: String(error.name).slice(0, 100), message: String(error.message).slice(0, MESSAGE_CHARS), ...(stack !== undefined && { stack }) };
    }
    return { type: typeof error, message: String(error).slice(0, MESSAGE_CHARS) };
  } catch {
    // A value whose every property throws (a revoked Proxy) still gets a line.
    return { type: typeof error, message: 'a value that cannot be read' };
  }
}
