/**
 * The browser demo page: the files in `web/` served at `/demo/` (and `/static/`), with `/demo`
 * redirected to `/demo/`. Plain HTML, CSS and ES modules, no build step; everything the page
 * loads comes from the gateway, which its Content-Security-Policy enforces. Public (no token
 * needed with API_TOKENS set): the page asks for the token and sends it on the WebSocket.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { normalizeRequestTarget } from '../protocols/request-target.ts';

export const WEB_ROOT = fileURLToPath(new URL('../../web/', import.meta.url));
export const DEMO_PATH = '/demo/';

/**
 * 'self' only: no CDN, no inline script or style. connect-src 'self' covers ws:/wss: to the
 * same host (CSP level 3), which is the only socket the page opens. data: images are the
 * empty favicon.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

export async function registerWebRoutes(app: FastifyInstance): Promise<void> {
  if (!existsSync(`${WEB_ROOT}index.html`)) {
    throw new Error(`the browser demo page is missing: ${WEB_ROOT}index.html not found (reinstall speechbridge with its web/ folder)`);
  }
  const setHeaders = (reply: FastifyReply) => {
    reply.header('content-security-policy', CONTENT_SECURITY_POLICY);
    reply.header('x-content-type-options', 'nosniff');
    // Revalidate every load, so a page open during an upgrade picks up the new scripts.
    reply.header('cache-control', 'no-cache');
  };
  await app.register(async (scope) => {
    scope.addHook('onRoute', (route) => {
      route.config = { ...route.config, public: true };
    });
    await scope.register(fastifyStatic, { root: WEB_ROOT, prefix: DEMO_PATH, index: 'index.html', cacheControl: false, setHeaders });
    // A second instance must not decorate the reply again.
    await scope.register(fastifyStatic, { root: WEB_ROOT, prefix: '/static/', index: false, cacheControl: false, setHeaders, decorateReply: false });
    // `/demo/` reaches the router as `/demo` (a trailing slash is dropped, src/protocols/request-target.ts),
    // so the directory URL is told apart here: the page's relative links need the browser at /demo/.
    scope.get('/demo', async (request, reply) => {
      const asSent = normalizeRequestTarget(request.originalUrl);
      if (asSent.ok && asSent.target.trailingSlash) return reply.sendFile('index.html');
      return reply.redirect(DEMO_PATH, 301);
    });
  });
}
