/**
 * The Socket.IO door: a socket.io v4 server with the one namespace `/realtime`, on the same
 * HTTP(S) server as fastify, at the default path `/socket.io/`.
 *
 * The engine.io server is created detached (no `attach()`, which would add an 'upgrade'
 * listener racing the UpgradeRouter's): WebSocket upgrades on /socket.io/ reach it through
 * the UpgradeRouter, and long-polling requests on /socket.io/ through the RequestRouter,
 * ahead of fastify. Both route on the normalised path (`/%73ocket.io/` is `/socket.io/`), and
 * whatever the path, a client reaches a session only through the namespace's token check:
 * engine.io's own handshake opens no session. No client files are served.
 *
 * A connection is admitted in two namespace middlewares, so a refusal is a `connect_error`
 * whose message says why (and whose `data.code` is the error code): the token check
 * (API_TOKENS; the token may come as `Authorization: Bearer`, the `auth` payload's `token`, or
 * `?token=` / `?access_token=`), then the session engine's start.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { Server as EngineServer } from 'engine.io';
import { type ServerOptions, Server as SocketIoServer, type Socket } from 'socket.io';
import type { Logger } from 'pino';
import { type ErrorCode, type SpeechbridgeError, toSpeechbridgeError } from '../../errors/registry.ts';
import type { DoorAuth, TokenSources } from '../door-auth.ts';
import type { DoorMetrics } from '../door-metrics.ts';
import type { DoorLimits, DoorSessionFactory } from '../door-session.ts';
import { respondWithError } from '../error-response.ts';
import { rejectUpgrade, rejectUpgradeWith } from '../reject-upgrade.ts';
import type { SessionAdmission, SessionTicket } from '../session-admission.ts';
import type { RequestDoor } from '../request-door.ts';
import type { UpgradeDoor } from '../upgrade-router.ts';
import { SocketIoConnection } from './connection.ts';
import * as boundedPacketParser from './packet-parser.ts';

export const SOCKETIO_PATH = '/socket.io/';
export const SOCKETIO_NAMESPACE = '/realtime';

export interface SocketIoDoorOptions {
  auth: DoorAuth;
  createSession: DoorSessionFactory;
  limits: DoorLimits;
  logger: Logger;
  /** What `connected` reports as the engine. */
  engineName: string;
  /** Origins whose pages may use the polling transport (CORS_ORIGINS): '*', a list, or [] for none. */
  corsOrigins?: '*' | string[];
  metrics?: DoorMetrics;
  /** The per-token session limit; none when absent. */
  admission?: SessionAdmission;
  /**
   * The socket.io adapter (REDIS_URL: the Redis Streams adapter, so rooms, broadcasts and
   * fetchSockets span every instance); default: socket.io's in-memory one.
   */
  adapter?: ServerOptions['adapter'];
}

/** A connect_error as the client receives it: `message` says why, `data.code` is the error code. */
type ConnectError = Error & { data: { code: ErrorCode } };

/** engine.io's session id in a request target: the request belongs to a live session. */
const SESSION_ID_PARAM = /[?&]sid=/;

export class SocketIoDoor implements UpgradeDoor, RequestDoor {
  private readonly engine: EngineServer;
  private readonly io: SocketIoServer;
  private readonly connections = new Set<SocketIoConnection>();
  /** Sessions admitted by the middleware whose socket is not connected yet. */
  private readonly admitted = new WeakMap<Socket, SocketIoConnection>();
  private closing = false;

  constructor(private readonly options: SocketIoDoorOptions) {
    const origins = options.corsOrigins ?? [];
    this.engine = new EngineServer({
      maxHttpBufferSize: options.limits.maxMessageBytes,
      transports: ['polling', 'websocket'],
      perMessageDeflate: false,
      // The heartbeat (REALTIME_HEARTBEAT_SECONDS): a ping every interval, and a peer that has
      // not answered one within another interval is closed ("ping timeout").
      pingInterval: options.limits.heartbeatMs,
      pingTimeout: options.limits.heartbeatMs,
      // Polling is plain HTTP: a page on another origin needs CORS headers, as for the HTTP API.
      ...((origins === '*' || origins.length > 0) && { cors: { origin: origins, methods: ['GET', 'POST'], allowedHeaders: ['Authorization'] } }),
    });
    // The packet parser bounds every payload's JSON before Socket.IO builds anything from it.
    this.io = new SocketIoServer({
      serveClient: false,
      path: SOCKETIO_PATH,
      maxHttpBufferSize: options.limits.maxMessageBytes,
      parser: boundedPacketParser,
      ...(options.adapter && { adapter: options.adapter }),
    });
    this.io.bind(this.engine);
    // Only /realtime exists; a client on the main namespace is told where to go.
    this.io.of('/').use((_socket, next) => next(connectError('not_found', `this server has no Socket.IO namespace "/"; connect to ${SOCKETIO_NAMESPACE}`)));
    const realtime = this.io.of(SOCKETIO_NAMESPACE);
    realtime.use((socket, next) => next(this.checkToken(socket)));
    realtime.use((socket, next) => {
      this.startSession(socket).then(
        () => next(),
        (error: unknown) => next(error as ConnectError),
      );
    });
    realtime.on('connection', (socket) => {
      this.admitted.get(socket)?.open();
      this.admitted.delete(socket);
    });
  }

