/**
 * Every committed turn ends in exactly one turn.ended, in the order the turns were spoken, in
 * every mode; transcripts go out in spoken order too, however long each took to recognise; and
 * finish() resolves once every turn has ended. Real recorded speech through the real WebRTC
 * VAD, scripted providers.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import type { EngineEvent, SessionUpdate } from '../../src/engine/events.ts';
import { ScriptedResponder } from '../../src/providers/testing/scripted-responder.ts';
import { ScriptedTranscriber } from '../../src/providers/testing/scripted-transcriber.ts';
import { silence, speechAt24k, startHarness, type Harness } from './engine-harness.ts';

const CLIP = 'en_harvard_birch_canoe.wav';

let speech: Int16Array;

before(async () => {
  speech = (await speechAt24k(CLIP, 300, 1200)).samples;
});

/** Waits until every committed turn has a turn.ended, then checks there is exactly one each, in commit order. */
async function endsOfAllTurns(harness: Harness, turns: number): Promise<Array<Extract<EngineEvent, { type: 'turn.ended' }>>> {
  await harness.until(
    () => harness.all('input.committed').length >= turns && harness.all('turn.ended').length >= harness.all('input.committed').length,
    'every committed turn ended',
  );
  const committed = harness.all('input.committed').map((event) => event.itemId);
  const ended = harness.all('turn.ended');
  assert.deepEqual(
    ended.map((event) => event.itemId),
    committed,
    'one turn.ended per committed turn, in the order they were committed',
  );
  for (const end of ended) {
    const transcriptAt = harness.events.findIndex(
      (event) => (event.type === 'transcript.completed' || event.type === 'transcript.failed') && event.itemId === end.itemId,
    );
    assert.ok(transcriptAt >= 0 && transcriptAt < harness.events.indexOf(end), `turn ${end.itemId} ends after its transcript`);
  }
  return ended;
}

