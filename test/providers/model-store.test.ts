import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, test } from 'node:test';
import { SpeechbridgeError } from '../../src/errors/registry.ts';
import { cliProgress, KNOWN_MODELS, listModels, resolveModel, type ModelChecksum } from '../../src/providers/model-store.ts';
import { zeroWhisperModel } from '../helpers/zero-whisper-model.ts';

/** 200 KB: enough for the transfer to arrive in several chunks, small enough to stay instant. */
const MODEL_BYTES = 200 * 1024;
const NAME = 'test-small';
const FILE_NAME = `ggml-${NAME}.bin`;

const data = randomBytes(MODEL_BYTES);
const checksums: Record<string, ModelChecksum> = { [NAME]: { sha1: createHash('sha1').update(data).digest('hex') } };

let workDir: string;
let caseNumber = 0;

before(async () => {
  workDir = await mkdtemp(path.join(os.tmpdir(), 'speechbridge-model-store-'));
});

after(async () => {
  await rm(workDir, { recursive: true, force: true });
});

async function freshCacheDir(): Promise<string> {
  const dir = path.join(workDir, `cache-${++caseNumber}`);
  await mkdir(dir, { recursive: true });
  return dir;
}

interface SeenRequest {
  url: string;
  range: string | undefined;
}

interface TestServer {
  baseUrl: string;
  requests: SeenRequest[];
  close: () => Promise<void>;
}

