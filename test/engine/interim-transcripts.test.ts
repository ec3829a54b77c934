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
    const harness = await startHarness({
      transcriber: measuringTranscriber(),
      session: { interimTranscripts: true, turnDetection: { createResponse: false } },
    });
    await feedLive(harness, speech);
    const completed = await harness.next('transcript.completed');
    await harness.close();

    const started = harness.all('speech.started');
    assert.equal(started.length, 1, 'one turn');
    const interims = harness.all('transcript.interim');
    assert.ok(interims.length >= 2, `a 2.5 s sentence gives several partials; got ${interims.length}`);
    assert.ok(
      interims.every((event) => event.itemId === started[0].itemId),
      'partials name the turn speech.started announced',
    );
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

  test('as deltas: append-only pieces of the item, a revising pass sends nothing, logprobs of the new tokens only', async () => {
    // Pass texts in order; the last entry is the committed turn's transcript.
    const texts = ['the birch', 'the birch canoe', 'a birch canoe', 'the birch canoe slid', 'the birch canoe slid on the smooth planks'];
    const transcriber = new ScriptedTranscriber({ texts, logprobs: true });
    const harness = await startHarness({ transcriber, session: { interimDeltas: true, transcriptLogprobs: true, turnDetection: { createResponse: false } } });
    await feedLive(harness, speech);
    const completed = await harness.next('transcript.completed');
    await harness.close();

    const itemId = harness.all('speech.started')[0].itemId;
    const passes = transcriber.calls.length - 1;
    assert.ok(passes >= 4, `four interim passes on a 2.5 s turn; got ${passes}`);
    const deltas = harness.all('transcript.delta');
    // Passes past the fourth (and the final transcription) get the last text.
    assert.deepEqual(
      deltas.slice(0, 3).map((event) => [event.itemId, event.contentIndex, event.delta]),
      [
        [itemId, 0, 'the birch'],
        [itemId, 0, ' canoe'],
        [itemId, 0, ' slid'],
      ],
      'the revision ("a birch canoe") sends nothing; the next pass that extends what was sent does',
    );
    assert.ok(completed.transcript.startsWith(deltas.map((event) => event.delta).join('')), 'the deltas spell the start of the transcript');
    assert.deepEqual(
      deltas.slice(0, 3).map((event) => event.logprobs?.map((entry) => entry.token)),
      [[' the', ' birch'], [' canoe'], [' slid']],
    );
    assert.equal(harness.all('transcript.interim').length, 0, 'no whole-text partials unless asked for');
    assert.equal(completed.transcript, 'the birch canoe slid on the smooth planks');
    assert.deepEqual(
      completed.logprobs?.map((entry) => entry.logprob),
      [-0.01, -0.02, -0.03, -0.04, -0.05, -0.06, -0.07, -0.08],
    );
  });

  test('as deltas: not with a streaming recognizer, which sends its own', async () => {
    const transcriber = new ScriptedTranscriber({ texts: 'one two three', streaming: true });
    const harness = await startHarness({ transcriber, session: { interimDeltas: true, turnDetection: { createResponse: false } } });
    await feedLive(harness, speech);
    await harness.next('transcript.completed');
    await harness.close();
    assert.equal(transcriber.calls.length, 1, 'no interim passes');
    assert.equal(
      harness
        .all('transcript.delta')
        .map((event) => event.delta)
        .join(''),
      'one two three',
    );
  });
});
