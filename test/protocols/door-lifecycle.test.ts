/**
 * The shared socket lifecycle as each door's client sees it:
 *
 * - a client that floods messages while its session starts is answered with
 *   too_many_early_messages and closed 1008 (early_overflow) once the early buffer's bound
 *   (256 messages) is passed, and the server serves the next session as usual. On Socket.IO a
 *   client cannot reach the namespace before its session is admitted: Socket.IO closes a
 *   client that sends to it early, and nothing is held.
 * - a peer that stops answering pings (a ws client with autoPong off; a raw engine.io client
 *   that never answers engine.io's ping) is closed by the heartbeat (heartbeat_timeout), while
 *   a peer that answers stays open.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { io } from 'socket.io-client';
import { WebSocket, type RawData } from 'ws';
import { type Doors, eventually, metricValue, startDoors } from './lifecycle-harness.ts';

/** More than the early buffer's 256. */
const FLOOD = 300;

interface Observed {
  messages: string[];
  closed: Promise<{ code: number; reason: string }>;
}

function observe(socket: WebSocket): Observed {
  const messages: string[] = [];
  socket.on('message', (data: RawData, isBinary: boolean) => {
    if (!isBinary) messages.push(data.toString());
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  return { messages, closed };
}

/** A ws client, observed from before it opens (a server may speak first, in the handshake's own packet). */
async function connect(url: string, options: { autoPong?: boolean; protocols?: string[] } = {}): Promise<WebSocket & { seen: Observed }> {
  const socket = new WebSocket(url, options.protocols ?? [], { autoPong: options.autoPong ?? true });
  const seen = observe(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  return Object.assign(socket, { seen });
}

/** Each ws door: its path, its start message (if it has one), a flood message and what a ready session first says. */
const WS_DOORS = [
  { door: 'gateway', path: '/', start: { type: 'start' }, flood: () => Buffer.alloc(960), ready: (message: string) => message.includes('"ready"') },
  {
    door: 'transcriptions',
    path: '/v1/transcriptions',
    start: { action: 'start', sample_rate: 16000 },
    flood: () => Buffer.alloc(640),
    ready: (message: string) => message.includes('session_id'),
  },
  {
    door: 'realtime',
    path: '/v1/realtime',
    start: null,
    flood: () => JSON.stringify({ type: 'input_audio_buffer.append', audio: Buffer.alloc(960).toString('base64') }),
    ready: (message: string) => message.includes('"session.created"'),
  },
] as const;

describe('early messages are bounded while a session starts', () => {
  let doors: Doors;
  before(async () => {
    doors = await startDoors({}, true);
  });
  after(async () => {
    await doors.close();
  });

  for (const { door, path, start, flood, ready } of WS_DOORS) {
    test(`${door}: a flood before the session is ready gets too_many_early_messages and close 1008; the next session is served`, async () => {
      doors.closeGate();
      const startsBefore = doors.starts;
      const socket = await connect(`${doors.wsUrl}${path}`, { protocols: door === 'realtime' ? ['realtime'] : [] });
      const seen = socket.seen;
      if (start) socket.send(JSON.stringify(start));
      // The engine is held at its start: everything below arrives while the session starts.
      await eventually(() => doors.starts > startsBefore, `${door} session start`);
      for (let i = 0; i < FLOOD; i++) socket.send(flood());
      const closed = await seen.closed;
      assert.deepEqual([closed.code, closed.reason], [1008, 'early_overflow']);
      const errors = seen.messages.filter((message) => message.includes('too_many_early_messages'));
      assert.equal(errors.length, 1, seen.messages.join('\n'));
      assert.match(errors[0], /more than 256 messages/);
      assert.equal(seen.messages.some(ready), false, 'the flooded session never opened');
      assert.equal(metricValue(await doors.metrics(), 'speechbridge_sessions_closed_total', `{door="${door}",reason="early_overflow"}`), 1);

      // The server goes on: a client that waits for the session gets it.
      doors.openGate();
      const next = await connect(`${doors.wsUrl}${path}`, { protocols: door === 'realtime' ? ['realtime'] : [] });
      const nextSeen = next.seen;
      if (start) next.send(JSON.stringify(start));
      await eventually(() => nextSeen.messages.some(ready), `${door} ready after the flood`);
      next.close();
      await nextSeen.closed;
    });
  }

  test('socketio: an event sent before the namespace is admitted closes that connection (Socket.IO holds nothing); the next client is served', async () => {
    doors.closeGate();
    const raw = await connect(`${doors.wsUrl}/socket.io/?EIO=4&transport=websocket`);
    const seen = raw.seen;
    await eventually(() => seen.messages.some((message) => message.startsWith('0{')), 'engine.io open packet');
    const startsBefore = doors.starts;
    raw.send('40/realtime,');
    await eventually(() => doors.starts > startsBefore, 'socket.io session start');
    const audio = Buffer.alloc(960).toString('base64');
    for (let i = 0; i < FLOOD; i++) raw.send(`42/realtime,["audio",{"audio":"${audio}"}]`);
    // Socket.IO itself ends a client that sends to a namespace it has not joined.
    await seen.closed;
    assert.equal(
      seen.messages.some((message) => message.includes('"connected"')),
      false,
      'the flooded session never opened',
    );
    doors.openGate();
    await eventually(
      async () => metricValue(await doors.metrics(), 'speechbridge_sessions_closed_total', '{door="socketio",reason="client_closed"}') === 1,
      'the flooded session was closed',
    );
    const client = io(`${doors.httpUrl}/realtime`, { transports: ['websocket'], reconnection: false });
    const connected = await new Promise<{ type: string }>((resolve, reject) => {
      client.once('message', resolve);
      client.once('connect_error', reject);
    });
    assert.equal(connected.type, 'connected');
    client.close();
  });
});

describe('the heartbeat closes a peer that stops answering', () => {
  let doors: Doors;
  before(async () => {
    // 250 ms pings: a silent peer is dropped within two intervals.
    doors = await startDoors({ REALTIME_HEARTBEAT_SECONDS: '0.25' });
  });
  after(async () => {
    await doors.close();
  });

  for (const { door, path } of WS_DOORS) {
    test(`${door}: a client that answers no ping is dropped (heartbeat_timeout); one that answers stays open`, async () => {
      const protocols = door === 'realtime' ? ['realtime'] : [];
      const answering = await connect(`${doors.wsUrl}${path}`, { protocols });
      const silent = await connect(`${doors.wsUrl}${path}`, { protocols, autoPong: false });
      const silentSeen = silent.seen;
      let pings = 0;
      silent.on('ping', () => pings++);
      const closed = await silentSeen.closed;
      // Dropped without a close frame, as a dead peer cannot read one.
      assert.equal(closed.code, 1006);
      assert.ok(pings >= 1, 'the server pinged before it gave up');
      await eventually(
        async () => metricValue(await doors.metrics(), 'speechbridge_sessions_closed_total', `{door="${door}",reason="heartbeat_timeout"}`) === 1,
        `${door} heartbeat_timeout counted`,
      );
      assert.equal(answering.readyState, WebSocket.OPEN, 'the peer that answers pings is still connected');
      answering.close();
    });
  }

  test('socketio: engine.io pings on REALTIME_HEARTBEAT_SECONDS; a client that answers none is closed, socket.io-client stays connected', async () => {
    const client = io(`${doors.httpUrl}/realtime`, { transports: ['websocket'], reconnection: false });
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('connect_error', reject);
    });
    const raw = await connect(`${doors.wsUrl}/socket.io/?EIO=4&transport=websocket`);
    const seen = raw.seen;
    await eventually(() => seen.messages.some((message) => message.startsWith('0{')), 'engine.io open packet');
    const open = JSON.parse(seen.messages.find((message) => message.startsWith('0{'))!.slice(1)) as { pingInterval: number; pingTimeout: number };
    assert.deepEqual([open.pingInterval, open.pingTimeout], [250, 250]);
    // engine.io's ping is the packet "2", its answer "3": answered until the session is open, then never.
    let answering = true;
    let pingsAfter = 0;
    raw.on('message', (data: RawData) => {
      if (data.toString() !== '2') return;
      if (answering) raw.send('3');
      else pingsAfter++;
    });
    raw.send('40/realtime,');
    await eventually(() => seen.messages.some((message) => message.includes('"connected"')), 'the raw client session opens');
    answering = false;
    await seen.closed;
    assert.ok(pingsAfter >= 1, 'engine.io pinged the silent client');
    await eventually(
      async () => metricValue(await doors.metrics(), 'speechbridge_sessions_closed_total', '{door="socketio",reason="heartbeat_timeout"}') === 1,
      'socketio heartbeat_timeout counted',
    );
    assert.equal(client.connected, true, 'the client that answers pings is still connected');
    client.close();
  });
});
