/**
 * MAX_REQUESTS_PER_MINUTE: HTTP API requests per API token per minute (fixed one-minute
 * windows, rate-limiter-flexible). With REDIS_URL the count is shared by every instance
 * (RateLimiterRedis, one Lua increment per request); without, or while Redis is unreachable or
 * slower than REDIS_COMMAND_TIMEOUT_MS, each process counts on its own (the in-memory
 * limiter as rate-limiter-flexible's insurance), as SessionLeases does.
 *
 * It runs after the token check, so a request without a valid token uses nobody's allowance,
 * and only on routes that need a token: the health checks, the demo page and a public /metrics
 * are never limited. Socket.IO long-polling is a session's transport, bounded by the session
 * limit instead. Over the limit: 429 `rate_limit_exceeded` with Retry-After in seconds.
 */
import type { FastifyInstance } from 'fastify';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { SpeechbridgeError } from '../errors/registry.ts';
import type { TokenAuth } from './auth.ts';
import { REDIS_COMMAND_TIMEOUT_MS, type RedisConnection } from './redis-connection.ts';

const WINDOW_S = 60;

export interface RequestRateLimitOptions {
  auth: TokenAuth;
  perMinute: number;
  redis?: RedisConnection;
}

export function registerRequestRateLimit(app: FastifyInstance, { auth, perMinute, redis }: RequestRateLimitOptions): void {
  if (perMinute <= 0) return;
  const local = new RateLimiterMemory({ points: perMinute, duration: WINDOW_S, keyPrefix: 'requests' });
  const shared = redis
    ? new RateLimiterRedis({
        storeClient: redis.client,
        useRedisPackage: true,
        rejectIfRedisNotReady: true,
        points: perMinute,
        duration: WINDOW_S,
        keyPrefix: 'speechbridge:requests',
        insuranceLimiter: local,
      })
    : undefined;

  const consume = async (owner: string): Promise<void> => {
    if (!shared || !redis?.ready) {
      await local.consume(owner);
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    const slow = new Promise<'slow'>((resolve) => {
      timer = setTimeout(resolve, REDIS_COMMAND_TIMEOUT_MS, 'slow');
    });
    try {
      const outcome = await Promise.race([shared.consume(owner), slow]);
      if (outcome === 'slow') {
        redis.markDown(new Error(`Redis did not answer within ${REDIS_COMMAND_TIMEOUT_MS} ms`));
        await local.consume(owner);
      }
    } finally {
      clearTimeout(timer);
    }
  };

  app.addHook('onRequest', async (request, reply) => {
    if (request.routeOptions.config?.public === true) return;
    const owner = auth.ownerOf({ headers: request.headers });
    try {
      await consume(owner);
    } catch (rejection) {
      if (!(rejection instanceof RateLimiterRes)) return; // The store failed with no insurance left: fail open.
      const retryAfterS = Math.max(1, Math.ceil(rejection.msBeforeNext / 1000));
      reply.header('retry-after', String(retryAfterS));
      throw new SpeechbridgeError(
        'rate_limit_exceeded',
        `this API token made ${perMinute} requests this minute (MAX_REQUESTS_PER_MINUTE); retry in ${retryAfterS} s`,
      );
    }
  });
}
