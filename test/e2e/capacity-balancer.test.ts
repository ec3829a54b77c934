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
import { RealtimeClient } from './realtime-harness.ts';
import { activeSessions } from '../helpers/metric-samples.ts';
import { eventually } from '../helpers/eventually.ts';
import { startGatewayInstance, type GatewayInstance } from '../helpers/gateway-instance.ts';
import { startHaproxy, stickySocketIo, type TestHaproxy } from '../helpers/haproxy.ts';
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
    assert.equal(await activeSessions(instanceB.url, TOKEN, 'realtime'), 4, 'all four sessions are on B');
    assert.equal(await activeSessions(instanceA.url, TOKEN, 'realtime'), 0, 'none is on A');
  } finally {
    await Promise.all(clients.map((client) => client.close()));
  }

  // Two in turn, so one of the handshakes meets A; the sticky cookie (withCredentials) keeps each client's polls on B.
  for (let i = 0; i < 2; i += 1) {
    const socket = stickySocketIo(haproxy, TOKEN);
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('connect_error', reject);
      });
      assert.equal(await activeSessions(instanceB.url, TOKEN, 'socketio'), 1, 'the Socket.IO session is on B');
      assert.equal(await activeSessions(instanceA.url, TOKEN, 'socketio'), 0);
    } finally {
      socket.close();
    }
    await eventually('the Socket.IO session closed on B', async () => ((await activeSessions(instanceB.url, TOKEN, 'socketio')) === 0 ? true : undefined));
  }
});
