/**
 * /v1/transcriptions faults and auth: each bad input gets `{"error","code"}` and the same socket
 * then still transcribes spoken audio (real server, WebRTC VAD, pocketsphinx with a command
 * grammar); a missing token is refused with 401 at the upgrade.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { RunningServer } from '../../../src/server/app.ts';
import { createPocketsphinxTranscriber } from '../../../src/providers/local/pocketsphinx-transcriber.ts';
import { startTestServer } from '../../helpers/server.ts';
import { COMMAND_GRAMMAR, requireTool } from '../../helpers/spoken.ts';
import { chunksOf, concatPcm, mediaRecorderWebm, pcmBytes, silence, spokenPcm, streamChunks, TranscriptionClient } from './transcriptions-harness.ts';

const TOKEN = 'transcriptions-fault-token';
/** 0.05 MB = 52429 bytes per message. */
const MAX_MESSAGE_MB = '0.05';
const MAX_MESSAGE_BYTES = Math.round(0.05 * 1024 * 1024);

let server: RunningServer;
let base: string;
let url: string;
/** 16 kHz PCM16, named in each `start` that sends it (the default is 24 kHz). */
let speech: Buffer;
const AT_16K = { sample_rate: 16000 };

before(async () => {
  await requireTool('pocketsphinx_continuous', 'apt-get install pocketsphinx pocketsphinx-en-us');
  const transcriber = await createPocketsphinxTranscriber({ grammar: COMMAND_GRAMMAR, timeoutMs: 30_000 });
  server = await startTestServer({ transcriber }, { API_TOKENS: TOKEN, REALTIME_MAX_MESSAGE_MB: MAX_MESSAGE_MB });
  base = `${server.url.replace(/^http/, 'ws')}/v1/transcriptions`;
  url = `${base}?token=${TOKEN}`;
  speech = pcmBytes(concatPcm([silence(300), (await spokenPcm('turn on the radio')).samples, silence(1000)]));
});

after(async () => {
  await server?.close();
});

/** Proves the socket still works: spoken PCM gives its final. */
async function stillTranscribes(client: TranscriptionClient): Promise<void> {
  const after = client.messages.length;
  await streamChunks(client, chunksOf(speech, 3200), 5);
  const final = await client.next((message) => 'final' in message, 20_000, after);
  assert.equal(final.final, 'turn on the radio');
}

test('audio before start gets an error; the socket then starts and transcribes', async () => {
  const client = await TranscriptionClient.connect(url);
  client.sendBinary(speech.subarray(0, 3200));
  const error = await client.nextError();
  assert.equal(error.code, 'invalid_value');
  assert.match(error.error, /before the session started.*"action":"start"/);
  client.send({ action: 'start', ...AT_16K });
  await client.next((message) => 'session_id' in message);
  await stillTranscribes(client);
  await client.close();
});

test('JSON garbage, a non-object, an unknown action and a bad start field each get an error; a corrected start works', async () => {
  const client = await TranscriptionClient.connect(url);
  client.sendText('{"action": "start"');
  const garbage = await client.nextError();
  assert.equal(garbage.code, 'invalid_json');
  assert.match(garbage.error, /not valid JSON/);

  client.sendText('[1,2]');
  const array = await client.nextError(client.messages.length);
  assert.match(array.error, /JSON object with an "action"/);

  client.send({ action: 'pause' });
  const unknown = await client.nextError(client.messages.length);
  assert.equal(unknown.code, 'invalid_value');
  assert.match(unknown.error, /action "pause".*"start", "stop" or "end"/);

  client.send({ action: 'start', sample_rate: 12 });
  const badRate = await client.nextError(client.messages.length);
  assert.equal(badRate.code, 'invalid_value');
  assert.match(badRate.error, /sample_rate/);

  client.send({ action: 'start', language: 'English!' });
  const badLanguage = await client.nextError(client.messages.length);
  assert.match(badLanguage.error, /language/);

  client.send({ action: 'start', language: 'en', unknown_field: true, ...AT_16K });
  await client.next((message) => 'session_id' in message);
  client.sendText('not json at all');
  assert.equal((await client.nextError(client.messages.length)).code, 'invalid_json');
  await stillTranscribes(client);
  await client.close();
});

