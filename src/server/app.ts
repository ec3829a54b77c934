/**
 * The composition root: HTTP routes, auth, metrics and error handling around the providers.
 * Holds no speech logic.
 */
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import cors from '@fastify/cors';
import multipart from '@fastify/multipart';
import type { Server as EngineServer } from 'engine.io';
import Fastify, { LogController, type FastifyInstance, type RouteOptions } from 'fastify';
import type { ServerOptions as SocketIoOptions } from 'socket.io';
import { SpeechbridgeError } from '../errors/registry.ts';
import { registerBodyLimit } from '../protocols/http/body-limit.ts';
import { errorHandler } from '../protocols/http/error-reply.ts';
import { registerModelsRoute } from '../protocols/http/models-route.ts';
import { MULTIPART_FIELD_LIMITS } from '../protocols/http/multipart.ts';
import { registerSpeechRoute } from '../protocols/http/speech-route.ts';
import { registerTranscriptionsRoute } from '../protocols/http/transcriptions-route.ts';
import { registerTtsProxyRoute } from '../protocols/http/tts-proxy-route.ts';
import { registerUploadRoute } from '../protocols/http/upload-route.ts';
import { registerClientSecretsRoute } from '../protocols/openai-realtime/client-secrets-route.ts';
import type { UpgradeRouter } from '../protocols/upgrade-router.ts';
import { DiarizationClient } from '../providers/diarization-client.ts';
import { TranslationCache } from '../providers/translation-cache.ts';
import { Translator } from '../providers/translator.ts';
import { TokenAuth } from './auth.ts';
import { CapacityGuard } from './capacity-guard.ts';
import { createAdapter as createRedisStreamsAdapter } from '@socket.io/redis-streams-adapter';
import { ClientSecretSigner } from './client-secrets.ts';
import type { Config } from './config.ts';
import { createUpgradeRouter, registerSocketIoDoor } from './doors.ts';
import type { Providers } from './providers.ts';
import { registerHealthRoutes } from './health-routes.ts';
import { registerTokenCheck } from './http-auth.ts';
import type { Logger } from './logging.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { timedProviders } from './provider-metrics.ts';
import { RedisConnection } from './redis-connection.ts';
import { registerRequestRateLimit } from './request-rate-limit.ts';
import { RequestRouter } from './request-router.ts';
import { SessionLeases } from './session-leases.ts';
import { sessionDefaultsOf } from './session-factory.ts';
import { type GatewayListener, openGatewayListener } from './gateway-listener.ts';
import { createSessionMetrics } from './session-metrics.ts';
import { VERSION } from './version.ts';
import { registerWebRoutes } from './web-routes.ts';

export interface AppOptions {
  config: Config;
  providers: Providers;
  logger: Logger;
  /** The server's metrics (GET /metrics); default: a new registry. */
  metrics?: Metrics;
  /** What GET /metrics answers (a cluster worker: every worker's metrics summed); default: `metrics`' registry. */
  metricsText?: () => Promise<string>;
  /** The Socket.IO adapter between processes (a cluster worker's). */
  socketIoAdapter?: SocketIoOptions['adapter'];
  /** Told when the server goes over capacity (MAX_EVENT_LOOP_UTILIZATION) or back under it (a cluster worker tells its primary). */
  onCapacityChange?: (overloaded: boolean) => void;
}

export interface StartOptions extends AppOptions {
  /**
   * A Unix socket to listen on instead of SERVER_NAME:SERVER_PORT: a cluster worker's, whose
   * connections the primary hands over (src/server/cluster-primary.ts). It listens all the
   * same, so its connections get the server's timeouts and its close waits for them.
   */
  listenPath?: string;
}

export interface RunningServer {
  app: FastifyInstance;
  /** Base URL clients use, e.g. http://127.0.0.1:8080. */
  url: string;
  port: number;
  /** The extra gateway listener (GATEWAY_HOST / GATEWAY_PORT), when configured. */
  gateway?: { port: number; url: string };
  /** What GET /metrics serves; the serve command counts process faults here. */
  metrics: Metrics;
  /** The Socket.IO door's engine.io server (a cluster worker reports its connections to the primary). */
  socketIoEngine: EngineServer;
  close(): Promise<void>;
}

/** What a server serves: its HTTP routes (as fastify registered them) and its WebSocket paths. */
export interface ServedPaths {
  http: Array<{ method: string; url: string; public: boolean }>;
  websocket: string[];
}

const servedPathSources = new WeakMap<FastifyInstance, { routes: RouteOptions[]; upgrades?: UpgradeRouter }>();

