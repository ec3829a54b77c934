/**
 * GET /metrics times every provider call: after a real POST /v1/audio/speech on the embedded
 * espeak-ng synthesizer, speechbridge_provider_seconds has the call under
 * kind="synthesizer", name="espeak-ng", outcome="ok" and the first audio chunk is timed; a
 * transcriber that fails is counted by its error code; the embedded engines' job slots are gauged.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { EspeakSynthesizer } from '../../src/providers/local/espeak-synthesizer.ts';
import { ScriptedTranscriber } from '../../src/providers/testing/scripted-transcriber.ts';
import type { RunningServer } from '../../src/server/app.ts';
import { startTestServer } from '../helpers/server.ts';
import { sharedAudioPath } from '../helpers/shared.ts';

let server: RunningServer;

before(async () => {
  server = await startTestServer({
    synthesizer: await EspeakSynthesizer.create({ workers: 1, warmUp: false, timeoutMs: 20_000 }),
    transcriber: new ScriptedTranscriber({ texts: 'never heard', failure: { code: 'upstream_timeout' } }),
  });
});

after(async () => {
  await server?.close();
});

async function metricsText(): Promise<string> {
  const response = await fetch(`${server.url}/metrics`);
  assert.equal(response.status, 200);
  return response.text();
}

/** The value of one sample line, e.g. `name{a="b"} 3`; undefined when absent. */
function sample(text: string, line: string): number | undefined {
  const found = text.split('\n').find((candidate) => candidate.startsWith(`${line} `));
  return found === undefined ? undefined : Number(found.slice(line.length + 1));
}

test('a speech request is timed with kind, name and outcome labels, and its first chunk too', async () => {
  const response = await fetch(`${server.url}/v1/audio/speech`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'tts-1', input: 'Hello there. How are you today?', voice: 'alloy', response_format: 'pcm' }),
  });
  assert.equal(response.status, 200);
  const audio = new Uint8Array(await response.arrayBuffer());
  assert.ok(audio.byteLength > 24_000, `speech came back (${audio.byteLength} bytes)`);

  const text = await metricsText();
  assert.match(text, /^# TYPE speechbridge_provider_seconds histogram$/m);
  assert.equal(sample(text, 'speechbridge_provider_seconds_count{kind="synthesizer",name="espeak-ng",outcome="ok"}'), 1);
  const seconds = sample(text, 'speechbridge_provider_seconds_sum{kind="synthesizer",name="espeak-ng",outcome="ok"}');
  assert.ok(seconds !== undefined && seconds > 0, `the call took a measured time (${seconds} s)`);
  assert.equal(sample(text, 'speechbridge_provider_first_chunk_seconds_count{kind="synthesizer",name="espeak-ng"}'), 1);
  const firstChunk = sample(text, 'speechbridge_provider_first_chunk_seconds_sum{kind="synthesizer",name="espeak-ng"}')!;
  assert.ok(firstChunk > 0 && firstChunk <= seconds!, `first audio (${firstChunk} s) came no later than the end (${seconds} s)`);
});

test('a failed provider call is counted by its error code, with outcome="error"', async () => {
  const form = new FormData();
  form.set('file', new Blob([await readFile(sharedAudioPath('en_one_two_three.wav'))], { type: 'audio/wav' }), 'speech.wav');
  form.set('model', 'whisper-1');
  const response = await fetch(`${server.url}/v1/audio/transcriptions`, { method: 'POST', body: form });
  assert.equal(response.status, 504);

  const text = await metricsText();
  assert.equal(sample(text, 'speechbridge_provider_errors_total{kind="transcriber",name="scripted-transcriber",code="upstream_timeout"}'), 1);
  assert.equal(sample(text, 'speechbridge_provider_seconds_count{kind="transcriber",name="scripted-transcriber",outcome="error"}'), 1);
});

test('the embedded engines’ job slots are gauged: espeak-ng’s one slot, free again after its call; a provider without slots has no line', async () => {
  const response = await fetch(`${server.url}/v1/audio/speech`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'tts-1', input: 'One more sentence.', voice: 'alloy', response_format: 'pcm' }),
  });
  assert.equal(response.status, 200);
  await response.arrayBuffer();

  const text = await metricsText();
  assert.match(text, /^# TYPE speechbridge_provider_jobs gauge$/m);
  assert.equal(sample(text, 'speechbridge_provider_jobs{kind="synthesizer",name="espeak-ng",state="slots"}'), 1);
  assert.equal(sample(text, 'speechbridge_provider_jobs{kind="synthesizer",name="espeak-ng",state="running"}'), 0);
  assert.equal(sample(text, 'speechbridge_provider_jobs{kind="synthesizer",name="espeak-ng",state="waiting"}'), 0);
  assert.equal(sample(text, 'speechbridge_provider_jobs{kind="transcriber",name="scripted-transcriber",state="slots"}'), undefined);
});
