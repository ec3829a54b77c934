/**
 * How turns get their answers: turn.end (a client saying the user is done), per-turn answers
 * in translate and rewrite modes (each turn answered alone, in order, none dropped), the newest
 * turn winning in reply mode, and the response naming the turn it answers.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { MAX_DEFERRED_TURNS } from '../../src/engine/session-engine.ts';
import { ScriptedResponder } from '../../src/providers/testing/scripted-responder.ts';
import { ScriptedTranscriber } from '../../src/providers/testing/scripted-transcriber.ts';
import { silence, speechAt24k, startHarness, type Harness } from './engine-harness.ts';

const CLIP = 'en_harvard_birch_canoe.wav';
let speech: Int16Array;
let speechOnly: Int16Array;

before(async () => {
  speech = (await speechAt24k(CLIP, 300, 1200)).samples;
  // Speech with no trailing silence: the VAD has not heard the turn end.
  speechOnly = (await speechAt24k(CLIP, 300, 0)).samples;
});

/** A transcriber that names each turn by its order: "turn 1", "turn 2", … */
function countingTranscriber(): ScriptedTranscriber {
  return new ScriptedTranscriber({ texts: (_audio, index) => `turn ${index + 1}` });
}

/** The user text the responder was given in each call. */
function userTexts(responder: ScriptedResponder): string[][] {
  return responder.requests.map((request) => request.messages.filter((message) => message.role === 'user').map((message) => message.content));
}

describe('turn.end', () => {
  test('ends a VAD turn still being spoken, under its announced id, and answers it', async () => {
    const harness = await startHarness({ transcriber: countingTranscriber() });
    harness.feed(speechOnly);
    const started = await harness.next('speech.started');
    assert.equal(harness.all('speech.stopped').length, 0, 'the VAD has not ended the turn');
    harness.handle({ type: 'turn.end', respond: true });
    const stopped = await harness.next('speech.stopped');
    const done = await harness.next('response.done');
    await harness.close();
    assert.equal(stopped.itemId, started.itemId);
    assert.equal(harness.all('input.committed')[0].itemId, started.itemId);
    assert.equal(done.response.answersItemId, started.itemId);
    assert.deepEqual(userTexts(harness.responder), [['turn 1']]);
  });

  test('after the VAD ended the turn there is nothing to end: no second commit, one answer', async () => {
    const harness = await startHarness({ transcriber: countingTranscriber() });
    harness.feed(speech);
    await harness.next('input.committed');
    harness.handle({ type: 'turn.end', respond: true });
    await harness.next('response.done');
    await harness.close();
    assert.equal(harness.all('input.committed').length, 1, 'the silence after the turn is not committed as a turn');
    assert.equal(harness.all('error').length, 0);
    assert.equal(harness.all('response.created').length, 1);
  });

  test('with VAD off it commits the buffer and answers; respond false only commits; too little audio is refused', async () => {
    const harness = await startHarness({ transcriber: countingTranscriber(), session: { turnDetection: null } });
    harness.feed(silence(50));
    harness.handle({ type: 'turn.end', eventId: 'short', respond: true });
    assert.equal(harness.all('input.committed').length, 0, '50 ms is not a turn');
    const refused = harness.all('error');
    assert.deepEqual(
      refused.map((error) => [error.code, error.eventId]),
      [['input_audio_buffer_commit_empty', 'short']],
    );
    harness.handle({ type: 'audio.clear' });

    harness.feed(speechOnly);
    harness.handle({ type: 'turn.end', respond: false });
    await harness.next('transcript.completed');
    harness.feed(speechOnly);
    harness.handle({ type: 'turn.end', respond: true });
    const done = await harness.next('response.done');
    await harness.close();
    const committed = harness.all('input.committed');
    assert.equal(committed.length, 2);
    assert.equal(harness.all('response.created').length, 1, 'only the turn asked to be answered is');
    assert.equal(done.response.answersItemId, committed[1].itemId);
  });
});

describe('per-turn answers', () => {
  /** Two turns, the second committed while the first is still being answered by a slow LLM. */
  async function twoQuickTurns(harness: Harness): Promise<void> {
    harness.feed(speech);
    await harness.next('response.created');
    harness.feed(speech);
    await harness.until(() => harness.all('response.done').length === 2, 'both turns answered');
  }

  for (const mode of ['rewrite', 'translate'] as const) {
    test(`${mode}: a turn spoken during an answer gets its own answer, which reads only that turn`, async () => {
      const responder = new ScriptedResponder({ script: (request) => ({ text: `answer to ${request.messages.at(-1)?.content}` }), firstTokenLatencyMs: 300 });
      const harness = await startHarness({
        transcriber: countingTranscriber(),
        responder,
        session: { mode, targetLanguage: 'fr', turnDetection: { interruptResponse: false } },
      });
      await twoQuickTurns(harness);
      await harness.close();
      assert.deepEqual(userTexts(responder), [['turn 1'], ['turn 2']], 'each answer reads its own turn alone');
      const committed = harness.all('input.committed').map((event) => event.itemId);
      const done = harness.all('response.done');
      assert.deepEqual(
        done.map((event) => event.response.answersItemId),
        committed,
        'answers come in turn order and name their turns',
      );
      assert.ok(done.every((event) => event.response.status === 'completed'));
    });
  }

  test('reply: the newest turn is answered with the whole conversation', async () => {
    const responder = new ScriptedResponder({ script: { text: 'Sure.' }, firstTokenLatencyMs: 300 });
    const harness = await startHarness({ transcriber: countingTranscriber(), responder, session: { turnDetection: { interruptResponse: false } } });
    await twoQuickTurns(harness);
    await harness.close();
    assert.deepEqual(userTexts(responder)[1], ['turn 1', 'turn 2']);
  });

  test(`past ${MAX_DEFERRED_TURNS} waiting turns the oldest is dropped with turn_queue_full`, async () => {
    const responder = new ScriptedResponder({ script: { text: 'ok' }, firstTokenLatencyMs: 60_000 });
    const harness = await startHarness({ transcriber: countingTranscriber(), responder, session: { mode: 'rewrite', turnDetection: { interruptResponse: false } } });
    harness.feed(speech);
    await harness.next('response.created');
    for (let turn = 0; turn <= MAX_DEFERRED_TURNS; turn++) {
      harness.feed(speech);
      await harness.until(() => harness.all('transcript.completed').length === turn + 2, `turn ${turn + 2} transcribed`);
    }
    const dropped = await harness.next('error');
    await harness.close();
    assert.equal(dropped.code, 'turn_queue_full');
    assert.equal(dropped.param, harness.all('input.committed')[1].itemId, 'the oldest waiting turn is the one dropped');
  });
});

test('the session’s ttsModel reaches the synthesizer', async () => {
  const harness = await startHarness({ session: { ttsModel: 'tts-1-hd' } });
  harness.handle({ type: 'item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hi' }] } });
  harness.handle({ type: 'response.create' });
  await harness.next('response.done');
  await harness.close();
  assert.ok(harness.synthesizer.calls.length > 0);
  assert.ok(harness.synthesizer.calls.every((call) => call.model === 'tts-1-hd'));
});
