/**
 * Bad input on the gateway WebSocket: each mistake gets an `error` naming the problem, and the
 * same socket then runs a valid turn on real engines (pocketsphinx, echo, espeak-ng).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { EchoResponder } from '../../../src/providers/local/echo-responder.ts';
import type { RunningServer } from '../../../src/server/app.ts';
import { startTestServer } from '../../helpers/server.ts';
import { GatewayClient, type GatewayMessage, gatewayUrl, pcmBytes, phraseAudio, type RealEngines, realEngines } from './gateway-harness.ts';

/** 0.05 MB: a 20 ms frame (960 bytes) passes, a 60 KB message does not. */
const MAX_MESSAGE_BYTES = Math.round(0.05 * 1024 * 1024);

let engines: RealEngines;
let server: RunningServer;

before(async () => {
  engines = await realEngines();
  server = await startTestServer(
    { transcriber: engines.transcriber, responder: new EchoResponder(), synthesizer: engines.synthesizer },
    { REALTIME_MAX_MESSAGE_MB: '0.05' },
  );
});

after(async () => {
  await server?.close();
  await engines?.synthesizer.close();
});

/** Sends something wrong and returns the error it gets (the next error after those already received). */
async function errorFor(client: GatewayClient, send: () => void): Promise<GatewayMessage> {
  const after = client.messages.length;
  send();
  return client.next('error', 5000, after);
}

async function assertValidTurn(client: GatewayClient, phrase: string): Promise<void> {
  client.sendFrames(pcmBytes(await phraseAudio(phrase, 24000, 300, 1000)), 48);
  const final = await client.next('stt_final');
  assert.equal(final.text, phrase);
  client.send({ type: 'end' });
  assert.equal((await client.closed).code, 1000);
  assert.equal(client.messages.find((message) => message.type === 'text_final')?.text, phrase);
  assert.equal(client.messages.at(-1)?.type, 'tts_end');
}

test('before start: audio, JSON garbage, unknown types and unknown formats each get an error; then a valid session runs', async () => {
  const client = await GatewayClient.connect(gatewayUrl(server.url));

  const binaryEarly = await errorFor(client, () => client.sendBinary(Buffer.alloc(960)));
  assert.equal(binaryEarly.code, 'unexpected_message');
  assert.match(binaryEarly.message, /audio arrived before start/);

  const base64Early = await errorFor(client, () => client.send({ type: 'audio', audio: Buffer.alloc(960).toString('base64') }));
  assert.equal(base64Early.code, 'unexpected_message');
  assert.match(base64Early.message, /before start/);

  const garbage = await errorFor(client, () => client.send('{"type": "start", oops'));
  assert.equal(garbage.code, 'invalid_json');
  assert.match(garbage.message, /not valid JSON/);

  const unknown = await errorFor(client, () => client.send({ type: 'configure' }));
  assert.equal(unknown.code, 'unknown_event');
  assert.match(unknown.message, /"configure".*start, audio, end/);

  const notObject = await errorFor(client, () => client.send('[1, 2]'));
  assert.equal(notObject.code, 'invalid_value');

  const badInput = await errorFor(client, () => client.send({ type: 'start', input_format: 'opus' }));
  assert.equal(badInput.code, 'unsupported_format');
  assert.equal(badInput.param, 'input_format');
  assert.match(badInput.message, /input_format "opus" is not a supported audio format/);

  const badOutput = await errorFor(client, () => client.send({ type: 'start', output_format: 'pcm_12345' }));
  assert.equal(badOutput.code, 'unsupported_format');
  assert.equal(badOutput.param, 'output_format');
  assert.match(badOutput.message, /pcm rate 12345/);

  const badField = await errorFor(client, () => client.send({ type: 'start', voice_id: 42 }));
  assert.equal(badField.code, 'invalid_value');
  assert.equal(badField.param, 'voice_id');

  assert.ok(!client.messages.some((message) => message.type === 'ready'), 'no session started from a refused start');
  client.send({ type: 'start', input_format: 'pcm_24000' });
  const ready = await client.next('ready');
  assert.equal(ready.stt_input_format, 'pcm_24000');
  await assertValidTurn(client, 'turn on the light');
});

test('after start: bad base64, an odd PCM byte count in an audio message, oversize messages, a second start and garbage each get an error; the turn still works', async () => {
  const client = await GatewayClient.connect(gatewayUrl(server.url));
  client.send({ type: 'start', tts_model: 'some-tts-model' });
  const ready = await client.next('ready');
  assert.equal(ready.tts_model, 'some-tts-model', "tts_model is the session's speech model");

  const badBase64 = await errorFor(client, () => client.send({ type: 'audio', audio: 'not base64 at all!' }));
  assert.equal(badBase64.code, 'invalid_audio');
  assert.match(badBase64.message, /audio/);

  const missingAudio = await errorFor(client, () => client.send({ type: 'audio' }));
  assert.equal(missingAudio.code, 'invalid_value');
  assert.equal(missingAudio.param, 'audio');

  const odd = await errorFor(client, () => client.send({ type: 'audio', audio: Buffer.alloc(961).toString('base64') }));
  assert.equal(odd.code, 'invalid_audio');
  assert.match(odd.message, /961 bytes.*even/);

  const large = await errorFor(client, () => client.sendBinary(Buffer.alloc(MAX_MESSAGE_BYTES + 2)));
  assert.equal(large.code, 'message_too_large');
  assert.match(large.message, new RegExp(`limit is ${MAX_MESSAGE_BYTES} bytes`));

  const again = await errorFor(client, () => client.send({ type: 'start' }));
  assert.equal(again.code, 'unexpected_message');
  assert.match(again.message, /start was already received/);

  const garbage = await errorFor(client, () => client.send('garbage'));
  assert.equal(garbage.code, 'invalid_json');

  await assertValidTurn(client, 'turn on the radio');
});

test('end before start closes normally; audio after end gets one error (not one per frame) while the session finishes', async () => {
  const early = await GatewayClient.connect(gatewayUrl(server.url));
  early.send({ type: 'end' });
  assert.equal((await early.closed).code, 1000);

  const client = await GatewayClient.connect(gatewayUrl(server.url));
  client.send({ type: 'start' });
  await client.next('ready');
  client.sendFrames(pcmBytes(await phraseAudio('turn on the heater', 24000, 300, 1000)), 48);
  client.send({ type: 'end' });
  // A microphone that stops a little after `end` keeps streaming 20 ms frames for a while.
  for (let frame = 0; frame < 10; frame++) client.sendBinary(Buffer.alloc(960));
  assert.equal((await client.closed).code, 1000);
  const errors = client.messages.filter((message) => message.type === 'error');
  assert.equal(errors.length, 1, client.sequence().join(', '));
  const late = errors[0];
  assert.equal(late?.code, 'unexpected_message');
  assert.match(late?.message ?? '', /after end/);
  assert.equal(client.messages.find((message) => message.type === 'stt_final')?.text, 'turn on the heater');
  assert.equal(client.messages.at(-1)?.type, 'tts_end');
});
