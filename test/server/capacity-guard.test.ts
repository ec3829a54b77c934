/**
 * MAX_EVENT_LOOP_UTILIZATION as clients meet it. The load is real: the server's process (this
 * one) runs busy slices of 90 ms with 10 ms of rest between them, an event loop about 90 % busy,
 * against a limit of 50 %. Meanwhile a new session on every door (/v1/realtime, /v1/transcriptions,
 * the gateway on /, a Socket.IO handshake by polling and by WebSocket) is refused with 503
 * `server_overloaded` and Retry-After, and /readyz says "over capacity", while the sessions
 * opened before go on (a realtime session answers, a Socket.IO session's polls pass) and
 * /healthz stays 200; /metrics counts the refusals and shows the utilization; once the loop
 * rests, new sessions open again.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { io, type Socket } from 'socket.io-client';
import { startServer, type RunningServer } from '../../src/server/app.ts';
import { loadConfig } from '../../src/server/config.ts';
import { createLogger } from '../../src/server/logging.ts';
import { RealtimeClient } from '../e2e/realtime-harness.ts';
import { eventually } from '../helpers/eventually.ts';
import { tryUpgrade } from '../helpers/realtime-refusal.ts';
import { assembleProviders } from '../helpers/server.ts';

const TOKEN = 'capacity-token';

let server: RunningServer;

before(async () => {
  const config = loadConfig({ SERVER_NAME: '127.0.0.1', SERVER_PORT: '0', API_TOKENS: TOKEN, MAX_EVENT_LOOP_UTILIZATION: '0.5' });
  server = await startServer({ config, providers: assembleProviders({}), logger: createLogger('silent') });
});

after(async () => {
  await server?.close();
});

const wsUrl = (path: string) => `${server.url.replace(/^http/, 'ws')}${path}`;
const auth = { authorization: `Bearer ${TOKEN}` };

/** Keeps this process's event loop busy for `busyMs` out of every `busyMs + restMs` until stopped. */
function loadEventLoop(busyMs: number, restMs: number): { stop(): void } {
  let timer: NodeJS.Timeout | undefined;
  const slice = () => {
    const end = performance.now() + busyMs;
    while (performance.now() < end) {
      // Busy on purpose: the load a full process puts on its loop.
    }
    timer = setTimeout(slice, restMs);
  };
  timer = setTimeout(slice, 0);
  return { stop: () => clearTimeout(timer) };
}

async function readyz(): Promise<{ status: number; body: { status: string; reason?: string; event_loop_utilization?: number } }> {
  const response = await fetch(`${server.url}/readyz`);
  return { status: response.status, body: (await response.json()) as { status: string; reason?: string } };
}

async function assertOverloaded(url: string, protocols: string[]): Promise<void> {
  const outcome = await tryUpgrade(url, TOKEN, protocols);
  if (outcome.opened) outcome.socket.close();
  assert.ok(!outcome.opened, `${url}: refused over capacity`);
  assert.equal(outcome.status, 503, url);
  assert.equal(outcome.retryAfter, '1', url);
  assert.equal(outcome.body.error?.code, 'server_overloaded', url);
  assert.equal(outcome.body.error?.type, 'server_error', url);
  assert.match(outcome.body.error?.message ?? '', /MAX_EVENT_LOOP_UTILIZATION 0\.5/, url);
}

/** A Socket.IO session on long-polling only, so every message it gets is a poll of its sid. */
async function openSocketIo(): Promise<Socket> {
  const socket = io(`${server.url}/realtime`, { transports: ['polling'], auth: { token: TOKEN }, reconnection: false, forceNew: true });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  });
  return socket;
}

/** An unknown event is answered with an error message: a round trip of the live session. */
async function socketIoAnswers(socket: Socket): Promise<void> {
  const answer = new Promise<{ type: string; code?: string }>((resolve) => {
    const onMessage = (message: { type: string; code?: string }) => {
      if (message.type !== 'error') return;
      socket.off('message', onMessage);
      resolve(message);
    };
    socket.on('message', onMessage);
  });
  socket.emit('speak', { text: 'hi' });
  assert.equal((await answer).code, 'unknown_event');
}

