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
    const harness = await startHarness({
      transcriber: countingTranscriber(),
      responder,
      session: { mode: 'rewrite', turnDetection: { interruptResponse: false } },
    });
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

describe('per-turn answers under races: every committed turn ends in an answer or an explicit failure', () => {
  const translate = { mode: 'translate', targetLanguage: 'fr' } as const;

  function echoingResponder(firstTokenLatencyMs: number): ScriptedResponder {
    return new ScriptedResponder({ script: (request) => ({ text: `answer to ${request.messages.at(-1)?.content}` }), firstTokenLatencyMs });
  }

  /** Waits until every committed turn has a response.done naming it; returns them in order. */
  async function answersOfAllTurns(harness: Harness): Promise<Map<string, string>> {
    await harness.until(() => {
      const answered = new Set(harness.all('response.done').map((event) => event.response.answersItemId));
      return harness.all('input.committed').every((event) => answered.has(event.itemId));
    }, 'every committed turn answered');
    return new Map(harness.all('response.done').map((event) => [event.response.answersItemId!, event.response.status]));
  }

  test('translate: a waiting turn whose transcription failed gets a failed answer, not a translation of nothing', async () => {
    const responder = echoingResponder(300);
    const transcriber = new ScriptedTranscriber({ texts: (_audio, index) => `turn ${index + 1}`, failure: { code: 'upstream_error', onCall: 2 } });
    const harness = await startHarness({ transcriber, responder, session: { ...translate, turnDetection: { interruptResponse: false } } });
    harness.feed(speech);
    await harness.next('response.created');
    harness.feed(speech);
    const statuses = await answersOfAllTurns(harness);
    await harness.close();
    const [first, second] = harness.all('input.committed').map((event) => event.itemId);
    assert.equal(harness.all('transcript.failed')[0]?.itemId, second);
    assert.deepEqual(userTexts(responder), [['turn 1']], 'the LLM is never asked to translate a turn with no words');
    assert.equal(statuses.get(first), 'completed');
    assert.equal(statuses.get(second), 'failed');
    const failed = harness.all('response.done').find((event) => event.response.answersItemId === second)!;
    assert.equal(failed.response.statusDetails?.type === 'failed' && failed.response.statusDetails.error.code, 'upstream_error');
  });

  test('rewrite: a turn with no words (noise) is answered with nothing, without asking the LLM to rewrite nothing', async () => {
    const responder = echoingResponder(0);
    const transcriber = new ScriptedTranscriber({ texts: ['', 'turn 2'] });
    const harness = await startHarness({ transcriber, responder, session: { mode: 'rewrite', turnDetection: { interruptResponse: false } } });
    harness.feed(speech);
    harness.feed(speech);
    const statuses = await answersOfAllTurns(harness);
    await harness.close();
    assert.deepEqual([...statuses.values()], ['completed', 'completed'], 'each turn still ends in its response.done');
    assert.deepEqual(userTexts(responder), [['turn 2']], 'the LLM sees only the turn with words');
    const [silent] = harness.all('response.done');
    assert.deepEqual(silent.response.output, [], 'nothing said for a turn with nothing to rewrite');
    assert.equal(harness.synthesizer.calls.length, 1);
  });

  test('translate: a barge-in cancels the answer being spoken, and the turns waiting for theirs still get them', async () => {
    const responder = echoingResponder(200);
    const transcriber = new ScriptedTranscriber({ texts: (_audio, index) => `turn ${index + 1}`, latencyMs: 300 });
    const harness = await startHarness({ transcriber, responder, session: translate });
    harness.feed(speech);
    await harness.next('response.created');
    // Turn 2 interrupts turn 1's answer; turn 3 starts while turn 2 is still being transcribed.
    harness.feed(speech);
    harness.feed(speech);
    const statuses = await answersOfAllTurns(harness);
    await harness.close();
    const turns = harness.all('input.committed').map((event) => event.itemId);
    assert.equal(turns.length, 3);
    assert.deepEqual(
      turns.map((turn) => statuses.get(turn)),
      ['cancelled', 'completed', 'completed'],
    );
    assert.deepEqual(userTexts(responder).slice(-2), [['turn 2'], ['turn 3']], 'each later turn answered alone, in order');
  });

  test('translate: an answer waiting behind the user’s next turn starts when that turn ends, not over it', async () => {
    const responder = echoingResponder(0);
    const transcriber = new ScriptedTranscriber({ texts: (_audio, index) => `turn ${index + 1}`, latencyMs: 200 });
    const harness = await startHarness({ transcriber, responder, session: translate });
    harness.feed(speech);
    harness.feed(speechOnly);
    const secondStart = harness.all('speech.started')[1];
    assert.ok(secondStart, 'the second turn is being spoken');
    await harness.next('transcript.completed');
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(harness.all('response.created').length, 0, 'no answer starts while the user speaks');
    harness.feed(silence(1000));
    const statuses = await answersOfAllTurns(harness);
    await harness.close();
    assert.deepEqual([...statuses.values()], ['completed', 'completed']);
    assert.deepEqual(userTexts(responder), [['turn 1'], ['turn 2']]);
  });

  test('translate: a client’s own response.create answers the newest turn and leaves the other waiting turns their answers', async () => {
    const responder = echoingResponder(0);
    const transcriber = new ScriptedTranscriber({ texts: (_audio, index) => `turn ${index + 1}`, latencyMs: 300 });
    const harness = await startHarness({ transcriber, responder, session: { ...translate, turnDetection: { interruptResponse: false } } });
    harness.feed(speech);
    harness.feed(speech);
    const turns = harness.all('input.committed').map((event) => event.itemId);
    assert.equal(turns.length, 2, 'both turns committed, both still being transcribed');
    harness.handle({ type: 'response.create' });
    const statuses = await answersOfAllTurns(harness);
    await harness.close();
    assert.deepEqual([...statuses.keys()], [turns[1], turns[0]], 'the client’s response answers the newest turn; the older one gets its own');
    assert.deepEqual(userTexts(responder), [['turn 1', 'turn 2'], ['turn 1']]);
    assert.equal(harness.all('response.created').length, 2, 'the newest turn is not answered twice');
  });

  test('translate: a client’s response.cancel ends only the answer it names; the next waiting turn is answered', async () => {
    const responder = echoingResponder(300);
    const harness = await startHarness({
      transcriber: countingTranscriber(),
      responder,
      session: { ...translate, turnDetection: { interruptResponse: false } },
    });
    harness.feed(speech);
    const first = await harness.next('response.created');
    harness.feed(speech);
    await harness.until(() => harness.all('transcript.completed').length === 2, 'both turns transcribed');
    harness.handle({ type: 'response.cancel', responseId: first.response.id });
    const statuses = await answersOfAllTurns(harness);
    await harness.close();
    assert.deepEqual([...statuses.values()], ['cancelled', 'completed']);
  });

  test('a session.update while translations wait: turns committed in translate are still translated, each alone, into the language they were spoken for', async () => {
    const responder = echoingResponder(300);
    const harness = await startHarness({
      transcriber: countingTranscriber(),
      responder,
      session: { ...translate, turnDetection: { interruptResponse: false } },
    });
    harness.feed(speech);
    await harness.next('response.created');
    harness.feed(speech);
    harness.feed(speech);
    await harness.until(() => harness.all('transcript.completed').length === 3, 'three turns transcribed');
    harness.handle({ type: 'session.update', session: { mode: 'reply', targetLanguage: 'de' } });
    await answersOfAllTurns(harness);
    await harness.close();
    assert.deepEqual(userTexts(responder), [['turn 1'], ['turn 2'], ['turn 3']]);
    assert.deepEqual(
      responder.requests.map((request) => [request.mode, request.targetLanguage]),
      [
        ['translate', translate.targetLanguage],
        ['translate', translate.targetLanguage],
        ['translate', translate.targetLanguage],
      ],
    );
  });

  test('a waiting turn the client deleted is skipped, and the turns behind it are still answered', async () => {
    const responder = echoingResponder(300);
    const harness = await startHarness({
      transcriber: countingTranscriber(),
      responder,
      session: { ...translate, turnDetection: { interruptResponse: false } },
    });
    harness.feed(speech);
    await harness.next('response.created');
    harness.feed(speech);
    harness.feed(speech);
    await harness.until(() => harness.all('transcript.completed').length === 3, 'three turns transcribed');
    const turns = harness.all('input.committed').map((event) => event.itemId);
    harness.handle({ type: 'item.delete', itemId: turns[1] });
    await harness.until(() => harness.all('response.done').some((event) => event.response.answersItemId === turns[2]), 'the third turn answered');
    await harness.close();
    assert.deepEqual(userTexts(responder), [['turn 1'], ['turn 3']]);
    assert.deepEqual(
      harness.all('error').map((error) => error.code),
      [],
      'the deleted turn needs no error: item.deleted already ended it',
    );
  });

  test('reply: turn.end while a response runs answers the new turn once the running one is done', async () => {
    const responder = new ScriptedResponder({ script: { text: 'Sure.' }, firstTokenLatencyMs: 300 });
    const harness = await startHarness({ transcriber: countingTranscriber(), responder, session: { turnDetection: { interruptResponse: false } } });
    harness.feed(speech);
    await harness.next('response.created');
    harness.feed(speechOnly);
    harness.handle({ type: 'turn.end', respond: true });
    const statuses = await answersOfAllTurns(harness);
    await harness.close();
    assert.deepEqual([...statuses.values()], ['completed', 'completed']);
    assert.deepEqual(userTexts(responder)[1], ['turn 1', 'turn 2']);
  });
});
