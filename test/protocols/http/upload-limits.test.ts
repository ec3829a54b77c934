/**
 * Oversized bodies are refused early: a Content-Length over the route's limit gets its 413
 * before a byte of the body is sent, and a chunked body of 300 MB (made as it is sent, never
 * held in memory) is refused once it passes the limit, the server reading little more than
 * the limit of it. Measured on both ends: the bytes the server's socket read, and the bytes
 * the client had written when the 413 arrived (the kernel's socket buffers hold a few MB
 * between the two). The client reads the 413 itself, not a reset, and the server goes on.
 */
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import net from 'node:net';
import { after, before, test } from 'node:test';
import type { RunningServer } from '../../../src/server/app.ts';
import { startTestServer } from '../../helpers/server.ts';

const TOKEN = 'upload-limits-token';
const MAX_UPLOAD_MB = 2;
const FILE_LIMIT = MAX_UPLOAD_MB * 1024 * 1024;
/** The file, 20 form fields of 64 KB and 64 KB of multipart framing (src/protocols/http/multipart.ts). */
const UPLOAD_BODY_LIMIT = FILE_LIMIT + 20 * 64 * 1024 + 64 * 1024;
const JSON_BODY_LIMIT = 1024 * 1024;
const HUGE_BYTES = 300 * 1024 * 1024;
const MiB = 1024 * 1024;
/** Reading goes on for a moment after the limit is passed, one event-loop turn of 64 KB reads. */
const SERVER_SLACK = 1 * MiB;
/** The client's send buffer and the server's receive buffer on loopback: a few MB each at most. */
const CLIENT_SLACK = 48 * MiB;

let server: RunningServer;
const serverSockets: Socket[] = [];

before(async () => {
  server = await startTestServer({}, { API_TOKENS: TOKEN, MAX_UPLOAD_MB: String(MAX_UPLOAD_MB) });
  server.app.server.on('connection', (socket: Socket) => serverSockets.push(socket));
});

after(async () => {
  await server?.close();
});

interface Refusal {
  status: number;
  body: { error: { code: string; message: string; param: string | null } };
  headers: string;
  /** Body bytes the client had handed to its socket when the answer arrived. */
  clientWritten: number;
  /** Bytes the server's socket had read (head and body) when the answer arrived. */
  serverRead: number;
}

interface Upload {
  path: string;
  contentType: string;
  /** Sent before the endless part. */
  preamble: string;
  /** 'chunked', or a Content-Length to declare (the body then never comes). */
  framing: 'chunked' | { declared: number };
}

/** Sends the head, then (chunked) `preamble` and up to 300 MB of 'a' in 64 KB chunks, until the server answers. */
async function send(upload: Upload, withToken = true): Promise<Refusal> {
  const socket = net.connect(server.port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const serverSocket = serverSockets.at(-1);
  assert.ok(serverSocket, 'the server saw the connection');
  socket.on('error', () => {});
  let answer = '';
  let clientWritten = 0;
  let serverRead = -1;
  let clientWrittenAtAnswer = -1;
  const answered = new Promise<void>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      if (clientWrittenAtAnswer < 0) {
        clientWrittenAtAnswer = clientWritten;
        serverRead = serverSocket.bytesRead;
      }
      answer += chunk.toString('utf8');
      const headEnd = answer.indexOf('\r\n\r\n');
      const length = Number(/content-length: (\d+)/i.exec(answer)?.[1] ?? Number.NaN);
      if (headEnd >= 0 && Buffer.byteLength(answer.slice(headEnd + 4)) >= length) resolve();
    });
    socket.once('close', () =>
      reject(new Error(`the connection closed before a whole answer came (${clientWritten} bytes written): ${JSON.stringify(answer)}`)),
    );
  });
  const framing = upload.framing === 'chunked' ? 'transfer-encoding: chunked' : `content-length: ${upload.framing.declared}`;
  socket.write(
    `POST ${upload.path} HTTP/1.1\r\nhost: x\r\n${withToken ? `authorization: Bearer ${TOKEN}\r\n` : ''}content-type: ${upload.contentType}\r\n${framing}\r\n\r\n`,
  );
  if (upload.framing === 'chunked') {
    const stopped = answered.then(
      () => true,
      () => true,
    );
    const chunk = Buffer.alloc(64 * 1024, 'a');
    const frame = (bytes: Buffer) => Buffer.concat([Buffer.from(`${bytes.length.toString(16)}\r\n`), bytes, Buffer.from('\r\n')]);
    const write = async (bytes: Buffer) => {
      clientWritten += bytes.length;
      if (!socket.write(frame(bytes))) await Promise.race([new Promise((resolve) => socket.once('drain', resolve)), stopped]);
    };
    await write(Buffer.from(upload.preamble));
    while (clientWritten < HUGE_BYTES && clientWrittenAtAnswer < 0 && !socket.destroyed) await write(chunk);
    assert.ok(clientWritten < HUGE_BYTES, 'the server answered before the whole body was sent');
  }
  await answered;
  socket.destroy();
  const headEnd = answer.indexOf('\r\n\r\n');
  return {
    status: Number(answer.slice(9, 12)),
    headers: answer.slice(0, headEnd).toLowerCase(),
    body: JSON.parse(answer.slice(headEnd + 4)),
    clientWritten: clientWrittenAtAnswer,
    serverRead,
  };
}

