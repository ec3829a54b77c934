/**
 * One Socket.IO `/realtime` session: a connected socket around one session engine. It feeds
 * decoded client events to the engine and emits the engine's events as `message`s.
 *
 * A manual commit (`commit`, or `audio` with `commit: true`) is the engine's turn.end: the turn
 * being spoken ends and is answered; after the VAD has ended it already, there is nothing to do.
 *
 * The socket's life is the shared lifecycle's (src/protocols/session-socket.ts): session and
 * idle limits, engine.io's heartbeat, the outbound policy (`transcript_temp` is droppable, since
 * the next one carries the whole text; a gap in the audio or a lost turn_done would break the
 * client, so everything else is essential and a client too slow for it is disconnected as a
 * slow consumer), the error boundary. The message size is engine.io's maxHttpBufferSize
 * (REALTIME_MAX_MESSAGE_MB, set by the door): a client that sends more in one message loses its
 * connection, as Socket.IO does.
 */
import type { Socket } from 'socket.io';
import type { Logger } from 'pino';
import { type ErrorCode, SpeechbridgeError } from '../../errors/registry.ts';
import type { EngineEvent, EngineInput } from '../../engine/events.ts';
import type { CloseReason } from '../close-reasons.ts';
import { quote } from '../client-values.ts';
import type { DoorMetrics } from '../door-metrics.ts';
import type { DoorLimits, DoorSession, DoorSessionFactory } from '../door-session.ts';
import { SessionSocket } from '../session-socket.ts';
import { CLIENT_EVENTS, connectedMessage, decodeClientEvent, errorMessage, isClientEvent, messagesFor, socketIoSession, type ServerMessage } from './codec.ts';
import { RefusedPayload } from './packet-parser.ts';
import { SocketIoTransport } from './socketio-transport.ts';

export interface SocketIoConnectionOptions {
  socket: Socket;
  createSession: DoorSessionFactory;
  limits: DoorLimits;
  logger: Logger;
  /** What `connected` reports as the engine. */
  engineName: string;
  metrics?: DoorMetrics;
}

export class SocketIoConnection {
  readonly #socket: SessionSocket<ServerMessage>;
  readonly #logger: Logger;

  constructor(private readonly options: SocketIoConnectionOptions) {
    this.#logger = options.logger.child({ door: 'socketio', socketio: options.socket.id });
    this.#socket = new SessionSocket<ServerMessage>({
      transport: new SocketIoTransport(options.socket, this.#logger),
      limits: options.limits,
      logger: this.#logger,
      ...(options.metrics && { metrics: options.metrics }),
      errorMessage: (error) => errorMessage(error.code, error.message),
      // engine.io refuses an oversize message itself; this door never reads one.
      tooLargeAdvice: 'send audio in smaller chunks',
      onEvent: (event) => this.#forward(event),
    });
  }

  /** Resolves with the close reason once the engine is closed. */
  get closed(): Promise<CloseReason> {
    return this.#socket.closed;
  }

  /** Creates and starts the session engine; rejects (after closing) when it cannot start. */
  async start(): Promise<void> {
    let session: DoorSession;
    try {
      session = this.options.createSession({ kind: 'conversation', session: socketIoSession(), onEvent: this.#socket.onEngineEvent });
    } catch (error) {
      void this.#socket.close('start_failed');
      throw error;
    }
    const outcome = await this.#socket.startSession(session);
    if (outcome.type === 'failed') throw outcome.failure;
  }

  /** The socket is connected: `connected` goes out, then client events are read. */
  open(): void {
    this.#socket.boundary.run('session open', () => {
      const { socket, engineName } = this.options;
      const opened = this.#socket.open(() => {
        this.#socket.send(connectedMessage(engineName));
        this.#logger.info({ transport: socket.conn.transport.name }, 'socket.io session open');
      });
      if (opened) socket.onAny(this.#socket.boundary.guard('client event', (event: string, ...args: unknown[]) => this.#onClientEvent(event, args)));
    });
  }

  /** Closes the session (server shutdown); resolves once the engine is closed. */
  async close(reason: CloseReason): Promise<CloseReason> {
    if (reason === 'server_shutdown' && this.#socket.phase === 'open') this.#sendError('engine_unavailable', 'the server is shutting down');
    return this.#socket.close(reason);
  }

  #onClientEvent(name: string, args: unknown[]): void {
    if (!this.#socket.received()) return;
    // An acknowledgement callback, when the client asked for one, gets the outcome.
    const ack = typeof args.at(-1) === 'function' ? (args.pop() as (reply: unknown) => void) : undefined;
    const outcome = this.#handleClientEvent(name, args[0]);
    ack?.(outcome === null ? { ok: true } : { ok: false, error: outcome });
  }

  /** Applies one client event; the error message sent back, or null when it was accepted. */
  #handleClientEvent(name: string, payload: unknown): string | null {
    if (!isClientEvent(name)) {
      const message = `unknown event ${typeof name === 'string' ? quote(name) : String(name)}; the /realtime namespace takes ${CLIENT_EVENTS.join(', ')}`;
      this.#sendError('unknown_event', message);
      return message;
    }
    if (payload instanceof RefusedPayload) {
      const { code, message: reason, param } = payload.error;
      const message = `invalid "${name}" message: ${reason}${param && !reason.includes(param) ? ` (${param})` : ''}`;
      this.#sendError(code, message);
      return message;
    }
    const decoded = decodeClientEvent(name, payload);
    if (!decoded.ok) {
      this.#sendError(decoded.code, decoded.message);
      return decoded.message;
    }
    for (const input of decoded.inputs) {
      const refused = this.#handleInput(input);
      if (refused !== null) return refused;
    }
    return null;
  }

  /** The engine's refusal (its error event has gone out), or null when it took the input. */
  #handleInput(input: EngineInput): string | null {
    const engine = this.#socket.session;
    if (!engine) return null;
    // The engine promises never to throw; should it, the error boundary ends this session.
    const result = engine.handle(input);
    return result.accepted ? null : result.error.message;
  }

  #forward(event: EngineEvent): void {
    // The whole partial text each time: a transcript_temp is superseded by the next one.
    for (const message of messagesFor(event)) this.#socket.send(message, message.type === 'transcript_temp' ? 'droppable' : 'essential');
  }

  #sendError(code: ErrorCode, message: string): void {
    this.#socket.sendError(new SpeechbridgeError(code, message));
  }
}
