/**
 * One TCP connection to a Wyoming server, for one request: Wyoming servers serve a request per
 * connection (wyoming-faster-whisper closes it after the transcript), so every transcription,
 * synthesis and `describe` opens its own and closes it when done, failed or aborted (barge-in
 * closes the socket at once, which is how a Wyoming server learns to stop).
 *
 * Every wait is bounded: connecting, the server's silence once an answer is due (the idle
 * deadline, `expectWithin`), and a server that stops reading what is sent (`send` waits for the
 * socket to drain at most its `drainTimeoutMs`).
 * Received events wait in a queue of at most MAX_QUEUED_EVENTS; past it the socket is paused,
 * so a slow reader pushes back on the server through TCP instead of growing memory.
 *
 * Failures are SpeechbridgeErrors naming the server (`the Wyoming speech recognition server at
 * tcp://host:10300`) and what was awaited; an abort through the caller's signal ends every
 * pending call with an AbortError and is not reported as an error.
 */
import { connect, type Socket } from 'node:net';
import { SpeechbridgeError } from '../../errors/registry.ts';
import type { WyomingAddress } from './address.ts';
import { encodeEvent, WyomingEventParser, WyomingFramingError, type FrameLimits, type WyomingEvent } from './framing.ts';

/**
 * 64 events: two seconds of piper's 1024-sample chunks at 22050 Hz, far more than a reader
 * that keeps up ever holds; the socket resumes once the queue is down to RESUME_AT_EVENTS.
 */
const MAX_QUEUED_EVENTS = 64;
const RESUME_AT_EVENTS = 16;

export interface WyomingConnectionOptions {
  address: WyomingAddress;
  /** What the server is for, in messages: "speech recognition", "speech synthesis". */
  role: string;
  /** The longest wait for the connection to open. */
  connectTimeoutMs: number;
  /** The setting that holds the timeouts, named in timeout messages; default REQUEST_TIMEOUT. */
  timeoutSetting?: string;
  /** Aborting it closes the connection and ends pending calls with an AbortError. */
  signal?: AbortSignal;
  limits?: Partial<FrameLimits>;
}

/** How the server side ended, kept so the next wait can say what it was waiting for. */
type Ending = { kind: 'open' } | { kind: 'ended'; how: string };

export class WyomingConnection {
  /** "the Wyoming speech recognition server at tcp://host:10300", for messages. */
  readonly server: string;
  readonly #socket: Socket;
  readonly #parser: WyomingEventParser;
  readonly #queue: WyomingEvent[] = [];
  readonly #timeoutSetting: string;
  readonly #signal?: AbortSignal;
  #ending: Ending = { kind: 'open' };
  #failure: Error | null = null;
  #waiter: { resolve: (event: WyomingEvent) => void; reject: (error: Error) => void } | null = null;
  /** Wakes a send() waiting for the socket to drain when the connection fails or ends. */
  #wakeSender: (() => void) | null = null;
  #paused = false;
  /** What the pending receive() waits for, for the message when the server ends the connection. */
  #waitingFor = 'an answer';
  #idle: { timeoutMs: number; waitingFor: string } | null = null;
  #idleTimer: NodeJS.Timeout | null = null;

  /** Opens a connection; fails with upstream_unreachable, upstream_timeout or an AbortError. */
  static open(options: WyomingConnectionOptions): Promise<WyomingConnection> {
    const { address, signal, connectTimeoutMs } = options;
    const server = describeServer(options);
    if (signal?.aborted) return Promise.reject(abortError());
    return new Promise((resolve, reject) => {
      const socket = connect({ host: address.host, port: address.port });
      const settle = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        socket.off('error', onError);
        socket.off('connect', onConnect);
      };
      const onAbort = () => {
        settle();
        socket.destroy();
        reject(abortError());
      };
      const onError = (error: NodeJS.ErrnoException) => {
        settle();
        socket.destroy();
        reject(new SpeechbridgeError('upstream_unreachable', `could not reach ${server}: ${connectionProblem(error)}`, { cause: error }));
      };
      const onConnect = () => {
        settle();
        resolve(new WyomingConnection(socket, options));
      };
      const timer = setTimeout(() => {
        settle();
        socket.destroy();
        reject(
          new SpeechbridgeError(
            'upstream_timeout',
            `${server} did not accept a connection within ${connectTimeoutMs} ms (${options.timeoutSetting ?? 'REQUEST_TIMEOUT'})`,
          ),
        );
      }, connectTimeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      socket.once('error', onError);
      socket.once('connect', onConnect);
    });
  }

