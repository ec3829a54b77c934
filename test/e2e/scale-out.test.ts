/**
 * Two speechbridge instances (the real `serve` command) behind a real HAProxy running
 * deploy/haproxy.cfg, sharing a real redis-server and SECRET_KEY, behave to clients as one
 * server: a client secret minted on one opens a session on the other, Socket.IO polls then
 * upgrades through the balancer, the per-token session limit holds across both, losing an
 * instance touches only its own sessions, and a Redis restart drops nothing and restores the
 * shared limit.
 *
 * The tests run in order on one deployment: each leaves the sessions it opened closed, except
 * where the next one says it uses them.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createClient } from 'redis';
import { RealtimeClient } from './realtime-harness.ts';
import { activeSessions } from '../helpers/metric-samples.ts';
import { eventually } from '../helpers/eventually.ts';
import { startGatewayInstance, type GatewayInstance } from '../helpers/gateway-instance.ts';
import { startHaproxy, stickySocketIo, type TestHaproxy } from '../helpers/haproxy.ts';
import { tryUpgrade } from '../helpers/realtime-refusal.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';

const TOKEN = 'scale-out-token-7f3a';
const SECRET_KEY = 'scale-out-test-signing-key-0123456789abcdef';
const MAX_SESSIONS = 2;
/** Short, so a killed instance's sessions stop counting within the test. */
const LEASE_SECONDS = 2;

let redis: TestRedis;
let instanceA: GatewayInstance;
let instanceB: GatewayInstance;
let haproxy: TestHaproxy;

before(async () => {
  redis = await startRedis();
  const env = {
    API_TOKENS: TOKEN,
    SECRET_KEY,
    REDIS_URL: redis.url,
    MAX_SESSIONS_PER_TOKEN: String(MAX_SESSIONS),
    SESSION_LEASE_SECONDS: String(LEASE_SECONDS),
  };
  [instanceA, instanceB] = await Promise.all([startGatewayInstance(env), startGatewayInstance(env)]);
  haproxy = await startHaproxy([`127.0.0.1:${instanceA.port}`, `127.0.0.1:${instanceB.port}`]);
});

after(async () => {
  await haproxy?.stop();
  await Promise.all([instanceA?.stop(), instanceB?.stop()]);
  await redis?.stop();
});

const realtimeUrl = (base: string) => `${base.replace(/^http/, 'ws')}/v1/realtime?model=gpt-realtime`;
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function openSession(base: string, token = TOKEN): Promise<RealtimeClient> {
  const client = await RealtimeClient.connect(realtimeUrl(base), { protocols: ['realtime'], headers: bearer(token) });
  await client.next('session.created', 10_000);
  return client;
}

/** The session answers: a session.update comes back as session.updated with the new instructions. */
async function assertAlive(client: RealtimeClient, instructions: string): Promise<void> {
  const from = client.events.length;
  client.send({ type: 'session.update', session: { type: 'realtime', instructions } });
  const updated = await client.next('session.updated', 5000, from);
  assert.equal(updated.session.instructions, instructions);
}

test('a client secret minted through instance A opens a session through instance B, and through the balancer, with its settings', async () => {
  const minted = await fetch(`${instanceA.url}/v1/realtime/client_secrets`, {
    method: 'POST',
    headers: { ...bearer(TOKEN), 'content-type': 'application/json' },
    body: JSON.stringify({ session: { type: 'realtime', instructions: 'Minted on A.' } }),
  });
  assert.equal(minted.status, 200);
  const { value } = (await minted.json()) as { value: string };
  for (const base of [instanceB.url, haproxy.url]) {
    const client = await RealtimeClient.connect(realtimeUrl(base), { protocols: ['realtime', `openai-insecure-api-key.${value}`] });
    const created = await client.next('session.created', 10_000);
    assert.equal(created.session.instructions, 'Minted on A.', base);
    await client.close();
  }
  // An altered secret is refused on either instance.
  const altered = `${value.slice(0, -4)}AAAA`;
  const refused = await tryUpgrade(realtimeUrl(instanceB.url), altered);
  assert.ok(!refused.opened);
  assert.equal(refused.status, 401);
  assert.match(refused.body.error?.message ?? '', /signature does not match/);
});

test('Socket.IO through the balancer: long-polling first, then the upgrade to WebSocket, on one instance', async () => {
  const socket = stickySocketIo(haproxy, TOKEN);
  try {
    const messages: Array<{ type: string; code?: string }> = [];
    socket.on('message', (message) => messages.push(message));
    let firstTransport: string | undefined;
    socket.io.once('open', () => {
      firstTransport = socket.io.engine.transport.name;
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('connect_error', reject);
    });
    assert.equal(firstTransport, 'polling', 'the session starts on long-polling');
    const engine = socket.io.engine;
    await eventually('the upgrade to WebSocket', async () => (engine.transport.name === 'websocket' ? true : undefined), 5000);
    assert.equal(socket.io.engine.transport.name, 'websocket');
    // A round trip over the upgraded transport: an unknown event is answered with an error message.
    socket.emit('speak', { text: 'hi' });
    await eventually('the error message', async () => messages.find((message) => message.type === 'error'), 5000);
    assert.equal(messages.find((message) => message.type === 'error')?.code, 'unknown_event');
    assert.equal(messages[0]?.type, 'connected');
  } finally {
    socket.close();
  }
});