test('over capacity, new sessions on every door are refused with 503 server_overloaded while the live ones go on; with the load gone they open again', async () => {
  const handshake = () => fetch(`${server.url}/socket.io/?EIO=4&transport=polling`);
  // Idle: ready, and a Socket.IO handshake is answered.
  await eventually('an idle sample', async () => ((await readyz()).status === 200 ? true : undefined));
  assert.equal((await handshake()).status, 200);
  const live = await RealtimeClient.connect(wsUrl('/v1/realtime?model=gpt-realtime'), { protocols: ['realtime'], headers: auth });
  await live.next('session.created', 5000);
  const liveSocketIo = await openSocketIo();
  const load = loadEventLoop(90, 10);
  try {
    const over = await eventually('/readyz over capacity', async () => {
      const answer = await readyz();
      return answer.status === 503 ? answer.body : undefined;
    });
    assert.equal(over.reason, 'over capacity');
    assert.ok((over.event_loop_utilization ?? 0) >= 0.5, `utilization ${over.event_loop_utilization}`);
    await assertOverloaded(wsUrl('/v1/realtime?model=gpt-realtime'), ['realtime']);
    await assertOverloaded(wsUrl('/v1/transcriptions'), []);
    await assertOverloaded(wsUrl('/'), []);
    await assertOverloaded(wsUrl('/socket.io/?EIO=4&transport=websocket'), []);
    const polling = await handshake();
    assert.equal(polling.status, 503);
    assert.equal(polling.headers.get('retry-after'), '1');
    assert.equal(((await polling.json()) as { error: { code: string } }).error.code, 'server_overloaded');
    const refused = io(`${server.url}/realtime`, { transports: ['polling'], auth: { token: TOKEN }, reconnection: false, forceNew: true });
    const connectError = await new Promise<Error>((resolve, reject) => {
      refused.once('connect_error', resolve);
      refused.once('connect', () => reject(new Error('a Socket.IO session opened over capacity')));
    });
    refused.close();
    assert.ok(connectError instanceof Error);
    // Each refused session counted once (four upgrades, two polling handshakes); the loop's load shows.
    const metrics = await (await fetch(`${server.url}/metrics`, { headers: auth })).text();
    assert.match(metrics, /^speechbridge_sessions_refused_total\{reason="over_capacity"\} 6$/m);
    const utilization = Number(/^speechbridge_event_loop_utilization (\S+)$/m.exec(metrics)?.[1]);
    assert.ok(utilization >= 0.5, `speechbridge_event_loop_utilization ${utilization}`);
    // The sessions opened before go on, and liveness is not readiness.
    const from = live.events.length;
    live.send({ type: 'session.update', session: { type: 'realtime', instructions: 'still here' } });
    assert.equal((await live.next('session.updated', 10_000, from)).session.instructions, 'still here');
    await socketIoAnswers(liveSocketIo);
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
  } finally {
    load.stop();
  }
  await eventually('/readyz ready once the loop rests', async () => ((await readyz()).status === 200 ? true : undefined));
  const fresh = await RealtimeClient.connect(wsUrl('/v1/realtime?model=gpt-realtime'), { protocols: ['realtime'], headers: auth });
  await fresh.next('session.created', 5000);
  const freshSocketIo = await openSocketIo();
  freshSocketIo.close();
  await fresh.close();
  liveSocketIo.close();
  await live.close();
});

test('MAX_EVENT_LOOP_UTILIZATION takes a share from 0 to 1', () => {
  assert.throws(() => loadConfig({ MAX_EVENT_LOOP_UTILIZATION: '1.5' }), /MAX_EVENT_LOOP_UTILIZATION/);
  assert.throws(() => loadConfig({ MAX_EVENT_LOOP_UTILIZATION: 'most' }), /MAX_EVENT_LOOP_UTILIZATION/);
  assert.equal(loadConfig({ MAX_EVENT_LOOP_UTILIZATION: '0.9' }).maxEventLoopUtilization, 0.9);
  assert.equal(loadConfig({}).maxEventLoopUtilization, 0);
});
