/**
 * The token check for plain HTTP requests. It runs as an onRequest hook, after fastify has
 * routed the request on its normalised path (src/server/request-router.ts), and judges the
 * route fastify picked rather than a path string of its own, so the two cannot disagree.
 *
 * With API_TOKENS set, every route needs a token unless it was registered with
 * `config: { public: true }`: the health check `GET /`, the demo page and its files, and
 * `/metrics` with METRICS_PUBLIC=true. A path with no route needs one too, so its 404 tells a
 * caller without a token nothing. CORS preflights carry no token and are answered by
 * @fastify/cors in its own onRequest hook, registered before this one.
 */
import type { FastifyInstance } from 'fastify';
import { SpeechbridgeError } from '../errors/registry.ts';
import type { TokenAuth } from './auth.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Served without a token even when API_TOKENS is set. */
    public?: boolean;
  }
}

export function registerTokenCheck(app: FastifyInstance, auth: TokenAuth): void {
  app.addHook('onRequest', async (request) => {
    if (request.routeOptions.config?.public === true) return;
    const refusal = auth.checkHttp(request.headers, request.url);
    if (refusal) throw new SpeechbridgeError('invalid_api_key', refusal);
  });
}
