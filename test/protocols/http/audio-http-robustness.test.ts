/**
 * The OpenAI-compatible audio endpoints under what real clients do besides sending one good
 * request: multipart bodies with too many parts, clients that hang up mid-upload or while
 * their audio is worked on, and many uploads at once. ffmpeg is real (the uploads are M4A,
 * decoded through a temporary file); the transcriber is scripted, since these tests are about
 * the gateway's request handling, not the words.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { startServer, type RunningServer } from '../../../src/server/app.ts';
import { loadConfig } from '../../../src/server/config.ts';
import { ScriptedSynthesizer } from '../../../src/providers/testing/scripted-synthesizer.ts';
import { ScriptedTranscriber } from '../../../src/providers/testing/scripted-transcriber.ts';
import { assembleProviders } from '../../helpers/server.ts';
import { sharedAudioPath } from '../../helpers/shared.ts';
import { requireTool } from '../../helpers/spoken.ts';

let server: RunningServer;
let folder: string;
let m4a: Buffer;
const logLines: Array<{ level: number; msg: string }> = [];

before(async () => {
  await requireTool('ffmpeg', 'apt-get install ffmpeg');
  folder = await mkdtemp(path.join(os.tmpdir(), 'speechbridge-http-robustness-'));
  const file = path.join(folder, 'speech.m4a');
  await promisify(execFile)('ffmpeg', ['-loglevel', 'error', '-y', '-i', sharedAudioPath('en_one_two_three.wav'), '-c:a', 'aac', file]);
  m4a = await readFile(file);
  const config = loadConfig({ SERVER_NAME: '127.0.0.1', SERVER_PORT: '0', LOG_LEVEL: 'info' });
  const logger = pino({ level: 'info' }, { write: (line: string) => logLines.push(JSON.parse(line) as { level: number; msg: string }) });
  // 300 ms per transcription, and speech that streams for seconds, leave time to hang up midway.
  const providers = assembleProviders({
    transcriber: new ScriptedTranscriber({ texts: 'scripted words', latencyMs: 300 }),
    synthesizer: new ScriptedSynthesizer({ sampleRate: 24000, hopMs: 100, hopLatencyMs: 10 }),
  });
  server = await startServer({ config, providers, logger });
});

after(async () => {
  await server?.close();
  if (folder) await rm(folder, { recursive: true, force: true });
});

interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string };
}

const transcriptions = () => `${server.url}/v1/audio/transcriptions`;

/** How many ffmpeg processes this test process has as children: decoders still running. */
async function ffmpegChildren(): Promise<number> {
  let count = 0;
  for (const pid of (await readdir('/proc')).filter((entry) => /^\d+$/.test(entry))) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    const [name, rest] = [stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), stat.slice(stat.lastIndexOf(')') + 2)];
    if (name === 'ffmpeg' && rest.split(' ')[1] === String(process.pid)) count++;
  }
  return count;
}

