/**
 * One /v1/realtime connection: the socket's lifecycle around one session engine. It feeds
 * decoded client events to the engine, sends encoded engine events back, and enforces the
 * per-connection limits:
 *
 * - message size: a message over `maxMessageBytes` gets a message_too_large error and is
 *   dropped; the socket stays open. (ws itself closes with 1009 only past twice the limit,
 *   the most one connection may buffer for a message.)
 * - session length: after `maxSessionMs`, an error session_expired, then close 1000.
 * - idle: nothing received for `idleTimeoutMs`, an error session_idle, then close 1000.
 * - outbound backlog (a client that reads too slowly): nothing is dropped, since every event
 *   carries protocol state. Past `maxBufferedBytes` of ws.bufferedAmount the connection stops
 *   reading from the client (so it cannot add work); under half of it, reading resumes.
 *   Congested longer than `slowConsumerMs`, or past twice the limit, the session is closed
 *   (1008 slow_consumer): the engine's responses are cancelled at once and the socket is
 *   destroyed 1 s later if the close frame cannot get through. The backlog is therefore
 *   bounded by 2 × maxBufferedBytes plus one event.
 *
 * Every socket, timer and engine callback runs inside the session's error boundary
 * (src/protocols/session-boundary.ts): an unexpected exception ends this session alone with an
 * `error` event (internal_error) and close 1011.
 */
import type { RawData, WebSocket } from 'ws';
import type { Logger } from 'pino';
import { rawDataToBuffer } from '../raw-data.ts';
import { type SpeechbridgeError, toSpeechbridgeError } from '../../errors/registry.ts';
import type { EngineEvent } from '../../engine/events.ts';
import { BacklogGuard } from '../backlog-guard.ts';
import { SessionBoundary } from '../session-boundary.ts';
import { CLOSE_GRACE_MS, closeWebSocket } from '../socket-close.ts';
import type { DoorLimits, DoorSession, DoorSessionFactory } from '../door-session.ts';
import { eventIdFromHead } from './client-events.ts';
import type { RealtimeCodec, ServerEvent } from './codec.ts';
import type { CloseReason, RealtimeMetrics } from './metrics.ts';

export interface RealtimeConnectionOptions {
  socket: WebSocket;
  codec: RealtimeCodec;
  createSession: DoorSessionFactory;
  model?: string;
  /** The wire session a client secret was minted with: applied before session.created. */
  initialSession?: Record<string, unknown>;
  limits: DoorLimits;
  logger: Logger;
  metrics: RealtimeMetrics;
  /** Counts a session ended by an unexpected exception. */
  countFault?: () => void;
}

type ConnectionState =
  | { phase: 'starting' }
  | { phase: 'open' }
  /** `forwarding`: engine events still go out (the engine is finishing before a server-side close). */
  | { phase: 'closing'; reason: CloseReason; forwarding: boolean }
  | { phase: 'closed'; reason: CloseReason };
/** Only this much of an oversize message is decoded to look for its event_id. */
const EVENT_ID_SEARCH_BYTES = 512;

const CLOSE_CODES: Record<CloseReason, number> = {
  client_closed: 1000,
  session_expired: 1000,
  session_idle: 1000,
  slow_consumer: 1008,
  server_shutdown: 1001,
  start_failed: 1011,
  socket_error: 1011,
  internal_error: 1011,
};

export class RealtimeConnection {
  private state: ConnectionState = { phase: 'starting' };
  private readonly backlog: BacklogGuard;
  private engine: DoorSession | null = null;
  /** Client messages that arrived while the engine started; the socket is paused meanwhile, so at most one read's worth. */
  private readonly early: Array<{ data: RawData; isBinary: boolean }> = [];
  /** Engine events emitted before session.created went out. */
  private readonly earlyEvents: EngineEvent[] = [];
  private readonly timers: NodeJS.Timeout[] = [];
  private idleTimer: NodeJS.Timeout | null = null;
  private readonly startedAtMs = Date.now();
  private peakBacklogBytes = 0;
  private readonly logger: Logger;
  private readonly boundary: SessionBoundary;
  private settling = false;
  private readonly done: Promise<CloseReason>;
  private resolveDone!: (reason: CloseReason) => void;

