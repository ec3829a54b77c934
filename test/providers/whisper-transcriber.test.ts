/**
 * The embedded whisper transcriber on a zero-weight tiny.en model generated at test time:
 * its words are meaningless, so these tests check shapes, languages, queueing and cancellation, never text.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { durationMs, type PcmAudio } from '../../src/audio/pcm.ts';
import { readWav } from '../../src/audio/wav.ts';
import { SpeechbridgeError } from '../../src/errors/registry.ts';
import type { Transcription } from '../../src/providers/contracts.ts';
import { createWhisperTranscriber, effectiveAudioContext, type WhisperTranscriber } from '../../src/providers/local/whisper-transcriber.ts';
import { sharedAudioPath } from '../helpers/shared.ts';
import { zeroWhisperModel } from '../helpers/zero-whisper-model.ts';

let modelPath: string;
let transcriber: WhisperTranscriber;
/** en_harvard_birch_canoe.wav: 3.26 s of read speech. */
let speech: PcmAudio;
let workDir: string;

before(async () => {
  modelPath = await zeroWhisperModel('tiny.en');
  speech = readWav(await readFile(sharedAudioPath('en_harvard_birch_canoe.wav')));
  workDir = await mkdtemp(path.join(os.tmpdir(), 'speechbridge-whisper-test-'));
  // 256 positions (5.1 s) cover the 3.3 s clip and keep each decode under a second.
  transcriber = await createWhisperTranscriber({ modelPath, audioContext: 256, timeoutMs: 60_000 });
});

