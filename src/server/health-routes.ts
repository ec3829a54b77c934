/**
 * Health checks for load balancers and orchestrators, public like `GET /`:
 *
 * - `GET /healthz` — the process is alive and serving HTTP: 200 `{status: "ok"}`. A liveness
 *   probe: failing it means restart the process.
 * - `GET /readyz` — this instance should get new sessions: 200 when its engines are up (they
 *   are built before the server listens) and, with REDIS_URL, Redis answers PING; else 503
 *   `{status: "unavailable", reason}`: "shutting down" while it drains, "redis unreachable"
 *   when Redis does not answer, "over capacity" while MAX_EVENT_LOOP_UTILIZATION refuses new
 *   sessions (src/server/capacity-guard.ts). A readiness probe: failing it means send traffic
 *   elsewhere (live sessions are not touched).
 */
import type { FastifyInstance } from 'fastify';
import type { CapacityGuard } from './capacity-guard.ts';
import type { RedisConnection } from './redis-connection.ts';

export interface HealthRoutesOptions {
  redis?: RedisConnection;
  /** True once the server has begun to shut down. */
  closing(): boolean;
  capacity?: CapacityGuard;
}

export function registerHealthRoutes(app: FastifyInstance, { redis, closing, capacity }: HealthRoutesOptions): void {
  app.get('/healthz', { config: { public: true } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { config: { public: true } }, async (_request, reply) => {
    const checks: Record<string, 'ok' | 'unreachable' | 'not configured'> = { engines: 'ok', redis: 'not configured' };
    if (closing()) return reply.code(503).send({ status: 'unavailable', reason: 'shutting down', checks });
    if (capacity?.overloaded) {
      return reply
        .code(503)
        .send({ status: 'unavailable', reason: 'over capacity', event_loop_utilization: Math.round(capacity.utilization * 100) / 100, checks });
    }
    if (redis) {
      checks.redis = (await redis.ping()) ? 'ok' : 'unreachable';
      if (checks.redis !== 'ok') return reply.code(503).send({ status: 'unavailable', reason: 'redis unreachable', checks });
    }
    return { status: 'ready', checks };
  });
}