  constructor(private readonly options: RealtimeConnectionOptions) {
    this.logger = options.logger.child({ session: options.codec.sessionId });
    const boundary = new SessionBoundary({
      logger: this.logger,
      countFault: options.countFault,
      endSession: (failure) => this.endByFault(failure),
      destroy: () => this.destroy(),
    });
    this.boundary = boundary;
    this.backlog = new BacklogGuard({
      socket: options.socket,
      maxBufferedBytes: options.limits.maxBufferedBytes,
      slowConsumerMs: options.limits.slowConsumerMs,
      reading: () => this.state.phase === 'open',
      onSlowConsumer: boundary.guard('slow consumer', (detail: string) => this.slowConsumer(detail)),
      onBacklog: (bytes) => {
        if (bytes <= this.peakBacklogBytes) return;
        this.peakBacklogBytes = bytes;
        options.metrics.recordBacklog(bytes);
      },
      onCongested: (bytes) => this.logger.debug({ backlog: bytes }, 'realtime client reads slowly: input paused'),
    });
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    const { socket } = options;
    socket.pause();
    socket.on('message', boundary.guard('client message', (data: RawData, isBinary: boolean) => this.onMessage(data, isBinary)));
    socket.on('close', boundary.guard('socket close', (code: number) => this.onSocketClosed(code)));
    socket.on(
      'error',
      boundary.guard('socket error', (error: Error) => {
        this.logger.debug({ err: error.message }, 'realtime socket error');
        this.beginClose('socket_error');
      }),
    );
  }

  /** Resolves with the close reason once the socket and the engine are both closed. */
  get closed(): Promise<CloseReason> {
    return this.done;
  }

  get sessionId(): string {
    return this.options.codec.sessionId;
  }

  /** Starts the engine and sends session.created; failures close the socket with 1011. Never rejects. */
  async start(): Promise<void> {
    await this.startSession().catch(this.boundary.catcher('session start'));
  }

  private async startSession(): Promise<void> {
    const { codec, createSession, model, limits, metrics } = this.options;
    metrics.sessionsActive.inc();
    try {
      this.engine = this.createEngine(createSession, model);
      await this.engine.start();
    } catch (error) {
      const failure = toSpeechbridgeError(error, 'engine_unavailable');
      this.logger.error({ err: failure.message, code: failure.code }, 'realtime session failed to start');
      if (this.state.phase === 'starting') {
        this.send(codec.error(failure.code, `the session could not start: ${failure.message}`));
        this.beginClose('start_failed');
      }
      return;
    }
    if (this.state.phase !== 'starting') return;
    this.state = { phase: 'open' };
    for (const event of codec.sessionCreated(this.engine.config)) this.send(event);
    for (const event of this.earlyEvents.splice(0)) this.forward(event);
    const guard = this.boundary;
    this.timers.push(
      setTimeout(
        guard.guard('session timer', () => this.expire('session_expired', 'the session reached its maximum duration (REALTIME_MAX_SESSION_MINUTES)')),
        limits.maxSessionMs,
      ),
    );
    this.idleTimer = setTimeout(
      guard.guard('idle timer', () => this.expire('session_idle', `nothing was received for ${limits.idleTimeoutMs / 1000} s (REALTIME_IDLE_TIMEOUT_SECONDS)`)),
      limits.idleTimeoutMs,
    );
    this.logger.info({ kind: codec.kind, dialect: codec.dialect, model }, 'realtime session open');
    for (const message of this.early.splice(0)) this.onMessage(message.data, message.isBinary);
    if (this.state.phase === 'open' && !this.backlog.congested) this.options.socket.resume();
  }

