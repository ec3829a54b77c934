/**
 * One Socket.IO `/realtime` session: a connected socket around one session engine. It feeds
 * decoded client events to the engine and emits the engine's events as `message`s, and it
 * enforces the server's realtime limits (the REALTIME_* variables, shared with /v1/realtime):
 *
 * - message size: engine.io's maxHttpBufferSize (REALTIME_MAX_MESSAGE_MB, set by the door); a
 *   client that sends more in one message loses its connection, as Socket.IO does.
 * - session length: after `maxSessionMs`, an error session_expired, then a disconnect.
 * - idle: nothing received for `idleTimeoutMs`, an error session_idle, then a disconnect.
 * - outbound backlog (a client that reads too slowly): nothing is dropped, since a gap in the
 *   audio or a lost turn_done would break the client. The backlog is what engine.io holds
 *   because the transport cannot take it yet (its write buffer, counted from `packetCreate`
 *   until `drain`). Past `maxBufferedBytes` for longer than `slowConsumerMs`, or past twice it,
 *   the session closes (slow_consumer): the engine's responses are cancelled at once, so the
 *   backlog stops growing, and the socket is disconnected.
 *
 * A manual commit (`commit`, or `audio` with `commit: true`) is the engine's turn.end: the turn
 * being spoken ends and is answered; after the VAD has ended it already, there is nothing to do.
 *
 * Every socket, timer and engine callback runs inside the session's error boundary
 * (src/protocols/session-boundary.ts): an unexpected exception ends this session alone with an
 * `error` (internal_error) and a disconnect.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { Socket } from 'socket.io';
import type { Logger } from 'pino';
import { type SpeechbridgeError, toSpeechbridgeError, type ErrorCode } from '../../errors/registry.ts';
import type { EngineEvent, EngineInput } from '../../engine/events.ts';
import type { DoorLimits, DoorSession, DoorSessionFactory } from '../door-session.ts';
import { quote } from '../client-values.ts';
import { SessionBoundary } from '../session-boundary.ts';
import { CLOSE_GRACE_MS } from '../socket-close.ts';
import type { CloseReason } from '../openai-realtime/metrics.ts';
import {
  CLIENT_EVENTS,
  connectedMessage,
  decodeClientEvent,
  errorMessage,
  isClientEvent,
  messagesFor,
  SERVER_EVENT,
  socketIoSession,
  type ServerMessage,
} from './codec.ts';
import { RefusedPayload } from './packet-parser.ts';

export interface SocketIoConnectionOptions {
  socket: Socket;
  createSession: DoorSessionFactory;
  limits: DoorLimits;
  logger: Logger;
  /** What `connected` reports as the engine. */
  engineName: string;
  /** Counts a session ended by an unexpected exception. */
  countFault?: () => void;
}

type ConnectionState =
  | { phase: 'starting' }
  | { phase: 'open' }
  /** `forwarding`: engine events still go out (the engine is finishing before a server-side disconnect). */
  | { phase: 'closing'; reason: CloseReason; forwarding: boolean }
  | { phase: 'closed'; reason: CloseReason };

type OutboundFlow = { state: 'flowing' } | { state: 'congested'; timer: NodeJS.Timeout };

/**
 * Engine events kept while the session starts (before `connected` can go out). The engine
 * emits almost nothing before its first input, so this bound is never reached in practice.
 */
const MAX_EARLY_EVENTS = 100;

export class SocketIoConnection {
  private state: ConnectionState = { phase: 'starting' };
  private flow: OutboundFlow = { state: 'flowing' };
  private engine: DoorSession | null = null;
  private readonly earlyEvents: EngineEvent[] = [];
  private readonly timers: NodeJS.Timeout[] = [];
  private idleTimer: NodeJS.Timeout | null = null;
  private backlogBytes = 0;
  private readonly startedAtMs = Date.now();
  private readonly logger: Logger;
  private readonly boundary: SessionBoundary;
  private readonly done: Promise<CloseReason>;
  private resolveDone!: (reason: CloseReason) => void;
  private readonly onGone: () => void;
  private readonly onPacketCreate: (packet: { data?: unknown }) => void;
  private readonly onDrain: () => void;