const BOUNDARY = 'limit-test-boundary';
const MULTIPART = `multipart/form-data; boundary=${BOUNDARY}`;
const filePart = (name: string) => `--${BOUNDARY}\r\ncontent-disposition: form-data; name="${name}"; filename="huge.wav"\r\ncontent-type: audio/wav\r\n\r\n`;
const textPart = (name: string) => `--${BOUNDARY}\r\ncontent-disposition: form-data; name="${name}"\r\n\r\n`;

async function assertServerGoesOn(): Promise<void> {
  const models = await fetch(`${server.url}/v1/models`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(models.status, 200, 'the server goes on');
}

test('a Content-Length over the limit is refused with 413 before any of the body is sent', async () => {
  for (const [path, contentType, declared, limit] of [
    ['/v1/audio/transcriptions', MULTIPART, HUGE_BYTES, UPLOAD_BODY_LIMIT],
    ['/upload', MULTIPART, UPLOAD_BODY_LIMIT + 1, UPLOAD_BODY_LIMIT],
    ['/v1/audio/speech', 'application/json', JSON_BODY_LIMIT + 1, JSON_BODY_LIMIT],
  ] as const) {
    const refusal = await send({ path, contentType, preamble: '', framing: { declared } });
    assert.equal(refusal.status, 413, path);
    assert.equal(refusal.body.error.code, 'payload_too_large', path);
    assert.match(refusal.body.error.message, new RegExp(`${declared} bytes \\(Content-Length\\).*limit of ${limit} bytes`), path);
    assert.match(refusal.headers, /connection: close/, path);
    assert.ok(refusal.serverRead < 1024, `${path}: the server read only the request head (${refusal.serverRead} bytes)`);
  }
  await assertServerGoesOn();
});

test('300 MB of chunked file is refused once it passes MAX_UPLOAD_MB, the server reading little more than the limit', async () => {
  for (const path of ['/v1/audio/transcriptions', '/upload']) {
    const refusal = await send({ path, contentType: MULTIPART, preamble: filePart('file'), framing: 'chunked' });
    assert.equal(refusal.status, 413, path);
    assert.equal(refusal.body.error.code, 'payload_too_large');
    assert.equal(refusal.body.error.param, 'file');
    assert.match(refusal.body.error.message, new RegExp(`limit of ${FILE_LIMIT} bytes \\(MAX_UPLOAD_MB\\)`));
    assert.match(refusal.headers, /connection: close/);
    assert.ok(refusal.serverRead > FILE_LIMIT, `${path}: the server read up to the limit (${refusal.serverRead})`);
    assert.ok(
      refusal.serverRead < FILE_LIMIT + SERVER_SLACK,
      `${path}: the server read ${(refusal.serverRead / MiB).toFixed(2)} MB for a ${MAX_UPLOAD_MB} MB limit`,
    );
    assert.ok(
      refusal.clientWritten < FILE_LIMIT + CLIENT_SLACK,
      `${path}: the client had sent ${(refusal.clientWritten / MiB).toFixed(1)} MB of 300 when refused`,
    );
  }
  await assertServerGoesOn();
});

test('a chunked body whose bulk is a text field or a preamble the parser would drop is refused at the body limit', async () => {
  for (const preamble of [textPart('prompt'), textPart('language'), 'a preamble before any boundary ']) {
    const refusal = await send({ path: '/v1/audio/transcriptions', contentType: MULTIPART, preamble, framing: 'chunked' });
    assert.equal(refusal.status, 413, preamble);
    assert.equal(refusal.body.error.code, 'payload_too_large');
    assert.match(refusal.body.error.message, /MAX_UPLOAD_MB and the form fields/);
    assert.ok(
      refusal.serverRead < UPLOAD_BODY_LIMIT + SERVER_SLACK,
      `the server read ${(refusal.serverRead / MiB).toFixed(2)} MB for a body limit of ${(UPLOAD_BODY_LIMIT / MiB).toFixed(2)} MB`,
    );
    assert.ok(
      refusal.clientWritten < UPLOAD_BODY_LIMIT + CLIENT_SLACK,
      `the client had sent ${(refusal.clientWritten / MiB).toFixed(1)} MB of 300 when refused`,
    );
  }
  await assertServerGoesOn();
});

test('any refusal while a 300 MB body is still arriving reads no more of it: a second file, no token, no route', async () => {
  const attempts: Array<{ upload: Upload; status: number; code: string; token?: false }> = [
    {
      upload: {
        path: '/v1/audio/transcriptions',
        contentType: MULTIPART,
        preamble: `${filePart('file')}${'b'.repeat(1000)}\r\n${filePart('other')}`,
        framing: 'chunked',
      },
      status: 400,
      code: 'invalid_value',
    },
    { upload: { path: '/upload', contentType: MULTIPART, preamble: filePart('file'), framing: 'chunked' }, status: 401, code: 'invalid_api_key', token: false },
    { upload: { path: '/v1/nowhere', contentType: MULTIPART, preamble: filePart('file'), framing: 'chunked' }, status: 404, code: 'not_found' },
  ];
  for (const { upload, status, code, token } of attempts) {
    const refusal = await send(upload, token !== false);
    assert.equal(refusal.status, status, upload.path);
    assert.equal(refusal.body.error.code, code, upload.path);
    assert.match(refusal.headers, /connection: close/);
    assert.ok(refusal.serverRead < SERVER_SLACK, `${upload.path}: the server read ${(refusal.serverRead / MiB).toFixed(2)} MB`);
    assert.ok(refusal.clientWritten < CLIENT_SLACK, `${upload.path}: the client had sent ${(refusal.clientWritten / MiB).toFixed(1)} MB of 300 when refused`);
  }
  await assertServerGoesOn();
});

test('a chunked JSON body is refused once it passes the 1 MB JSON limit', async () => {
  for (const path of ['/v1/audio/speech', '/tts-proxy', '/v1/realtime/client_secrets']) {
    const refusal = await send({ path, contentType: 'application/json', preamble: '{"input":"', framing: 'chunked' });
    assert.equal(refusal.status, 413, path);
    assert.match(refusal.body.error.message, /limit of 1048576 bytes for a JSON body/);
    assert.ok(refusal.serverRead < JSON_BODY_LIMIT + SERVER_SLACK, `${path}: the server read ${(refusal.serverRead / MiB).toFixed(2)} MB`);
    assert.ok(refusal.clientWritten < JSON_BODY_LIMIT + CLIENT_SLACK, `${path}: the client had sent ${(refusal.clientWritten / MiB).toFixed(1)} MB`);
  }
  await assertServerGoesOn();
});

test('an upload just under the limit, with its form fields, is accepted', async () => {
  // A WAV header and 1.9 MB of silence at 16 kHz: about a minute, just under MAX_UPLOAD_MB.
  const dataBytes = FILE_LIMIT - 64 * 1024;
  const header = Buffer.alloc(44);
  header.write('RIFF', 0);
  header.writeUInt32LE(36 + dataBytes, 4);
  header.write('WAVEfmt ', 8);
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(16000, 24);
  header.writeUInt32LE(32000, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36);
  header.writeUInt32LE(dataBytes, 40);
  const form = new FormData();
  form.set('file', new Blob([header, new Uint8Array(dataBytes)], { type: 'audio/wav' }), 'long.wav');
  form.set('prompt', 'p'.repeat(10_000));
  form.set('response_format', 'json');
  const response = await fetch(`${server.url}/v1/audio/transcriptions`, { method: 'POST', body: form, headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(response.status, 200, await response.clone().text());
  assert.equal(typeof ((await response.json()) as { text: unknown }).text, 'string');
});