  /**
   * The session engine, created with a client secret's session settings when there are some,
   * so session.created reports them. Settings refused (validated when minted, so only by a
   * server whose defaults changed since) are reported with an error and left out.
   */
  private createEngine(createSession: DoorSessionFactory, model: string | undefined): DoorSession {
    const { initialSession, codec } = this.options;
    const request = { kind: codec.kind, model, onEvent: this.boundary.guard('engine event', (event: EngineEvent) => this.onEngineEvent(event)) };
    if (!initialSession) return createSession(request);
    const decoded = codec.decodeMintedSession(initialSession);
    if (decoded.type === 'input' && decoded.input.type === 'session.update') {
      try {
        const engine = createSession({ ...request, session: decoded.input.session });
        codec.handled({ accepted: true });
        return engine;
      } catch (error) {
        const failure = toSpeechbridgeError(error);
        codec.handled({ accepted: false, error: { code: failure.code, message: failure.message, param: failure.param } });
        this.earlyEvents.push({ type: 'error', code: failure.code, message: failure.message, param: failure.param, eventId: null });
      }
    } else if (decoded.type === 'error') {
      this.send(decoded.event);
    }
    return createSession(request);
  }

  /** Closes the session (server shutdown, expiry); resolves once closed. */
  async close(reason: CloseReason): Promise<CloseReason> {
    this.beginClose(reason);
    return this.done;
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    switch (this.state.phase) {
      case 'starting':
        this.early.push({ data, isBinary });
        return;
      case 'closing':
      case 'closed':
        return;
      case 'open':
        break;
    }
    this.idleTimer?.refresh();
    const { codec, limits } = this.options;
    const bytes = rawDataToBuffer(data);
    if (bytes.byteLength > limits.maxMessageBytes) {
      const mb = (limits.maxMessageBytes / (1024 * 1024)).toFixed(2);
      this.sendError(
        codec.error(
          'message_too_large',
          `the message is ${bytes.byteLength} bytes; the limit is ${limits.maxMessageBytes} bytes (REALTIME_MAX_MESSAGE_MB=${mb}); split audio into smaller appends`,
          null,
          eventIdFromHead(bytes.subarray(0, EVENT_ID_SEARCH_BYTES).toString('utf8')),
        ),
      );
      return;
    }
    if (isBinary) {
      // Client events are JSON text frames; a binary frame is refused unread, as OpenAI refuses it.
      this.sendError(codec.binaryFrame(bytes.subarray(0, EVENT_ID_SEARCH_BYTES).toString('utf8')));
      return;
    }
    const decoded = codec.decode(bytes.toString('utf8'));
    if (decoded.type === 'error') {
      this.sendError(decoded.event);
      return;
    }
    // The engine promises never to throw; should it, the error boundary ends this session.
    const engine = this.engine;
    if (engine) codec.handled(engine.handle(decoded.input));
  }

  private onEngineEvent(event: EngineEvent): void {
    switch (this.state.phase) {
      case 'starting':
        this.earlyEvents.push(event);
        return;
      case 'open':
        this.forward(event);
        return;
      case 'closing':
        if (this.state.forwarding) this.forward(event);
        return;
      case 'closed':
        return;
    }
  }

  private forward(event: EngineEvent): void {
    if (event.type === 'error') this.options.metrics.clientErrors.inc({ code: event.code });
    for (const wire of this.options.codec.encode(event)) this.send(wire);
  }

  private sendError(event: ServerEvent): void {
    const code = (event.error as { code: string }).code;
    this.options.metrics.clientErrors.inc({ code });
    this.logger.debug({ code }, 'realtime client error');
    this.send(event);
  }

  private send(event: ServerEvent, watchBacklog = true): void {
    const { socket } = this.options;
    if (socket.readyState !== socket.OPEN) return;
    socket.send(JSON.stringify(event));
    if (watchBacklog) this.backlog.check();
  }

  private slowConsumer(detail: string): void {
    this.logger.warn({ detail }, 'closing a realtime session whose client reads too slowly');
    this.options.metrics.clientErrors.inc({ code: 'slow_consumer' });
    this.send(this.options.codec.error('slow_consumer', `${detail}; the client reads events too slowly, so the session is closed`), false);
    this.beginClose('slow_consumer');
  }

