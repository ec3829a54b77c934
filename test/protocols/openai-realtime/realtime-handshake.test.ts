import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { after, before, test } from 'node:test';
import { WebSocket } from 'ws';
import { ScriptedResponder } from '../../../src/providers/testing/scripted-responder.ts';
import { ScriptedSynthesizer } from '../../../src/providers/testing/scripted-synthesizer.ts';
import { ScriptedTranscriber } from '../../../src/providers/testing/scripted-transcriber.ts';
import { RealtimeClient } from '../../e2e/realtime-harness.ts';
import { assembleProviders, startTestServer, type TestServer } from '../../helpers/server.ts';

const TOKEN = 'test-token-7f3a';
let server: TestServer;

before(async () => {
  const engines = assembleProviders({ transcriber: new ScriptedTranscriber(), responder: new ScriptedResponder(), synthesizer: new ScriptedSynthesizer() });
  server = await startTestServer(engines, { API_TOKENS: TOKEN });
});

after(async () => {
  await server.close();
});

interface Refusal {
  status: number;
  body: { error: { code: string; type: string; message: string } };
}

/** Connects and expects the upgrade to be refused with an HTTP status and a JSON body. */
function refusal(url: string, options: { headers?: Record<string, string>; protocols?: string[] } = {}): Promise<Refusal> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, options.protocols ?? [], { headers: options.headers });
    socket.once('open', () => {
      socket.close();
      reject(new Error('the upgrade was accepted'));
    });
    socket.once('error', () => {});
    socket.once('unexpected-response', (_request, response: IncomingMessage) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(body) }));
    });
  });
}

test('a connection without a token is refused at the upgrade with 401 and an OpenAI-style JSON error', async () => {
  const missing = await refusal(server.realtimeUrl);
  assert.equal(missing.status, 401);
  assert.equal(missing.body.error.code, 'invalid_api_key');
  assert.equal(missing.body.error.type, 'authentication_error');
  assert.match(missing.body.error.message, /Bearer/);

  const wrong = await refusal(server.realtimeUrl, { headers: { Authorization: 'Bearer not-the-token' } });
  assert.equal(wrong.status, 401);
  assert.doesNotMatch(JSON.stringify(wrong.body), /not-the-token/, 'the presented token is not echoed');

  const wrongProtocol = await refusal(server.realtimeUrl, { protocols: ['realtime', 'openai-insecure-api-key.nope'] });
  assert.equal(wrongProtocol.status, 401);
});

test('a bearer header, a ?token= query or the insecure-api-key subprotocol is accepted', async () => {
  const byHeader = await RealtimeClient.connect(server.realtimeUrl, { headers: { Authorization: `Bearer ${TOKEN}` } });
  assert.equal((await byHeader.next('session.created')).type, 'session.created');
  assert.equal(byHeader.socket.protocol, '', 'no subprotocol offered, none selected');
  await byHeader.close();

  const byQuery = await RealtimeClient.connect(`${server.realtimeUrl}?token=${TOKEN}`);
  assert.equal((await byQuery.next('session.created')).type, 'session.created');
  await byQuery.close();

  const byProtocol = await RealtimeClient.connect(server.realtimeUrl, { protocols: ['realtime', `openai-insecure-api-key.${TOKEN}`] });
  assert.equal(byProtocol.socket.protocol, 'realtime', 'the realtime subprotocol is selected, never the token one');
  const created = await byProtocol.next('session.created');
  assert.equal(created.session.type, 'realtime', 'GA events');
  await byProtocol.close();
});

test('a browser offering only the token subprotocol gets it selected back (its handshake fails otherwise) and a GA session', async () => {
  const alone = await RealtimeClient.connect(server.realtimeUrl, { protocols: [`openai-insecure-api-key.${TOKEN}`] });
  assert.equal(alone.socket.protocol, `openai-insecure-api-key.${TOKEN}`, 'the only protocol offered is selected');
  const created = await alone.next('session.created');
  assert.equal(created.session.type, 'realtime', 'GA events');
  await alone.close();

  // A protocol of the client's own next to the token: that one is selected, never the token.
  const own = await RealtimeClient.connect(server.realtimeUrl, { protocols: ['my-app.v2', `openai-insecure-api-key.${TOKEN}`] });
  assert.equal(own.socket.protocol, 'my-app.v2');
  assert.equal((await own.next('session.created')).session.type, 'realtime');
  await own.close();

  const wrong = await refusal(server.realtimeUrl, { protocols: ['openai-insecure-api-key.not-the-token'] });
  assert.equal(wrong.status, 401, 'a wrong token alone is still refused');
});

test('the beta subprotocol or the OpenAI-Beta header selects beta events', async () => {
  const alone = await RealtimeClient.connect(server.realtimeUrl, { protocols: ['openai-beta.realtime-v1', `openai-insecure-api-key.${TOKEN}`] });
  assert.equal(alone.socket.protocol, 'openai-beta.realtime-v1');
  const created = await alone.next('session.created');
  assert.deepEqual([created.session.type, created.session.input_audio_format, created.session.object], [undefined, 'pcm16', 'realtime.session']);
  await alone.close();

  // The beta docs' browser handshake: realtime, the key, and the beta marker.
  const browser = await RealtimeClient.connect(server.realtimeUrl, { protocols: ['realtime', `openai-insecure-api-key.${TOKEN}`, 'openai-beta.realtime-v1'] });
  assert.equal(browser.socket.protocol, 'realtime', 'realtime is selected whenever offered');
  const betaCreated = await browser.next('session.created');
  assert.deepEqual(betaCreated.session.modalities, ['text', 'audio'], 'beta session shape: audio with its transcript');
  assert.equal(typeof betaCreated.session.model, 'string', 'the beta session names its model');
  await browser.close();

  const byHeader = await RealtimeClient.connect(`${server.realtimeUrl}?intent=transcription`, {
    headers: { Authorization: `Bearer ${TOKEN}`, 'OpenAI-Beta': 'realtime=v1' },
  });
  const transcription = await byHeader.next('transcription_session.created');
  assert.equal(transcription.session.object, 'realtime.transcription_session');
  assert.equal(byHeader.types().includes('conversation.created'), false);
  await byHeader.close();
});

test('a GA connection starts with session.created then conversation.created, and a transcription intent gives a transcription session', async () => {
  const client = await RealtimeClient.connect(`${server.realtimeUrl}?model=llama3`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  const conversation = await client.next('conversation.created');
  assert.deepEqual(client.types().slice(0, 2), ['session.created', 'conversation.created']);
  assert.match(conversation.conversation.id, /^conv_/);
  const session = client.events[0].session;
  assert.deepEqual([session.object, session.model, session.audio.input.format.type], ['realtime.session', 'llama3', 'audio/pcm']);
  await client.close();

  const transcription = await RealtimeClient.connect(`${server.realtimeUrl}?intent=transcription`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  const created = await transcription.next('session.created');
  assert.equal(created.session.type, 'transcription');
  await transcription.close();
});

test('unknown upgrade paths get 404 and a bad intent gets 400, both as JSON', async () => {
  const unknown = await refusal(`${server.url.replace('http', 'ws')}/v1/nowhere`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  assert.equal(unknown.status, 404);
  assert.equal(unknown.body.error.code, 'not_found');
  const badIntent = await refusal(`${server.realtimeUrl}?intent=dictation`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  assert.equal(badIntent.status, 400);
  assert.match(badIntent.body.error.message, /intent/);
});
