/**
 * An instance over capacity behind the shipped HAProxy configuration: two real `speechbridge
 * serve` instances behind real HAProxy running deploy/haproxy.cfg, instance A with a
 * MAX_EVENT_LOOP_UTILIZATION no event loop stays under (a millionth: over capacity from its
 * first sample on), B with room. A refuses every new session with 503 `server_overloaded` and
 * /readyz says so, yet through the balancer every new session opens, on B: HAProxy retries the
 * 503 on the next instance (`retry-on 503`, `option redispatch 1`), realtime upgrades and
 * Socket.IO handshakes alike, and the balancer's clients never see the refusal.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { io } from 'socket.io-client';
import { RealtimeClient } from './realtime-harness.ts';
import { startGatewayInstance, type GatewayInstance } from '../helpers/gateway-instance.ts';
import { startHaproxy, type TestHaproxy } from '../helpers/haproxy.ts';
import { tryUpgrade } from '../helpers/realtime-refusal.ts';

const TOKEN = 'capacity-balancer-token';

let instanceA: GatewayInstance;
let instanceB: GatewayInstance;
let haproxy: TestHaproxy;

before(async () => {
  [instanceA, instanceB] = await Promise.all([
    startGatewayInstance({ API_TOKENS: TOKEN, MAX_EVENT_LOOP_UTILIZATION: '0.000001' }),
    startGatewayInstance({ API_TOKENS: TOKEN, MAX_EVENT_LOOP_UTILIZATION: '0.75' }),
  ]);
  haproxy = await startHaproxy([`127.0.0.1:${instanceA.port}`, `127.0.0.1:${instanceB.port}`]);
});

after(async () => {
  await haproxy?.stop();
  await Promise.all([instanceA?.stop(), instanceB?.stop()]);
});

const realtimeUrl = (base: string) => `${base.replace(/^http/, 'ws')}/v1/realtime?model=gpt-realtime`;

async function activeSessions(instance: GatewayInstance, door: string): Promise<number> {
  const text = await (await fetch(`${instance.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
  const match = new RegExp(`^speechbridge_sessions_active\\{door="${door}"\\} (\\d+)$`, 'm').exec(text);
  return match ? Number(match[1]) : 0;
}

async function eventually<T>(what: string, attempt: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await attempt();
    if (result !== undefined) return result;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

test('instance A over capacity refuses new sessions itself, and through the balancer every new session opens on B', async () => {
  const readiness = await eventually('A over capacity', async () => {
    const response = await fetch(`${instanceA.url}/readyz`);
    return response.status === 503 ? ((await response.json()) as { reason: string }) : undefined;
  });
  assert.equal(readiness.reason, 'over capacity');
  assert.equal((await fetch(`${instanceB.url}/readyz`)).status, 200);
  const direct = await tryUpgrade(realtimeUrl(instanceA.url), TOKEN);
  if (direct.opened) direct.socket.close();
  assert.ok(!direct.opened, 'A refuses a session of its own');
  assert.equal(direct.status, 503);
  assert.equal(direct.body.error?.code, 'server_overloaded');

  // Round robin sends every other new connection to A; each must still open.
  const clients: RealtimeClient[] = [];
  try {
    for (let i = 0; i < 4; i += 1) {
      const client = await RealtimeClient.connect(realtimeUrl(haproxy.url), { protocols: ['realtime'], headers: { authorization: `Bearer ${TOKEN}` } });
      await client.next('session.created', 10_000);
      clients.push(client);
    }
    assert.equal(await activeSessions(instanceB, 'realtime'), 4, 'all four sessions are on B');
    assert.equal(await activeSessions(instanceA, 'realtime'), 0, 'none is on A');
  } finally {
    await Promise.all(clients.map((client) => client.close()));
  }

  // Two in turn, so one of the handshakes meets A; the sticky cookie (withCredentials) keeps each client's polls on B.
  for (let i = 0; i < 2; i += 1) {
    const socket = io(`${haproxy.url}/realtime`, {
      transports: ['polling', 'websocket'],
      withCredentials: true,
      auth: { token: TOKEN },
      reconnection: false,
      forceNew: true,
    });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('connect_error', reject);
      });
      assert.equal(await activeSessions(instanceB, 'socketio'), 1, 'the Socket.IO session is on B');
      assert.equal(await activeSessions(instanceA, 'socketio'), 0);
    } finally {
      socket.close();
    }
    await eventually('the Socket.IO session closed on B', async () => ((await activeSessions(instanceB, 'socketio')) === 0 ? true : undefined));
  }
});