test('both instances run the Socket.IO Redis Streams adapter on the shared Redis', async () => {
  const client = createClient({ url: redis.url });
  await client.connect();
  try {
    // Each instance's adapter for /realtime listens on the namespace's channel (and writes its stream when it broadcasts).
    const listening = await eventually('both adapters on the /realtime channel', async () => {
      const counts = await client.pubSubNumSub('speechbridge:socket.io#/realtime#');
      const count = Number(Object.values(counts)[0] ?? 0);
      return count >= 2 ? count : undefined;
    });
    assert.equal(listening, 2);
  } finally {
    client.destroy();
  }
});

test('the per-token session limit holds across both instances: the third session is refused with rate_limit_exceeded', async () => {
  const onA = await openSession(instanceA.url);
  const onB = await openSession(instanceB.url);
  try {
    for (const base of [instanceA.url, instanceB.url, haproxy.url]) {
      const third = await tryUpgrade(realtimeUrl(base), TOKEN);
      if (third.opened) third.socket.close();
      assert.ok(!third.opened, `a third session through ${base} is refused`);
      assert.equal(third.status, 429);
      assert.deepEqual([third.body.error?.code, third.body.error?.type], ['rate_limit_exceeded', 'rate_limit_error']);
    }
    const socket = stickySocketIo(haproxy, TOKEN);
    const refusal = await new Promise<Error & { data?: { code?: string } }>((resolve, reject) => {
      socket.once('connect_error', resolve);
      socket.once('connect', () => reject(new Error('a third session opened over Socket.IO')));
    });
    socket.close();
    assert.equal(refusal.data?.code, 'rate_limit_exceeded');
    await assertAlive(onA, 'still here on A');
    await assertAlive(onB, 'still here on B');
  } finally {
    await Promise.all([onA.close(), onB.close()]);
  }
  // Closed sessions give their places back at once, on both instances.
  const again = [await openSession(haproxy.url), await openSession(haproxy.url)];
  await Promise.all(again.map((client) => client.close()));
});

test('a Redis restart drops no live session; while it is away new sessions follow per-process limits and /readyz says so; once back the shared limit holds again', async () => {
  const onA = await openSession(instanceA.url);
  const onB = await openSession(instanceB.url);
  try {
    await redis.stop();
    const ready = await eventually('/readyz reporting Redis down', async () => {
      const response = await fetch(`${instanceA.url}/readyz`);
      return response.status === 503 ? ((await response.json()) as { reason: string; checks: { redis: string } }) : undefined;
    });
    assert.deepEqual([ready.reason, ready.checks.redis], ['redis unreachable', 'unreachable']);
    assert.equal((await fetch(`${instanceA.url}/healthz`)).status, 200, 'alive all the same');
    await assertAlive(onA, 'A without Redis');
    await assertAlive(onB, 'B without Redis');
    // Fail open: A counts its own sessions only (one of two), so one more opens there.
    const during = await openSession(instanceA.url);
    await during.close();
    const warnings = instanceA.serve.lines().filter((line) => /Redis is unreachable/.test(line.msg));
    assert.equal(warnings.length, 1, 'the outage is logged once');

    await redis.start();
    await eventually('/readyz ready again', async () => ((await fetch(`${instanceA.url}/readyz`)).status === 200 ? true : undefined));
    // Both instances put their live sessions back into the shared count; the third is refused again.
    const refused = await eventually('the shared limit to hold again', async () => {
      const third = await tryUpgrade(realtimeUrl(haproxy.url), TOKEN);
      if (third.opened) {
        third.socket.close();
        return undefined;
      }
      return third;
    });
    assert.equal(refused.status, 429);
    assert.equal(refused.body.error?.code, 'rate_limit_exceeded');
    await assertAlive(onA, 'A after the restart');
    await assertAlive(onB, 'B after the restart');
  } finally {
    await Promise.all([onA.close(), onB.close()]);
  }
});

test('killing instance A leaves B’s sessions untouched; new sessions land on B once A’s leases expire', async () => {
  const onA = await openSession(instanceA.url);
  const onB = await openSession(instanceB.url);
  const before = await activeSessions(instanceB.url, TOKEN, 'realtime');
  await instanceA.kill();
  const closedOnA = await onA.closed;
  assert.equal(closedOnA.code, 1006, 'A’s client sees its connection drop');
  await assertAlive(onB, 'B goes on');
  // A's session keeps its place until its lease expires (SESSION_LEASE_SECONDS), then the balancer's new session lands on B.
  const landed = await eventually(
    'a new session through the balancer',
    async () => {
      const outcome = await tryUpgrade(realtimeUrl(haproxy.url), TOKEN);
      if (outcome.opened) return outcome.socket;
      assert.equal(outcome.status, 429, `refused only by the limit while A’s lease lives: ${JSON.stringify(outcome.body)}`);
      return undefined;
    },
    (LEASE_SECONDS + 5) * 1000,
  );
  try {
    assert.equal(await activeSessions(instanceB.url, TOKEN, 'realtime'), before + 1, 'the new session is on B');
    assert.equal((await fetch(`${haproxy.url}/healthz`)).status, 200);
    await assertAlive(onB, 'B still goes on');
  } finally {
    landed.close();
    await onB.close();
  }
});