  private expire(reason: 'session_expired' | 'session_idle', message: string): void {
    if (this.state.phase !== 'open') return;
    this.sendError(this.options.codec.error(reason, message));
    this.beginClose(reason);
  }

  /** The error boundary caught an unexpected exception: the client hears why, then close 1011. */
  private endByFault(failure: SpeechbridgeError): void {
    const phase = this.state.phase;
    if (phase === 'closing' || phase === 'closed') {
      // A fault while closing may have left the close half done.
      this.destroy();
      return;
    }
    this.options.metrics.clientErrors.inc({ code: failure.code });
    this.send(this.options.codec.error(failure.code, failure.message), false);
    this.beginClose('internal_error');
  }

  /** The last resort: the socket is dropped, the engine closed, `closed` settled. */
  private destroy(): void {
    const phase = this.state.phase;
    this.options.socket.terminate();
    if (phase === 'closed') return;
    this.stopTimers();
    this.state = { phase: 'closing', reason: 'internal_error', forwarding: false };
    this.settle('internal_error', this.closeEngine(), phase === 'starting');
  }

  /**
   * Server-side ends that leave the client able to read (expiry, idle, shutdown) let the
   * engine finish first, so the client still receives the cancelled response.done before the
   * close frame (at most CLOSE_GRACE_MS). A slow consumer, a socket error or the client's own
   * close skip that: nothing more can or should be sent.
   */
  private beginClose(reason: CloseReason): void {
    if (this.state.phase === 'closing' || this.state.phase === 'closed') return;
    const wasStarting = this.state.phase === 'starting';
    const drain = !wasStarting && (reason === 'session_expired' || reason === 'session_idle' || reason === 'server_shutdown');
    this.state = { phase: 'closing', reason, forwarding: drain };
    this.stopTimers();
    const engineClosed = this.closeEngine();
    if (!drain) {
      this.closeSocket(reason);
    } else {
      const grace = setTimeout(() => this.closeSocket(reason), CLOSE_GRACE_MS);
      void engineClosed.then(() => {
        clearTimeout(grace);
        this.closeSocket(reason);
      });
    }
    this.settle(reason, engineClosed, wasStarting);
  }

  private closeSocket(reason: CloseReason): void {
    if (this.state.phase === 'closing') this.state = { ...this.state, forwarding: false };
    closeWebSocket(this.options.socket, CLOSE_CODES[reason], reason);
  }

  private onSocketClosed(code: number): void {
    this.logger.debug({ code }, 'realtime socket closed');
    if (this.state.phase === 'closing') {
      this.state = { ...this.state, forwarding: false };
      return;
    }
    if (this.state.phase === 'closed') return;
    const wasStarting = this.state.phase === 'starting';
    this.state = { phase: 'closing', reason: 'client_closed', forwarding: false };
    this.stopTimers();
    this.settle('client_closed', this.closeEngine(), wasStarting);
  }

  /** Closes the engine (cancelling its responses upstream); never rejects. */
  private closeEngine(): Promise<void> {
    const engine = this.engine;
    if (!engine) return Promise.resolve();
    return engine.close().catch((error: unknown) => this.logger.error({ err: toSpeechbridgeError(error).message }, 'session engine failed to close'));
  }

  /** Settles `closed` once the engine is closed. */
  private settle(reason: CloseReason, engineClosed: Promise<void>, wasStarting: boolean): void {
    // Once: a fault's destroy() may follow a close that had already begun.
    if (this.settling) return;
    this.settling = true;
    void engineClosed.then(() => {
      this.state = { phase: 'closed', reason };
      const { metrics } = this.options;
      metrics.sessionsActive.dec();
      metrics.sessionsClosed.inc({ reason });
      this.logger.info({ reason, seconds: Math.round((Date.now() - this.startedAtMs) / 100) / 10, starting: wasStarting || undefined }, 'realtime session closed');
      this.resolveDone(reason);
    });
  }

  private stopTimers(): void {
    for (const timer of this.timers.splice(0)) clearTimeout(timer);
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    this.backlog.stop();
  }
}