test('a second start is refused with an error; the running session keeps transcribing', async () => {
  const client = await TranscriptionClient.started(url, AT_16K);
  const sessionId = client.messages[0].session_id;
  client.send({ action: 'start', language: 'en' });
  const error = await client.nextError();
  assert.equal(error.code, 'invalid_value');
  assert.match(error.error, /already started/);
  await stillTranscribes(client);
  assert.equal(client.messages.filter((message) => 'session_id' in message).length, 1);
  assert.equal(client.messages[0].session_id, sessionId);
  await client.close();
});

test('a message over REALTIME_MAX_MESSAGE_MB gets message_too_large and is dropped; the socket keeps transcribing', async () => {
  const client = await TranscriptionClient.started(url, AT_16K);
  client.sendBinary(Buffer.alloc(MAX_MESSAGE_BYTES + 2));
  const error = await client.nextError();
  assert.equal(error.code, 'message_too_large');
  assert.match(error.error, new RegExp(`${MAX_MESSAGE_BYTES + 2} bytes; the limit is ${MAX_MESSAGE_BYTES} bytes`));
  await stillTranscribes(client);
  // Past twice the limit ws itself closes the socket (1009), so no client can make the server buffer more.
  client.sendBinary(Buffer.alloc(2 * MAX_MESSAGE_BYTES + 2));
  assert.equal((await client.closed).code, 1009);
});

test('a WebM stream ffmpeg cannot decode gets unreadable_audio; a new WebM stream on the same socket is transcribed', async () => {
  const client = await TranscriptionClient.started(url);
  // The EBML signature (so it is taken for WebM) followed by bytes that are no WebM.
  const broken = Buffer.concat([Buffer.from([0x1a, 0x45, 0xdf, 0xa3]), Buffer.alloc(2000, 0x5a)]);
  client.sendBinary(broken);
  const error = await client.nextError();
  assert.equal(error.code, 'unreadable_audio');
  assert.match(error.error, /could not be decoded.*new webm stream/);
  // A restarted recorder: a fresh stream with its header.
  const webm = await mediaRecorderWebm(concatPcm([silence(300), (await spokenPcm('turn off the heater')).samples, silence(1000)]));
  const after = client.messages.length;
  await streamChunks(client, chunksOf(webm, 4096), 20);
  const final = await client.next((message) => 'final' in message, 20_000, after);
  assert.equal(final.final, 'turn off the heater');
  await client.close();
});

test('stop before start closes the socket normally, with no message', async () => {
  const client = await TranscriptionClient.connect(url);
  client.send({ action: 'stop' });
  const closed = await client.closed;
  assert.equal(closed.code, 1000);
  assert.deepEqual(client.messages, []);
});

test('without a token the upgrade is refused with 401 and a JSON error; ?token= and the subprotocol token are accepted', async () => {
  const refused = await TranscriptionClient.connect(base).then(
    () => assert.fail('connected without a token'),
    (error: { status?: number; body?: string }) => error,
  );
  assert.equal(refused.status, 401);
  assert.equal(JSON.parse(refused.body ?? '{}').error.code, 'invalid_api_key');

  const wrong = await TranscriptionClient.connect(`${base}?token=wrong`).then(
    () => assert.fail('connected with a wrong token'),
    (error: { status?: number }) => error,
  );
  assert.equal(wrong.status, 401);

  const byQuery = await TranscriptionClient.started(url);
  assert.match(byQuery.messages[0].session_id, /^sess_/);
  await byQuery.close();

  // What a browser does: it cannot set headers, so the token rides in a subprotocol.
  const byProtocol = await TranscriptionClient.connect(base, { protocols: [`openai-insecure-api-key.${TOKEN}`] });
  assert.equal(byProtocol.socket.protocol, `openai-insecure-api-key.${TOKEN}`);
  byProtocol.send({ action: 'start' });
  await byProtocol.next((message) => 'session_id' in message);
  await byProtocol.close();

  // With a protocol of its own next to the token, that one is selected and the token is not echoed.
  const named = await TranscriptionClient.connect(base, { protocols: ['captions.v1', `openai-insecure-api-key.${TOKEN}`] });
  assert.equal(named.socket.protocol, 'captions.v1');
  await named.close();
});
