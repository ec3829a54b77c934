/**
 * The life of one door connection around one session engine, the same for every door
 * (/v1/realtime, Socket.IO /realtime, the gateway on /, /v1/transcriptions); a door adds only
 * its codec, its handshake and its message handlers.
 *
 *   waiting ──startSession──► starting ──open──► open ──close──► closing ──engine closed──► closed
 *
 * - waiting: the socket is open and no session exists yet (the gateway and /v1/transcriptions
 *   wait for their start message; the other doors start at once).
 * - starting: the engine starts. Client messages and engine events wait in a bounded early
 *   buffer (src/protocols/early-buffer.ts) and are replayed in order once the session opens.
 * - open: client messages go to the door's handlers after the size check (a message over
 *   `maxMessageBytes` gets message_too_large and is dropped; ws closes 1009 only past twice
 *   that), engine events to the door's encoder, and every message out through one outbound
 *   policy per message class (src/protocols/outbound-policy.ts).
 * - closing: timers stopped, the engine closing. Expiry and shutdown drain first: the engine's
 *   last events (a cancelled response) still go out, for at most CLOSE_GRACE_MS, before the
 *   close; every other end closes at once. Close codes come from one table
 *   (src/protocols/close-reasons.ts).
 * - closed: the socket and the engine are both closed; `closed` resolves with the reason.
 *
 * Limits (REALTIME_* settings): the session ends after `maxSessionMs`, or after `idleTimeoutMs`
 * with nothing received (a door stops the idle timer while it only waits for results), with an
 * error and close 1000. The transport's heartbeat (REALTIME_HEARTBEAT_SECONDS) drops a peer
 * that stops answering within two intervals.
 *
 * Every socket, timer and engine callback runs inside the session's error boundary
 * (src/protocols/session-boundary.ts): an unexpected exception ends this session alone with an
 * error (internal_error) and close 1011.
 */
import type { Logger } from 'pino';
import { SpeechbridgeError, toSpeechbridgeError } from '../errors/registry.ts';
import type { EngineEvent } from '../engine/events.ts';
import { CLOSE_CODES, type CloseReason, drainsBeforeClose } from './close-reasons.ts';
import type { DoorMetrics } from './door-metrics.ts';
import type { DoorLimits, DoorSession } from './door-session.ts';
import { EARLY_HEAD_BYTES, EarlyBuffer, MAX_EARLY_EVENTS, MAX_EARLY_MESSAGES } from './early-buffer.ts';
import { type MessageClass, OutboundPolicy } from './outbound-policy.ts';
import { SessionBoundary } from './session-boundary.ts';
import type { SessionTransport, TransportEnd } from './session-transport.ts';
import { CLOSE_GRACE_MS } from './ws-transport.ts';

/** What a door brings to its lifecycle: its wire and its handlers. */
export interface DoorWire<Out> {
  /** The door's wire form of an error; `head`: the start of the client message it answers (for an id to echo). */
  errorMessage(error: SpeechbridgeError, head?: string): Out;
  /** What a too-large message's error advises, e.g. "send audio in smaller frames". */
  tooLargeAdvice: string;
  /** A client message that passed the size check, in arrival order. */
  onMessage?(data: Buffer, isBinary: boolean): void;
  /** An engine event, to be encoded and sent (while the session is open, or drains). */
  onEvent(event: EngineEvent): void;
  /** The session begins to close: the door releases what it holds (decoders) before the engine closes. */
  onClosing?(reason: CloseReason): void;
}

export interface SessionSocketOptions<Out> extends DoorWire<Out> {
  transport: SessionTransport<Out>;
  limits: DoorLimits;
  /** The door's logger (with its session's fields). */
  logger: Logger;
  metrics?: DoorMetrics;
}

export type StartOutcome = { type: 'started' } | { type: 'failed'; failure: SpeechbridgeError } | { type: 'gone' };

type Phase =
  | { phase: 'waiting' }
  | { phase: 'starting'; session: DoorSession; early: EarlyBuffer<EngineEvent>; started: boolean }
  | { phase: 'open'; session: DoorSession }
  /** `forwarding`: engine events still go out while the engine finishes before a server-side close. */
  | { phase: 'closing'; reason: CloseReason; session: DoorSession | null; forwarding: boolean }
  | { phase: 'closed'; reason: CloseReason };

/** Why reading from the client is paused; it reads again once nothing holds it. */
export type ReadHold = 'backlog' | 'decoder';