  constructor(private readonly options: SocketIoConnectionOptions) {
    this.logger = options.logger.child({ socketio: options.socket.id });
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    const boundary = new SessionBoundary({
      logger: this.logger,
      countFault: options.countFault,
      endSession: (failure) => this.endByFault(failure),
      destroy: () => this.destroy(),
    });
    this.boundary = boundary;
    this.onGone = boundary.guard('socket close', () => this.beginClose('client_closed'));
    this.onPacketCreate = boundary.guard('outbound packet', (packet: { data?: unknown }) => this.countOutbound(packet));
    this.onDrain = boundary.guard('outbound drain', () => this.drained());
    // What Socket.IO reports on a socket (a handler that threw past the boundary, a bad packet): logged, never printed to stderr.
    options.socket.on('error', (error: Error) => this.logger.debug({ err: error.message }, 'socket.io socket error'));
    // The engine.io connection's close covers a client that leaves while the session starts,
    // before Socket.IO would report a disconnect.
    options.socket.conn.once('close', this.onGone);
    options.socket.once('disconnect', this.onGone);
  }

  /** Resolves with the close reason once the engine is closed. */
  get closed(): Promise<CloseReason> {
    return this.done;
  }

  /** Creates and starts the session engine; rejects (after closing) when it cannot start. */
  async start(): Promise<void> {
    try {
      this.engine = this.options.createSession({
        kind: 'conversation',
        session: socketIoSession(),
        onEvent: this.boundary.guard('engine event', (event: EngineEvent) => this.onEngineEvent(event)),
      });
      await this.engine.start();
    } catch (error) {
      this.beginClose('start_failed', false);
      throw error;
    }
    // The client may have gone while the engine started.
    if (this.options.socket.conn.readyState !== 'open') this.beginClose('client_closed');
  }

  /** The socket is connected: `connected` goes out, then client events are read. */
  open(): void {
    this.boundary.run('session open', () => this.openSession());
  }

  private openSession(): void {
    if (this.state.phase !== 'starting') return;
    this.state = { phase: 'open' };
    const { socket, limits, engineName } = this.options;
    this.send(connectedMessage(engineName));
    for (const event of this.earlyEvents.splice(0)) this.forward(event);
    socket.onAny(this.boundary.guard('client event', (event: string, ...args: unknown[]) => this.onClientEvent(event, args)));
    socket.conn.on('packetCreate', this.onPacketCreate);
    socket.conn.on('drain', this.onDrain);
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
    this.logger.info({ transport: socket.conn.transport.name }, 'socket.io session open');
  }

  /** Closes the session (server shutdown); resolves once the engine is closed. */
  async close(reason: CloseReason): Promise<CloseReason> {
    if (reason === 'server_shutdown' && this.state.phase === 'open') this.sendError('engine_unavailable', 'the server is shutting down');
    this.beginClose(reason);
    return this.done;
  }

  private onClientEvent(name: string, args: unknown[]): void {
    if (this.state.phase !== 'open') return;
    this.idleTimer?.refresh();
    // An acknowledgement callback, when the client asked for one, gets the outcome.
    const ack = typeof args.at(-1) === 'function' ? (args.pop() as (reply: unknown) => void) : undefined;
    const outcome = this.handleClientEvent(name, args[0]);
    ack?.(outcome === null ? { ok: true } : { ok: false, error: outcome });
  }