async function settled(): Promise<number> {
  // A killed child is reaped shortly after the kill; give it a moment before counting.
  for (let attempt = 0; attempt < 20; attempt++) {
    const count = await ffmpegChildren();
    if (count === 0) return 0;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return ffmpegChildren();
}

function m4aForm(): FormData {
  const form = new FormData();
  form.set('model', 'whisper-1');
  form.set('file', new Blob([new Uint8Array(m4a)], { type: 'audio/mp4' }), 'speech.m4a');
  return form;
}

test('two file parts get 400 naming the file field, not a misleading 413', async () => {
  for (const second of ['file', 'audio']) {
    const form = m4aForm();
    form.append(second, new Blob([new Uint8Array(m4a)]), 'again.m4a');
    const response = await fetch(transcriptions(), { method: 'POST', body: form });
    const body = (await response.json()) as ErrorBody;
    assert.equal(response.status, 400, `second file as "${second}": ${JSON.stringify(body)}`);
    assert.equal(body.error.param, 'file');
    assert.match(body.error.message, /more than one file/);
  }
});

test('too many form fields get 400 saying so, not 413', async () => {
  const form = m4aForm();
  for (let i = 0; i < 30; i++) form.set(`extra_${i}`, 'x');
  const response = await fetch(transcriptions(), { method: 'POST', body: form });
  const body = (await response.json()) as ErrorBody;
  assert.equal(response.status, 400, JSON.stringify(body));
  assert.equal(body.error.code, 'invalid_value');
  assert.match(body.error.message, /form fields/);
});

test('20 concurrent M4A transcriptions all succeed and leave no ffmpeg running', async () => {
  const responses = await Promise.all(Array.from({ length: 20 }, () => fetch(transcriptions(), { method: 'POST', body: m4aForm() })));
  const bodies = await Promise.all(responses.map(async (response) => `${response.status} ${await response.text()}`));
  assert.deepEqual(new Set(bodies), new Set(['200 {"text":"scripted words","usage":{"type":"duration","seconds":3}}']));
  assert.equal(await settled(), 0, 'ffmpeg processes left after the requests');
});

test('a client that hangs up mid-upload or mid-transcription is no server error, and nothing is left running', async () => {
  const before = logLines.length;
  // Mid-upload: the headers promise 100 000 bytes, 5 000 arrive, then the socket closes.
  const socket = net.connect(Number(new URL(server.url).port), '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(
    'POST /v1/audio/transcriptions HTTP/1.1\r\nHost: localhost\r\nContent-Type: multipart/form-data; boundary=XX\r\nContent-Length: 100000\r\n\r\n' +
      '--XX\r\nContent-Disposition: form-data; name="file"; filename="speech.m4a"\r\nContent-Type: audio/mp4\r\n\r\n',
  );
  socket.write(m4a.subarray(0, 5000));
  await new Promise((resolve) => setTimeout(resolve, 200));
  socket.destroy();

  // Mid-transcription: the whole upload arrives, the client gives up while it is worked on.
  const controller = new AbortController();
  const request = fetch(transcriptions(), { method: 'POST', body: m4aForm(), signal: controller.signal });
  await new Promise((resolve) => setTimeout(resolve, 150));
  controller.abort();
  await assert.rejects(request, { name: 'AbortError' });

  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.equal(await settled(), 0, 'ffmpeg processes left after the disconnects');
  const logged = logLines.slice(before);
  const errors = logged.filter((line) => line.level >= 50);
  assert.deepEqual(errors, [], 'a disconnect is not logged as a server error');
  assert.ok(logged.filter((line) => line.msg === 'client disconnected before the reply').length >= 2, JSON.stringify(logged));

  const after = await fetch(transcriptions(), { method: 'POST', body: m4aForm() });
  assert.equal(after.status, 200, 'the server keeps serving');
});

test('a client that hangs up mid-speech-stream (mp3, SSE, /tts-proxy) stops the encoder and is no server error', async () => {
  const before = logLines.length;
  const input = 'A sentence long enough to stream for a while. '.repeat(20);
  for (const [route, body] of [
    ['/v1/audio/speech', { input, response_format: 'mp3' }],
    ['/v1/audio/speech', { input, response_format: 'mp3', stream_format: 'sse' }],
    ['/tts-proxy', { input }],
  ] as const) {
    // node:http rather than fetch: fetch's pool opens a spare connection after an abort, which
    // would hold the server's close() open for its keep-alive timeout.
    const request = http.request(`${server.url}${route}`, { method: 'POST', agent: false, headers: { 'content-type': 'application/json' } });
    request.end(JSON.stringify(body));
    const response = await new Promise<http.IncomingMessage>((resolve) => request.once('response', resolve));
    assert.equal(response.statusCode, 200, route);
    const first = await new Promise<Buffer>((resolve) => response.once('data', resolve));
    assert.ok(first.length > 0, `${route} streamed audio`);
    request.destroy();
  }
  assert.equal(await settled(), 0, 'ffmpeg encoders left after the disconnects');
  assert.deepEqual(
    logLines.slice(before).filter((line) => line.level >= 50),
    [],
    'a disconnect is not logged as a server error',
  );
});

test('stream with a response_format OpenAI does not stream gets 400 naming response_format', async () => {
  const form = m4aForm();
  form.set('stream', 'true');
  form.set('response_format', 'srt');
  const response = await fetch(transcriptions(), { method: 'POST', body: form });
  const body = (await response.json()) as ErrorBody;
  assert.equal(response.status, 400, JSON.stringify(body));
  assert.equal(body.error.param, 'response_format');
});
