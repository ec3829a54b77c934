/**
 * The extra gateway listener (GATEWAY_HOST / GATEWAY_PORT): the gateway protocol on `/` of its
 * own port, behind the same token check as the main port, nothing else there (a plain HTTP
 * request gets 426 naming the main address, another WebSocket path 404), TLS when the main
 * port has it, and closed with the server (its sessions end with 1001, the port stops
 * accepting). Real server and `ws` clients; scripted engines, since no words are checked.
 */
import assert from 'node:assert/strict';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import { test } from 'node:test';
import { ScriptedTranscriber } from '../../src/providers/testing/scripted-transcriber.ts';
import { selfSignedCertificate } from '../e2e/realtime-harness.ts';
import { startTestServer } from '../helpers/server.ts';
import { GatewayClient } from '../protocols/gateway/gateway-harness.ts';

const TOKEN = 'gateway-listener-token';

test('with a token set, the extra port refuses a gateway client without it (401) and serves one with it', async () => {
  const server = await startTestServer(
    { transcriber: new ScriptedTranscriber({ texts: 'hello world' }) },
    { API_TOKENS: TOKEN, GATEWAY_HOST: '127.0.0.1', GATEWAY_PORT: '0' },
  );
  try {
    assert.ok(server.gateway, 'the extra listener is open');
    assert.notEqual(server.gateway.port, server.port);
    await assert.rejects(GatewayClient.connect(server.gateway.url), /HTTP 401/);
    const client = await GatewayClient.connect(server.gateway.url, { headers: { Authorization: `Bearer ${TOKEN}` } });
    client.send({ type: 'start' });
    const ready = await client.next('ready');
    assert.equal(ready.stt_input_format, 'pcm_24000');
    client.send({ type: 'end' });
    assert.equal((await client.closed).code, 1000);
  } finally {
    await server.close();
  }
});

test('only the gateway protocol is on the extra port: plain HTTP gets 426 naming the main address, /v1/realtime gets 404', async () => {
  const server = await startTestServer({}, { GATEWAY_HOST: '127.0.0.1', GATEWAY_PORT: '0' });
  try {
    const base = `http://127.0.0.1:${server.gateway?.port}`;
    const plain = await fetch(`${base}/`);
    assert.equal(plain.status, 426);
    const body = (await plain.json()) as { error: { message: string } };
    assert.match(body.error.message, /gateway WebSocket protocol on \//);
    assert.ok(body.error.message.includes(server.url), `the answer names the HTTP API's address: ${body.error.message}`);
    await assert.rejects(GatewayClient.connect(`ws://127.0.0.1:${server.gateway?.port}/v1/realtime`), /HTTP 404/);
    // The main port still serves the gateway on / as before.
    const main = await GatewayClient.connect(`${server.url.replace(/^http/, 'ws')}/`);
    main.send({ type: 'start' });
    await main.next('ready');
    await main.close();
  } finally {
    await server.close();
  }
});

test("shutdown ends the extra port's sessions with 1001 and stops it accepting connections", async () => {
  const server = await startTestServer({}, { GATEWAY_HOST: '127.0.0.1', GATEWAY_PORT: '0' });
  const port = server.gateway?.port;
  const client = await GatewayClient.connect(`ws://127.0.0.1:${port}/`);
  client.send({ type: 'start' });
  await client.next('ready');
  await server.close();
  assert.equal((await client.closed).code, 1001);
  const refused = await new Promise<string>((resolve) => {
    const socket = connect(port ?? 0, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve('connected')));
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
  assert.equal(refused, 'ECONNREFUSED');
});

test('a port in use is a start-up error naming GATEWAY_HOST / GATEWAY_PORT', async () => {
  const first = await startTestServer({}, { GATEWAY_HOST: '127.0.0.1', GATEWAY_PORT: '0' });
  try {
    await assert.rejects(startTestServer({}, { GATEWAY_HOST: '127.0.0.1', GATEWAY_PORT: String(first.gateway?.port) }), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'EADDRINUSE');
      assert.match(error.message, /cannot open the gateway listener on 127\.0\.0\.1:\d+ \(GATEWAY_HOST \/ GATEWAY_PORT\): the port is in use/);
      return true;
    });
  } finally {
    await first.close();
  }
});

test('with TLS_CERT / TLS_KEY the extra port speaks wss too', async () => {
  const certificate = await selfSignedCertificate();
  const server = await startTestServer({}, { GATEWAY_HOST: '127.0.0.1', GATEWAY_PORT: '0', TLS_CERT: certificate.certPath, TLS_KEY: certificate.keyPath });
  try {
    assert.match(server.gateway?.url ?? '', /^wss:\/\/127\.0\.0\.1:\d+\/$/);
    const client = await GatewayClient.connect(server.gateway?.url ?? '', { ca: certificate.cert });
    client.send({ type: 'start' });
    await client.next('ready');
    await client.close();
    const status = await new Promise<number | undefined>((resolve, reject) => {
      httpsRequest(`https://127.0.0.1:${server.gateway?.port}/`, { ca: certificate.cert }, (response) => (response.resume(), resolve(response.statusCode)))
        .on('error', reject)
        .end();
    });
    assert.equal(status, 426);
  } finally {
    await server.close();
    await certificate.remove();
  }
});