  /** Applies one client event; the error message sent back, or null when it was accepted. */
  private handleClientEvent(name: string, payload: unknown): string | null {
    if (!isClientEvent(name)) {
      const message = `unknown event ${typeof name === 'string' ? quote(name) : String(name)}; the /realtime namespace takes ${CLIENT_EVENTS.join(', ')}`;
      this.sendError('unknown_event', message);
      return message;
    }
    if (payload instanceof RefusedPayload) {
      const { code, message: reason, param } = payload.error;
      const message = `invalid "${name}" message: ${reason}${param && !reason.includes(param) ? ` (${param})` : ''}`;
      this.sendError(code, message);
      return message;
    }
    const decoded = decodeClientEvent(name, payload);
    if (!decoded.ok) {
      this.sendError(decoded.code, decoded.message);
      return decoded.message;
    }
    for (const input of decoded.inputs) {
      const refused = this.handleInput(input);
      if (refused !== null) return refused;
    }
    return null;
  }

  /** The engine's refusal (its error event has gone out), or null when it took the input. */
  private handleInput(input: EngineInput): string | null {
    const engine = this.engine;
    if (!engine) return null;
    // The engine promises never to throw; should it, the error boundary ends this session.
    const result = engine.handle(input);
    return result.accepted ? null : result.error.message;
  }

