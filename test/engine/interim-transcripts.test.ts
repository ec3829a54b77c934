/**
 * Interim transcripts: partial text of the turn being spoken, on real recorded speech and the
 * real WebRTC VAD, with a scripted transcriber whose text tells how much audio it was given.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { durationMs } from '../../src/audio/pcm.ts';
import { INTERIM_STEP_MS } from '../../src/engine/interim-transcripts.ts';
import { ScriptedTranscriber } from '../../src/providers/testing/scripted-transcriber.ts';
import { FRAME_SAMPLES, speechAt24k, startHarness, type Harness } from './engine-harness.ts';

const CLIP = 'en_harvard_birch_canoe.wav';
let speech: Int16Array;

before(async () => {
  speech = (await speechAt24k(CLIP, 500, 1500)).samples;
});

/** Feeds 20 ms frames, letting the event loop run between them as a socket's reads would. */
async function feedLive(harness: Harness<ScriptedTranscriber>, samples: Int16Array): Promise<void> {
  for (let offset = 0; offset < samples.length; offset += FRAME_SAMPLES) {
    harness.handle({ type: 'audio.append', audio: samples.subarray(offset, offset + FRAME_SAMPLES) });
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** A transcriber whose text names the ms of audio it heard, so each pass's text differs. */
function measuringTranscriber(latencyMs = 0): ScriptedTranscriber {
  return new ScriptedTranscriber({ latencyMs, texts: (audio) => (audio ? `heard ${Math.round(durationMs(audio))} ms` : 'heard') });
}

describe('interim transcripts', () => {
  test('grow while the turn is spoken, carry its item id, and stop at speech stop', async () => {
    const harness = await startHarness({ transcriber: measuringTranscriber(), session: { interimTranscripts: true, turnDetection: { createResponse: false } } });
    await feedLive(harness, speech);
    const completed = await harness.next('transcript.completed');
    await harness.close();

    const started = harness.all('speech.started');
    assert.equal(started.length, 1, 'one turn');
    const interims = harness.all('transcript.interim');
    assert.ok(interims.length >= 2, `a 2.5 s sentence gives several partials; got ${interims.length}`);
    assert.ok(interims.every((event) => event.itemId === started[0].itemId), 'partials name the turn speech.started announced');
    const heard = interims.map((event) => Number(/heard (\d+) ms/.exec(event.text)?.[1]));
    for (let index = 1; index < heard.length; index++) {
      assert.ok(heard[index] - heard[index - 1] >= INTERIM_STEP_MS - 20, `each pass covers ${INTERIM_STEP_MS} ms more audio: ${heard.join(', ')}`);
    }
    const stoppedAt = harness.events.findIndex((event) => event.type === 'speech.stopped');
    const lastInterimAt = harness.events.findLastIndex((event) => event.type === 'transcript.interim');
    assert.ok(lastInterimAt < stoppedAt, 'no partial after speech stopped');
    assert.equal(completed.itemId, started[0].itemId);
    assert.ok(Number(/heard (\d+) ms/.exec(completed.transcript)?.[1]) > heard.at(-1)!, 'the final transcript covers the whole turn');
  });

  test('are off unless asked for: one transcription per turn', async () => {
    const harness = await startHarness({ transcriber: measuringTranscriber(), session: { turnDetection: { createResponse: false } } });
    await feedLive(harness, speech);
    await harness.next('transcript.completed');
    await harness.close();
    assert.equal(harness.all('transcript.interim').length, 0);
    assert.equal(harness.transcriber.calls.length, 1);
  });

  test('a slow engine gets one pass at a time, and the pass still running at speech stop is aborted', async () => {
    const transcriber = measuringTranscriber(1500);
    const harness = await startHarness({ transcriber, session: { interimTranscripts: true, turnDetection: { createResponse: false } } });
    await feedLive(harness, speech);
    await harness.next('transcript.completed');
    await harness.close();
    const interimCalls = transcriber.calls.slice(0, -1);
    assert.ok(interimCalls.length >= 1, 'at least one interim pass started');
    // Fed at full speed, the 2.5 s turn ends long before a 1.5 s pass returns: no overlap means one pass.
    assert.equal(interimCalls.length, 1, `passes: ${interimCalls.map((call) => Math.round(call.audioMs)).join(', ')}`);
    assert.equal(interimCalls[0].aborted, true, 'the pass still running when the turn ended was aborted');
    assert.equal(harness.all('transcript.interim').length, 0, 'an aborted pass emits nothing');
  });

  test('a failing pass emits nothing; the final transcript still comes', async () => {
    const transcriber = new ScriptedTranscriber({ texts: 'final words', failure: { code: 'upstream_error', onCall: 1 } });
    const harness = await startHarness({ transcriber, session: { interimTranscripts: true, turnDetection: { createResponse: false } } });
    await feedLive(harness, speech);
    const completed = await harness.next('transcript.completed');
    await harness.close();
    assert.equal(transcriber.calls[0].failedWith, 'upstream_error');
    assert.equal(harness.all('error').length, 0, 'an interim failure is not a session error');
    assert.equal(completed.transcript, 'final words');
  });
});
