import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { encodeBase64Audio } from '../../../src/audio/base64.ts';
import { ScriptedResponder } from '../../../src/providers/testing/scripted-responder.ts';
import { ScriptedSynthesizer } from '../../../src/providers/testing/scripted-synthesizer.ts';
import { ScriptedTranscriber } from '../../../src/providers/testing/scripted-transcriber.ts';
import { RealtimeClient } from '../../e2e/realtime-harness.ts';
import { assembleProviders, startTestServer, type TestServer } from '../../helpers/server.ts';

function scripted(options: { responder?: ScriptedResponder; synthesizer?: ScriptedSynthesizer } = {}) {
  return assembleProviders({
    transcriber: new ScriptedTranscriber(),
    responder: options.responder ?? new ScriptedResponder(),
    synthesizer: options.synthesizer ?? new ScriptedSynthesizer(),
  });
}

async function withServer(env: Record<string, string>, engines: ReturnType<typeof scripted>, body: (server: TestServer) => Promise<void>): Promise<void> {
  const server = await startTestServer(engines, env);
  try {
    await body(server);
  } finally {
    await server.close();
  }
}

/** Reads one metric's value from GET /metrics. */
async function metric(server: TestServer, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = text.split('\n').find((entry) => entry.startsWith(`${name}${labels} `) || (labels === '' && entry.startsWith(`${name} `)));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

/** Proves the session still answers: an item create is acknowledged with conversation.item.added. */
async function stillServes(client: RealtimeClient): Promise<void> {
  const id = `item_alive_${Math.random().toString(36).slice(2, 8)}`;
  client.send({ type: 'conversation.item.create', item: { id, type: 'message', role: 'user', content: [{ type: 'input_text', text: 'still there?' }] } });
  const added = await client.next((event) => event.type === 'conversation.item.added' && event.item.id === id);
  assert.equal(added.item.content[0].text, 'still there?');
}

test('a message over REALTIME_MAX_MESSAGE_MB gets message_too_large and the session stays usable; past twice the limit ws closes 1009', async () => {
  // 0.01 MB = 10486 bytes.
  await withServer({ REALTIME_MAX_MESSAGE_MB: '0.01' }, scripted(), async (server) => {
    const client = await RealtimeClient.connect(server.realtimeUrl);
    await client.next('session.created');
    const audio = encodeBase64Audio(new Int16Array(6000), 'pcm16'); // 16000 base64 characters.
    client.send({ type: 'input_audio_buffer.append', event_id: 'big_1', audio });
    const error = await client.next('error');
    assert.deepEqual([error.error.code, error.error.event_id, error.error.type], ['message_too_large', 'big_1', 'invalid_request_error']);
    assert.match(error.error.message, /10486 bytes/);
    await stillServes(client);

    client.send({ type: 'input_audio_buffer.append', audio: encodeBase64Audio(new Int16Array(12000), 'pcm16') });
    const closed = await client.closed;
    assert.equal(closed.code, 1009);
  });
});

test('bad input gets an error event naming code, param and event_id, and the socket stays open', async () => {
  await withServer({}, scripted(), async (server) => {
    const client = await RealtimeClient.connect(server.realtimeUrl);
    await client.next('session.created');
    const cases: Array<[string, string, string | null, string | null]> = [
      ['{"type":"input_audio_buffer.append","event_id":"e1",', 'invalid_json', null, null],
      ['{"type":"conversation.item.explode","event_id":"e2"}', 'invalid_value', 'type', 'e2'],
      ['{"type":"conversation.item.truncate","event_id":"e3","item_id":"x","content_index":0}', 'invalid_value', 'audio_end_ms', 'e3'],
      [
        '{"type":"session.update","event_id":"e4","session":{"type":"realtime","output_modalities":"audio"}}',
        'invalid_value',
        'session.output_modalities',
        'e4',
      ],
      ['{"type":"input_audio_buffer.append","event_id":"e5","audio":"%%%"}', 'invalid_value', 'audio', 'e5'],
      ['{"type":"input_audio_buffer.append","event_id":"e6","audio":"AAAA"}', 'invalid_value', 'audio', 'e6'],
    ];
    for (const [message, code, param, eventId] of cases) {
      const before = client.events.length;
      client.socket.send(message);
      const error = await client.next('error', 5000, before);
      assert.deepEqual([error.error.code, error.error.param, error.error.event_id], [code, param, eventId], message);
      assert.equal(typeof error.error.message, 'string');
    }
    const before = client.events.length;
    client.send({ type: 'input_audio_buffer.commit', event_id: 'e7' });
    const empty = await client.next('error', 5000, before);
    assert.deepEqual([empty.error.code, empty.error.event_id], ['input_audio_buffer_commit_empty', 'e7']);
    await stillServes(client);
    await client.close();
  });
});

test('REALTIME_MAX_SESSION_MINUTES ends the session with session_expired, then a 1000 close', async () => {
  // 0.005 minutes = 300 ms.
  await withServer({ REALTIME_MAX_SESSION_MINUTES: '0.005' }, scripted(), async (server) => {
    const client = await RealtimeClient.connect(server.realtimeUrl);
    const closed = await client.closed;
    assert.deepEqual([closed.code, closed.reason], [1000, 'session_expired']);
    const last = client.events.at(-1)!;
    assert.deepEqual([last.type, last.error?.code], ['error', 'session_expired']);
    assert.equal(await metric(server, 'speechbridge_sessions_closed_total', '{door="realtime",reason="session_expired"}'), 1);
  });
});

test('REALTIME_IDLE_TIMEOUT_SECONDS closes a session that sends nothing, but not one that keeps talking', async () => {
  await withServer({ REALTIME_IDLE_TIMEOUT_SECONDS: '0.6' }, scripted(), async (server) => {
    const busy = await RealtimeClient.connect(server.realtimeUrl);
    const idle = await RealtimeClient.connect(server.realtimeUrl);
    // 12 appends 100 ms apart: the busy session is never 0.6 s without a message.
    for (let i = 0; i < 12; i++) {
      busy.send({ type: 'input_audio_buffer.append', audio: encodeBase64Audio(new Int16Array(480), 'pcm16') });
      await sleep(100);
    }
    const idleClosed = await idle.closed;
    assert.deepEqual([idleClosed.code, idleClosed.reason], [1000, 'session_idle']);
    assert.equal(idle.events.at(-1)!.error?.code, 'session_idle');
    assert.equal(busy.socket.readyState, busy.socket.OPEN, 'the session that kept sending is still open');
    const busyClosed = await busy.closed;
    assert.equal(busyClosed.reason, 'session_idle');
  });
});

test('a client that stops reading is cut off at the backlog limit: input paused, response cancelled upstream, session closed', async () => {
  // 300 characters at 1 s each: a 5-minute answer, 19 MB of base64 audio, far more than the
  // 64 KB backlog limit plus what the kernel's socket buffers can hold.
  const text = 'a'.repeat(300);
  const responder = new ScriptedResponder({ script: { text }, deltaChars: 300 });
  const synthesizer = new ScriptedSynthesizer({ msPerChar: 1000, hopMs: 100 });
  // The audio bounds are raised: the answer's 200-character sentences run past
  // MAX_SENTENCE_AUDIO_SECONDS, and this test is about the client's backlog, not the synthesizer.
  const env = { REALTIME_MAX_BUFFERED_KB: '64', REALTIME_SLOW_CONSUMER_SECONDS: '1', MAX_SENTENCE_AUDIO_SECONDS: '600', MAX_RESPONSE_AUDIO_SECONDS: '600' };
  await withServer(env, scripted({ responder, synthesizer }), async (server) => {
    const client = await RealtimeClient.connect(server.realtimeUrl);
    await client.next('session.created');
    client.send({ type: 'response.create', response: { output_modalities: ['audio'] } });
    await client.next('response.output_audio.delta');
    client.socket.pause();

    const deadline = Date.now() + 15_000;
    while ((await metric(server, 'speechbridge_sessions_closed_total', '{door="realtime",reason="slow_consumer"}')) < 1) {
      assert.ok(Date.now() < deadline, 'the server never applied its slow-consumer policy');
      await sleep(100);
    }
    const peak = await metric(server, 'speechbridge_outbound_backlog_peak_bytes', '{door="realtime"}');
    assert.ok(peak > 64 * 1024, `the backlog passed the limit (${peak} bytes) before the policy acted`);
    assert.ok(peak <= 2 * 64 * 1024 + 64 * 1024, `the backlog stayed bounded by twice the limit plus one event, got ${peak} bytes`);
    assert.equal(synthesizer.calls[0].aborted, true, 'the response was cancelled upstream');
    assert.equal(synthesizer.calls[0].completed, false);
    client.socket.resume();
    const closed = await client.closed;
    assert.notEqual(closed.code, 1000);
  });
});

test('closing the socket cancels the running response upstream', async () => {
  const responder = new ScriptedResponder({ script: { text: 'One. Two. Three. Four. Five. Six.' }, deltaLatencyMs: 200 });
  await withServer({}, scripted({ responder }), async (server) => {
    const client = await RealtimeClient.connect(server.realtimeUrl);
    await client.next('session.created');
    client.send({ type: 'response.create' });
    await client.next('response.created');
    client.socket.terminate();
    const deadline = Date.now() + 5000;
    while (!responder.calls[0]?.aborted) {
      assert.ok(Date.now() < deadline, 'the responder call was never aborted');
      await sleep(20);
    }
    assert.equal(responder.calls[0].completed, false);
  });
});

test('shutting the server down cancels running responses, tells the client, and closes with 1001', async () => {
  const responder = new ScriptedResponder({ script: { text: 'One. Two. Three. Four. Five. Six.' }, deltaLatencyMs: 200 });
  const server = await startTestServer(scripted({ responder }));
  const client = await RealtimeClient.connect(server.realtimeUrl);
  await client.next('session.created');
  client.send({ type: 'response.create' });
  await client.next('response.created');
  await server.close();
  const closed = await client.closed;
  assert.deepEqual([closed.code, closed.reason], [1001, 'server_shutdown']);
  const done = client.events.find((event) => event.type === 'response.done');
  assert.deepEqual(
    [done?.response.status, done?.response.status_details?.reason],
    ['cancelled', 'disconnected'],
    'the client hears its response end before the close',
  );
  assert.equal(responder.calls[0].aborted, true);
});
