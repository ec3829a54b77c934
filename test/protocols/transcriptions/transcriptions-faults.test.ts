/**
 * /v1/transcriptions behaviour that needs exact control of the transcriber (failures, empty
 * text, what a pass returns) or of the server's limits: a scripted transcriber behind the real
 * server and the real VAD, fed speech spoken by espeak-ng. The words themselves are tested on
 * pocketsphinx in transcriptions-engines.test.ts.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { ScriptedTranscriber, type ScriptedTranscriberOptions } from '../../../src/providers/testing/scripted-transcriber.ts';
import type { RunningServer } from '../../../src/server/app.ts';
import { startTestServer } from '../../helpers/server.ts';
import { chunksOf, concatPcm, pcmBytes, silence, spokenPcm, streamChunks, TranscriptionClient } from './transcriptions-harness.ts';

/** 16 kHz PCM16: every session here names that rate in `start` (the default is 24 kHz). */
let utterance: Buffer;

before(async () => {
  utterance = pcmBytes(concatPcm([silence(300), (await spokenPcm('turn on the light')).samples, silence(1000)]));
});

async function withServer(transcriber: ScriptedTranscriberOptions, env: Record<string, string>, body: (url: string) => Promise<void>): Promise<void> {
  const server: RunningServer = await startTestServer({ transcriber: new ScriptedTranscriber(transcriber) }, env);
  try {
    await body(`${server.url.replace(/^http/, 'ws')}/v1/transcriptions`);
  } finally {
    await server.close();
  }
}

async function speak(client: TranscriptionClient): Promise<void> {
  await streamChunks(client, chunksOf(utterance, 3200), 2);
}

test('a failed transcription becomes {"error","code"}; the next utterance on the socket gets its final', async () => {
  const failure = { code: 'upstream_timeout' as const, message: 'the transcriber took too long', onCall: 1 };
  await withServer({ texts: 'second utterance', failure }, {}, async (url) => {
    const client = await TranscriptionClient.started(url, { sample_rate: 16000, interim_results: false });
    await speak(client);
    const error = await client.nextError();
    assert.equal(error.code, 'upstream_timeout');
    assert.match(error.error, /transcription of an utterance failed: the transcriber took too long/);
    await speak(client);
    const final = await client.next((message) => 'final' in message);
    assert.equal(final.final, 'second utterance');
    assert.equal(final.language, 'en');
    assert.equal(typeof final.duration_ms, 'number');
    await client.close();
  });
});

test('interim_results: false sends no partials; the default sends them before the final', async () => {
  await withServer({ texts: 'hello world' }, {}, async (url) => {
    const quiet = await TranscriptionClient.started(url, { sample_rate: 16000, interim_results: false });
    await speak(quiet);
    await quiet.next((message) => 'final' in message);
    assert.equal(quiet.messages.filter((message) => 'partial' in message).length, 0);
    await quiet.close();

    const live = await TranscriptionClient.started(url, { sample_rate: 16000 });
    await speak(live);
    const final = await live.next((message) => 'final' in message);
    const partials = live.messages.slice(0, live.messages.indexOf(final)).filter((message) => 'partial' in message);
    assert.ok(partials.length > 0, JSON.stringify(live.messages));
    assert.equal(partials[0].partial, 'hello world');
    await live.close();
  });
});

test('an utterance with no words and no partial sends no final; stop still closes 1000', async () => {
  await withServer({ texts: '' }, {}, async (url) => {
    const client = await TranscriptionClient.started(url, { sample_rate: 16000, interim_results: false });
    await speak(client);
    client.send({ action: 'stop' });
    const closed = await client.closed;
    assert.equal(closed.code, 1000);
    assert.deepEqual(
      client.messages.map((message) => Object.keys(message)[0]),
      ['session_id'],
    );
  });
});

test('a socket silent for REALTIME_IDLE_TIMEOUT_SECONDS gets session_idle and a normal close', async () => {
  await withServer({}, { REALTIME_IDLE_TIMEOUT_SECONDS: '0.3' }, async (url) => {
    const client = await TranscriptionClient.started(url, { sample_rate: 16000 });
    const closed = await client.closed;
    assert.equal(closed.code, 1000);
    const error = client.messages.find((message) => 'error' in message);
    assert.equal(error?.code, 'session_idle');
  });
});

test('stop waits for a final that takes longer than REALTIME_IDLE_TIMEOUT_SECONDS: the final arrives, then close 1000', async () => {
  await withServer({ texts: 'slow final', latencyMs: 1500 }, { REALTIME_IDLE_TIMEOUT_SECONDS: '0.5' }, async (url) => {
    const client = await TranscriptionClient.started(url, { sample_rate: 16000, interim_results: false });
    client.sendBinary(utterance);
    client.send({ action: 'stop' });
    const closed = await client.closed;
    assert.deepEqual([closed.code, closed.reason], [1000, 'stopped']);
    assert.deepEqual(client.finals(), ['slow final'], JSON.stringify(client.messages));
    assert.equal(client.messages.filter((message) => 'error' in message).length, 0, JSON.stringify(client.messages));
  });
});

test('format names are case-insensitive: "PCM16" starts a raw PCM session that transcribes', async () => {
  await withServer({ texts: 'upper case format' }, {}, async (url) => {
    const client = await TranscriptionClient.started(url, { sample_rate: 16000, format: 'PCM16', interim_results: false });
    await speak(client);
    const final = await client.next((message) => 'final' in message);
    assert.equal(final.final, 'upper case format');
    await client.close();
  });
});

test('stop just after speech starts (less than 100 ms of it) ends the session without an error', async () => {
  const speech = (await spokenPcm('turn on the light')).samples;
  const firstVoiced = speech.findIndex((sample) => Math.abs(sample) > 2000);
  // 60 ms of speech from its first loud sample, nothing before it: VAD (start_ms 0) opens a turn at once.
  const onset = pcmBytes(speech.subarray(firstVoiced, firstVoiced + 960));
  await withServer({ texts: 'a word' }, {}, async (url) => {
    const client = await TranscriptionClient.started(url, { sample_rate: 16000, interim_results: false, vad: { start_ms: 0, pad_ms: 0 } });
    client.sendBinary(onset);
    client.send({ action: 'stop' });
    const closed = await client.closed;
    assert.deepEqual([closed.code, closed.reason], [1000, 'stopped']);
    assert.equal(client.messages.filter((message) => 'error' in message).length, 0, JSON.stringify(client.messages));
  });
});

test('a server shutdown while an utterance is being transcribed tells the client with an error, then closes 1001', async () => {
  const server = await startTestServer({ transcriber: new ScriptedTranscriber({ texts: 'never heard', latencyMs: 10_000 }) });
  const client = await TranscriptionClient.started(`${server.url.replace(/^http/, 'ws')}/v1/transcriptions`, { sample_rate: 16000, interim_results: false });
  client.sendBinary(utterance);
  client.send({ action: 'stop' });
  // The stop is read and the utterance committed before the shutdown begins.
  await new Promise((resolve) => setTimeout(resolve, 300));
  await server.close();
  const closed = await client.closed;
  assert.equal(closed.code, 1001);
  const error = client.messages.find((message) => 'error' in message);
  assert.equal(error?.code, 'engine_unavailable', JSON.stringify(client.messages));
  assert.match(error?.error ?? '', /shutting down/);
});
