/**
 * POST /upload refuses what it cannot use with a 4xx and a message naming the problem: tiny
 * files, no file, a non-multipart body, bytes ffmpeg cannot decode, unknown languages. The
 * transcriber is never reached for them.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import type { RunningServer } from '../../../src/server/app.ts';
import { ScriptedTranscriber } from '../../../src/providers/testing/scripted-transcriber.ts';
import { startTestServer } from '../../helpers/server.ts';
import { sharedAudioPath } from '../../helpers/shared.ts';
import { requireTool } from '../../helpers/spoken.ts';

interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string };
}

const transcriber = new ScriptedTranscriber({ texts: 'hello world' });
let server: RunningServer;

before(async () => {
  await requireTool('ffmpeg', 'apt-get install ffmpeg');
  server = await startTestServer({ transcriber });
});

after(async () => {
  await server?.close();
});

async function post(body: FormData | string, headers: Record<string, string> = {}): Promise<{ status: number; body: ErrorBody }> {
  const response = await fetch(`${server.url}/upload`, { method: 'POST', body, headers });
  return { status: response.status, body: (await response.json()) as ErrorBody };
}

function form(file: Buffer | undefined, fields: Record<string, string> = {}, filename = 'audio.wav'): FormData {
  const data = new FormData();
  if (file) data.set('file', new Blob([new Uint8Array(file)]), filename);
  for (const [key, value] of Object.entries(fields)) data.set(key, value);
  return data;
}

test('an upload under 16 KB gets a 400 that says so, not an empty result', async () => {
  const wav = await readFile(sharedAudioPath('en_one_two_three.wav'));
  const tiny = wav.subarray(0, 10_000);
  const { status, body } = await post(form(tiny, {}, 'click.wav'));
  assert.equal(status, 400);
  assert.equal(body.error.code, 'upload_too_small');
  assert.equal(body.error.type, 'invalid_request_error');
  assert.equal(body.error.param, 'file');
  assert.match(body.error.message, /"click\.wav" is 10000 bytes; \/upload needs at least 16384 bytes \(16 KB\)/);

  const justEnough = await post(form(wav.subarray(0, 16 * 1024)));
  assert.equal(justEnough.status, 200, 'exactly 16 KB is accepted');
});

test('no file part, or an empty one, is refused naming the field', async () => {
  const missing = await post(form(undefined, { target_lang: 'fr' }));
  assert.equal(missing.status, 400);
  assert.equal(missing.body.error.code, 'missing_file');
  assert.match(missing.body.error.message, /no "file" part/);

  const empty = await post(form(Buffer.alloc(0)));
  assert.equal(empty.status, 400);
  assert.equal(empty.body.error.code, 'empty_input');
});

test('a body that is not multipart/form-data gets 415', async () => {
  const { status, body } = await post(JSON.stringify({ file: 'abc' }), { 'content-type': 'application/json' });
  assert.equal(status, 415);
  assert.equal(body.error.code, 'invalid_content_type');
  assert.match(body.error.message, /multipart\/form-data/);
});

test('bytes that are not audio get 400 unreadable_audio with ffmpeg’s reason', async () => {
  const calls = transcriber.calls.length;
  const { status, body } = await post(form(randomBytes(20_000), {}, 'noise.bin'));
  assert.equal(status, 400);
  assert.equal(body.error.code, 'unreadable_audio');
  assert.ok(body.error.message.length > 10);
  assert.equal(transcriber.calls.length, calls, 'the transcriber never saw it');
});

test('an unknown language is refused naming the field', async () => {
  const wav = await readFile(sharedAudioPath('en_one_two_three.wav'));
  const { status, body } = await post(form(wav, { target_lang: 'klingon' }));
  assert.equal(status, 400);
  assert.equal(body.error.code, 'invalid_value');
  assert.equal(body.error.param, 'target_lang');
  assert.match(body.error.message, /unknown language "klingon" for target_lang/);
});