async function serve(handler: (request: IncomingMessage, response: ServerResponse, index: number) => void | Promise<void>): Promise<TestServer> {
  const requests: SeenRequest[] = [];
  const server: Server = createServer((request, response) => {
    requests.push({ url: request.url ?? '', range: request.headers.range });
    void Promise.resolve(handler(request, response, requests.length - 1)).catch((error: unknown) => {
      response.destroy(error as Error);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/models`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Writes `body` in 16 KB pieces, waiting for each to be flushed, so the client sees many chunks. */
async function writeInPieces(response: ServerResponse, body: Buffer): Promise<void> {
  for (let offset = 0; offset < body.length; offset += 16 * 1024) {
    await new Promise<void>((resolve, reject) => response.write(body.subarray(offset, offset + 16 * 1024), (error) => (error ? reject(error) : resolve())));
  }
}

/** A plain server honouring Range the way Hugging Face's CDN does. */
async function sendWithRange(request: IncomingMessage, response: ServerResponse): Promise<void> {
  const range = /^bytes=(\d+)-$/.exec(request.headers.range ?? '');
  if (range) {
    const start = Number(range[1]);
    if (start >= data.length) {
      response.writeHead(416, { 'content-range': `bytes */${data.length}` });
      response.end();
      return;
    }
    response.writeHead(206, { 'content-length': data.length - start, 'content-range': `bytes ${start}-${data.length - 1}/${data.length}` });
    await writeInPieces(response, data.subarray(start));
  } else {
    response.writeHead(200, { 'content-length': data.length });
    await writeInPieces(response, data);
  }
  response.end();
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail('expected the call to reject');
}

function assertCode(error: unknown, code: string): asserts error is SpeechbridgeError {
  assert.ok(error instanceof SpeechbridgeError, `expected a SpeechbridgeError, got ${String(error)}`);
  assert.equal(error.code, code, error.message);
}

test('downloads a named model into the cache with monotonic progress ending at the total', async () => {
  const server = await serve(sendWithRange);
  const cacheDir = await freshCacheDir();
  const progress: Array<[number, number | undefined]> = [];
  try {
    const file = await resolveModel(NAME, { cacheDir, baseUrl: server.baseUrl, checksums, onProgress: (received, total) => progress.push([received, total]) });
    assert.equal(file, path.join(cacheDir, FILE_NAME));
    assert.ok((await readFile(file)).equals(data), 'the cached file differs from what was served');
    assert.equal(existsSync(`${file}.part`), false, 'the .part file was left behind');
    assert.deepEqual(server.requests, [{ url: `/models/${FILE_NAME}`, range: undefined }]);
    assert.ok(progress.length > 2, `only ${progress.length} progress calls`);
    for (let i = 1; i < progress.length; i++) assert.ok(progress[i][0] >= progress[i - 1][0], `progress went back at call ${i}`);
    assert.ok(progress.every(([, total]) => total === MODEL_BYTES));
    assert.deepEqual(progress[progress.length - 1], [MODEL_BYTES, MODEL_BYTES]);
  } finally {
    await server.close();
  }
});

test('a cached model is reused without any request', async () => {
  const server = await serve(sendWithRange);
  const cacheDir = await freshCacheDir();
  await writeFile(path.join(cacheDir, FILE_NAME), data);
  try {
    const file = await resolveModel(NAME, { cacheDir, baseUrl: server.baseUrl, checksums });
    assert.equal(file, path.join(cacheDir, FILE_NAME));
    assert.equal(server.requests.length, 0);
  } finally {
    await server.close();
  }
});

test('a checksum mismatch deletes the .part file and throws checksum_mismatch', async () => {
  const server = await serve(sendWithRange);
  const cacheDir = await freshCacheDir();
  try {
    const wrongSha1 = { [NAME]: { sha1: createHash('sha1').update('something else').digest('hex') } };
    const error = await rejection(resolveModel(NAME, { cacheDir, baseUrl: server.baseUrl, checksums: wrongSha1 }));
    assertCode(error, 'checksum_mismatch');
    assert.match(error.message, /SHA-1/);
    assert.equal(existsSync(path.join(cacheDir, `${FILE_NAME}.part`)), false, 'the .part file survived a mismatch');
    assert.equal(existsSync(path.join(cacheDir, FILE_NAME)), false);

    const wrongSize = { [NAME]: { sha256: createHash('sha256').update(data).digest('hex'), sizeBytes: MODEL_BYTES + 1 } };
    assertCode(await rejection(resolveModel(NAME, { cacheDir, baseUrl: server.baseUrl, checksums: wrongSize })), 'checksum_mismatch');

    const rightSha256 = { [NAME]: { sha256: createHash('sha256').update(data).digest('hex'), sizeBytes: MODEL_BYTES } };
    const file = await resolveModel(NAME, { cacheDir, baseUrl: server.baseUrl, checksums: rightSha256 });
    assert.ok((await readFile(file)).equals(data));
  } finally {
    await server.close();
  }
});

test('a transfer that breaks off is resumed with a Range request on the next call', async () => {
  const cut = 80 * 1024;
  const server = await serve(async (request, response, index) => {
    if (index === 0) {
      response.writeHead(200, { 'content-length': data.length });
      await writeInPieces(response, data.subarray(0, cut));
      response.destroy();
      return;
    }
    await sendWithRange(request, response);
  });
  const cacheDir = await freshCacheDir();
  const partFile = path.join(cacheDir, `${FILE_NAME}.part`);
  try {
    const error = await rejection(resolveModel(NAME, { cacheDir, baseUrl: server.baseUrl, checksums }));
    assertCode(error, 'download_failed');
    assert.ok(error.message.includes(`${server.baseUrl}/${FILE_NAME}`), error.message);
    assert.ok(error.message.includes(`copy ${FILE_NAME} into ${cacheDir}`), error.message);
    const kept = (await stat(partFile)).size;
    assert.ok(kept > 0 && kept <= cut, `.part holds ${kept} bytes`);

    const progress: number[] = [];
    const file = await resolveModel(NAME, { cacheDir, baseUrl: server.baseUrl, checksums, onProgress: (received) => progress.push(received) });
    assert.equal(server.requests.length, 2);
    assert.equal(server.requests[1].range, `bytes=${kept}-`);
    assert.equal(progress[0], kept, 'progress did not start from the resumed bytes');
    assert.ok((await readFile(file)).equals(data), 'the resumed file differs from what was served');
    assert.equal(existsSync(partFile), false);
  } finally {
    await server.close();
  }
});

test('a server that ignores Range gets a clean download, not an appended one', async () => {
  const server = await serve(async (_request, response) => {
    response.writeHead(200, { 'content-length': data.length });
    await writeInPieces(response, data);
    response.end();
  });
  const cacheDir = await freshCacheDir();
  await writeFile(path.join(cacheDir, `${FILE_NAME}.part`), randomBytes(50 * 1024));
  try {
    const file = await resolveModel(NAME, { cacheDir, baseUrl: server.baseUrl, checksums });
    assert.equal(server.requests[0].range, `bytes=${50 * 1024}-`);
    assert.equal(server.requests.length, 1);
    assert.ok((await readFile(file)).equals(data), 'the .part prefix was kept although the server sent the whole file');
  } finally {
    await server.close();
  }
});

test('a complete .part left before the rename is verified and used (416 with the full size)', async () => {
  const server = await serve(sendWithRange);
  const cacheDir = await freshCacheDir();
  await writeFile(path.join(cacheDir, `${FILE_NAME}.part`), data);
  try {
    const file = await resolveModel(NAME, { cacheDir, baseUrl: server.baseUrl, checksums });
    assert.equal(server.requests.length, 1);
    assert.equal(server.requests[0].range, `bytes=${MODEL_BYTES}-`);
    assert.ok((await readFile(file)).equals(data));
  } finally {
    await server.close();
  }
});

test('HTTP errors and unreachable hosts give download_failed with the URL and what to do', async () => {
  const server = await serve((_request, response) => {
    response.writeHead(404);
    response.end('no such file');
  });
  const cacheDir = await freshCacheDir();
  try {
    const error = await rejection(resolveModel(NAME, { cacheDir, baseUrl: server.baseUrl, checksums }));
    assertCode(error, 'download_failed');
    assert.match(error.message, /HTTP 404/);
    assert.match(error.message, /WHISPER_MODEL/);
  } finally {
    await server.close();
  }
  // The port of the server just closed: nothing listens there now.
  const error = await rejection(resolveModel(NAME, { cacheDir, baseUrl: server.baseUrl, checksums }));
  assertCode(error, 'download_failed');
  assert.ok(error.message.includes(server.baseUrl), error.message);
});

test('an abort during the transfer rejects with AbortError and keeps the .part for a resume', async () => {
  const server = await serve(async (_request, response) => {
    response.writeHead(200, { 'content-length': data.length });
    await writeInPieces(response, data.subarray(0, 64 * 1024));
    // The rest never comes; the client aborts.
  });
  const cacheDir = await freshCacheDir();
  const controller = new AbortController();
  try {
    const error = await rejection(
      resolveModel(NAME, {
        cacheDir,
        baseUrl: server.baseUrl,
        checksums,
        signal: controller.signal,
        onProgress: (received) => {
          if (received > 0) controller.abort();
        },
      }),
    );
    assert.equal((error as Error).name, 'AbortError');
    assert.ok((await stat(path.join(cacheDir, `${FILE_NAME}.part`))).size > 0);
  } finally {
    await server.close();
  }
});

test('paths must exist; names must be known; downloads can be turned off', async () => {
  const cacheDir = await freshCacheDir();
  const shared = await zeroWhisperModel('tiny.en');
  assert.equal(await resolveModel(shared, { cacheDir }), shared);
  assert.equal(await resolveModel(path.relative(process.cwd(), shared), { cacheDir }), shared);

  const missing = path.join(cacheDir, 'nowhere', 'ggml-missing.bin');
  const notThere = await rejection(resolveModel(missing, { cacheDir }));
  assertCode(notThere, 'model_not_found');
  assert.ok(notThere.message.includes(missing), notThere.message);

  assertCode(await rejection(resolveModel(`${cacheDir}/`, { cacheDir })), 'model_not_found');

  const unknown = await rejection(resolveModel('enormous-v9', { cacheDir }));
  assertCode(unknown, 'model_not_found');
  for (const name of ['tiny.en', 'base.en', 'large-v3-turbo']) assert.ok(unknown.message.includes(name), unknown.message);

  const offline = await rejection(resolveModel('base.en', { cacheDir, download: false }));
  assertCode(offline, 'model_not_found');
  assert.ok(offline.message.includes('ggml-base.en.bin'), offline.message);
});

test('the known table holds the whisper.cpp SHA-1 sums', () => {
  for (const name of ['tiny', 'tiny.en', 'base', 'base.en', 'small', 'small.en', 'medium', 'medium.en', 'large-v3', 'large-v3-turbo']) {
    assert.match(KNOWN_MODELS[name]?.sha1 ?? '', /^[0-9a-f]{40}$/, `no SHA-1 for ${name}`);
  }
});

test('listModels reports cached files with sizes, partial downloads and the known names', async () => {
  const cacheDir = await freshCacheDir();
  await writeFile(path.join(cacheDir, FILE_NAME), data);
  await writeFile(path.join(cacheDir, 'ggml-base.en.bin.part'), data.subarray(0, 1000));
  await writeFile(path.join(cacheDir, 'notes.txt'), 'not a model');
  const listing = await listModels(cacheDir, checksums);
  assert.deepEqual(listing.cached, [{ name: NAME, file: path.join(cacheDir, FILE_NAME), sizeBytes: MODEL_BYTES, known: true }]);
  assert.deepEqual(listing.partial, [{ name: 'base.en', file: path.join(cacheDir, 'ggml-base.en.bin.part'), sizeBytes: 1000, known: true }]);
  assert.ok(listing.known.includes('base.en') && listing.known.includes(NAME));
  const empty = await listModels(path.join(cacheDir, 'does-not-exist'));
  assert.deepEqual(empty.cached, []);
});

test('cliProgress draws a bar that reaches 100% on the given stream', () => {
  const stream = Object.assign(new PassThrough(), { isTTY: true, columns: 120 });
  let output = '';
  stream.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const bar = cliProgress('ggml-test.bin', stream);
  bar.onProgress(0, 4_000_000);
  bar.onProgress(2_000_000, 4_000_000);
  bar.onProgress(4_000_000, 4_000_000);
  bar.stop();
  assert.match(output, /ggml-test\.bin \[/);
  assert.match(output, /100% \| 4\.0\/4\.0 MB/);
});
