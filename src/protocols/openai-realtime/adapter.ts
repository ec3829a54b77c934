/**
 * One /v1/realtime connection: decoded client events go to the session engine, encoded engine
 * events come back. The session starts as the socket opens; `session.created` is the first
 * event (the engine is created with a client secret's settings, when the client used one, so
 * session.created reports them).
 *
 * Every event out is essential: OpenAI's deltas add to what came before rather than replace it,
 * so none may be skipped. The socket's life — early buffering while the engine starts, the
 * size check (message_too_large echoes the oversize event's event_id), session and idle limits,
 * heartbeat, outbound policy (a client that reads too slowly is closed 1008 slow_consumer with
 * its responses cancelled), close codes, the error boundary — is the shared lifecycle's
 * (src/protocols/session-socket.ts).
 */
import type { Logger } from 'pino';
import { SpeechbridgeError, toSpeechbridgeError } from '../../errors/registry.ts';
import type { EngineEvent } from '../../engine/events.ts';
import type { CloseReason } from '../close-reasons.ts';
import type { DoorSession, DoorSessionFactory } from '../door-session.ts';
import type { SessionSocket } from '../session-socket.ts';
import { type WsConnectionOptions, wsSessionSocket } from '../ws-session-socket.ts';
import type { WireFrame } from '../ws-transport.ts';
import { eventIdFromHead } from './client-events.ts';
import type { RealtimeCodec, ServerEvent } from './codec.ts';

export interface RealtimeConnectionOptions extends WsConnectionOptions {
  codec: RealtimeCodec;
  model?: string;
  /** The wire session a client secret was minted with: applied before session.created. */
  initialSession?: Record<string, unknown>;
}

export class RealtimeConnection {
  readonly #socket: SessionSocket<WireFrame>;
  readonly #logger: Logger;

  constructor(private readonly options: RealtimeConnectionOptions) {
    const { codec } = options;
    this.#logger = options.logger.child({ door: 'realtime', session: codec.sessionId });
    this.#socket = wsSessionSocket(options, this.#logger, {
      errorMessage: (error, head) => this.#wire(codec.error(error.code, error.message, error.param ?? null, head === undefined ? null : eventIdFromHead(head))),
      tooLargeAdvice: 'split audio into smaller appends',
      onMessage: (data, isBinary) => this.#onMessage(data, isBinary),
      onEvent: (event) => this.#onEngineEvent(event),
    });
  }

  /** Resolves with the close reason once the socket and the engine are both closed. */
  get closed(): Promise<CloseReason> {
    return this.#socket.closed;
  }

  get sessionId(): string {
    return this.options.codec.sessionId;
  }

  /** Closes the session (server shutdown); resolves once closed. */
  async close(reason: CloseReason): Promise<CloseReason> {
    return this.#socket.close(reason);
  }

  /** Starts the engine and sends session.created; failures close the socket with 1011. Never rejects. */
  async start(): Promise<void> {
    await this.#startSession().catch(this.#socket.boundary.catcher('session start'));
  }

  async #startSession(): Promise<void> {
    const { codec, createSession, model } = this.options;
    let session: DoorSession;
    let refusal: ServerEvent | null;
    try {
      ({ session, refusal } = this.#createSession(createSession, model));
    } catch (error) {
      const failure = toSpeechbridgeError(error, 'engine_unavailable');
      this.#logger.error({ err: failure.message, code: failure.code }, 'realtime session could not be created');
      this.#socket.end('start_failed', new SpeechbridgeError(failure.code, `the session could not start: ${failure.message}`));
      return;
    }
    const outcome = await this.#socket.startSession(session);
    if (outcome.type !== 'started') return;
    this.#socket.open(() => {
      for (const event of codec.sessionCreated(session.config)) this.#send(event);
      if (refusal) this.#send(refusal);
      this.#logger.info({ kind: codec.kind, dialect: codec.dialect, model }, 'realtime session open');
    });
  }

  /**
   * The session engine, created with a client secret's session settings when there are some,
   * so session.created reports them. Settings refused (validated when minted, so only by a
   * server whose defaults changed since) are reported with an error and left out.
   */
  #createSession(createSession: DoorSessionFactory, model: string | undefined): { session: DoorSession; refusal: ServerEvent | null } {
    const { initialSession, codec } = this.options;
    const request = { kind: codec.kind, model, onEvent: this.#socket.onEngineEvent };
    if (!initialSession) return { session: createSession(request), refusal: null };
    const decoded = codec.decodeMintedSession(initialSession);
    if (decoded.type === 'error') return { session: createSession(request), refusal: decoded.event };
    if (decoded.input.type !== 'session.update') return { session: createSession(request), refusal: null };
    try {
      const session = createSession({ ...request, session: decoded.input.session });
      codec.handled({ accepted: true });
      return { session, refusal: null };
    } catch (error) {
      const failure = toSpeechbridgeError(error);
      codec.handled({ accepted: false, error: { code: failure.code, message: failure.message, param: failure.param } });
      return { session: createSession(request), refusal: codec.error(failure.code, failure.message, failure.param) };
    }
  }

  #onMessage(data: Buffer, isBinary: boolean): void {
    const { codec } = this.options;
    if (isBinary) {
      // Client events are JSON text frames; a binary frame is refused unread, as OpenAI refuses it.
      this.#refuse(codec.binaryFrame(data.subarray(0, 512).toString('utf8')));
      return;
    }
    const decoded = codec.decode(data.toString('utf8'));
    if (decoded.type === 'error') {
      this.#refuse(decoded.event);
      return;
    }
    // The engine promises never to throw; should it, the error boundary ends this session.
    const session = this.#socket.session;
    if (session) codec.handled(session.handle(decoded.input));
  }

  #onEngineEvent(event: EngineEvent): void {
    for (const wire of this.options.codec.encode(event)) this.#send(wire);
  }

  #refuse(event: ServerEvent): void {
    this.#socket.sendRefusal(this.#wire(event), (event.error as { code: string }).code);
  }

  #send(event: ServerEvent): void {
    this.#socket.send(this.#wire(event));
  }

  #wire(event: ServerEvent): WireFrame {
    return JSON.stringify(event);
  }
}