describe('one turn.ended per committed turn, in every mode', () => {
  const answering: Array<[string, SessionUpdate]> = [
    ['reply', { mode: 'reply', turnDetection: { interruptResponse: false } }],
    ['translate', { mode: 'translate', targetLanguage: 'fr', turnDetection: { interruptResponse: false } }],
    ['rewrite', { mode: 'rewrite', turnDetection: { interruptResponse: false } }],
  ];
  for (const [mode, session] of answering) {
    test(`${mode}: a turn spoken while the previous one is answered: each ends answered, after its own response`, async () => {
      const harness = await startHarness({ responder: new ScriptedResponder({ script: { text: 'Done.' }, firstTokenLatencyMs: 100 }), session });
      harness.feed(speech);
      await harness.next('response.created');
      harness.feed(speech);
      const ended = await endsOfAllTurns(harness, 2);
      // Nothing more comes: a settled session emits no second end.
      await new Promise((resolve) => setTimeout(resolve, 100));
      await harness.close();
      assert.equal(harness.all('turn.ended').length, 2);
      for (const end of ended) {
        assert.equal(end.outcome, 'answered');
        assert.equal(end.transcript, 'hello world');
        const done = harness.all('response.done').find((event) => event.response.id === end.responseId);
        assert.ok(done, `turn ${end.itemId} names the response that answered it`);
        assert.equal(done.response.answersItemId, end.itemId);
        assert.ok(harness.events.indexOf(done) < harness.events.indexOf(end), 'the turn ends after its response.done');
      }
    });
  }

  test('reply: turns that wait together behind an answer are answered by one reply; the older end superseded', async () => {
    const harness = await startHarness({
      responder: new ScriptedResponder({ script: { text: 'Done.' }, firstTokenLatencyMs: 400 }),
      session: { mode: 'reply', turnDetection: { interruptResponse: false } },
    });
    harness.feed(speech);
    await harness.next('response.created');
    harness.feed(speech);
    harness.feed(speech);
    const ended = await endsOfAllTurns(harness, 3);
    await harness.close();
    assert.deepEqual(
      ended.map((end) => [end.outcome, end.reason]),
      [
        ['answered', null],
        ['dropped', 'superseded'],
        ['answered', null],
      ],
    );
    assert.equal(harness.all('response.done').length, 2, 'one reply for the two waiting turns');
  });

  test('transcription-only: each turn ends transcribed, and no response runs', async () => {
    const harness = await startHarness({ session: { kind: 'transcription' } });
    harness.feed(speech);
    harness.feed(speech);
    const ended = await endsOfAllTurns(harness, 2);
    await harness.close();
    assert.deepEqual(
      ended.map((end) => [end.outcome, end.transcript, end.responseId]),
      [
        ['transcribed', 'hello world', null],
        ['transcribed', 'hello world', null],
      ],
    );
    assert.equal(harness.all('response.created').length, 0);
  });

  test('create_response false: each turn ends transcribed', async () => {
    const harness = await startHarness({ session: { turnDetection: { createResponse: false } } });
    harness.feed(speech);
    harness.feed(speech);
    const ended = await endsOfAllTurns(harness, 2);
    await harness.close();
    assert.deepEqual(
      ended.map((end) => end.outcome),
      ['transcribed', 'transcribed'],
    );
    assert.equal(harness.all('response.created').length, 0);
  });

  test('a manual commit (no answer asked) ends transcribed; a failed transcription ends failed with its error', async () => {
    const harness = await startHarness({
      transcriber: new ScriptedTranscriber({ failure: { code: 'upstream_error', onCall: 2 } }),
      session: { turnDetection: null },
    });
    harness.feed(silence(300));
    harness.handle({ type: 'audio.commit' });
    harness.feed(silence(300));
    harness.handle({ type: 'audio.commit' });
    const ended = await endsOfAllTurns(harness, 2);
    await harness.close();
    assert.equal(ended[0].outcome, 'transcribed');
    assert.equal(ended[1].outcome, 'failed');
    assert.equal(ended[1].transcript, null);
    assert.equal(ended[1].error?.code, 'upstream_error');
  });

  test('a failed response ends its turn failed, with the response error', async () => {
    const harness = await startHarness({ responder: new ScriptedResponder({ failure: { code: 'upstream_error' } }), session: { mode: 'rewrite' } });
    harness.feed(speech);
    const [end] = await endsOfAllTurns(harness, 1);
    await harness.close();
    assert.equal(end.outcome, 'failed');
    assert.equal(end.error?.code, 'upstream_error');
    assert.equal(end.transcript, 'hello world');
  });

  test('barge-in: the interrupted turn ends dropped (interrupted); the new turn ends answered', async () => {
    const harness = await startHarness({ responder: new ScriptedResponder({ script: { text: 'One. Two. Three. Four. Five.' }, deltaLatencyMs: 40 }) });
    harness.feed(speech);
    await harness.next('response.created');
    harness.feed(speech);
    const ended = await endsOfAllTurns(harness, 2);
    await harness.close();
    assert.deepEqual(
      ended.map((end) => [end.outcome, end.reason]),
      [
        ['dropped', 'interrupted'],
        ['answered', null],
      ],
    );
  });

  test('closing the session ends every open turn once (dropped: closed, or failed transcription)', async () => {
    const harness = await startHarness({
      transcriber: new ScriptedTranscriber({ latencyMs: (audioMs) => (audioMs > 0 ? 60_000 : 0) }),
      session: { mode: 'translate', targetLanguage: 'de' },
    });
    harness.feed(speech);
    harness.feed(speech);
    await harness.until(() => harness.all('input.committed').length === 2, 'two turns committed');
    await harness.close();
    const ended = await endsOfAllTurns(harness, 2);
    for (const end of ended) assert.ok(end.outcome === 'dropped' || end.outcome === 'failed', JSON.stringify(end));
    assert.equal(harness.all('turn.ended').length, 2);
  });
});

