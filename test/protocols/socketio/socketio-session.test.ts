/**
 * The Socket.IO /realtime door's protocol, with socket.io-client against the real server on
 * port 0: both transports, system_prompt, update_session validation, manual commits, bad
 * input, auth and shutdown. Scripted engines: these tests are about the door's own logic
 * (what reaches the engine, what comes back, in what order); the spoken turns on real engines
 * are in socketio-spoken.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { WebSocket } from 'ws';
import type { PcmAudio } from '../../../src/audio/pcm.ts';
import { ScriptedResponder } from '../../../src/providers/testing/scripted-responder.ts';
import { ScriptedSynthesizer } from '../../../src/providers/testing/scripted-synthesizer.ts';
import { ScriptedTranscriber } from '../../../src/providers/testing/scripted-transcriber.ts';
import type { RunningServer } from '../../../src/server/app.ts';
import { startTestServer } from '../../helpers/server.ts';
import { chunks, connectFailure, joinedAudio, RealtimeSocket, type ClientOptions } from './socketio-harness.ts';

const TOKEN = 'socketio-token-5c1e';
const MANUAL = { session: { turn_detection: null } };

let server: RunningServer;
let responder: ScriptedResponder;
let synthesizer: ScriptedSynthesizer;

before(async () => {
  responder = new ScriptedResponder({ script: { text: 'Scripted answer.' } });
  synthesizer = new ScriptedSynthesizer();
  server = await startTestServer({ transcriber: new ScriptedTranscriber({ texts: 'hello there' }), responder, synthesizer });
});

after(async () => {
  await server?.close();
});

/** 500 ms of a 300 Hz tone at 24 kHz: enough for a commit (100 ms minimum). */
function tone(ms = 500): PcmAudio {
  const samples = new Int16Array((24000 * ms) / 1000);
  for (let i = 0; i < samples.length; i++) samples[i] = Math.round(8000 * Math.sin((2 * Math.PI * 300 * i) / 24000));
  return { samples, sampleRate: 24000 };
}

async function connect(options: ClientOptions = {}): Promise<RealtimeSocket> {
  const client = await RealtimeSocket.connect(server.url, options);
  await client.next('connected');
  return client;
}

/** A manual-commit turn: audio then `commit`; resolves with the turn_done. */
async function manualTurn(client: RealtimeSocket): Promise<void> {
  const from = client.messages.length;
  client.sendAudio(chunks(tone()));
  client.emit('commit');
  await client.next('turn_done', 10_000, from);
}

test('both transports connect: polling only, websocket only, and polling upgraded to websocket', async () => {
  const cases: Array<[string, ClientOptions, string]> = [
    ['polling', { transports: ['polling'], upgrade: false }, 'polling'],
    ['websocket', { transports: ['websocket'] }, 'websocket'],
    ['upgrade', { transports: ['polling', 'websocket'] }, 'websocket'],
  ];
  for (const [label, options, transport] of cases) {
    const client = await connect(options);
    const connected = client.messages[0];
    assert.deepEqual(connected, { type: 'connected', content: { engine: 'scripted-transcriber+scripted-responder+scripted-synthesizer', sr: 24000 } }, label);
    client.emit('update_session', MANUAL);
    await manualTurn(client);
    if (transport === 'websocket' && client.socket.io.engine.transport.name !== 'websocket') {
      await new Promise((resolve) => client.socket.io.engine.once('upgrade', resolve));
    }
    assert.equal(client.socket.io.engine.transport.name, transport, label);
    const types = client.types();
    assert.ok(types.includes('transcript_final') && types.includes('audio'), `${label}: ${types.join(', ')}`);
    assert.equal(client.ofType('transcript_final')[0].content, 'hello there');
    assert.ok(joinedAudio(client.ofType('audio')).samples.length > 0, `${label}: audio came back`);
    assert.equal(client.ofType('error').length, 0, `${label}: ${JSON.stringify(client.ofType('error'))}`);
    client.close();
  }
});

