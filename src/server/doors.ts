/**
 * The server's doors, wired: each WebSocket door on the UpgradeRouter (/v1/realtime,
 * /v1/transcriptions, / for the gateway) and the Socket.IO door on both routers, each with a
 * session factory over the configured providers, the door limits from the configuration and the
 * metrics every door's sessions share.
 */
import type { ServerOptions as SocketIoServerOptions } from 'socket.io';
import { GATEWAY_PATH, createGatewayDoor } from '../protocols/gateway/gateway-door.ts';
import { REALTIME_PATH, createRealtimeDoor } from '../protocols/openai-realtime/realtime-door.ts';
import { SOCKETIO_PATH, SocketIoDoor } from '../protocols/socketio/socketio-door.ts';
import { TRANSCRIPTIONS_PATH, createTranscriptionsDoor } from '../protocols/transcriptions/transcriptions-door.ts';
import type { SessionAdmission } from '../protocols/session-admission.ts';
import { UpgradeRouter } from '../protocols/upgrade-router.ts';
import type { TokenAuth } from './auth.ts';
import type { Config } from './config.ts';
import type { Providers } from './providers.ts';
import type { Logger } from './logging.ts';
import type { RequestRouter } from './request-router.ts';
import { createSessionFactory } from './session-factory.ts';
import type { DoorName, SessionMetrics } from './session-metrics.ts';

export interface UpgradeRouterOptions {
  config: Config;
  providers: Providers;
  logger: Logger;
  auth: TokenAuth;
  /** Metrics every door's sessions share. */
  sessions?: SessionMetrics;
  /** MAX_SESSIONS_PER_TOKEN, on every door. */
  admission?: SessionAdmission;
}

/** The router with every WebSocket door the server has: /v1/realtime, /v1/transcriptions, / (gateway). */
export function createUpgradeRouter(options: UpgradeRouterOptions): UpgradeRouter {
  const { config, providers, logger, auth, sessions, admission } = options;
  const limited = admission ? { admission } : {};
  const factoryFor = (door: DoorName) => createSessionFactory({ config, providers, ...(sessions && { metrics: { door, sessions } }) });
  const metricsOf = (door: DoorName) => (sessions ? { metrics: sessions.forDoor(door) } : {});
  const realtime = createRealtimeDoor({ auth, createSession: factoryFor('realtime'), limits: config.realtime, logger, ...metricsOf('realtime'), ...limited });
  const transcriptions = createTranscriptionsDoor({
    auth,
    createSession: factoryFor('transcriptions'),
    limits: config.realtime,
    logger,
    ...metricsOf('transcriptions'),
    ...limited,
  });
  const gateway = createGatewayDoor({
    auth,
    createSession: factoryFor('gateway'),
    limits: config.realtime,
    logger,
    defaults: { rewritePrompt: config.llm.rewritePrompt },
    ...metricsOf('gateway'),
    ...limited,
  });
  return new UpgradeRouter(auth).add(REALTIME_PATH, realtime).add(TRANSCRIPTIONS_PATH, transcriptions).add(GATEWAY_PATH, gateway);
}

export interface SocketIoWiring extends UpgradeRouterOptions {
  /** The Socket.IO adapter (Redis Streams with REDIS_URL). */
  adapter?: SocketIoServerOptions['adapter'];
}

/** Creates the door, routes its WebSocket upgrades (UpgradeRouter) and polling requests (RequestRouter, ahead of fastify), and returns it. */
export function registerSocketIoDoor(
  upgrades: UpgradeRouter,
  requests: RequestRouter,
  { config, providers, logger, auth, sessions, admission, adapter }: SocketIoWiring,
): SocketIoDoor {
  const { transcriber, responder, synthesizer } = providers.summary;
  const door = new SocketIoDoor({
    auth,
    createSession: createSessionFactory({ config, providers, ...(sessions && { metrics: { door: 'socketio', sessions } }) }),
    limits: config.realtime,
    logger,
    engineName: `${transcriber.engine}+${responder.engine}+${synthesizer.engine}`,
    corsOrigins: config.corsOrigins,
    ...(sessions && { metrics: sessions.forDoor('socketio') }),
    ...(admission && { admission }),
    ...(adapter && { adapter }),
  });
  upgrades.add(SOCKETIO_PATH, door);
  requests.add(SOCKETIO_PATH, door);
  return door;
}
