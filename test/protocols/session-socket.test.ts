/**
 * The shared session lifecycle over a real ws connection whose client stops reading, with a
 * session that records what it is asked: the outbound policy per message class (a droppable
 * message is skipped and counted while the backlog is over REALTIME_MAX_BUFFERED_KB; essential
 * ones go out until the backlog passes twice the limit, then the client is closed 1008
 * slow_consumer), and the early-event bound (an engine that emits more than 100 events before
 * the session opens ends that session with internal_error and 1011).
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { WebSocket, WebSocketServer } from 'ws';
import type { EngineEvent } from '../../src/engine/events.ts';
import type { CloseReason } from '../../src/protocols/close-reasons.ts';
import type { DoorMetrics } from '../../src/protocols/door-metrics.ts';
import type { DoorLimits, DoorSession } from '../../src/protocols/door-session.ts';
import { SessionSocket } from '../../src/protocols/session-socket.ts';
import { type WireFrame, WsTransport } from '../../src/protocols/ws-transport.ts';
import { createLogger } from '../../src/server/logging.ts';
import { eventually } from './lifecycle-harness.ts';

const LIMITS: DoorLimits = {
  maxMessageBytes: 1024 * 1024,
  maxSessionMs: 60_000,
  idleTimeoutMs: 60_000,
  maxBufferedBytes: 64 * 1024,
  // Long: only the backlog's size closes the client here.
  slowConsumerMs: 60_000,
  heartbeatMs: 60_000,
};

interface Recorded {
  droppedCount: number;
  closeReasons: CloseReason[];
  faultCount: number;
}

function recordingMetrics(): DoorMetrics & Recorded {
  const recorded: Recorded = { droppedCount: 0, closeReasons: [], faultCount: 0 };
  return Object.assign(recorded, {
    fault: () => void recorded.faultCount++,
    closed: (reason: CloseReason) => void recorded.closeReasons.push(reason),
    backlog: () => {},
    dropped: () => void recorded.droppedCount++,
    clientError: () => {},
  });
}

/** A real ws server on port 0 whose one connection gets a SessionSocket; and a client to it. */
async function connected(limits: DoorLimits, metrics: DoorMetrics, onEvent: (socket: SessionSocket<WireFrame>, event: EngineEvent) => void = () => {}) {
  const http: Server = createServer();
  const wss = new WebSocketServer({ server: http });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const accepted = new Promise<SessionSocket<WireFrame>>((resolve) =>
    wss.once('connection', (websocket) => {
      const socket: SessionSocket<WireFrame> = new SessionSocket<WireFrame>({
        transport: new WsTransport(websocket, limits.heartbeatMs),
        limits,
        logger: createLogger('silent'),
        metrics,
        errorMessage: (error) => JSON.stringify({ type: 'error', code: error.code, message: error.message }),
        tooLargeAdvice: 'send less',
        onEvent: (event) => onEvent(socket, event),
      });
      resolve(socket);
    }),
  );
  const client = new WebSocket(`ws://127.0.0.1:${(http.address() as AddressInfo).port}`);
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    client.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  const texts: string[] = [];
  client.on('message', (data, isBinary) => {
    if (!isBinary) texts.push(data.toString());
  });
  await new Promise<void>((resolve) => client.once('open', () => resolve()));
  const socket = await accepted;
  return {
    socket,
    client,
    closed,
    texts,
    stop: async () => {
      client.terminate();
      wss.close();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

/** A session that starts at once (or emits `early` events first) and records its close. */
function fakeSession(emit: (event: EngineEvent) => void, early = 0): DoorSession & { closes: number } {
  const session = {
    closes: 0,
    start: async () => {
      for (let i = 0; i < early; i++) emit({ type: 'speech.started', itemId: `item_${i}`, audioStartMs: 0 } as EngineEvent);
    },
    handle: () => ({ accepted: true as const }),
    finish: async () => {},
    config: {} as DoorSession['config'],
    close: async () => {
      session.closes++;
    },
  };
  return session;
}

test('a slow reader: droppable messages are skipped and counted while congested, essential ones go out until twice the limit, then close 1008', async () => {
  const metrics = recordingMetrics();
  const { socket, client, closed, texts, stop } = await connected(LIMITS, metrics);
  try {
    const session = fakeSession(socket.onEngineEvent);
    assert.equal((await socket.startSession(session)).type, 'started');
    assert.equal(
      socket.open(() => {}),
      true,
    );
    client.pause();
    const frame = Buffer.alloc(16 * 1024, 1);
    // Essential frames until the backlog is over the limit (the kernel's buffers fill first).
    let sent = 0;
    // 100,000 frames (1.6 GB) at most: far more than any kernel buffers.
    while (socket.backlogBytes <= LIMITS.maxBufferedBytes && sent < 100_000) {
      socket.send(frame);
      sent++;
    }
    assert.equal(socket.phase, 'open', 'one 16 KB step past the limit is not yet twice it');
    assert.ok(socket.backlogBytes > LIMITS.maxBufferedBytes, `the backlog passed the limit after ${sent} frames`);

    socket.send('{"partial":"superseded"}', 'droppable');
    socket.send('{"partial":"superseded again"}', 'droppable');
    assert.equal(socket.droppedMessages, 2);
    assert.equal(metrics.droppedCount, 2);

    // Essential messages are never skipped: they go out until the backlog passes twice the limit.
    for (let i = 0; i < 100 && socket.phase === 'open'; i++) socket.send(frame);
    assert.equal(await socket.closed, 'slow_consumer');
    assert.deepEqual(metrics.closeReasons, ['slow_consumer']);
    assert.equal(session.closes, 1, 'the engine was closed (its responses cancelled)');
    client.resume();
    const close = await closed;
    assert.deepEqual([close.code, close.reason], [1008, 'slow_consumer']);
    assert.equal(
      texts.some((text) => text.includes('superseded')),
      false,
      'no dropped message arrived',
    );
    assert.ok(
      texts.some((text) => text.includes('"slow_consumer"')),
      'the client was told why',
    );
  } finally {
    await stop();
  }
});

test('an engine that emits more than 100 events before the session opens ends that session alone: internal_error, 1011', async () => {
  const metrics = recordingMetrics();
  const forwarded: EngineEvent[] = [];
  const { socket, closed, texts, stop } = await connected(LIMITS, metrics, (_socket, event) => forwarded.push(event));
  try {
    const session = fakeSession(socket.onEngineEvent, 101);
    await socket.startSession(session);
    assert.equal(await socket.closed, 'internal_error');
    const close = await closed;
    assert.equal(close.code, 1011);
    assert.equal(metrics.faultCount, 1);
    assert.equal(forwarded.length, 0, 'nothing of the early events was sent');
    assert.ok(
      texts.some((text) => text.includes('internal_error')),
      texts.join('\n'),
    );
    await eventually(() => session.closes === 1, 'the engine closed');
  } finally {
    await stop();
  }
});

test('up to 100 early events wait for the session to open and are replayed in order after its first message', async () => {
  const metrics = recordingMetrics();
  const forwarded: string[] = [];
  const { socket, stop } = await connected(LIMITS, metrics, (_socket, event) => forwarded.push((event as { itemId: string }).itemId));
  try {
    const session = fakeSession(socket.onEngineEvent, 100);
    assert.equal((await socket.startSession(session)).type, 'started');
    assert.equal(forwarded.length, 0, 'held while starting');
    socket.open(() => forwarded.push('greeting'));
    assert.deepEqual(forwarded, ['greeting', ...Array.from({ length: 100 }, (_, i) => `item_${i}`)]);
  } finally {
    await socket.close('client_closed');
    await stop();
  }
});