  private onEngineEvent(event: EngineEvent): void {
    switch (this.state.phase) {
      case 'starting':
        if (this.earlyEvents.length < MAX_EARLY_EVENTS) this.earlyEvents.push(event);
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
    for (const message of messagesFor(event)) this.send(message);
  }

  private sendError(code: ErrorCode, message: string): void {
    this.logger.debug({ code }, 'socket.io client error');
    this.send(errorMessage(code, message));
  }

  private send(message: ServerMessage): void {
    const { socket } = this.options;
    if (!socket.connected) return;
    socket.emit(SERVER_EVENT, message);
  }

  private countOutbound(packet: { data?: unknown }): void {
    const { data } = packet;
    this.backlogBytes += typeof data === 'string' ? data.length : data instanceof Uint8Array ? data.byteLength : 0;
    if (this.state.phase !== 'open') return;
    const { limits } = this.options;
    if (this.backlogBytes > 2 * limits.maxBufferedBytes) {
      this.slowConsumer(`the outbound backlog reached ${this.backlogBytes} bytes, twice REALTIME_MAX_BUFFERED_KB`);
      return;
    }
    if (this.backlogBytes > limits.maxBufferedBytes && this.flow.state === 'flowing') {
      const since = Date.now();
      const timer = setTimeout(() => this.slowConsumer(`the outbound backlog stayed over REALTIME_MAX_BUFFERED_KB for ${Date.now() - since} ms`), limits.slowConsumerMs);
      this.flow = { state: 'congested', timer };
    }
  }

  private drained(): void {
    this.backlogBytes = 0;
    if (this.flow.state === 'congested') clearTimeout(this.flow.timer);
    this.flow = { state: 'flowing' };
  }

  /**
   * The session closes before the error goes out: sending it creates a packet, which counts
   * as backlog, which must not find the session still open and call this again.
   */
  private slowConsumer(detail: string): void {
    if (this.state.phase !== 'open') return;
    this.logger.warn({ detail, backlog: this.backlogBytes }, 'closing a socket.io session whose client reads too slowly');
    this.beginClose('slow_consumer');
    this.sendError('slow_consumer', `${detail}; the client reads messages too slowly, so the session is closed`);
  }

  /** The error boundary caught an unexpected exception: the client hears why, then a disconnect. */
  private endByFault(failure: SpeechbridgeError): void {
    const phase = this.state.phase;
    if (phase === 'closing' || phase === 'closed') {
      // A fault while closing may have left the close half done.
      this.destroy();
      return;
    }
    this.beginClose('internal_error');
    this.sendError(failure.code, failure.message);
  }

  /** The last resort: the engine.io connection is dropped at once and the engine closed. */
  private destroy(): void {
    const phase = this.state.phase;
    this.stopTimers();
    this.stopListening();
    this.dropTransport();
    if (phase === 'closed') return;
    this.state = { phase: 'closing', reason: 'internal_error', forwarding: false };
    void this.closeEngine().then(() => {
      this.state = { phase: 'closed', reason: 'internal_error' };
      this.resolveDone('internal_error');
    });
  }

  private expire(reason: 'session_expired' | 'session_idle', message: string): void {
    if (this.state.phase !== 'open') return;
    this.sendError(reason, message);
    this.beginClose(reason);
  }

  /**
   * Server-side ends that leave the client able to read (expiry, idle, shutdown) let the engine
   * finish first, so the client still receives the cancelled turn's turn_done (at most
   * CLOSE_GRACE_MS). A slow consumer or the client's own leaving skip that. `closed` settles
   * once the engine is closed and the socket is gone.
   */
  private beginClose(reason: CloseReason, disconnect = true): void {
    if (this.state.phase === 'closing' || this.state.phase === 'closed') return;
    const wasOpen = this.state.phase === 'open';
    const drain = wasOpen && (reason === 'session_expired' || reason === 'session_idle' || reason === 'server_shutdown');
    this.state = { phase: 'closing', reason, forwarding: drain };
    this.stopTimers();
    this.stopListening();
    const engineClosed = this.closeEngine();
    let disconnected: Promise<void> = Promise.resolve();
    if (disconnect) {
      const ready = drain ? Promise.race([engineClosed, delay(CLOSE_GRACE_MS, undefined, { ref: false })]) : Promise.resolve();
      disconnected = ready.then(() => {
        this.disconnect();
        return this.transportClosed();
      });
    }
    void Promise.all([engineClosed, disconnected]).then(() => {
      this.state = { phase: 'closed', reason };
      this.logger.info({ reason, seconds: Math.round((Date.now() - this.startedAtMs) / 100) / 10 }, 'socket.io session closed');
      this.resolveDone(reason);
    });
  }

  /**
   * Resolves once the engine.io connection has closed, or after CLOSE_GRACE_MS. A polling
   * client collects the last messages (and the close) with its next requests, so a server
   * shutdown waits for them before the HTTP server stops listening.
   */
  private transportClosed(): Promise<void> {
    const { conn } = this.options.socket;
    if (conn.readyState === 'closed') return Promise.resolve();
    return new Promise((resolve) => {
      const grace = setTimeout(() => {
        // A client that does not read never lets the close through (engine.io waits for its
        // write buffer to drain): the connection and what it buffered are dropped.
        this.dropTransport();
        resolve();
      }, CLOSE_GRACE_MS);
      grace.unref();
      conn.once('close', () => {
        clearTimeout(grace);
        resolve();
      });
    });
  }

  /** Closes the engine.io connection without waiting for its write buffer, and the WebSocket under it at once. */
  private dropTransport(): void {
    const { conn } = this.options.socket;
    // The transport's WebSocket, when it is one: ws would otherwise hold the unsent bytes for its 30 s close timeout.
    const websocket = (conn.transport as { socket?: { terminate?: () => void } } | undefined)?.socket;
    if (conn.readyState !== 'closed') conn.close(true);
    websocket?.terminate?.();
  }

  private disconnect(): void {
    if (this.state.phase === 'closing') this.state = { ...this.state, forwarding: false };
    // true: the whole engine.io connection closes, not only this namespace.
    if (this.options.socket.connected) this.options.socket.disconnect(true);
  }

  /** Closes the engine (cancelling its responses upstream); never rejects. */
  private closeEngine(): Promise<void> {
    const engine = this.engine;
    if (!engine) return Promise.resolve();
    return engine.close().catch((error: unknown) => this.logger.error({ err: toSpeechbridgeError(error).message }, 'session engine failed to close'));
  }

  private stopTimers(): void {
    for (const timer of this.timers.splice(0)) clearTimeout(timer);
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    if (this.flow.state === 'congested') clearTimeout(this.flow.timer);
    this.flow = { state: 'flowing' };
  }

  private stopListening(): void {
    const { socket } = this.options;
    socket.conn.off('close', this.onGone);
    socket.off('disconnect', this.onGone);
    socket.conn.off('packetCreate', this.onPacketCreate);
    socket.conn.off('drain', this.onDrain);
  }
}
