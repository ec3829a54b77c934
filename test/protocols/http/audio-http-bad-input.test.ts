/**
 * Every bad-input case of the OpenAI-compatible audio endpoints gets a 4xx with an
 * OpenAI-style error body, and the server keeps serving. Scripted providers: these tests are
 * about the gateway's own request handling.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import type { RunningServer } from '../../../src/server/app.ts';
import { ScriptedSynthesizer } from '../../../src/providers/testing/scripted-synthesizer.ts';
import { ScriptedTranscriber } from '../../../src/providers/testing/scripted-transcriber.ts';
import { sharedAudioPath } from '../../helpers/shared.ts';
import { startTestServer } from '../../helpers/server.ts';

let server: RunningServer;
const transcriber = new ScriptedTranscriber({ texts: 'scripted words' });

before(async () => {
  server = await startTestServer({ transcriber, synthesizer: new ScriptedSynthesizer({ sampleRate: 24000 }) }, { MAX_UPLOAD_MB: '0.5' });
});
after(async () => {
  await server.close();
});

interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string };
}

async function expectError(response: Response, status: number, code: string, param?: string | null): Promise<ErrorBody> {
  const text = await response.text();
  assert.equal(response.status, status, `status for ${code}: ${text}`);
  const body = JSON.parse(text) as ErrorBody;
  assert.equal(body.error.code, code);
  assert.equal(typeof body.error.message, 'string');
  assert.ok(body.error.message.length > 0);
  assert.ok(['invalid_request_error', 'authentication_error', 'server_error'].includes(body.error.type));
  if (param !== undefined) assert.equal(body.error.param, param);
  return body;
}

async function wavForm(fields: Record<string, string> = {}): Promise<FormData> {
  const form = new FormData();
  form.set('file', new Blob([await readFile(sharedAudioPath('en_one_two_three.wav'))], { type: 'audio/wav' }), 'speech.wav');
  for (const [key, value] of Object.entries(fields)) form.set(key, value);
  return form;
}

const transcriptions = () => `${server.url}/v1/audio/transcriptions`;
const speech = () => `${server.url}/v1/audio/speech`;

test('a good upload works, so the failures below are about their input', async () => {
  const response = await fetch(transcriptions(), { method: 'POST', body: await wavForm({ model: 'whisper-1' }) });
  assert.equal(response.status, 200);
  assert.deepEqual(await response.json(), { text: 'scripted words', usage: { type: 'duration', seconds: 3 } });
});

test('transcriptions: wrong content type → 415 invalid_content_type', async () => {
  const response = await fetch(transcriptions(), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"file":"x"}' });
  await expectError(response, 415, 'invalid_content_type');
});

test('transcriptions: no file part → 400 missing_file', async () => {
  const form = new FormData();
  form.set('model', 'whisper-1');
  await expectError(await fetch(transcriptions(), { method: 'POST', body: form }), 400, 'missing_file', 'file');
});

test('transcriptions: "file" sent as a text field (curl -F file=speech.wav, without @) → 400 saying so', async () => {
  const form = new FormData();
  form.set('file', 'speech.wav');
  const body = await expectError(await fetch(transcriptions(), { method: 'POST', body: form }), 400, 'missing_file', 'file');
  assert.match(body.error.message, /text field.*@/);
});

test('transcriptions: a malformed multipart body (no boundary, cut short, not multipart at all) → 400, not 500', async () => {
  const part = '--XX\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\nRIFF';
  for (const [type, body] of [
    ['multipart/form-data', `${part}\r\n--XX--\r\n`],
    ['multipart/form-data; boundary=XX', part],
    ['multipart/form-data; boundary=XX', 'hello world'],
  ]) {
    const response = await fetch(transcriptions(), { method: 'POST', headers: { 'content-type': type }, body });
    const error = await expectError(response, 400, 'invalid_value');
    assert.match(error.error.message, /multipart\/form-data body is malformed/);
  }
});

test('transcriptions: empty file → 400 empty_input', async () => {
  const form = new FormData();
  form.set('file', new Blob([]), 'empty.wav');
  await expectError(await fetch(transcriptions(), { method: 'POST', body: form }), 400, 'empty_input', 'file');
});

test('transcriptions: bytes that are not audio → 400 unreadable_audio', async () => {
  const form = new FormData();
  form.set('file', new Blob([Buffer.from('this is a text file, not a recording '.repeat(50))]), 'notes.mp3');
  const body = await expectError(await fetch(transcriptions(), { method: 'POST', body: form }), 400, 'unreadable_audio');
  assert.match(body.error.message, /decode|audio|Invalid/i);
});

test('transcriptions: upload over MAX_UPLOAD_MB → 413 payload_too_large', async () => {
  const form = new FormData();
  form.set('file', new Blob([new Uint8Array(600 * 1024)]), 'big.wav');
  const body = await expectError(await fetch(transcriptions(), { method: 'POST', body: form }), 413, 'payload_too_large');
  assert.match(body.error.message, /MAX_UPLOAD_MB/);
});

test('transcriptions: bad response_format, language or temperature name the field', async () => {
  await expectError(
    await fetch(transcriptions(), { method: 'POST', body: await wavForm({ response_format: 'xml' }) }),
    400,
    'invalid_value',
    'response_format',
  );
  await expectError(await fetch(transcriptions(), { method: 'POST', body: await wavForm({ language: 'klingon' }) }), 400, 'invalid_value', 'language');
  await expectError(await fetch(transcriptions(), { method: 'POST', body: await wavForm({ temperature: '7' }) }), 400, 'invalid_value', 'temperature');
});

test('speech: invalid JSON → 400 invalid_json', async () => {
  const response = await fetch(speech(), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"input": "hi",' });
  await expectError(response, 400, 'invalid_json');
});

test('speech: wrong content type → 415', async () => {
  const response = await fetch(speech(), { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' });
  await expectError(response, 415, 'invalid_content_type');
});

test('speech: missing, empty and overlong input name the field', async () => {
  const post = (body: unknown) => fetch(speech(), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  await expectError(await post({ model: 'tts-1', voice: 'alloy' }), 400, 'invalid_value', 'input');
  await expectError(await post({ input: '   ' }), 400, 'empty_input', 'input');
  await expectError(await post({ input: 'a'.repeat(5000) }), 400, 'invalid_value', 'input');
  await expectError(await post({ input: 'hello', response_format: 'midi' }), 400, 'invalid_value', 'response_format');
  await expectError(await post({ input: 'hello', speed: 9 }), 400, 'invalid_value', 'speed');
});

test('speech: a JSON body over the body limit → 413 naming that limit, not MAX_UPLOAD_MB', async () => {
  const response = await fetch(speech(), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ input: 'x'.repeat(2 * 1024 * 1024) }),
  });
  const body = await expectError(response, 413, 'payload_too_large', null);
  assert.match(body.error.message, /JSON body/);
  assert.doesNotMatch(body.error.message, /MAX_UPLOAD_MB/);
});

test('speech: an engine failure before any audio is a JSON error, not a broken stream', async () => {
  const failing = await startTestServer({ synthesizer: new ScriptedSynthesizer({ failure: { code: 'upstream_unreachable', message: 'tts upstream down' } }) });
  try {
    const response = await fetch(`${failing.url}/v1/audio/speech`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input: 'hello', response_format: 'pcm' }),
    });
    const body = await expectError(response, 503, 'upstream_unreachable');
    assert.match(body.error.message, /tts upstream down/);
  } finally {
    await failing.close();
  }
});

test('unknown routes get an OpenAI-style 404', async () => {
  await expectError(await fetch(`${server.url}/v1/audio/translations-nope`, { method: 'POST' }), 404, 'not_found');
});

test('the server keeps serving after every failure above', async () => {
  const health = await fetch(`${server.url}/`);
  assert.equal(health.status, 200);
  assert.equal(((await health.json()) as { status: string }).status, 'ok');
  const response = await fetch(transcriptions(), { method: 'POST', body: await wavForm() });
  assert.equal(response.status, 200);
});

test('with API_TOKENS set, /v1 needs a bearer token; health stays open', async () => {
  const guarded = await startTestServer({ transcriber }, { API_TOKENS: 'secret-one,secret-two' });
  try {
    await expectError(await fetch(`${guarded.url}/v1/audio/transcriptions`, { method: 'POST', body: await wavForm() }), 401, 'invalid_api_key');
    const wrong = await fetch(`${guarded.url}/v1/audio/transcriptions`, { method: 'POST', headers: { authorization: 'Bearer nope' }, body: await wavForm() });
    await expectError(wrong, 401, 'invalid_api_key');
    const right = await fetch(`${guarded.url}/v1/audio/transcriptions`, {
      method: 'POST',
      headers: { authorization: 'Bearer secret-two' },
      body: await wavForm(),
    });
    assert.equal(right.status, 200);
    assert.equal((await fetch(`${guarded.url}/`)).status, 200);
  } finally {
    await guarded.close();
  }
});