export class SessionSocket<Out> {
  readonly boundary: SessionBoundary;
  #phase: Phase = { phase: 'waiting' };
  readonly #policy: OutboundPolicy;
  readonly #holds = new Set<ReadHold>();
  readonly #sessionTimer: NodeJS.Timeout;
  #idleTimer: NodeJS.Timeout | null;
  /**
   * When the client last sent something (performance.now() ms). A message only stamps it; the
   * idle timer, on firing, arms itself again for what is left. Refreshing the timer on every
   * message instead re-inserts it into Node's timer list 50 times a second per session.
   */
  #lastReceivedMs = performance.now();
  readonly #onIdleTimer: () => void;
  readonly #startedAtMs = Date.now();
  #settling = false;
  readonly #done: Promise<CloseReason>;
  #resolveDone!: (reason: CloseReason) => void;
  /** The engine's event callback, inside the boundary: hand it to the session factory. */
  readonly onEngineEvent: (event: EngineEvent) => void;

  constructor(private readonly options: SessionSocketOptions<Out>) {
    const { transport, limits, logger, metrics } = options;
    this.#done = new Promise((resolve) => (this.#resolveDone = resolve));
    const boundary = new SessionBoundary({
      logger,
      countFault: metrics && (() => metrics.fault()),
      endSession: (failure) => this.#endByFault(failure),
      destroy: () => this.#destroy(),
    });
    this.boundary = boundary;
    this.onEngineEvent = boundary.guard('engine event', (event: EngineEvent) => this.#onEngineEvent(event));
    this.#policy = new OutboundPolicy({
      backlogBytes: () => transport.backlogBytes,
      maxBufferedBytes: limits.maxBufferedBytes,
      slowConsumerMs: limits.slowConsumerMs,
      active: () => this.#phase.phase === 'open',
      holdReading: (hold) => (hold ? this.holdReading('backlog') : this.releaseReading('backlog')),
      onSlowConsumer: boundary.guard('slow consumer', (detail: string) => this.#slowConsumer(detail)),
      ...(metrics && { onBacklog: (bytes: number) => metrics.backlog(bytes), onDropped: () => metrics.dropped() }),
    });
    transport.listen({
      message: boundary.guard('client message', (data: Buffer, isBinary: boolean) => this.#onClientMessage(data, isBinary)),
      ended: boundary.guard('socket close', (how: TransportEnd) => this.#onTransportEnded(how)),
      error: boundary.guard('socket error', (error: Error) => {
        logger.debug({ err: error.message }, 'socket error');
        this.#beginClose('socket_error');
      }),
    });
    this.#sessionTimer = setTimeout(
      boundary.guard('session timer', () => this.expire('session_expired', 'the session reached its maximum duration (REALTIME_MAX_SESSION_MINUTES)')),
      limits.maxSessionMs,
    );
    this.#onIdleTimer = boundary.guard('idle timer', () => {
      // Within a millisecond counts as due: timers run on the event loop's whole-ms clock.
      const leftMs = this.#lastReceivedMs + limits.idleTimeoutMs - performance.now();
      if (leftMs >= 1) {
        this.#idleTimer = setTimeout(this.#onIdleTimer, leftMs);
        return;
      }
      this.expire('session_idle', `nothing was received for ${limits.idleTimeoutMs / 1000} s (REALTIME_IDLE_TIMEOUT_SECONDS)`);
    });
    this.#idleTimer = setTimeout(this.#onIdleTimer, limits.idleTimeoutMs);
  }

  /** Resolves with the close reason once the socket and the engine are both closed; never rejects. */
  get closed(): Promise<CloseReason> {
    return this.#done;
  }

  get phase(): Phase['phase'] {
    return this.#phase.phase;
  }

  /** True while client messages are taken: before and during the session, not once it closes. */
  get accepting(): boolean {
    const { phase } = this.#phase;
    return phase === 'waiting' || phase === 'starting' || phase === 'open';
  }

  /** Bytes sent and not yet taken by the network. */
  get backlogBytes(): number {
    return this.options.transport.backlogBytes;
  }

  /** Droppable messages skipped so far. */
  get droppedMessages(): number {
    return this.#policy.dropped;
  }

  // ── Session ─────────────────────────────────────────────────────────────────────────────

  /**
   * Starts `session` (made with `onEngineEvent` as its event callback). A session that cannot
   * start is reported to the client (`the session could not start: …`) and closed 1011
   * (start_failed); `gone` when the socket closed meanwhile. On `started`, the door calls open().
   */
  async startSession(session: DoorSession): Promise<StartOutcome> {
    if (this.#phase.phase !== 'waiting') throw new Error(`startSession in phase ${this.#phase.phase}`);
    const { limits } = this.options;
    const starting: Phase = { phase: 'starting', session, early: new EarlyBuffer(limits.maxMessageBytes, 2 * limits.maxMessageBytes), started: false };
    this.#phase = starting;
    try {
      await session.start();
    } catch (error) {
      const failure = toSpeechbridgeError(error, 'engine_unavailable');
      this.options.logger.error({ err: failure.message, code: failure.code }, 'session failed to start');
      if (this.#phase !== starting) return { type: 'gone' };
      this.end('start_failed', new SpeechbridgeError(failure.code, `the session could not start: ${failure.message}`));
      return { type: 'failed', failure };
    }
    if (this.#phase !== starting) return { type: 'gone' };
    starting.started = true;
    return { type: 'started' };
  }

  /**
   * The session opens: `greet` sends the door's first message (ready, session.created,
   * connected), then what waited in the early buffer is replayed in order. False when the
   * session has closed meanwhile.
   */
  open(greet: () => void): boolean {
    const state = this.#phase;
    if (state.phase !== 'starting' || !state.started) return false;
    this.#phase = { phase: 'open', session: state.session };
    greet();
    for (const event of state.early.events) {
      if (this.#phase.phase !== 'open') return false;
      this.options.onEvent(event);
    }
    for (const message of state.early.messages) {
      if (!this.accepting) return false;
      this.#deliver(message.data, message.isBinary, message.bytes);
    }
    return this.#phase.phase === 'open';
  }

  /** The open session's engine, or null. */
  get session(): DoorSession | null {
    return this.#phase.phase === 'open' ? this.#phase.session : null;
  }

  // ── Output ──────────────────────────────────────────────────────────────────────────────

  /** Sends one message under its class's outbound policy; nothing once the socket cannot take it. */
  send(message: Out, messageClass: MessageClass = 'essential'): void {
    const { transport } = this.options;
    if (!transport.writable) return;
    if (!this.#policy.admits(messageClass)) return;
    transport.send(message);
    this.#policy.check();
  }

  /** An error about the client's input or a limit; the session goes on. */
  sendError(error: SpeechbridgeError, head?: string): void {
    this.sendRefusal(this.options.errorMessage(error, head), error.code);
  }

  /** An error the door's codec already put in wire form (a message that does not parse); counted by its code. */
  sendRefusal(message: Out, code: string): void {
    this.options.metrics?.clientError(code);
    this.options.logger.debug({ code }, 'client error');
    this.send(message);
  }

  // ── Reading ─────────────────────────────────────────────────────────────────────────────

  holdReading(hold: ReadHold): void {
    if (this.#holds.size === 0) this.options.transport.pause();
    this.#holds.add(hold);
  }

  releaseReading(hold: ReadHold): void {
    if (!this.#holds.delete(hold) || this.#holds.size > 0) return;
    if (this.accepting) this.options.transport.resume();
  }

  /** The client has said all it will (the gateway's `end`, a transcription `stop`): waiting for results is not idleness. */
  stopIdleTimer(): void {
    if (this.#idleTimer) clearTimeout(this.#idleTimer);
    this.#idleTimer = null;
  }

  /** A client message read by the door itself (Socket.IO events): counts as activity; false when the session does not take it. */
  received(): boolean {
    if (this.#phase.phase !== 'open') return false;
    this.#lastReceivedMs = performance.now();
    return true;
  }

  #onClientMessage(data: Buffer, isBinary: boolean): void {
    const state = this.#phase;
    if (!this.accepting) return;
    this.#lastReceivedMs = performance.now();
    if (state.phase === 'starting') {
      if (!state.early.addMessage(data, isBinary)) {
        const { maxMessageBytes } = this.options.limits;
        this.end(
          'early_overflow',
          new SpeechbridgeError(
            'too_many_early_messages',
            `more than ${MAX_EARLY_MESSAGES} messages (or ${2 * maxMessageBytes} bytes) arrived while the session was starting; wait for the session to be ready before sending more`,
          ),
        );
      }
      return;
    }
    this.#deliver(data, isBinary, data.byteLength);
  }

  #deliver(data: Buffer, isBinary: boolean, bytes: number): void {
    const { maxMessageBytes } = this.options.limits;
    if (bytes > maxMessageBytes) {
      const mb = (maxMessageBytes / (1024 * 1024)).toFixed(2);
      const error = new SpeechbridgeError(
        'message_too_large',
        `the message is ${bytes} bytes; the limit is ${maxMessageBytes} bytes (REALTIME_MAX_MESSAGE_MB=${mb}); ${this.options.tooLargeAdvice}`,
      );
      this.sendError(error, data.subarray(0, EARLY_HEAD_BYTES).toString('utf8'));
      return;
    }
    this.options.onMessage?.(data, isBinary);
  }

  #onEngineEvent(event: EngineEvent): void {
    const state = this.#phase;
    switch (state.phase) {
      case 'starting':
        if (!state.early.addEvent(event)) throw new Error(`the engine emitted more than ${MAX_EARLY_EVENTS} events before the session opened`);
        return;
      case 'open':
        this.options.onEvent(event);
        return;
      case 'closing':
        if (state.forwarding) this.options.onEvent(event);
        return;
      case 'waiting':
      case 'closed':
        return;
    }
  }

  // ── Ending ──────────────────────────────────────────────────────────────────────────────

  /** Ends the session: `error` (when given) goes out first, then the close for `reason`. */
  end(reason: CloseReason, error?: SpeechbridgeError): void {
    if (!this.accepting) return;
    if (error) {
      this.options.metrics?.clientError(error.code);
      // Straight to the transport: a slow consumer's last error must not run the backlog check again.
      if (this.options.transport.writable) this.options.transport.send(this.options.errorMessage(error));
    }
    this.#beginClose(reason);
  }

  /** Closes the session (server shutdown, the door's own end); resolves once closed. */
  async close(reason: CloseReason): Promise<CloseReason> {
    this.#beginClose(reason);
    return this.#done;
  }

  expire(reason: 'session_expired' | 'session_idle', message: string): void {
    this.end(reason, new SpeechbridgeError(reason, message));
  }

  #slowConsumer(detail: string): void {
    this.options.logger.warn({ detail }, 'closing a session whose client reads too slowly');
    this.end('slow_consumer', new SpeechbridgeError('slow_consumer', `${detail}; the client reads too slowly, so the session is closed`));
  }

  /** The error boundary caught an unexpected exception: the client hears why, then close 1011. */
  #endByFault(failure: SpeechbridgeError): void {
    if (!this.accepting) {
      // A fault while closing may have left the close half done.
      this.#destroy();
      return;
    }
    this.end('internal_error', failure);
  }

  /** The last resort: the connection is dropped, the engine closed, `closed` settled. */
  #destroy(): void {
    const state = this.#phase;
    this.options.transport.destroy();
    if (state.phase === 'closed') return;
    const session = state.phase === 'closing' ? state.session : this.#sessionOf(state);
    this.#stop();
    this.#phase = { phase: 'closing', reason: 'internal_error', session, forwarding: false };
    this.#settle('internal_error', this.#closeEngine(session));
  }

  #beginClose(reason: CloseReason): void {
    const state = this.#phase;
    if (state.phase === 'closing' || state.phase === 'closed') return;
    const session = this.#sessionOf(state);
    const drain = state.phase === 'open' && drainsBeforeClose(reason);
    const closing = { phase: 'closing' as const, reason, session, forwarding: drain };
    this.#phase = closing;
    this.#stop();
    this.options.onClosing?.(reason);
    const engineClosed = this.#closeEngine(session);
    const ready = drain ? Promise.race([engineClosed, graceElapsed()]) : Promise.resolve();
    const socketClosed = ready.then(() => {
      closing.forwarding = false;
      return this.options.transport.close(CLOSE_CODES[reason], reason);
    });
    this.#settle(reason, Promise.all([engineClosed, socketClosed]));
  }

  #onTransportEnded(how: TransportEnd): void {
    const state = this.#phase;
    this.options.logger.debug({ how }, 'socket closed');
    if (state.phase === 'closing') {
      state.forwarding = false;
      return;
    }
    if (state.phase === 'closed') return;
    const session = this.#sessionOf(state);
    this.#phase = { phase: 'closing', reason: how, session, forwarding: false };
    this.#stop();
    this.options.onClosing?.(how);
    this.#settle(how, this.#closeEngine(session));
  }

  #sessionOf(state: Phase): DoorSession | null {
    return state.phase === 'starting' || state.phase === 'open' ? state.session : null;
  }

  /** Stops the timers, the heartbeat and the backlog watch, and lets the socket read (so the client's close frame is seen). */
  #stop(): void {
    clearTimeout(this.#sessionTimer);
    this.stopIdleTimer();
    this.#policy.stop();
    this.options.transport.quiet();
    if (this.#holds.size > 0) {
      this.#holds.clear();
      this.options.transport.resume();
    }
  }

  /** Closes the engine (cancelling its work upstream); never rejects. */
  #closeEngine(session: DoorSession | null): Promise<void> {
    if (!session) return Promise.resolve();
    return session.close().catch((error: unknown) => this.options.logger.error({ err: toSpeechbridgeError(error).message }, 'session engine failed to close'));
  }

  #settle(reason: CloseReason, finished: Promise<unknown>): void {
    // Once: a fault's destroy() may follow a close that had already begun.
    if (this.#settling) return;
    this.#settling = true;
    void finished.then(() => {
      this.#phase = { phase: 'closed', reason };
      this.options.metrics?.closed(reason);
      const seconds = Math.round((Date.now() - this.#startedAtMs) / 100) / 10;
      this.options.logger.info({ reason, seconds, dropped: this.#policy.dropped || undefined }, 'session closed');
      this.#resolveDone(reason);
    });
  }
}

/** Resolves CLOSE_GRACE_MS from now, without keeping the process up. */
function graceElapsed(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, CLOSE_GRACE_MS).unref());
}
