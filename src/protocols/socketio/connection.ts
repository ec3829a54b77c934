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
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { Socket } from 'socket.io';
import { toSpeechbridgeError, type ErrorCode } from '../../engine/errors.ts';
import type { EngineEvent, EngineInput } from '../../engine/events.ts';
import type { Logger } from '../../server/logging.ts';
import type { DoorLimits, DoorSession, DoorSessionFactory } from '../door-session.ts';
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

export interface SocketIoConnectionOptions {
  socket: Socket;
  createSession: DoorSessionFactory;
  limits: DoorLimits;
  logger: Logger;
  /** What `connected` reports as the engine. */
  engineName: string;
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
  /** The engine's refusal of the input being handled (errors come back synchronously from handle()). */
  private refusal: { active: boolean; message: string | null } = { active: false, message: null };
  private readonly startedAtMs = Date.now();
  private readonly logger: Logger;
  private readonly done: Promise<CloseReason>;
  private resolveDone!: (reason: CloseReason) => void;
  private readonly onGone = () => this.beginClose('client_closed');
  private readonly onPacketCreate = (packet: { data?: unknown }) => this.countOutbound(packet);
  private readonly onDrain = () => this.drained();

  constructor(private readonly options: SocketIoConnectionOptions) {
    this.logger = options.logger.child({ socketio: options.socket.id });
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
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
      this.engine = this.options.createSession({ kind: 'conversation', session: socketIoSession(), onEvent: (event) => this.onEngineEvent(event) });
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
    if (this.state.phase !== 'starting') return;
    this.state = { phase: 'open' };
    const { socket, limits, engineName } = this.options;
    this.send(connectedMessage(engineName));
    for (const event of this.earlyEvents.splice(0)) this.forward(event);
    socket.onAny((event: string, ...args: unknown[]) => this.onClientEvent(event, args));
    socket.conn.on('packetCreate', this.onPacketCreate);
    socket.conn.on('drain', this.onDrain);
    this.timers.push(setTimeout(() => this.expire('session_expired', 'the session reached its maximum duration (REALTIME_MAX_SESSION_MINUTES)'), limits.maxSessionMs));
    this.idleTimer = setTimeout(() => this.expire('session_idle', `nothing was received for ${limits.idleTimeoutMs / 1000} s (REALTIME_IDLE_TIMEOUT_SECONDS)`), limits.idleTimeoutMs);
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
      const message = `unknown event ${JSON.stringify(name)}; the /realtime namespace takes ${CLIENT_EVENTS.join(', ')}`;
      this.sendError('unknown_event', message);
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

  private handleInput(input: EngineInput): string | null {
    const engine = this.engine;
    if (!engine) return null;
    this.refusal = { active: true, message: null };
    try {
      engine.handle(input);
    } catch (error) {
      // The engine promises never to throw; this keeps one broken input from ending the session if it does.
      const failure = toSpeechbridgeError(error);
      this.logger.error({ err: failure.message, input: input.type }, 'session engine threw on input');
      this.sendError(failure.code, failure.message);
      return failure.message;
    } finally {
      this.refusal.active = false;
    }
    return this.refusal.message;
  }

  private onEngineEvent(event: EngineEvent): void {
    if (event.type === 'error' && this.refusal.active) this.refusal.message ??= event.message;
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

  private slowConsumer(detail: string): void {
    if (this.state.phase !== 'open') return;
    this.logger.warn({ detail }, 'closing a socket.io session whose client reads too slowly');
    this.sendError('slow_consumer', `${detail}; the client reads messages too slowly, so the session is closed`);
    this.beginClose('slow_consumer');
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
      const grace = setTimeout(resolve, CLOSE_GRACE_MS);
      grace.unref();
      conn.once('close', () => {
        clearTimeout(grace);
        resolve();
      });
    });
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