/** Every route and WebSocket path of a server's app (the auth tests walk them all). */
export function servedPaths(app: FastifyInstance): ServedPaths {
  const sources = servedPathSources.get(app);
  if (!sources) throw new Error('not an app made by startServer');
  const http = sources.routes.flatMap((route) => [route.method].flat().map((method) => ({ method, url: route.url, public: route.config?.public === true })));
  return { http, websocket: sources.upgrades?.paths ?? [] };
}

/** The app and its WebSocket router, which an extra listener shares. */
async function buildApp({
  config,
  providers: built,
  logger,
  metrics = createMetrics(),
  metricsText,
  socketIoAdapter,
  onCapacityChange,
}: AppOptions): Promise<{ app: FastifyInstance; upgrades: UpgradeRouter; socketIoEngine: EngineServer }> {
  // Every provider call the server makes is timed here, once (speechbridge_provider_seconds).
  const providers = timedProviders(built, metrics.registry);
  const tls = config.server.tls;
  const app = Fastify({
    loggerInstance: logger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
    ...(tls ? { https: { cert: readFileSync(tls.certPath), key: readFileSync(tls.keyPath) } } : {}),
  }) as unknown as FastifyInstance;

  const served: { routes: RouteOptions[]; upgrades?: UpgradeRouter } = { routes: [] };
  servedPathSources.set(app, served);
  // The route objects themselves: a plugin's own onRoute hook (the demo page's) may still set their config.
  app.addHook('onRoute', (route) => {
    served.routes.push(route);
  });

  // Shared state for several instances: per-token limits and the Socket.IO adapter (src/server/redis-connection.ts says what happens without it).
  const redis = config.redisUrl ? new RedisConnection(config.redisUrl, logger) : undefined;
  await redis?.start();
  const secrets = new ClientSecretSigner({ keys: config.secretKeys });
  const auth = new TokenAuth(config.apiTokens, secrets);
  const { maxSessions, maxRequestsPerMinute, sessionLeaseMs } = config.tokenLimits;
  const leases = new SessionLeases({ auth, maxSessions, leaseMs: sessionLeaseMs, redis });
  const capacity = new CapacityGuard({
    maxUtilization: config.maxEventLoopUtilization,
    ...(maxSessions > 0 && { next: leases }),
    registry: metrics.registry,
    ...(onCapacityChange && { onChange: onCapacityChange }),
  });
  const admission = config.maxEventLoopUtilization > 0 ? capacity : maxSessions > 0 ? leases : undefined;
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onClose', async () => {
    leases.close();
    capacity.close();
    await redis?.close();
  });
  // Before the token check: a browser's preflight (OPTIONS) carries no token and must be answered.
  if (config.corsOrigins === '*' || config.corsOrigins.length > 0) {
    await app.register(cors, {
      origin: config.corsOrigins === '*' ? '*' : config.corsOrigins,
      methods: ['GET', 'POST', 'OPTIONS'],
      // No allowedHeaders: the preflight's requested headers are allowed (the OpenAI SDK sends its own x-stainless-* ones).
      maxAge: 600,
    });
  }
  await app.register(multipart, {
    limits: { fileSize: config.maxUploadBytes, ...MULTIPART_FIELD_LIMITS },
    throwFileSizeLimit: true,
  });

  app.setErrorHandler(errorHandler(config.maxUploadBytes));
  // Thrown, so the error handler answers it (and does not read a body still arriving).
  app.setNotFoundHandler(async (request) => {
    throw new SpeechbridgeError('not_found', `no route ${request.method} ${request.url.split('?')[0]}`);
  });

  registerTokenCheck(app, auth);
  registerRequestRateLimit(app, { auth, perMinute: maxRequestsPerMinute, redis });
  // After the token check: a caller without a token learns nothing about the limits.
  registerBodyLimit(app);
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unknown';
    metrics.httpRequests.inc({ route, status: String(reply.statusCode) });
    metrics.httpDuration.observe({ route }, reply.elapsedTime / 1000);
  });

  // WebSocket doors (/v1/realtime): closed before the HTTP server so their sessions end with 1001.
  const sessions = createSessionMetrics(metrics.registry);
  const upgrades = createUpgradeRouter({ config, providers, logger, auth, sessions, admission }).attach(app.server);
  served.upgrades = upgrades;
  const requests = new RequestRouter().attach(app.server);
  // With Redis the Redis Streams adapter spans every instance and worker; else a worker's cluster adapter spans its workers.
  const adapter = redis
    ? createRedisStreamsAdapter(redis.adapterClient(), { streamName: 'speechbridge:socket.io', channelPrefix: 'speechbridge:socket.io' })
    : socketIoAdapter;
  const socketIo = registerSocketIoDoor(upgrades, requests, {
    config,
    providers,
    logger,
    auth,
    sessions,
    admission,
    ...(adapter && { adapter }),
  });
  app.addHook('preClose', async () => upgrades.close());

  app.get('/', { config: { public: true } }, async () => ({ status: 'ok', name: 'speechbridge', version: VERSION, engines: providers.summary }));
  registerHealthRoutes(app, { redis, closing: () => closing, capacity });
  const exposition = metricsText ?? (() => metrics.registry.metrics());
  app.get('/metrics', { config: { public: config.metricsPublic } }, async (_request, reply) =>
    reply.type(metrics.registry.contentType).send(await exposition()),
  );
  registerTranscriptionsRoute(app, providers.transcriber, config.maxUploadBytes);
  registerSpeechRoute(app, providers.synthesizer, config.tts.voice, config.limits.maxResponseAudioMs);
  registerModelsRoute(app, providers.summary);
  registerUploadRoute(app, {
    transcriber: providers.transcriber,
    translator: new Translator(providers.responder, new TranslationCache(config.maxCacheSize)),
    diarizer: config.diarization.url
      ? new DiarizationClient({ url: config.diarization.url, token: config.diarization.token, timeoutMs: config.requestTimeoutMs })
      : undefined,
    maxUploadBytes: config.maxUploadBytes,
  });
  registerTtsProxyRoute(app, providers.synthesizer, config.tts.voice, config.limits.maxResponseAudioMs);
  registerClientSecretsRoute(app, {
    secrets,
    defaults: sessionDefaultsOf(config),
    responderModes: providers.responder.capabilities.modes,
    ownerOf: (headers) => auth.ownerOf({ headers }),
  });
  await registerWebRoutes(app);
  return { app, upgrades, socketIoEngine: socketIo.engineServer };
}

