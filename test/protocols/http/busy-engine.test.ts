/**
 * A busy engine answers 429 engine_busy with Retry-After, so curl users and scripts know to
 * come back (the SDKs retry 429 on their own).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { ScriptedTranscriber } from '../../../src/providers/testing/scripted-transcriber.ts';
import type { RunningServer } from '../../../src/server/app.ts';
import { sharedAudioPath } from '../../helpers/shared.ts';
import { startTestServer } from '../../helpers/server.ts';

let server: RunningServer;

before(async () => {
  server = await startTestServer({ transcriber: new ScriptedTranscriber({ failure: { code: 'engine_busy', message: 'whisper has 8 jobs waiting' } }) });
});

after(async () => {
  await server?.close();
});

test('engine_busy is a 429 with Retry-After and the OpenAI error body', async () => {
  const form = new FormData();
  form.append('model', 'whisper-1');
  form.append('file', new Blob([readFileSync(sharedAudioPath('en_one_two_three.wav'))], { type: 'audio/wav' }), 'speech.wav');
  const response = await fetch(`${server.url}/v1/audio/transcriptions`, { method: 'POST', body: form });
  assert.equal(response.status, 429);
  assert.equal(response.headers.get('retry-after'), '1');
  const body = (await response.json()) as { error: { code: string; type: string; message: string } };
  assert.deepEqual([body.error.code, body.error.type], ['engine_busy', 'rate_limit_error']);
  assert.match(body.error.message, /jobs waiting/);
});