  /** The engine.io server: a cluster worker reports its connections' ids to the primary, which routes their polling requests. */
  get engineServer(): EngineServer {
    return this.engine;
  }

  get activeSessions(): number {
    return this.connections.size;
  }

  /** WebSocket upgrades on /socket.io/, from the UpgradeRouter. */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.closing) {
      rejectUpgrade(socket, 503, 'engine_unavailable', 'the server is shutting down');
      return;
    }
    const refusal = this.handshakeRefusal(request);
    if (refusal) {
      rejectUpgradeWith(socket, refusal);
      return;
    }
    this.engine.handleUpgrade(request, socket, head);
  }

  /** Long-polling requests on /socket.io/, from the RequestRouter. */
  handleRequest(request: IncomingMessage, response: ServerResponse): void {
    const refusal = this.handshakeRefusal(request);
    if (refusal) {
      respondWithError(response, refusal);
      return;
    }
    this.engine.handleRequest(request, response);
  }

  /**
   * A new engine.io connection (no `sid` yet, by polling or WebSocket) that the instance cannot
   * take now: refused as an HTTP 503 before engine.io answers the handshake with a 200, so a load
   * balancer can retry it elsewhere. A live session's requests carry its sid and pass.
   */
  private handshakeRefusal(request: IncomingMessage): SpeechbridgeError | undefined {
    if (!this.options.admission?.refusal || SESSION_ID_PARAM.test(request.url ?? '')) return undefined;
    return this.options.admission.refusal();
  }

  /** Ends every session (their engines cancel responses upstream), then closes engine.io. */
  async close(): Promise<void> {
    this.closing = true;
    await Promise.all([...this.connections].map((connection) => connection.close('server_shutdown')));
    await this.io.close();
  }

  private checkToken(socket: Socket): ConnectError | undefined {
    const refusal = this.options.auth.check(tokenSources(socket.handshake));
    if (refusal === undefined) return undefined;
    this.options.logger.debug({ address: socket.handshake.address }, 'socket.io connection refused: no valid token');
    return connectError('invalid_api_key', refusal);
  }

  private async startSession(socket: Socket): Promise<void> {
    if (this.closing) throw connectError('engine_unavailable', 'the server is shutting down');
    const { createSession, limits, logger, engineName, metrics, admission } = this.options;
    let ticket: SessionTicket | undefined;
    try {
      ticket = await admission?.admit(tokenSources(socket.handshake));
    } catch (error) {
      const failure = toSpeechbridgeError(error);
      throw connectError(failure.code, failure.message);
    }
    if (this.closing) {
      ticket?.release();
      throw connectError('engine_unavailable', 'the server is shutting down');
    }
    const connection = new SocketIoConnection({ socket, createSession, limits, logger, engineName, metrics });
    this.connections.add(connection);
    // `closed` never rejects.
    void connection.closed.then(() => {
      this.connections.delete(connection);
      ticket?.release();
    });
    try {
      await connection.start();
    } catch (error) {
      const failure = toSpeechbridgeError(error, 'engine_unavailable');
      logger.error({ err: failure.message, code: failure.code }, 'socket.io session failed to start');
      throw connectError(failure.code, `the session could not start: ${failure.message}`);
    }
    this.admitted.set(socket, connection);
  }
}

/**
 * The token sources of a Socket.IO handshake: its headers and URL (`?token=`), with the
 * `auth` payload's token standing in for an absent Authorization header.
 */
export function tokenSources(handshake: Socket['handshake']): TokenSources {
  const fromPayload = (handshake.auth as { token?: unknown } | undefined)?.token;
  const headers = handshake.headers;
  if (typeof fromPayload === 'string' && fromPayload !== '' && headers.authorization === undefined) {
    return { headers: { ...headers, authorization: `Bearer ${fromPayload}` }, url: handshake.url };
  }
  return { headers, url: handshake.url };
}

function connectError(code: ErrorCode, message: string): ConnectError {
  return Object.assign(new Error(message), { data: { code } });
}
