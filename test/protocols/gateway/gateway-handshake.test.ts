/**
 * The gateway door's handshake on `/`: with API_TOKENS set, an upgrade without a token is
 * refused with a plain HTTP 401 and a JSON body; a Bearer header, ?token= or (browsers) the
 * token subprotocol opens the session.
 * GET `/` without an upgrade stays the JSON health check.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { WebSocket } from 'ws';
import { EchoResponder } from '../../../src/providers/local/echo-responder.ts';
import type { RunningServer } from '../../../src/server/app.ts';
import { startTestServer } from '../../helpers/server.ts';
import { GatewayClient, gatewayUrl, type RealEngines, realEngines } from './gateway-harness.ts';

const TOKEN = 'gateway-test-token';

let engines: RealEngines;
let server: RunningServer;

before(async () => {
  engines = await realEngines();
  server = await startTestServer({ transcriber: engines.transcriber, responder: new EchoResponder(), synthesizer: engines.synthesizer }, { API_TOKENS: TOKEN });
});

after(async () => {
  await server?.close();
  await engines?.synthesizer.close();
});

/** The HTTP answer to an upgrade the server refuses. */
async function refusal(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any; authenticate: string | undefined }> {
  const socket = new WebSocket(url, { headers });
  return new Promise((resolve, reject) => {
    socket.once('open', () => reject(new Error('the upgrade was accepted')));
    socket.once('unexpected-response', (_request, response) => {
      const parts: Buffer[] = [];
      response.on('data', (part: Buffer) => parts.push(part));
      response.on('end', () => {
        const authenticate = response.headers['www-authenticate'];
        resolve({
          status: response.statusCode ?? 0,
          body: JSON.parse(Buffer.concat(parts).toString('utf8')),
          authenticate: typeof authenticate === 'string' ? authenticate : undefined,
        });
      });
    });
  });
}

test('without a token the upgrade is refused with 401 and a JSON error; a wrong token too', async () => {
  const missing = await refusal(gatewayUrl(server.url));
  assert.equal(missing.status, 401);
  assert.equal(missing.body.error.code, 'invalid_api_key');
  assert.match(missing.body.error.message, /missing API token/);
  assert.equal(missing.authenticate, 'Bearer');

  const wrong = await refusal(gatewayUrl(server.url), { Authorization: 'Bearer not-the-token' });
  assert.equal(wrong.status, 401);
  assert.equal(wrong.body.error.message, 'invalid API token');
});

test('a Bearer header or ?token= opens a session that answers start with ready', async () => {
  for (const client of [
    await GatewayClient.connect(gatewayUrl(server.url), { headers: { Authorization: `Bearer ${TOKEN}` } }),
    await GatewayClient.connect(gatewayUrl(server.url, `?token=${TOKEN}`)),
  ]) {
    client.send({ type: 'start', voice_id: 'en-us' });
    const ready = await client.next('ready');
    assert.equal(ready.voice_id, 'en-us');
    assert.deepEqual([ready.stt_input_format, ready.tts_output_format], ['pcm_24000', 'pcm_24000']);
    assert.equal((await client.close()).code, 1000);
  }
});

test('a browser’s token subprotocol opens a session, and the server selects a protocol back (or the handshake fails in a browser)', async () => {
  const alone = new WebSocket(gatewayUrl(server.url), [`openai-insecure-api-key.${TOKEN}`]);
  await new Promise((resolve, reject) => {
    alone.once('open', resolve);
    alone.once('unexpected-response', (_request, response) => reject(new Error(`refused with HTTP ${response.statusCode}`)));
  });
  assert.equal(alone.protocol, `openai-insecure-api-key.${TOKEN}`, 'the only offered protocol comes back');
  alone.close();
  const withName = new WebSocket(gatewayUrl(server.url), ['speechbridge-gateway', `openai-insecure-api-key.${TOKEN}`]);
  await new Promise((resolve) => withName.once('open', resolve));
  assert.equal(withName.protocol, 'speechbridge-gateway', 'a protocol without the token is preferred');
  withName.close();
  const wrong = await new Promise<number>((resolve) => {
    const socket = new WebSocket(gatewayUrl(server.url), ['openai-insecure-api-key.nope']);
    socket.once('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
  });
  assert.equal(wrong, 401);
});

test('GET / without an upgrade is still the JSON health check, open without a token', async () => {
  const response = await fetch(`${server.url}/`);
  assert.equal(response.status, 200);
  const body = (await response.json()) as { status: string; name: string };
  assert.equal(body.status, 'ok');
  assert.equal(body.name, 'speechbridge');
});