describe('spoken order', () => {
  test('a recognizer slower on long turns: a 5 s turn and the short turn after it come out in spoken order', async () => {
    const transcriber = new ScriptedTranscriber({
      texts: (audio) => (audio!.samples.length > 16 * 2000 ? 'the long turn' : 'the short turn'),
      // 5 s takes 1.5 s, 0.5 s takes 150 ms: the short turn is recognised first.
      latencyMs: (audioMs) => audioMs * 0.3,
    });
    const recognised: string[] = [];
    const transcribe = transcriber.transcribe.bind(transcriber);
    transcriber.transcribe = async (audio, options) => {
      const result = await transcribe(audio, options);
      recognised.push(result.text);
      return result;
    };
    const harness = await startHarness({ transcriber, session: { kind: 'transcription', turnDetection: null } });
    harness.feed(speech.subarray(0, 24 * 5000));
    harness.handle({ type: 'audio.commit' });
    harness.feed(speech.subarray(0, 24 * 500));
    harness.handle({ type: 'audio.commit' });
    await endsOfAllTurns(harness, 2);
    await harness.close();
    assert.deepEqual(recognised, ['the short turn', 'the long turn'], 'the recognizer finished the short turn first');
    assert.deepEqual(
      harness.all('transcript.completed').map((event) => event.transcript),
      ['the long turn', 'the short turn'],
      'transcripts go out in spoken order',
    );
    assert.deepEqual(
      harness.all('turn.ended').map((event) => event.transcript),
      ['the long turn', 'the short turn'],
    );
  });

  test('per-turn answers start in spoken order, each after its own transcript', async () => {
    const transcriber = new ScriptedTranscriber({ texts: (_audio, index) => `turn ${index + 1}`, latencyMs: (audioMs) => (audioMs > 1000 ? 400 : 0) });
    const responder = new ScriptedResponder({ script: (request) => ({ text: `answer to ${request.messages.at(-1)?.content}` }) });
    const harness = await startHarness({ transcriber, responder, session: { mode: 'rewrite', turnDetection: null } });
    harness.feed(speech.subarray(0, 24 * 3000));
    harness.handle({ type: 'turn.end', respond: true });
    harness.feed(speech.subarray(0, 24 * 300));
    harness.handle({ type: 'turn.end', respond: true });
    const ended = await endsOfAllTurns(harness, 2);
    await harness.close();
    assert.deepEqual(
      responder.requests.map((request) => request.messages.at(-1)?.content),
      ['turn 1', 'turn 2'],
    );
    assert.deepEqual(
      ended.map((end) => end.outcome),
      ['answered', 'answered'],
    );
  });
});

describe('finish()', () => {
  test('commits the turn being spoken and resolves once every turn has ended', async () => {
    const harness = await startHarness({
      responder: new ScriptedResponder({ script: { text: 'Fine.' }, firstTokenLatencyMs: 200 }),
      session: { mode: 'rewrite', turnDetection: { interruptResponse: false } },
    });
    harness.feed(speech);
    // The second turn is still being spoken when finish() is called.
    harness.feed((await speechAt24k(CLIP, 300, 0)).samples);
    await harness.next('speech.started', () => true, harness.events.indexOf(harness.all('speech.started')[0]) + 1);
    await harness.engine.finish({ respond: true });
    const endedWhenResolved = harness.all('turn.ended').length;
    const committed = harness.all('input.committed').length;
    await harness.close();
    assert.equal(committed, 2, 'the open turn was committed');
    assert.equal(endedWhenResolved, 2, 'both turns had ended when finish() resolved');
    assert.deepEqual(
      harness.all('turn.ended').map((end) => end.outcome),
      ['answered', 'answered'],
    );
  });

  test('with nothing committed it resolves at once; after close it resolves too', async () => {
    const harness = await startHarness();
    await harness.engine.finish({ respond: false });
    const slow = await startHarness({ transcriber: new ScriptedTranscriber({ latencyMs: 60_000 }), session: { kind: 'transcription' } });
    slow.feed(speech);
    await slow.until(() => slow.all('input.committed').length === 1, 'a turn committed');
    const finished = slow.engine.finish({ respond: false });
    await slow.close();
    await finished;
    await harness.close();
    assert.equal(slow.all('turn.ended').length, 1);
    assert.equal(slow.all('turn.ended')[0].outcome, 'failed');
  });

  test('handle() says whether it took the input', async () => {
    const harness = await startHarness();
    assert.deepEqual(harness.engine.handle({ type: 'audio.clear' }), { accepted: true });
    const refused = harness.engine.handle({ type: 'audio.commit', eventId: 'c1' });
    await harness.close();
    assert.equal(refused.accepted, false);
    assert.equal(!refused.accepted && refused.error.code, 'input_audio_buffer_commit_empty');
    assert.equal(harness.all('error')[0].eventId, 'c1', 'the error event still goes out');
  });
});
