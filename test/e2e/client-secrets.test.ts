/**
 * Ephemeral client secrets: a backend mints one with the official `openai` SDK
 * (`client.realtime.clientSecrets.create`), a client opens /v1/realtime with it through the
 * SDK's own OpenAIRealtimeWS, and the session starts with the settings the secret carries.
 * The secret opens realtime sessions only; the beta `/v1/realtime/sessions` shape works too.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import OpenAI, { BadRequestError } from 'openai';
import { OpenAIRealtimeWS } from 'openai/realtime/ws';
import { ScriptedResponder } from '../../src/providers/testing/scripted-responder.ts';
import { ScriptedSynthesizer } from '../../src/providers/testing/scripted-synthesizer.ts';
import { ScriptedTranscriber } from '../../src/providers/testing/scripted-transcriber.ts';
import { EventLog, insecureFetch, RealtimeClient, selfSignedCertificate, type SelfSignedCertificate, type WireEvent } from './realtime-harness.ts';
import { assembleProviders, startTestServer, type TestServer } from '../helpers/server.ts';

const TOKEN = 'backend-token-51c2';
let certificate: SelfSignedCertificate;
let server: TestServer;

before(async () => {
  certificate = await selfSignedCertificate();
  const engines = assembleProviders({ transcriber: new ScriptedTranscriber(), responder: new ScriptedResponder(), synthesizer: new ScriptedSynthesizer() });
  server = await startTestServer(engines, { TLS_CERT: certificate.certPath, TLS_KEY: certificate.keyPath, API_TOKENS: TOKEN });
});

after(async () => {
  await server?.close();
  await certificate?.remove();
});

/** The backend's HTTP calls to the self-signed test server (insecureFetch says why). */
function backend(apiKey: string): OpenAI {
  return new OpenAI({ apiKey, baseURL: `${server.url}/v1`, fetch: insecureFetch });
}

test('a secret minted with the SDK opens an SDK realtime session that starts with the secret’s settings', async () => {
  const secret = await backend(TOKEN).realtime.clientSecrets.create({
    expires_after: { anchor: 'created_at', seconds: 120 },
    session: { type: 'realtime', instructions: 'Answer in one sentence.', output_modalities: ['text'], audio: { output: { voice: 'verse' } } },
  });
  assert.match(secret.value, /^ek_/);
  const now = Date.now() / 1000;
  assert.ok(secret.expires_at > now + 100 && secret.expires_at <= now + 121, `expires_at ${secret.expires_at} is two minutes out`);
  assert.equal(secret.session.type, 'realtime');
  assert.equal((secret.session as { instructions?: string }).instructions, 'Answer in one sentence.');

  // The client holds only the secret.
  const rt = new OpenAIRealtimeWS(
    { model: 'gpt-realtime', options: { ca: certificate.cert } },
    new OpenAI({ apiKey: secret.value, baseURL: `${server.url}/v1` }),
  );
  const log = new EventLog();
  rt.on('event', (event) => log.push(event as unknown as WireEvent));
  await once(rt.socket, 'open');
  const created = await log.next('session.created');
  assert.equal(created.session.instructions, 'Answer in one sentence.');
  assert.deepEqual(created.session.output_modalities, ['text']);
  assert.equal(created.session.audio.output.voice, 'verse');
  assert.equal(log.types().includes('session.updated'), false, 'the secret’s settings are in session.created, not a second event');
  const closed = once(rt.socket, 'close');
  rt.close();
  await closed;
});

test('a secret does not stand in for the API token anywhere but /v1/realtime', async () => {
  const secret = await backend(TOKEN).realtime.clientSecrets.create({});
  const speech = await insecureFetch(`${server.url}/v1/audio/speech`, {
    method: 'POST',
    headers: { authorization: `Bearer ${secret.value}`, 'content-type': 'application/json' },
    body: JSON.stringify({ input: 'hi' }),
  });
  assert.equal(speech.status, 401);
  await assert.rejects(backend(secret.value).realtime.clientSecrets.create({}), (error: Error & { status?: number }) => error.status === 401);
  await assert.rejects(backend('ek_not-a-live-secret').realtime.clientSecrets.create({}), (error: Error & { status?: number }) => error.status === 401);
});

test('a bad session or lifetime is refused with 400 naming the field', async () => {
  await assert.rejects(
    backend(TOKEN).realtime.clientSecrets.create({ session: { type: 'realtime', audio: { input: { format: { type: 'audio/flac' } } } } as never }),
    (error: Error) => error instanceof BadRequestError && /format/.test(error.message),
  );
  await assert.rejects(
    backend(TOKEN).realtime.clientSecrets.create({ expires_after: { anchor: 'created_at', seconds: 5 } }),
    (error: Error) => error instanceof BadRequestError && /expires_after\.seconds/.test(error.message),
  );
});

