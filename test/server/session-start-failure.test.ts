/**
 * A realtime session whose engine cannot start (its voice detector fails to load) still
 * leaves the active-session gauge at zero: the client gets the error and a 1011 close,
 * speechbridge_sessions_active goes back down and the close is counted by its reason.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { WebSocket } from 'ws';
import { REALTIME_PATH, createRealtimeDoor } from '../../src/protocols/openai-realtime/realtime-door.ts';
import { TokenAuth } from '../../src/server/auth.ts';
import { loadConfig } from '../../src/server/config.ts';
import { createLogger } from '../../src/server/logging.ts';
import { createSessionFactory } from '../../src/server/session-factory.ts';
import { createSessionMetrics } from '../../src/server/session-metrics.ts';
import { UpgradeRouter } from '../../src/protocols/upgrade-router.ts';
import { assembleProviders } from '../helpers/server.ts';

test('a realtime session whose engine fails to start is counted out again', async () => {
  const config = loadConfig({ LOG_LEVEL: 'silent' });
  const registry = new Registry();
  const sessions = createSessionMetrics(registry);
  const door = createRealtimeDoor({
    auth: new TokenAuth([]),
    createSession: createSessionFactory({
      config,
      providers: assembleProviders({}),
      createVoiceDetector: async () => {
        throw new Error('the voice detector model is missing');
      },
      metrics: { door: 'realtime', sessions },
    }),
    limits: config.realtime,
    logger: createLogger('silent'),
    metrics: sessions.forDoor('realtime'),
  });
  const server = createServer();
  new UpgradeRouter().add(REALTIME_PATH, door).attach(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const socket = new WebSocket(`ws://127.0.0.1:${port}${REALTIME_PATH}`, ['realtime']);
    const messages: Array<{ type: string; error?: { code: string } }> = [];
    socket.on('message', (data) => messages.push(JSON.parse(data.toString())));
    const code = await new Promise<number>((resolve) => socket.once('close', (closeCode) => resolve(closeCode)));
    assert.equal(code, 1011);
    assert.deepEqual(
      messages.map((message) => [message.type, message.error?.code]),
      [['error', 'engine_unavailable']],
    );
    await door.close();
    const text = await registry.metrics();
    assert.match(text, /^speechbridge_sessions_active\{door="realtime"\} 0$/m);
    assert.match(text, /^speechbridge_sessions_closed_total\{door="realtime",reason="start_failed"\} 1$/m);
    // One set of session metrics: no door registers its own copies.
    assert.doesNotMatch(text, /speechbridge_realtime_/);
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});