test('the HTTP routes and WebSocket doors keep working beside /socket.io/', async () => {
  const handshake = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling`);
  assert.equal(handshake.status, 200);
  assert.match(await handshake.text(), /^0\{"sid":"/, 'engine.io answers the polling handshake, not fastify');
  const missing = await fetch(`${server.url}/no-such-route`);
  assert.equal(missing.status, 404);
  assert.equal((await missing.json()).error.code, 'not_found');
  assert.equal((await fetch(`${server.url}/`)).status, 200);
  // An upgrade on an unknown path is still answered 404 by the upgrade router.
  const status = await new Promise<number>((resolve, reject) => {
    const socket = new WebSocket(`${server.url.replace(/^http/, 'ws')}/socket.io-nope/`);
    socket.once('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
    socket.once('open', () => reject(new Error('an unknown path was upgraded')));
    socket.once('error', () => {});
  });
  assert.equal(status, 404);
});

test('the main namespace is refused with a connect_error naming /realtime', async () => {
  const { io } = await import('socket.io-client');
  const socket = io(server.url, { reconnection: false, forceNew: true });
  const error = await new Promise<Error>((resolve) => socket.once('connect_error', resolve));
  socket.close();
  assert.match(error.message, /\/realtime/);
});

test('system_prompt sets the instructions the responder receives, as a string, {prompt} or {system_prompt}', async () => {
  const client = await connect();
  client.emit('update_session', MANUAL);
  for (const [payload, expected] of [
    ['You are a pirate.', 'You are a pirate.'],
    [{ prompt: 'Answer in one word.' }, 'Answer in one word.'],
    [{ system_prompt: 'Be brief and kind.' }, 'Be brief and kind.'],
  ] as const) {
    const calls = responder.requests.length;
    client.emit('system_prompt', payload);
    await manualTurn(client);
    assert.equal(responder.requests.length, calls + 1);
    assert.equal(responder.requests[calls].instructions, expected);
  }
  client.emit('system_prompt', { prompt: 42 });
  const error = await client.nextError();
  assert.match(error.content, /system_prompt.*string/);
  assert.equal(client.ofType('error').length, 1, 'only the bad prompt was refused');
  client.close();
});

test('update_session: a voice and VAD knobs are accepted, bad values get an error naming the field', async () => {
  const client = await connect();
  client.emit('update_session', {
    session: { voice: 'echo', turn_detection: { type: 'server_vad', aggressiveness: 3, start_ms: 100, end_ms: 600, pad_ms: 200, max_ms: 8000 } },
  });
  client.emit('update_session', MANUAL);
  await manualTurn(client);
  assert.equal(synthesizer.calls.at(-1)?.voice, 'echo', 'the answer is spoken in the new voice');
  assert.deepEqual(client.ofType('error'), []);

  const refusals: Array<[unknown, RegExp]> = [
    [{ session: { turn_detection: { end_ms: 50 } } }, /session\.turn_detection\.end_ms must be at least 100, got 50/],
    [{ session: { turn_detection: { aggressiveness: 7 } } }, /session\.turn_detection\.aggressiveness must be at most 3, got 7/],
    [{ session: { turn_detection: { max_ms: 'long' } } }, /session\.turn_detection\.max_ms must be a number, got "long"/],
    [{ session: { turn_detection: { type: 'semantic_vad' } } }, /session\.turn_detection\.type must be "server_vad" or "none", got "semantic_vad"/],
    [{ session: { turn_detection: 'off' } }, /session\.turn_detection must be an object, got "off"/],
    [{ session: { turn_detection: { silence_ms: 300 } } }, /unknown field "silence_ms" in session\.turn_detection; known: type, aggressiveness/],
    [{ session: { voice: 'echo', temperature: 0.5 } }, /unknown field "temperature" in session; known: voice, turn_detection/],
    [{ session: { voice: 5 } }, /session\.voice must be a string, got 5/],
    [{ voice: 'echo' }, /session must be an object, got nothing/],
    [{ session: {}, voice: 'echo' }, /unknown field "voice" in the payload; known: session/],
    ['echo', /the payload must be an object, got "echo"/],
  ];
  for (const [payload, expected] of refusals) {
    const error = client.nextError();
    client.emit('update_session', payload);
    const message = await error;
    assert.match(message.content, expected);
    assert.match(message.content, /^invalid "update_session" message: /);
    assert.equal(message.code, 'invalid_value');
  }
  // A refused update changes nothing: the voice is still echo, and the socket still works.
  await manualTurn(client);
  assert.equal(synthesizer.calls.at(-1)?.voice, 'echo');
  client.close();
});

test('audio with commit: true commits the turn and answers it', async () => {
  const client = await connect();
  client.emit('update_session', MANUAL);
  client.sendAudio(chunks(tone()), true);
  await client.next('turn_done');
  assert.deepEqual(
    client.types().filter((type) => type !== 'audio'),
    ['connected', 'transcript_final', 'turn_done'],
  );
  assert.ok(client.ofType('audio').length > 1, 'the answer is streamed in several hops');
  client.close();
});

test('a commit with too little audio is refused and creates no response', async () => {
  const client = await connect();
  client.emit('update_session', MANUAL);
  const calls = responder.requests.length;
  const error = client.nextError();
  client.emit('commit');
  assert.match((await error).content, /holds 0 ms of audio; a commit needs at least 100 ms/);
  await manualTurn(client);
  assert.equal(responder.requests.length, calls + 1, 'only the valid turn was answered');
  assert.equal(client.ofType('turn_done').length, 1);
  client.close();
});

test('bad input gets an error naming the problem, and the socket keeps working', async () => {
  const client = await connect();
  client.emit('update_session', MANUAL);
  const cases: Array<[string, unknown, RegExp, string]> = [
    ['audio', { audio: 'not base64!' }, /audio is not valid base64/, 'invalid_audio'],
    ['audio', { audio: 'AA' }, /audio is not valid base64: its length 2 is not a multiple of 4/, 'invalid_audio'],
    ['audio', { audio: 'AAAA' }, /audio decodes to 3 bytes, but pcm16 needs an even count/, 'invalid_audio'],
    ['audio', { audio: 123 }, /audio must be a base64 string/, 'invalid_value'],
    ['audio', 'AAAA', /the payload must be an object/, 'invalid_value'],
    ['audio', { audio: 'AAAA', commit: 'yes' }, /commit must be a boolean, got "yes"/, 'invalid_value'],
    ['audio', undefined, /the payload must be an object, got nothing/, 'invalid_value'],
    ['system_prompt', [1, 2], /the payload must be the prompt as a string/, 'invalid_value'],
    ['speak', { text: 'hi' }, /unknown event "speak"; the \/realtime namespace takes update_session, audio, commit, system_prompt/, 'unknown_event'],
  ];
  for (const [event, payload, expected, code] of cases) {
    const error = client.nextError();
    client.emit(event, payload);
    const message = await error;
    assert.match(message.content, expected, `${event} ${JSON.stringify(payload)}`);
    assert.equal(message.code, code);
  }
  // The bad audio was not appended: a valid turn afterwards works as usual.
  await manualTurn(client);
  assert.equal(client.ofType('transcript_final').at(-1)?.content, 'hello there');
  client.close();
});

test('binary PCM in the audio field is accepted; an odd byte count is refused', async () => {
  const client = await connect();
  client.emit('update_session', MANUAL);
  const error = client.nextError();
  client.emit('audio', { audio: Buffer.alloc(3) });
  assert.match((await error).content, /audio holds 3 bytes, but PCM16 needs an even count/);
  const pcm = tone();
  client.emit('audio', { audio: Buffer.from(pcm.samples.buffer), commit: true });
  await client.next('turn_done');
  client.close();
});

test('an acknowledgement callback gets the outcome of the event', async () => {
  const client = await connect();
  const accepted = await client.socket.emitWithAck('update_session', { session: { voice: 'alloy' } });
  assert.deepEqual(accepted, { ok: true });
  const refused = await client.socket.emitWithAck('update_session', { session: { voice: '' } });
  assert.equal(refused.ok, false);
  assert.match(refused.error, /session\.voice must be at least 1 character, got ""/);
  client.close();
});

test('with API_TOKENS set: no token is refused with a reason; a header, the auth payload or the query is accepted', async () => {
  const secured = await startTestServer(
    { transcriber: new ScriptedTranscriber(), responder: new ScriptedResponder(), synthesizer: new ScriptedSynthesizer() },
    { API_TOKENS: TOKEN },
  );
  try {
    for (const transports of [['websocket'], ['polling']] as const) {
      const missing = await connectFailure(secured.url, { transports: [...transports] });
      assert.match(missing.message, /missing API token/);
      assert.equal(missing.data?.code, 'invalid_api_key');
      const wrong = await connectFailure(secured.url, { transports: [...transports], auth: { token: 'not-the-token' } });
      assert.equal(wrong.message, 'invalid API token');
    }
    const ways: ClientOptions[] = [
      { extraHeaders: { Authorization: `Bearer ${TOKEN}` } },
      { auth: { token: TOKEN } },
      { query: { token: TOKEN } },
      { query: { access_token: TOKEN } },
    ];
    for (const way of ways) {
      for (const transports of [['websocket'], ['polling']]) {
        const client = await RealtimeSocket.connect(secured.url, { ...way, transports });
        const connected = await client.next('connected');
        assert.equal(connected.content.sr, 24000, JSON.stringify(way));
        client.close();
      }
    }
  } finally {
    await secured.close();
  }
});

test('closing the server ends the session on either transport: the client is disconnected and the response cancelled', async () => {
  for (const transports of [['websocket'], ['polling']]) {
    const slowResponder = new ScriptedResponder({ script: { text: 'A long answer that keeps going.' }, firstTokenLatencyMs: 30_000 });
    const closing = await startTestServer({ transcriber: new ScriptedTranscriber(), responder: slowResponder, synthesizer: new ScriptedSynthesizer() });
    const client = await RealtimeSocket.connect(closing.url, { transports, upgrade: false });
    await client.next('connected');
    client.emit('update_session', MANUAL);
    client.sendAudio(chunks(tone()), true);
    await client.next('transcript_final');
    while (slowResponder.calls.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    const disconnected = new Promise<string>((resolve) => client.socket.once('disconnect', resolve));
    await closing.close();
    assert.match(await disconnected, /io server disconnect|transport close/, transports[0]);
    assert.equal(slowResponder.calls[0].aborted, true, 'the response was cancelled upstream');
    assert.ok(
      client.ofType('error').some((message) => /shutting down/.test(message.content)),
      transports[0],
    );
    assert.ok(client.types().includes('turn_done'), 'the cancelled turn still ended');
  }
});

test('limits: idle and expired sessions get an error and are disconnected; an oversize message closes the connection', async () => {
  const engines = { transcriber: new ScriptedTranscriber(), responder: new ScriptedResponder(), synthesizer: new ScriptedSynthesizer() };
  const limited = await startTestServer(engines, { REALTIME_IDLE_TIMEOUT_SECONDS: '0.5', REALTIME_MAX_MESSAGE_MB: '0.01' });
  const expiring = await startTestServer(engines, { REALTIME_MAX_SESSION_MINUTES: '0.005' });
  try {
    for (const [target, code, pattern] of [
      [limited, 'session_idle', /nothing was received for 0.5 s \(REALTIME_IDLE_TIMEOUT_SECONDS\)/],
      [expiring, 'session_expired', /maximum duration \(REALTIME_MAX_SESSION_MINUTES\)/],
    ] as const) {
      const client = await RealtimeSocket.connect(target.url, { transports: ['websocket'] });
      const disconnected = new Promise<string>((resolve) => client.socket.once('disconnect', resolve));
      const error = await client.next('error', 5000);
      assert.equal(error.code, code);
      assert.match(error.content, pattern);
      assert.equal(await disconnected, 'io server disconnect');
    }

    // 10 485 bytes per message: 12 000 base64 characters of audio are over it.
    const client = await RealtimeSocket.connect(limited.url, { transports: ['websocket'] });
    await client.next('connected');
    const disconnected = new Promise<string>((resolve) => client.socket.once('disconnect', resolve));
    client.emit('audio', { audio: Buffer.alloc(9000).toString('base64') });
    assert.equal(await disconnected, 'transport close');
  } finally {
    await Promise.all([limited.close(), expiring.close()]);
  }
});
