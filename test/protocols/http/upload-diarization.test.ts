/**
 * POST /upload with DIAR_URL: a local HTTP server stands in for the diarization service. It
 * must receive the uploaded file and the Bearer token, and its JSON is passed through; when it
 * fails (error status, garbage, silence past REQUEST_TIMEOUT, nobody listening) the upload
 * still succeeds and says what went wrong.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import type { RunningServer } from '../../../src/server/app.ts';
import { createPocketsphinxTranscriber, type PocketsphinxTranscriber } from '../../../src/providers/local/pocketsphinx-transcriber.ts';
import { startTestServer } from '../../helpers/server.ts';
import { sharedAudioPath } from '../../helpers/shared.ts';
import { requireTool } from '../../helpers/spoken.ts';

interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

interface Diarizer {
  url: string;
  requests: SeenRequest[];
  close(): Promise<void>;
}

const closers: Array<() => Promise<void>> = [];
let transcriber: PocketsphinxTranscriber;
let recording: Buffer;

before(async () => {
  await requireTool('pocketsphinx_continuous', 'apt-get install pocketsphinx pocketsphinx-en-us');
  transcriber = await createPocketsphinxTranscriber({ keywords: ['birch canoe'], timeoutMs: 30_000 });
  recording = await readFile(sharedAudioPath('multi_en_3spk_leopard_diarization.wav'));
});

after(async () => {
  for (const close of closers.reverse()) await close();
});

async function diarizer(handler: (request: SeenRequest, response: ServerResponse) => void): Promise<Diarizer> {
  const requests: SeenRequest[] = [];
  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (part: Buffer) => parts.push(part));
    req.on('end', () => {
      const seen = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(parts) };
      requests.push(seen);
      handler(seen, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  closers.push(close);
  return { url: `http://127.0.0.1:${port}/diarize`, requests, close };
}

async function gatewayWith(env: Record<string, string>): Promise<RunningServer> {
  const server = await startTestServer({ transcriber }, env);
  closers.push(() => server.close());
  return server;
}

async function upload(server: RunningServer, bytes: Buffer): Promise<{ status: number; body: Record<string, unknown> }> {
  const form = new FormData();
  form.set('file', new Blob([new Uint8Array(bytes)], { type: 'audio/wav' }), 'meeting.wav');
  form.set('primary_lang', 'en');
  form.set('target_lang', 'en');
  const response = await fetch(`${server.url}/upload`, { method: 'POST', body: form });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

const SEGMENTS = {
  segments: [
    { speaker: 'SPEAKER_00', start: 0.2, end: 1.9 },
    { speaker: 'SPEAKER_01', start: 2.4, end: 8.5 },
    { speaker: 'SPEAKER_02', start: 9.1, end: 19.3 },
  ],
};

test('the diarization service receives the audio file with the Bearer token, and its JSON is passed through', async () => {
  const service = await diarizer((_request, response) => {
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(SEGMENTS));
  });
  const gateway = await gatewayWith({ DIAR_URL: service.url, DIARIZATION_TOKEN: 'diar-secret-token' });
  const { status, body } = await upload(gateway, recording);
  assert.equal(status, 200, JSON.stringify(body));
  assert.deepEqual(body.diarization, SEGMENTS);
  assert.equal(body.diarization_error, undefined);
  assert.equal(body.detected_lang, 'en');
  assert.equal(typeof body.transcription, 'string');

  assert.equal(service.requests.length, 1);
  const seen = service.requests[0];
  assert.equal(seen.method, 'POST');
  assert.equal(seen.url, '/diarize');
  assert.equal(seen.headers.authorization, 'Bearer diar-secret-token');
  assert.match(String(seen.headers['content-type']), /^multipart\/form-data; boundary=/);
  assert.match(seen.body.toString('latin1'), /Content-Disposition: form-data; name="file"; filename="meeting.wav"/);
  assert.ok(seen.body.includes(recording), 'the multipart body carries the uploaded file byte for byte');
});

test('without DIAR_URL there is no diarization key at all', async () => {
  const gateway = await gatewayWith({});
  const { status, body } = await upload(gateway, recording);
  assert.equal(status, 200);
  assert.deepEqual(Object.keys(body).sort(), ['detected_lang', 'transcription']);
});

test('an error status from the diarization service is reported in the body, not as a failed upload', async () => {
  const service = await diarizer((_request, response) => {
    response.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ detail: 'CUDA out of memory' }));
  });
  const gateway = await gatewayWith({ DIAR_URL: service.url, DIARIZATION_TOKEN: 'diar-secret-token' });
  const { status, body } = await upload(gateway, recording);
  assert.equal(status, 200);
  assert.equal(body.diarization, undefined);
  assert.match(String(body.diarization_error), /diarization upstream http:\/\/127\.0\.0\.1:\d+\/diarize answered HTTP 500: .*CUDA out of memory/);
  assert.doesNotMatch(String(body.diarization_error), /diar-secret-token/);
  assert.equal(typeof body.transcription, 'string');
});

test('a rejected token names DIARIZATION_TOKEN', async () => {
  const service = await diarizer((_request, response) => {
    response.writeHead(401).end('unauthorized');
  });
  const gateway = await gatewayWith({ DIAR_URL: service.url, DIARIZATION_TOKEN: 'wrong-token' });
  const { status, body } = await upload(gateway, recording);
  assert.equal(status, 200);
  assert.match(String(body.diarization_error), /rejected the credentials \(HTTP 401\); check DIARIZATION_TOKEN/);
});

test('a diarization answer that is not JSON is reported as such', async () => {
  const service = await diarizer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>Bad Gateway</body></html>');
  });
  const gateway = await gatewayWith({ DIAR_URL: service.url });
  const { status, body } = await upload(gateway, recording);
  assert.equal(status, 200);
  assert.match(String(body.diarization_error), /not JSON: Bad Gateway/);
  assert.equal(service.requests[0].headers.authorization, undefined, 'no token configured: no Authorization header');
});

test('a diarization service that never answers is given up on after REQUEST_TIMEOUT', async () => {
  const service = await diarizer(() => {
    // Never answers; the connection is closed by the gateway's deadline.
  });
  const gateway = await gatewayWith({ DIAR_URL: service.url, REQUEST_TIMEOUT: '1' });
  const { status, body } = await upload(gateway, recording);
  assert.equal(status, 200);
  assert.match(String(body.diarization_error), /did not answer within 1000 ms \(REQUEST_TIMEOUT\)/);
  assert.equal(service.requests.length, 1);
});

test('a diarization service nobody listens on is reported as unreachable', async () => {
  const service = await diarizer(() => {});
  await service.close();
  const gateway = await gatewayWith({ DIAR_URL: service.url });
  const { status, body } = await upload(gateway, recording);
  assert.equal(status, 200);
  assert.match(String(body.diarization_error), /could not reach the diarization upstream .*ECONNREFUSED/);
});
