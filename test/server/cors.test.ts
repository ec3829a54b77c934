/**
 * CORS for browser apps on other origins: a preflight is answered without a token (it never
 * carries one), the real request still needs the token, CORS_ORIGINS narrows the origins, and
 * a bad CORS_ORIGINS stops start-up naming the variable.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { RunningServer } from '../../src/server/app.ts';
import { loadConfig } from '../../src/server/config.ts';
import { startTestServer } from '../helpers/server.ts';

const TOKEN = 'cors-token-1';
let open: RunningServer;
let narrow: RunningServer;

before(async () => {
  open = await startTestServer({}, { API_TOKENS: TOKEN });
  narrow = await startTestServer({}, { API_TOKENS: TOKEN, CORS_ORIGINS: 'https://app.example.com, http://localhost:3000' });
});

after(async () => {
  await open?.close();
  await narrow?.close();
});

function preflight(server: RunningServer, origin: string): Promise<Response> {
  return fetch(`${server.url}/v1/audio/speech`, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type,x-stainless-os' },
  });
}

test('by default any origin may call: the preflight passes without a token, the request itself still needs one', async () => {
  const answer = await preflight(open, 'https://elsewhere.example');
  assert.equal(answer.status, 204);
  assert.equal(answer.headers.get('access-control-allow-origin'), '*');
  assert.match(answer.headers.get('access-control-allow-headers') ?? '', /authorization/i);
  assert.match(answer.headers.get('access-control-allow-methods') ?? '', /POST/);

  const refused = await fetch(`${open.url}/v1/audio/speech`, {
    method: 'POST',
    headers: { origin: 'https://elsewhere.example', 'content-type': 'application/json' },
    body: JSON.stringify({ input: 'hi' }),
  });
  assert.equal(refused.status, 401);
  assert.equal(refused.headers.get('access-control-allow-origin'), '*', 'the browser can read the refusal');

  const spoken = await fetch(`${open.url}/v1/audio/speech`, {
    method: 'POST',
    headers: { origin: 'https://elsewhere.example', 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify({ input: 'hi', response_format: 'wav' }),
  });
  assert.equal(spoken.status, 200);
  assert.equal(spoken.headers.get('access-control-allow-origin'), '*');
  assert.ok((await spoken.arrayBuffer()).byteLength > 44);
});

test('CORS_ORIGINS lists the origins allowed; others get no CORS headers', async () => {
  const allowed = await preflight(narrow, 'http://localhost:3000');
  assert.equal(allowed.headers.get('access-control-allow-origin'), 'http://localhost:3000');
  const other = await preflight(narrow, 'https://evil.example');
  assert.equal(other.headers.get('access-control-allow-origin'), null);
});

test('a CORS_ORIGINS entry that is not an origin stops start-up naming it', () => {
  assert.throws(() => loadConfig({ CORS_ORIGINS: 'https://ok.example, app.example.com/path' }), /CORS_ORIGINS: "app\.example\.com\/path" is not an origin/);
  assert.deepEqual(loadConfig({ CORS_ORIGINS: 'none' }).corsOrigins, []);
});

test('Socket.IO polling answers a page on another origin under the same CORS_ORIGINS', async () => {
  const handshake = await fetch(`${open.url}/socket.io/?EIO=4&transport=polling`, { headers: { origin: 'https://elsewhere.example' } });
  assert.equal(handshake.status, 200);
  assert.equal(handshake.headers.get('access-control-allow-origin'), '*');
  assert.match(await handshake.text(), /"sid"/);
  const refusedOrigin = await fetch(`${narrow.url}/socket.io/?EIO=4&transport=polling`, { headers: { origin: 'https://evil.example' } });
  assert.equal(refusedOrigin.headers.get('access-control-allow-origin'), null);
});
