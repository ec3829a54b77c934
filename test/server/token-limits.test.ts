/**
 * Per-token limits as clients meet them: MAX_SESSIONS_PER_TOKEN on every door (realtime,
 * gateway, /v1/transcriptions, Socket.IO) and MAX_REQUESTS_PER_MINUTE on the HTTP API, each a
 * 429 / `rate_limit_exceeded`; per process without Redis, across servers with a real
 * redis-server, falling back to per-process counts with one warning while Redis is away, and
 * shared again when it is back. Sessions opened with a client secret count against the token
 * that minted it.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import { io } from 'socket.io-client';
import { startServer, type RunningServer } from '../../src/server/app.ts';
import { loadConfig } from '../../src/server/config.ts';
import { createLogger } from '../../src/server/logging.ts';
import { RealtimeClient } from '../e2e/realtime-harness.ts';
import { eventually } from '../helpers/eventually.ts';
import { tryUpgrade } from '../helpers/realtime-refusal.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';
import { assembleProviders } from '../helpers/server.ts';

const TOKEN = 'limits-token-a';
const OTHER = 'limits-token-b';
const SECRET_KEY = 'token-limits-test-signing-key-0123456789';

interface LoggedServer extends RunningServer {
  logs: Array<{ level: number; msg: string }>;
}

async function start(env: Record<string, string>): Promise<LoggedServer> {
  const config = loadConfig({ SERVER_NAME: '127.0.0.1', SERVER_PORT: '0', API_TOKENS: `${TOKEN},${OTHER}`, SECRET_KEY, ...env });
  const logs: Array<{ level: number; msg: string }> = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) logs.push(JSON.parse(line));
      done();
    },
  });
  const server = await startServer({ config, providers: assembleProviders({}), logger: createLogger('info', 'json', destination) });
  return Object.assign(server, { logs });
}

const wsUrl = (server: RunningServer, path: string) => `${server.url.replace(/^http/, 'ws')}${path}`;
const realtime = (server: RunningServer) => wsUrl(server, '/v1/realtime?model=gpt-realtime');

async function openRealtime(server: RunningServer, token: string): Promise<RealtimeClient> {
  const client = await RealtimeClient.connect(realtime(server), { protocols: ['realtime'], headers: { authorization: `Bearer ${token}` } });
  await client.next('session.created', 5000);
  return client;
}

async function assertRefused(url: string, token: string, protocols?: string[]): Promise<void> {
  const outcome = await tryUpgrade(url, token, protocols);
  if (outcome.opened) outcome.socket.close();
  assert.ok(!outcome.opened, `${url} refused`);
  assert.equal(outcome.status, 429);
  assert.equal(outcome.body.error?.code, 'rate_limit_exceeded');
  assert.match(outcome.body.error?.message ?? '', /MAX_SESSIONS_PER_TOKEN/);
}

test('without Redis: the session limit per token in this process, on every door, a place given back when a session ends', async () => {
  const server = await start({ MAX_SESSIONS_PER_TOKEN: '1' });
  try {
    const first = await openRealtime(server, TOKEN);
    await assertRefused(realtime(server), TOKEN);
    await assertRefused(wsUrl(server, '/v1/transcriptions'), TOKEN, []);
    await assertRefused(wsUrl(server, '/'), TOKEN, []);
    const socket = io(`${server.url}/realtime`, { auth: { token: TOKEN }, reconnection: false, forceNew: true });
    const refusal = await new Promise<Error & { data?: { code?: string } }>((resolve, reject) => {
      socket.once('connect_error', resolve);
      socket.once('connect', () => reject(new Error('a second session opened over Socket.IO')));
    });
    socket.close();
    assert.equal(refusal.data?.code, 'rate_limit_exceeded');
    // Another token has its own allowance.
    const other = await openRealtime(server, OTHER);
    await other.close();
    // A client secret's sessions count against the token that minted it.
    const minted = await fetch(`${server.url}/v1/realtime/client_secrets`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: '{}',
    });
    const { value } = (await minted.json()) as { value: string };
    await assertRefused(realtime(server), value);
    await first.close();
    const withSecret = await eventually('a place after the close', async () => {
      const outcome = await tryUpgrade(realtime(server), value);
      return outcome.opened ? outcome.socket : undefined;
    });
    withSecret.close();
  } finally {
    await server.close();
  }
});

test('without Redis: MAX_REQUESTS_PER_MINUTE answers 429 rate_limit_exceeded with Retry-After; health checks and other tokens are not counted', async () => {
  const server = await start({ MAX_REQUESTS_PER_MINUTE: '3' });
  try {
    const models = (token: string) => fetch(`${server.url}/v1/models`, { headers: { authorization: `Bearer ${token}` } });
    for (let i = 0; i < 3; i += 1) assert.equal((await models(TOKEN)).status, 200);
    const refused = await models(TOKEN);
    assert.equal(refused.status, 429);
    const retryAfter = Number(refused.headers.get('retry-after'));
    assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
    const body = (await refused.json()) as { error: { code: string; type: string } };
    assert.deepEqual([body.error.code, body.error.type], ['rate_limit_exceeded', 'rate_limit_error']);
    assert.equal((await models(OTHER)).status, 200);
    for (const path of ['/healthz', '/readyz', '/']) assert.equal((await fetch(`${server.url}${path}`)).status, 200, path);
    assert.equal((await fetch(`${server.url}/v1/models`)).status, 401, 'no token: refused for that, using nobody’s allowance');
  } finally {
    await server.close();
  }
});

test('/healthz and /readyz without Redis: both 200, Redis "not configured"', async () => {
  const server = await start({});
  try {
    assert.deepEqual(await (await fetch(`${server.url}/healthz`)).json(), { status: 'ok' });
    assert.deepEqual(await (await fetch(`${server.url}/readyz`)).json(), { status: 'ready', checks: { engines: 'ok', redis: 'not configured' } });
  } finally {
    await server.close();
  }
});

let redis: TestRedis;
let serverA: LoggedServer;
let serverB: LoggedServer;

before(async () => {
  redis = await startRedis();
});

after(async () => {
  await Promise.all([serverA?.close(), serverB?.close()]);
  await redis?.stop();
});

test('with Redis: session and request limits hold across two servers; losing Redis falls back to per-process counts once, its return restores the shared ones', async () => {
  const env = { REDIS_URL: redis.url, MAX_SESSIONS_PER_TOKEN: '2', MAX_REQUESTS_PER_MINUTE: '4', SESSION_LEASE_SECONDS: '5' };
  [serverA, serverB] = await Promise.all([start(env), start(env)]);
  const models = (server: RunningServer) => fetch(`${server.url}/v1/models`, { headers: { authorization: `Bearer ${OTHER}` } });
  assert.deepEqual(
    [(await models(serverA)).status, (await models(serverB)).status, (await models(serverA)).status, (await models(serverB)).status],
    [200, 200, 200, 200],
  );
  assert.equal((await models(serverA)).status, 429, 'the fifth request this minute, whichever server takes it');

  const onA = await openRealtime(serverA, TOKEN);
  const onB = await openRealtime(serverB, TOKEN);
  await assertRefused(realtime(serverA), TOKEN);
  await assertRefused(realtime(serverB), TOKEN);

  await redis.stop();
  const down = await eventually('/readyz 503', async () => {
    const response = await fetch(`${serverA.url}/readyz`);
    return response.status === 503 ? ((await response.json()) as { reason: string }) : undefined;
  });
  assert.equal(down.reason, 'redis unreachable');
  // Per process now: A holds one of two, so one more opens on A, and a third is refused there.
  const extra = await openRealtime(serverA, TOKEN);
  await assertRefused(realtime(serverA), TOKEN);
  // Requests too: B counts on its own, from zero.
  assert.equal((await models(serverB)).status, 200);
  await extra.close();
  assert.equal(serverA.logs.filter((line) => /Redis is unreachable/.test(line.msg)).length, 1, 'one warning per outage');

  await redis.start();
  await eventually('Redis back on A', async () => ((await fetch(`${serverA.url}/readyz`)).status === 200 ? true : undefined));
  await eventually('Redis back on B', async () => ((await fetch(`${serverB.url}/readyz`)).status === 200 ? true : undefined));
  assert.ok(serverA.logs.some((line) => /Redis is reachable again/.test(line.msg)));
  // The restarted Redis is empty: the live sessions are registered again at once, so the limit holds.
  await eventually('the shared session limit again', async () => {
    const outcome = await tryUpgrade(realtime(serverB), TOKEN);
    if (outcome.opened) outcome.socket.close();
    return outcome.opened ? undefined : outcome;
  });
  await assertRefused(realtime(serverA), TOKEN);
  onA.send({ type: 'session.update', session: { type: 'realtime', instructions: 'still here' } });
  assert.equal((await onA.next('session.updated', 5000)).session.instructions, 'still here');
  await Promise.all([onA.close(), onB.close()]);
  // Places given back on both servers.
  const again = [await openRealtime(serverA, TOKEN), await openRealtime(serverB, TOKEN)];
  await Promise.all(again.map((client) => client.close()));
});

test('a Redis that hangs rather than goes away: new sessions are not held up for it, and the shared count comes back when it answers', async () => {
  const onA = await openRealtime(serverA, TOKEN);
  redis.pause();
  try {
    // Each Redis call gives up after a second; then A counts its own sessions (one of two).
    const extra = await openRealtime(serverA, TOKEN);
    await assertRefused(realtime(serverA), TOKEN);
    await extra.close();
    const down = await fetch(`${serverA.url}/readyz`);
    assert.equal(down.status, 503);
  } finally {
    redis.resume();
  }
  await eventually('/readyz ready again', async () => ((await fetch(`${serverA.url}/readyz`)).status === 200 ? true : undefined));
  assert.ok(serverA.logs.filter((line) => /Redis is reachable again/.test(line.msg)).length >= 2, 'the hang was noticed and its end too');
  // Shared again: B sees A's session (and one of its own), so B's second is refused.
  const onB = await openRealtime(serverB, TOKEN);
  await eventually('the shared limit on B', async () => {
    const outcome = await tryUpgrade(realtime(serverB), TOKEN);
    if (outcome.opened) outcome.socket.close();
    return outcome.opened ? undefined : outcome;
  });
  await Promise.all([onA.close(), onB.close()]);
});
