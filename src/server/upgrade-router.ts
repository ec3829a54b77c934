/**
 * Routes HTTP upgrades (WebSocket handshakes) by path to the door that serves it. One listener
 * on the server's `upgrade` event, so every door (Socket.IO's engine too) registers here rather
 * than racing its own listener.
 *
 * The request target is rewritten to its normal form first (src/server/request-target.ts, as
 * for plain HTTP requests), so a door routes and checks its token on the same path whatever
 * spelling the client used; a malformed target gets a 400. An unknown path needs a token like
 * any other (401 without one), then gets a 404; every refusal is a JSON body, then the socket
 * is closed.
 */
import type { Server as HttpServer, IncomingMessage } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { STATUS_CODES } from 'node:http';
import type { Registry } from 'prom-client';
import { type ErrorCode, SpeechbridgeError } from '../errors/registry.ts';
import { createRealtimeMetrics } from '../protocols/openai-realtime/metrics.ts';
import { GATEWAY_PATH, createGatewayDoor } from '../protocols/gateway/gateway-door.ts';
import { REALTIME_PATH, RealtimeDoor } from '../protocols/openai-realtime/realtime-door.ts';
import { offeredSubprotocols } from '../protocols/subprotocols.ts';
import { TRANSCRIPTIONS_PATH, createTranscriptionsDoor } from '../protocols/transcriptions/transcriptions-door.ts';
import type { TokenAuth } from './auth.ts';
import type { Config } from './config.ts';
import { normalizeRequestTarget } from './request-target.ts';
import type { Engines } from './engines.ts';
import type { Logger } from './logging.ts';
import { createSessionFactory } from './session-factory.ts';
import type { DoorName, SessionMetrics } from './session-metrics.ts';

export interface UpgradeDoor {
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void;
  close?(): Promise<void>;
}

export class UpgradeRouter {
  private readonly doors = new Map<string, UpgradeDoor>();
  private readonly listeners = new Map<HttpServer | HttpsServer, (request: IncomingMessage, socket: Duplex, head: Buffer) => void>();

  /** auth: the token check for paths no door serves (each door checks its own). */
  constructor(private readonly auth?: TokenAuth) {}

  add(path: string, door: UpgradeDoor): this {
    this.doors.set(normalizedPath(path), door);
    return this;
  }

  /** The normalised paths that have a door. */
  get paths(): string[] {
    return [...this.doors.keys()];
  }

  /** Routes the server's upgrades; with `paths`, only to the doors at those paths (an extra listener for one protocol). */
  attach(server: HttpServer | HttpsServer, paths?: readonly string[]): this {
    const allowed = paths ? new Set(paths.map(normalizedPath)) : null;
    const listener = (request: IncomingMessage, socket: Duplex, head: Buffer) => this.route(request, socket, head, allowed);
    server.on('upgrade', listener);
    this.listeners.set(server, listener);
    return this;
  }

  /** Stops routing and closes every door (their sessions end with 1001). */
  async close(): Promise<void> {
    for (const [server, listener] of this.listeners) server.off('upgrade', listener);
    this.listeners.clear();
    await Promise.all([...this.doors.values()].map((door) => door.close?.()));
  }

  private route(request: IncomingMessage, socket: Duplex, head: Buffer, allowed: Set<string> | null): void {
    // A client that resets mid-handshake must not crash the process with an unhandled 'error'.
    socket.on('error', () => socket.destroy());
    const outcome = normalizeRequestTarget(request.url ?? '/');
    if (!outcome.ok) {
      rejectUpgrade(socket, 400, 'invalid_request_target', outcome.reason);
      return;
    }
    request.url = outcome.target.url;
    const path = outcome.target.path;
    const door = !allowed || allowed.has(path) ? this.doors.get(path) : undefined;
    if (door) {
      door.handleUpgrade(request, socket, head);
      return;
    }
    const refusal = this.auth?.check({ headers: request.headers, url: request.url, protocols: offeredSubprotocols(request) });
    if (refusal) {
      rejectUpgrade(socket, 401, 'invalid_api_key', refusal);
      return;
    }
    const known = this.paths.filter((known) => !allowed || allowed.has(known));
    rejectUpgrade(socket, 404, 'not_found', `no WebSocket endpoint at ${path}; known: ${known.join(', ') || 'none'}`);
  }
}

export interface UpgradeRouterOptions {
  config: Config;
  engines: Engines;
  logger: Logger;
  auth: TokenAuth;
  /** The server's metrics registry; the doors register their metrics on it. */
  registry?: Registry;
  /** Metrics every door's sessions share. */
  sessions?: SessionMetrics;
}

/** The router with every WebSocket door the server has: /v1/realtime, /v1/transcriptions, / (gateway). */
export function createUpgradeRouter(options: UpgradeRouterOptions): UpgradeRouter {
  const { config, engines, logger, auth, registry, sessions } = options;
  const factoryFor = (door: DoorName) => createSessionFactory({ config, engines, ...(sessions && { metrics: { door, sessions } }) });
  const faultsOf = (door: DoorName) => (sessions ? { countFault: () => sessions.recordFault(door) } : {});
  const realtime = new RealtimeDoor({
    auth,
    createSession: factoryFor('realtime'),
    limits: config.realtime,
    logger,
    metrics: createRealtimeMetrics(registry),
    ...faultsOf('realtime'),
  });
  const transcriptions = createTranscriptionsDoor({ auth, createSession: factoryFor('transcriptions'), limits: config.realtime, logger, ...faultsOf('transcriptions') });
  const gateway = createGatewayDoor({
    auth,
    createSession: factoryFor('gateway'),
    limits: config.realtime,
    logger,
    defaults: { rewritePrompt: config.llm.rewritePrompt },
    ...faultsOf('gateway'),
  });
  return new UpgradeRouter(auth).add(REALTIME_PATH, realtime).add(TRANSCRIPTIONS_PATH, transcriptions).add(GATEWAY_PATH, gateway);
}

/** Answers an upgrade with a plain HTTP error and the OpenAI-style JSON error body, then closes the socket. */
export function rejectUpgrade(socket: Duplex, status: number, code: ErrorCode, message: string, param?: string): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify(new SpeechbridgeError(code, message, { status, param }).toBody());
  const headers = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}`,
    'Content-Type: application/json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
    ...(status === 401 ? ['WWW-Authenticate: Bearer'] : []),
  ];
  socket.end(`${headers.join('\r\n')}\r\n\r\n${body}`);
  socket.once('finish', () => socket.destroy());
}

/** A door's path in the form the router keys it by. */
function normalizedPath(path: string): string {
  const outcome = normalizeRequestTarget(path);
  if (!outcome.ok) throw new Error(`cannot route ${path}: ${outcome.reason}`);
  return outcome.target.path;
}