/** How long a shutdown waits for HTTP requests in flight before it closes their connections. */
const SHUTDOWN_GRACE_MS = 5000;

export async function startServer(options: StartOptions): Promise<RunningServer> {
  const metrics = options.metrics ?? createMetrics();
  const { app, upgrades, socketIoEngine } = await buildApp({ ...options, metrics });
  const { server: serverConfig } = options.config;
  // Fastify logs a "Server listening at" line per network interface at info level; the caller
  // prints the one URL clients use, so only warnings and errors pass while it listens.
  const level = app.log.level;
  app.log.level = 'warn';
  try {
    await app.listen(options.listenPath === undefined ? { host: serverConfig.host, port: serverConfig.port } : { path: options.listenPath, exclusive: true });
  } catch (error) {
    // Its Redis connection (and whatever else it opened) must not outlive it.
    await app.close().catch(() => undefined);
    throw error;
  } finally {
    app.log.level = level;
  }
  // A worker's Unix socket has no port: the primary's address is the one clients use.
  const address = (
    options.listenPath === undefined ? app.server.address() : { address: serverConfig.host, port: serverConfig.port, family: 'IPv4' }
  ) as AddressInfo;
  const scheme = serverConfig.tls ? 'https' : 'http';
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const clientHost = host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host;
  const url = `${scheme}://${clientHost}:${address.port}`;
  let gateway: GatewayListener | undefined;
  if (serverConfig.gatewayListener) {
    try {
      gateway = await openGatewayListener({ ...serverConfig.gatewayListener, tls: serverConfig.tls, router: upgrades, apiUrl: url });
    } catch (error) {
      await app.close();
      throw error;
    }
  }
  return {
    app,
    port: address.port,
    metrics,
    socketIoEngine,
    url,
    ...(gateway && { gateway: { port: gateway.port, url: gateway.url } }),
    close: async () => {
      // Requests in flight get this long to finish; a connection that never sent one (a
      // browser's preconnect, a half-open client) would otherwise hold the close for the
      // 60 s headers timeout.
      const force = setTimeout(() => {
        app.server.closeAllConnections();
        if (gateway && 'closeAllConnections' in gateway.server) gateway.server.closeAllConnections();
      }, SHUTDOWN_GRACE_MS);
      force.unref();
      // The extra listener stops accepting first; its sessions end with the door's, in app.close().
      const gatewayClosed = gateway?.close();
      try {
        await app.close();
        await gatewayClosed;
      } finally {
        clearTimeout(force);
      }
    },
  };
}
