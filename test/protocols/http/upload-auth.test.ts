/**
 * /upload and /tts-proxy cost compute, so with API_TOKENS set they want a token, like /v1/*.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { RunningServer } from '../../../src/server/app.ts';
import { startTestServer } from '../../helpers/server.ts';

let server: RunningServer;

before(async () => {
  server = await startTestServer({}, { API_TOKENS: 'first-token,second-token' });
});

after(async () => {
  await server?.close();
});

const TTS_BODY = JSON.stringify({ model: 'tts-1', input: 'hello', voice: 'alloy', response_format: 'wav' });

function uploadForm(): FormData {
  const form = new FormData();
  form.set('target_lang', 'fr');
  return form;
}

test('without a token, or with a wrong one, /upload and /tts-proxy answer 401', async () => {
  const attempts: Array<[string, RequestInit]> = [
    ['/upload', { method: 'POST', body: uploadForm() }],
    ['/upload?target_lang=fr', { method: 'POST', body: uploadForm() }],
    ['/tts-proxy', { method: 'POST', body: TTS_BODY, headers: { 'content-type': 'application/json' } }],
    ['/tts-proxy', { method: 'POST', body: TTS_BODY, headers: { 'content-type': 'application/json', authorization: 'Bearer not-a-token' } }],
  ];
  for (const [route, init] of attempts) {
    const response = await fetch(`${server.url}${route}`, init);
    assert.equal(response.status, 401, route);
    const body = (await response.json()) as { error: { code: string; type: string; message: string } };
    assert.equal(body.error.code, 'invalid_api_key', route);
    assert.equal(body.error.type, 'authentication_error', route);
  }
});

test('with a valid token the request reaches the route', async () => {
  const upload = await fetch(`${server.url}/upload`, { method: 'POST', body: uploadForm(), headers: { authorization: 'Bearer second-token' } });
  assert.equal(upload.status, 400, 'past auth, the route itself refuses the missing file');
  assert.equal(((await upload.json()) as { error: { code: string } }).error.code, 'missing_file');

  const speech = await fetch(`${server.url}/tts-proxy`, {
    method: 'POST',
    body: TTS_BODY,
    headers: { 'content-type': 'application/json', authorization: 'Bearer first-token' },
  });
  assert.equal(speech.status, 200);
  assert.equal(speech.headers.get('content-type'), 'audio/wav');
  assert.ok((await speech.arrayBuffer()).byteLength > 44);
});

test('the open routes stay open', async () => {
  const health = await fetch(`${server.url}/`);
  assert.equal(health.status, 200);
});