test('the beta /v1/realtime/sessions shape: session fields on top, client_secret inside; a wrong secret is refused at the upgrade', async () => {
  const response = await insecureFetch(`${server.url}/v1/realtime/transcription_sessions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ input_audio_transcription: { model: 'whisper-1', language: 'en' } }),
  });
  assert.equal(response.status, 200);
  const body = (await response.json()) as { client_secret: { value: string; expires_at: number }; input_audio_transcription?: { language?: string } };
  assert.match(body.client_secret.value, /^ek_/);
  assert.equal(body.input_audio_transcription?.language, 'en');

  const client = await RealtimeClient.connect(server.realtimeUrl, {
    protocols: ['realtime', `openai-insecure-api-key.${body.client_secret.value}`],
    ca: certificate.cert,
  });
  const created = await client.next('session.created');
  assert.equal(created.session.type, 'transcription', 'a transcription secret opens a transcription session');
  await client.close();

  await assert.rejects(
    RealtimeClient.connect(server.realtimeUrl, { protocols: ['realtime', 'openai-insecure-api-key.ek_forged'], ca: certificate.cert }),
    /HTTP 401/,
  );
});

test('a transcription secret cannot be turned into a realtime session: session.update to type realtime is refused', async () => {
  const secret = await backend(TOKEN).realtime.clientSecrets.create({
    session: { type: 'transcription', audio: { input: { transcription: { model: 'whisper-1', language: 'en' } } } },
  });
  const client = await RealtimeClient.connect(server.realtimeUrl, { protocols: ['realtime', `openai-insecure-api-key.${secret.value}`], ca: certificate.cert });
  const created = await client.next('session.created');
  assert.equal(created.session.type, 'transcription');
  client.send({
    type: 'session.update',
    event_id: 'escalate',
    session: { type: 'realtime', instructions: 'Talk to me.', audio: { input: { format: { type: 'audio/pcmu' } } } },
  });
  const refused = await client.next('error');
  assert.equal(refused.error.event_id, 'escalate');
  assert.equal(refused.error.param, 'session.type');
  assert.match(refused.error.message, /transcription/);
  client.send({ type: 'response.create', event_id: 'no_responses' });
  const noResponse = await client.next((event) => event.type === 'error' && event.error.event_id === 'no_responses');
  assert.equal(noResponse.error.code, 'invalid_value', 'still a transcription session');
  // The refused update changed nothing, the audio format included: a narrowing update still works.
  client.send({ type: 'session.update', session: { type: 'transcription', audio: { input: { transcription: { language: 'fr' } } } } });
  const updated = await client.next('session.updated');
  assert.equal(updated.session.type, 'transcription');
  assert.deepEqual(updated.session.audio.input.format, { type: 'audio/pcm', rate: 24000 });
  assert.equal(client.types().includes('response.created'), false);
  await client.close();
});

test('every secret’s session names its model; a GA secret needs session.type; a beta-minted secret opens a GA connection with its settings', async () => {
  const named = await backend(TOKEN).realtime.clientSecrets.create({ session: { type: 'realtime', model: 'gpt-realtime' } });
  assert.equal((named.session as { model?: string }).model, 'gpt-realtime');
  const unnamed = await backend(TOKEN).realtime.clientSecrets.create({});
  assert.equal((unnamed.session as { model?: string }).model, 'speechbridge', 'no model asked for and none configured: the gateway’s own');
  await assert.rejects(
    backend(TOKEN).realtime.clientSecrets.create({ session: { instructions: 'No type.' } as never }),
    (error: Error & { status?: number; code?: string; param?: string }) =>
      error.status === 400 && error.code === 'missing_required_parameter' && error.param === 'session.type',
  );

  const response = await insecureFetch(`${server.url}/v1/realtime/sessions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ modalities: ['text'], voice: 'verse', instructions: 'Minted in beta.' }),
  });
  assert.equal(response.status, 200);
  const beta = (await response.json()) as { model?: string; modalities?: string[]; client_secret: { value: string } };
  assert.deepEqual([beta.model, beta.modalities], ['speechbridge', ['text']]);
  // The beta spellings were validated when minted; a GA client opening the session gets them in GA shape.
  const client = await RealtimeClient.connect(server.realtimeUrl, {
    protocols: ['realtime', `openai-insecure-api-key.${beta.client_secret.value}`],
    ca: certificate.cert,
  });
  const created = await client.next('session.created');
  assert.deepEqual(
    [created.session.instructions, created.session.output_modalities, created.session.audio.output.voice],
    ['Minted in beta.', ['text'], 'verse'],
  );
  assert.equal(client.types().includes('error'), false);
  await client.close();
});