after(async () => {
  await transcriber?.close();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

function assertShape(result: Transcription, audio: PcmAudio): void {
  assert.equal(typeof result.text, 'string');
  assert.equal(result.durationMs, durationMs(audio));
  assert.ok(Array.isArray(result.segments));
  for (const segment of result.segments) {
    assert.equal(typeof segment.text, 'string');
    assert.ok(segment.startMs >= 0 && segment.startMs <= segment.endMs && segment.endMs <= result.durationMs, JSON.stringify(segment));
  }
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail('expected the call to reject');
}

test('an English-only model declares its capabilities, runs on every core but one, and transcribes a real recording', async () => {
  assert.deepEqual(transcriber.capabilities, {
    streaming: false,
    languageDetection: false,
    segments: true,
    logprobs: false,
    sampleRate: 16000,
    languages: ['en'],
  });
  assert.equal(transcriber.model.multilingual, false);
  // Unset, the threads leave one core to the rest (bench/whisper-threads.ts: a thread that loses its core holds up the others).
  assert.equal(transcriber.model.threads, Math.max(1, os.availableParallelism() - 1), 'every core but one');
  const result = await transcriber.transcribe(speech);
  assertShape(result, speech);
  assert.equal(result.language, 'en');
});

test('the event loop keeps running while whisper decodes', async () => {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  try {
    const result = await transcriber.transcribe(speech);
    assertShape(result, speech);
  } finally {
    clearInterval(timer);
  }
  assert.ok(ticks > 0, 'no timer fired during the decode');
});

test('8 kHz input is resampled and a 0.5 s turn is accepted; durations are the input’s', async () => {
  const telephone: PcmAudio = { samples: speech.samples.filter((_, index) => index % 2 === 0), sampleRate: 8000 };
  const resampled = await transcriber.transcribe(telephone);
  assertShape(resampled, telephone);
  const short: PcmAudio = { samples: speech.samples.subarray(0, 8000), sampleRate: 16000 };
  const shortResult = await transcriber.transcribe(short);
  assert.equal(shortResult.durationMs, 500);
  assertShape(shortResult, short);
});

test('the queue is bounded: a call beyond maxQueue fails with engine_busy; an aborted queued job rejects with AbortError', async () => {
  const small = await createWhisperTranscriber({ modelPath, audioContext: 256, timeoutMs: 60_000, maxQueue: 1 });
  try {
    const running = small.transcribe(speech);
    const controller = new AbortController();
    const queued = small.transcribe(speech, { signal: controller.signal });
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(small.queued, 1);

    const refused = await rejection(small.transcribe(speech));
    assert.ok(refused instanceof SpeechbridgeError);
    assert.equal(refused.code, 'engine_busy');

    controller.abort();
    const aborted = await rejection(queued);
    assert.equal((aborted as Error).name, 'AbortError');
    assert.equal(small.queued, 0);

    assertShape(await running, speech);
  } finally {
    await small.close();
  }
});

test('a best-effort call is refused at once while whisper works, and accepted when it is idle', async () => {
  const small = await createWhisperTranscriber({ modelPath, audioContext: 256, timeoutMs: 60_000 });
  try {
    const running = small.transcribe(speech);
    const refused = await rejection(small.transcribe(speech, { bestEffort: true }));
    assert.ok(refused instanceof SpeechbridgeError);
    assert.equal(refused.code, 'engine_busy');
    assert.equal(small.queued, 0, 'the preview was not queued');
    assertShape(await running, speech);
    assertShape(await small.transcribe(speech, { bestEffort: true }), speech);
  } finally {
    await small.close();
  }
});

test('a running job that is aborted rejects at once and the next job still runs', async () => {
  const controller = new AbortController();
  const first = transcriber.transcribe(speech, { signal: controller.signal });
  const second = transcriber.transcribe(speech);
  await new Promise((resolve) => setImmediate(resolve));
  controller.abort();
  assert.equal(((await rejection(first)) as Error).name, 'AbortError');
  assertShape(await second, speech);
});

test('a call past its deadline fails with upstream_timeout', async () => {
  const hurried = await createWhisperTranscriber({ modelPath, audioContext: 256, timeoutMs: 20 });
  try {
    const error = await rejection(hurried.transcribe(speech));
    assert.ok(error instanceof SpeechbridgeError);
    assert.equal(error.code, 'upstream_timeout');
  } finally {
    await hurried.close();
  }
});

test('a missing model file is model_not_found; a file that is not a model is engine_unavailable', async () => {
  const missing = await rejection(createWhisperTranscriber({ modelPath: path.join(workDir, 'ggml-nothing.bin'), timeoutMs: 1000 }));
  assert.ok(missing instanceof SpeechbridgeError);
  assert.equal(missing.code, 'model_not_found');
  assert.match(missing.message, /ggml-nothing\.bin/);

  const notAModel = await rejection(createWhisperTranscriber({ modelPath: sharedAudioPath('en_one_two_three.wav'), timeoutMs: 1000 }));
  assert.ok(notAModel instanceof SpeechbridgeError);
  assert.equal(notAModel.code, 'engine_unavailable');
});

test('an English-only model refuses another language', async () => {
  const error = await rejection(transcriber.transcribe(speech, { language: 'fr' }));
  assert.ok(error instanceof SpeechbridgeError);
  assert.equal(error.code, 'invalid_value');
  assert.equal(error.param, 'language');
});

test('a multilingual model detects the language when none is given and reports the one given', async () => {
  const multilingualPath = await zeroWhisperModel('tiny');
  const multilingual = await createWhisperTranscriber({ modelPath: multilingualPath, audioContext: 256, timeoutMs: 60_000 });
  try {
    assert.equal(multilingual.capabilities.languageDetection, true);
    const languages = multilingual.capabilities.languages;
    assert.ok(Array.isArray(languages) && languages.includes('en') && languages.includes('fr'), `languages: ${String(languages)}`);
    const french = readWav(await readFile(sharedAudioPath('fr_leopard.wav')));
    const clip: PcmAudio = { samples: french.samples.subarray(0, 3 * 16000), sampleRate: 16000 };
    const detected = await multilingual.transcribe(clip);
    assertShape(detected, clip);
    assert.ok(typeof detected.language === 'string' && languages.includes(detected.language), `detected ${detected.language}`);
    const given = await multilingual.transcribe(clip, { language: 'french' });
    assert.equal(given.language, 'fr');
  } finally {
    await multilingual.close();
  }
});

test('the audio context is a floor that grows to cover long turns', () => {
  assert.equal(effectiveAudioContext(0, 3000), 0);
  assert.equal(effectiveAudioContext(512, 3000), 512);
  // 12 s needs 600 positions of 20 ms, plus the 64-position margin.
  assert.equal(effectiveAudioContext(512, 12_000), 664);
  assert.equal(effectiveAudioContext(512, 29_000), 0);
});