  private constructor(socket: Socket, options: WyomingConnectionOptions) {
    this.server = describeServer(options);
    this.#socket = socket;
    this.#parser = new WyomingEventParser(options.limits);
    this.#timeoutSetting = options.timeoutSetting ?? 'REQUEST_TIMEOUT';
    this.#signal = options.signal;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (error: NodeJS.ErrnoException) => this.#onEnd(`broke the connection (${error.code ?? error.message})`));
    socket.on('end', () => this.#onEnd(this.#parser.atBoundary ? 'closed the connection' : 'closed the connection in the middle of an event'));
    socket.on('close', () => this.#onEnd(this.#parser.atBoundary ? 'closed the connection' : 'closed the connection in the middle of an event'));
    this.#signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** Writes one event; waits while the socket's buffer is full, at most `drainTimeoutMs`. */
  async send(event: { type: string; data?: Record<string, unknown>; payload?: Uint8Array }, drainTimeoutMs: number): Promise<void> {
    this.#throwIfDone(`sending "${event.type}"`);
    if (this.#socket.write(encodeEvent(event))) return;
    await new Promise<void>((resolve, reject) => {
      const finish = () => {
        clearTimeout(timer);
        this.#socket.off('drain', finish);
        this.#wakeSender = null;
        resolve();
      };
      const timer = setTimeout(() => {
        this.#socket.off('drain', finish);
        this.#wakeSender = null;
        const error = new SpeechbridgeError(
          'upstream_timeout',
          `${this.server} stopped reading what was sent for ${drainTimeoutMs} ms (${this.#timeoutSetting})`,
        );
        this.fail(error);
        reject(error);
      }, drainTimeoutMs);
      this.#socket.once('drain', finish);
      this.#wakeSender = finish;
    });
    this.#throwIfDone(`sending "${event.type}"`);
  }

  /**
   * The next event from the server. `waitingFor` says what is expected ("the transcript"), for
   * the message when the server closes or breaks the connection. How long it may take is the
   * idle deadline's business (expectWithin): a transcription waits untimed while the user speaks.
   */
  receive(waitingFor: string): Promise<WyomingEvent> {
    const queued = this.#queue.shift();
    if (queued) {
      this.#resumeIfDrained();
      return Promise.resolve(queued);
    }
    try {
      this.#throwIfDone(`waiting for ${waitingFor}`);
    } catch (error) {
      return Promise.reject(error);
    }
    this.#waitingFor = waitingFor;
    return new Promise((resolve, reject) => {
      this.#waiter = {
        resolve: (event) => {
          this.#waiter = null;
          resolve(event);
        },
        reject: (error) => {
          this.#waiter = null;
          reject(error);
        },
      };
    });
  }

  /**
   * Arms the idle deadline: from now on the server must send an event at least every
   * `timeoutMs`, or the connection fails with upstream_timeout saying it was silent while the
   * gateway waited for `waitingFor`. Each event received restarts the wait; calling it again
   * re-arms it (with new words); relax() disarms it. While the queue is full and the socket
   * paused, the gateway is the slow one, and the deadline does not run.
   */
  expectWithin(timeoutMs: number, waitingFor: string): void {
    this.#idle = { timeoutMs, waitingFor };
    this.#restartIdleTimer();
  }

  relax(): void {
    this.#idle = null;
    this.#restartIdleTimer();
  }

  #restartIdleTimer(): void {
    if (this.#idleTimer) clearTimeout(this.#idleTimer);
    this.#idleTimer = null;
    const idle = this.#idle;
    if (!idle || this.#paused || this.#failure) return;
    this.#idleTimer = setTimeout(() => {
      this.fail(
        new SpeechbridgeError(
          'upstream_timeout',
          `${this.server} sent nothing for ${idle.timeoutMs} ms while the gateway waited for ${idle.waitingFor} (${this.#timeoutSetting})`,
        ),
      );
    }, idle.timeoutMs);
  }

  /** Hands the reader an event of the gateway's own, after those already received. */
  inject(event: WyomingEvent): void {
    if (this.#waiter) this.#waiter.resolve(event);
    else this.#queue.push(event);
  }

  /** Ends the connection with `error`: pending and later calls fail with it. */
  fail(error: Error): void {
    if (this.#failure) return;
    this.#failure = error;
    this.#waiter?.reject(error);
    this.#wakeSender?.();
    this.close();
  }

  /**
   * Closes the socket (idempotent); a server learns from it that the request is abandoned. Calls
   * still pending, or made later, end with an AbortError: the caller chose to stop.
   */
  close(): void {
    if (!this.#failure) {
      this.#failure = abortError();
      this.#waiter?.reject(this.#failure);
      this.#wakeSender?.();
    }
    if (this.#idleTimer) clearTimeout(this.#idleTimer);
    this.#idleTimer = null;
    this.#signal?.removeEventListener('abort', this.#onAbort);
    if (!this.#socket.destroyed) this.#socket.destroy();
  }

  readonly #onAbort = (): void => {
    this.fail(abortError());
  };

  #onData(chunk: Buffer): void {
    if (this.#failure) return;
    let events: WyomingEvent[];
    try {
      events = this.#parser.push(chunk);
    } catch (error) {
      const problem = error instanceof WyomingFramingError ? error.message : String(error);
      this.fail(
        new SpeechbridgeError('upstream_bad_response', `${this.server} sent ${problem}; it does not speak the Wyoming protocol here`, { cause: error }),
      );
      return;
    }
    for (const event of events) {
      if (this.#waiter) this.#waiter.resolve(event);
      else this.#queue.push(event);
    }
    if (this.#queue.length >= MAX_QUEUED_EVENTS && !this.#paused) {
      this.#paused = true;
      this.#socket.pause();
    }
    if (events.length > 0) this.#restartIdleTimer();
  }

  #onEnd(how: string): void {
    if (this.#ending.kind === 'ended') return;
    this.#ending = { kind: 'ended', how };
    this.#wakeSender?.();
    if (this.#waiter && !this.#failure) this.#waiter.reject(this.#endedError(`waiting for ${this.#waitingFor}`));
  }

  #resumeIfDrained(): void {
    if (this.#paused && this.#queue.length <= RESUME_AT_EVENTS) {
      this.#paused = false;
      this.#socket.resume();
      this.#restartIdleTimer();
    }
  }

  #throwIfDone(doing: string): void {
    if (this.#failure) throw this.#failure;
    if (this.#ending.kind === 'ended') throw this.#endedError(doing);
  }

  #endedError(doing: string): SpeechbridgeError {
    const how = this.#ending.kind === 'ended' ? this.#ending.how : 'closed the connection';
    return new SpeechbridgeError('upstream_bad_response', `${this.server} ${how} while ${doing}`);
  }
}

function describeServer(options: Pick<WyomingConnectionOptions, 'address' | 'role'>): string {
  return `the Wyoming ${options.role} server at ${options.address.uri}`;
}

/** "connection refused (ECONNREFUSED)", "host not found (ENOTFOUND)" for the usual connect errors. */
function connectionProblem(error: NodeJS.ErrnoException): string {
  const reasons: Record<string, string> = {
    ECONNREFUSED: 'connection refused: nothing listens there',
    ENOTFOUND: 'host not found',
    EAI_AGAIN: 'host name lookup failed',
    EHOSTUNREACH: 'host unreachable',
    ENETUNREACH: 'network unreachable',
    ECONNRESET: 'connection reset',
  };
  const reason = error.code ? reasons[error.code] : undefined;
  return reason ? `${reason} (${error.code})` : error.message;
}

export function abortError(): Error {
  const error = new Error('The operation was aborted');
  error.name = 'AbortError';
  return error;
}
