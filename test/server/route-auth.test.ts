/**
 * No spelling of a path reaches a protected handler without a token. Every HTTP route the
 * server registers (read from fastify, so a new route is covered without touching this file)
 * and every WebSocket path is asked for under many spellings — percent-encoded letters, `%2e%2e`
 * dot segments, `//`, an absolute-form target, a trailing slash, other letter case — over raw
 * TCP sockets, since fetch would normalise them first. Without a token each is refused with
 * 401; with one each spelling is answered as the plain path is; public paths stay public.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import { io } from 'socket.io-client';
import { servedPaths, startServer, type RunningServer } from '../../src/server/app.ts';
import { loadConfig } from '../../src/server/config.ts';
import { createLogger } from '../../src/server/logging.ts';
import { assembleProviders, startTestServer } from '../helpers/server.ts';
import { rawRequest, rawUpgrade } from '../helpers/raw-http.ts';

const TOKEN = 'route-auth-token-5d1c';
const BEARER = { authorization: `Bearer ${TOKEN}` };
let server: RunningServer;

before(async () => {
  server = await startTestServer({}, { API_TOKENS: TOKEN });
});

after(async () => {
  await server?.close();
});

/** Spellings that name the same path (the router and the token check must both see `path`). */
function sameRouteSpellings(path: string): string[] {
  const segments = path.split('/').slice(1);
  const encodeAll = (text: string) => text.replace(/[A-Za-z0-9]/g, (char) => `%${char.charCodeAt(0).toString(16)}`);
  const spellings = [
    `/${segments.map(encodeAll).join('/')}`,
    // One letter only, upper-case hex: /v%31/models.
    path.replace(/[A-Za-z0-9](?=[^/]*$)/, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`),
    `/x/%2e%2e${path}`,
    `/demo/%2E%2E${path}`,
    `/static/..${path}`,
    `/./${path.slice(1)}`,
    `//${segments.join('//')}`,
    `http://evil.example${path}`,
    `http://evil.example:8080/${path.slice(1)}`,
  ];
  if (path !== '/') spellings.push(`${path}/`, `${path}/.`, `${path}/x/..`);
  return [...new Set(spellings.filter((spelling) => spelling !== path))];
}

/** A concrete path for a route pattern: a real model id for `:id`, a real file for `*`. */
async function concretePath(url: string): Promise<string> {
  if (url.includes(':id')) {
    const models = (await (await fetch(`${server.url}/v1/models`, { headers: BEARER })).json()) as { data: Array<{ id: string }> };
    return url.replace(':id', models.data[0].id);
  }
  return url.replace('*', 'app.js');
}

const PUBLIC_ROUTES = [
  'GET /',
  'HEAD /',
  'GET /healthz',
  'HEAD /healthz',
  'GET /readyz',
  'HEAD /readyz',
  'GET /demo',
  'HEAD /demo',
  'GET /demo/*',
  'HEAD /demo/*',
  'GET /static/*',
  'HEAD /static/*',
];

test('the public routes are exactly the health checks and the demo page; everything else needs a token', () => {
  const routes = servedPaths(server.app).http;
  assert.ok(routes.length >= 20, `fastify reported the routes (${routes.length})`);
  const publicRoutes = routes.filter((route) => route.public).map((route) => `${route.method} ${route.url}`);
  assert.deepEqual(publicRoutes.sort(), [...PUBLIC_ROUTES].sort());
});

test('every protected HTTP route, under every spelling, answers 401 without a token and as the plain path with one', async () => {
  const routes = servedPaths(server.app).http.filter((route) => !route.public && route.method !== 'OPTIONS');
  let checked = 0;
  for (const route of routes) {
    const path = await concretePath(route.url);
    const plain = await rawRequest(server.port, { method: route.method, target: path, headers: BEARER });
    assert.ok(![401, 404].includes(plain.status), `${route.method} ${path} with a token reaches its handler (${plain.status} ${plain.body.slice(0, 200)})`);
    for (const target of [path, ...sameRouteSpellings(path)]) {
      const refused = await rawRequest(server.port, { method: route.method, target });
      assert.equal(refused.status, 401, `${route.method} ${target} without a token: ${refused.body.slice(0, 200)}`);
      if (route.method !== 'HEAD') assert.equal(JSON.parse(refused.body).error.code, 'invalid_api_key', `${route.method} ${target}`);
      const wrong = await rawRequest(server.port, { method: route.method, target, headers: { authorization: 'Bearer not-the-token' } });
      assert.equal(wrong.status, 401, `${route.method} ${target} with a wrong token`);
      const allowed = await rawRequest(server.port, { method: route.method, target, headers: BEARER });
      assert.equal(allowed.status, plain.status, `${route.method} ${target} with a token is answered as ${path}: ${allowed.body.slice(0, 200)}`);
      checked += 1;
    }
  }
  assert.ok(checked > 150, `spellings checked: ${checked}`);
});

test('other letter case, an escaped slash and unknown paths are no route: 401 without a token, 404 with one', async () => {
  const targets = [
    '/V1/models',
    '/v1/MODELS',
    '/Metrics',
    '/UPLOAD',
    '/v1%2Fmodels',
    '/v1/models%2F',
    '/demo/..%2Fv1%2Fmodels',
    '/DEMO/',
    '/nowhere',
    '/v1/realtime',
    '/socket.io/x',
  ];
  for (const target of targets) {
    const refused = await rawRequest(server.port, { method: 'GET', target });
    // An escaped slash under /demo/ stays a file name there (public), which the file server does not have.
    if (target.startsWith('/demo/')) assert.ok([403, 404].includes(refused.status), `${target}: ${refused.status}`);
    else assert.equal(refused.status, 401, `${target} without a token`);
    const withToken = await rawRequest(server.port, { method: 'GET', target, headers: BEARER });
    assert.equal(withToken.status, 404, `${target} with a token`);
  }
});

test('the public routes stay public under every spelling', async () => {
  for (const url of ['/', '/demo', '/demo/*', '/static/*']) {
    const path = await concretePath(url);
    for (const target of [path, ...sameRouteSpellings(path)]) {
      const answer = await rawRequest(server.port, { method: 'GET', target });
      // /demo redirects to /demo/; /demo/ (and /demo/.) is the page itself.
      assert.ok([200, 301].includes(answer.status), `GET ${target} without a token: ${answer.status} ${answer.body.slice(0, 200)}`);
    }
  }
  const page = await rawRequest(server.port, { method: 'GET', target: '/demo/' });
  assert.equal(page.status, 200);
  assert.match(page.body, /<!doctype html>/i);
  assert.match(page.headers['content-security-policy'] ?? '', /default-src 'self'/, 'the page keeps its policy');
  const redirect = await rawRequest(server.port, { method: 'GET', target: '/demo' });
  assert.deepEqual([redirect.status, redirect.headers.location], [301, '/demo/']);
});

test('a CORS preflight needs no token on any route, under any spelling', async () => {
  for (const target of ['/v1/audio/speech', '/%76%31/audio/speech', 'http://evil.example/v1/realtime/client_secrets', '/upload/']) {
    const answer = await rawRequest(server.port, {
      method: 'OPTIONS',
      target,
      headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' },
    });
    assert.equal(answer.status, 204, target);
    assert.equal(answer.headers['access-control-allow-origin'], '*', target);
  }
});

test('every WebSocket path, under every spelling, is refused with 401 without a token and opens with one', async () => {
  const paths = servedPaths(server.app).websocket;
  assert.deepEqual([...paths].sort(), ['/', '/socket.io', '/v1/realtime', '/v1/transcriptions']);
  for (const path of paths.filter((path) => path !== '/socket.io')) {
    for (const target of [path, ...sameRouteSpellings(path)]) {
      const refused = await rawUpgrade(server.port, target);
      assert.equal(refused.status, 401, `upgrade ${target} without a token: ${refused.body}`);
      assert.equal(JSON.parse(refused.body).error.code, 'invalid_api_key');
      const opened = await rawUpgrade(server.port, target, BEARER);
      assert.equal(opened.status, 101, `upgrade ${target} with a token: ${opened.body}`);
      const byProtocol = await rawUpgrade(server.port, target, { 'sec-websocket-protocol': `openai-insecure-api-key.${TOKEN}` });
      assert.equal(byProtocol.status, 101, `upgrade ${target} with the token subprotocol`);
    }
  }
  for (const target of ['/v1/nowhere', '/V1/realtime', '/v1%2Frealtime', 'http://evil.example/v1/realtimes']) {
    assert.equal((await rawUpgrade(server.port, target)).status, 401, `unknown upgrade path ${target} without a token`);
    assert.equal((await rawUpgrade(server.port, target, BEARER)).status, 404, `unknown upgrade path ${target} with a token`);
  }
});

test('Socket.IO on an encoded or odd path still meets its token check', async () => {
  for (const path of ['/%73ocket.io/', '//socket.io/', '/x/%2e%2e/socket.io/', '/socket.io']) {
    for (const transports of [['polling'], ['websocket']]) {
      const refusal = await new Promise<Error & { data?: { code?: string } }>((resolve, reject) => {
        const socket = io(`${server.url}/realtime`, { path, transports, reconnection: false, forceNew: true, timeout: 10_000 });
        socket.once('connect', () => {
          socket.close();
          reject(new Error(`${path} connected without a token`));
        });
        socket.once('connect_error', (error) => {
          socket.close();
          resolve(error);
        });
      });
      assert.equal(refusal.data?.code, 'invalid_api_key', `${path} over ${transports}: ${refusal.message}`);
      const connected = await new Promise<boolean>((resolve) => {
        const socket = io(`${server.url}/realtime`, { path, transports, auth: { token: TOKEN }, reconnection: false, forceNew: true, timeout: 10_000 });
        socket.once('connect', () => {
          socket.close();
          resolve(true);
        });
        socket.once('connect_error', () => {
          socket.close();
          resolve(false);
        });
      });
      assert.equal(connected, true, `${path} over ${transports} with a token`);
    }
  }
});

test('a malformed percent-encoding is a 400 naming the problem, over HTTP and at an upgrade, and the server goes on', async () => {
  for (const target of ['/v1/%zz/models', '/v1/models%', '/%e0%', '*']) {
    const answer = await rawRequest(server.port, { method: 'GET', target, headers: BEARER });
    assert.equal(answer.status, 400, target);
    const error = JSON.parse(answer.body).error;
    assert.equal(error.code, 'invalid_request_target', target);
    assert.match(error.message, /percent-encoding|not a path/, target);
  }
  const upgrade = await rawUpgrade(server.port, '/v1/realtime%zz', BEARER);
  assert.equal(upgrade.status, 400);
  assert.equal(JSON.parse(upgrade.body).error.code, 'invalid_request_target');
  assert.equal((await fetch(`${server.url}/v1/models`, { headers: BEARER })).status, 200);
});

test('on HTTP routes a query token is refused with a message saying to send the Authorization header', async () => {
  for (const query of [`token=${TOKEN}`, `access_token=${TOKEN}`]) {
    const refused = await fetch(`${server.url}/v1/models?${query}`);
    assert.equal(refused.status, 401, query);
    const error = ((await refused.json()) as { error: { code: string; message: string } }).error;
    assert.equal(error.code, 'invalid_api_key');
    assert.match(error.message, /query string/);
    assert.match(error.message, /Authorization: Bearer/);
    assert.doesNotMatch(error.message, new RegExp(TOKEN));
  }
  const both = await fetch(`${server.url}/v1/models?token=${TOKEN}`, { headers: BEARER });
  assert.equal(both.status, 200, 'the header decides; the query is not looked at');
});

test('/metrics needs a token unless METRICS_PUBLIC=true', async () => {
  assert.equal((await fetch(`${server.url}/metrics`)).status, 401);
  const scraped = await fetch(`${server.url}/metrics`, { headers: BEARER });
  assert.equal(scraped.status, 200);
  assert.match(await scraped.text(), /speechbridge_http_requests_total/);

  const open = await startTestServer({}, { API_TOKENS: TOKEN, METRICS_PUBLIC: 'true' });
  try {
    const publicRoutes = servedPaths(open.app)
      .http.filter((route) => route.public)
      .map((route) => `${route.method} ${route.url}`);
    assert.deepEqual(publicRoutes.sort(), [...PUBLIC_ROUTES, 'GET /metrics', 'HEAD /metrics'].sort());
    for (const target of ['/metrics', '/%6detrics', '/metrics/', 'http://evil.example/metrics']) {
      assert.equal((await rawRequest(open.port, { method: 'GET', target })).status, 200, target);
    }
    assert.equal((await fetch(`${open.url}/v1/models`)).status, 401, 'only /metrics is opened');
  } finally {
    await open.close();
  }
});

test('tokens sent in the query, right or wrong, never appear in the logs', async () => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  const secret = 'log-secret-93be';
  const config = loadConfig({ SERVER_NAME: '127.0.0.1', SERVER_PORT: '0', LOG_LEVEL: 'trace', API_TOKENS: secret });
  const logged = await startServer({ config, providers: assembleProviders({}), logger: createLogger('trace', 'json', sink) });
  try {
    for (const query of [`token=${secret}`, `access_token=${secret}`, 'token=log-secret-wrong']) {
      await rawRequest(logged.port, { method: 'GET', target: `/v1/models?${query}` });
      await rawRequest(logged.port, {
        method: 'POST',
        target: `/v1/audio/transcriptions?${query}`,
        headers: { 'content-type': 'multipart/form-data; boundary=b' },
        body: '--b--\r\n',
      });
      await rawRequest(logged.port, { method: 'GET', target: `/nowhere?${query}` });
      await rawRequest(logged.port, { method: 'GET', target: `/%zz?${query}` });
      await rawUpgrade(logged.port, `/v1/realtime?${query}`);
      await rawUpgrade(logged.port, `/v1/transcriptions?${query}`);
      await rawUpgrade(logged.port, `/?${query}`);
    }
    // With a right bearer header too, so the routes log their own lines.
    await rawRequest(logged.port, {
      method: 'POST',
      target: '/v1/audio/transcriptions',
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'multipart/form-data; boundary=b' },
      body: '--b--\r\n',
    });
  } finally {
    await logged.close();
  }
  const log = lines.join('');
  assert.ok(lines.length > 5, `the server logged (${lines.length} lines)`);
  assert.match(log, /request rejected/, 'refusals are logged');
  assert.doesNotMatch(log, /log-secret/);
});
