/**
 * Client inputs other than spoken turns: manual commits, the buffer's limits, items and their
 * order, session.update validation, and bad input of every kind becoming an error event that
 * leaves the session working.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { EngineInput, NewItem } from '../../src/engine/events.ts';
import { ScriptedTranscriber } from '../../src/providers/testing/scripted-transcriber.ts';
import { Harness, silence, startHarness } from './engine-harness.ts';

const MANUAL = { turnDetection: 'none' as const };

function userText(text: string, id?: string): NewItem {
  return { type: 'message', role: 'user', content: [{ type: 'input_text', text }], ...(id && { id }) };
}

describe('manual commits', () => {
  test('a commit under 100 ms is input_audio_buffer_commit_empty, with the event id', async () => {
    const harness = await startHarness({ defaults: MANUAL });
    harness.handle({ type: 'audio.commit', eventId: 'empty' });
    harness.feed(silence(60));
    harness.handle({ type: 'audio.commit', eventId: 'short' });
    await harness.close();
    assert.deepEqual(
      harness.all('error').map((error) => [error.code, error.eventId]),
      [
        ['input_audio_buffer_commit_empty', 'empty'],
        ['input_audio_buffer_commit_empty', 'short'],
      ],
    );
    assert.equal(harness.all('input.committed').length, 0);
  });

  test('commit then response.create: the response is created at once and its LLM call waits for the transcript', async () => {
    const harness = await startHarness({ defaults: MANUAL, transcriber: new ScriptedTranscriber({ texts: 'what time is it', latencyMs: 30 }) });
    harness.feed(silence(500));
    harness.handle({ type: 'audio.commit' });
    harness.handle({ type: 'response.create' });
    await harness.next('response.done');
    await harness.close();
    const created = harness.log.indexOf('response.created');
    const transcribed = harness.log.indexOf('transcript.completed');
    assert.ok(created < transcribed, 'response.created does not wait for the transcript');
    assert.deepEqual(harness.responder.requests[0].messages, [{ role: 'user', content: 'what time is it' }]);
    // 500 ms at 24 kHz became 500 ms at 16 kHz (less the resampler's few samples of delay).
    const audioMs = harness.transcriber.calls[0].audioMs;
    assert.ok(audioMs > 490 && audioMs <= 500, `${audioMs} ms committed`);
    assert.equal(harness.all('turn.timings')[0].timings.itemId, harness.all('input.committed')[0].itemId);
  });

  test('audio past maxBufferMs is refused with input_audio_buffer_full; what fits stays committable', async () => {
    const harness = await startHarness({ defaults: { ...MANUAL, limits: { maxBufferMs: 1000 } } });
    harness.feed(silence(1200));
    const errors = harness.all('error');
    assert.ok(errors.length >= 1 && errors.every((error) => error.code === 'input_audio_buffer_full'), JSON.stringify(errors));
    harness.handle({ type: 'audio.commit' });
    await harness.next('transcript.completed');
    harness.feed(silence(500));
    assert.equal(harness.all('error').length, errors.length, 'after the commit there is room again');
    await harness.close();
    const audioMs = harness.transcriber.calls[0].audioMs;
    assert.ok(audioMs > 960 && audioMs <= 1000, `${audioMs} ms committed`);
  });

  test('audio.clear empties the buffer', async () => {
    const harness = await startHarness({ defaults: MANUAL });
    harness.feed(silence(500));
    harness.handle({ type: 'audio.clear' });
    harness.handle({ type: 'audio.commit', eventId: 'after_clear' });
    await harness.close();
    assert.deepEqual(harness.log, ['input.cleared', 'error']);
    assert.equal(harness.all('error')[0].code, 'input_audio_buffer_commit_empty');
  });

  test('G.711 rate: after inputSampleRate 8000, 100 ms is 800 samples', async () => {
    const harness = await startHarness({ defaults: MANUAL });
    harness.handle({ type: 'session.update', session: { inputSampleRate: 8000 } });
    harness.feed(silence(300, 8000), 160);
    harness.handle({ type: 'audio.commit' });
    await harness.next('transcript.completed');
    await harness.close();
    const audioMs = harness.transcriber.calls[0].audioMs;
    // Up to ~20 ms stays in the stream resampler's filter (speex quality 8 at 8 kHz).
    assert.ok(audioMs > 275 && audioMs <= 300, `${audioMs} ms committed`);
  });
});

describe('items', () => {
  test('previousItemId places items: undefined appends, null puts first, an id puts after it', async () => {
    const harness = await startHarness({ defaults: MANUAL });
    harness.handle({ type: 'item.create', item: userText('a', 'A') });
    harness.handle({ type: 'item.create', item: userText('b', 'B') });
    harness.handle({ type: 'item.create', previousItemId: null, item: userText('c', 'C') });
    harness.handle({ type: 'item.create', previousItemId: 'A', item: userText('d', 'D') });
    harness.handle({ type: 'item.create', eventId: 'bad', previousItemId: 'nope', item: userText('e', 'E') });
    harness.handle({ type: 'item.create', eventId: 'dup', item: userText('again', 'A') });
    await harness.close();
    assert.deepEqual(
      harness.engine.items.map((item) => item.id),
      ['C', 'A', 'D', 'B'],
    );
    assert.deepEqual(
      harness.all('item.added').map((event) => [event.item.id, event.previousItemId]),
      [
        ['A', null],
        ['B', 'A'],
        ['C', null],
        ['D', 'A'],
      ],
    );
    assert.deepEqual(
      harness.all('error').map((error) => [error.eventId, error.code, error.param]),
      [
        ['bad', 'item_not_found', 'previousItemId'],
        ['dup', 'invalid_value', 'item.id'],
      ],
    );
  });

  test('retrieve, delete and truncate of an unknown id each have their code, as OpenAI names them; delete removes the item', async () => {
    const harness = await startHarness({ defaults: MANUAL });
    harness.handle({ type: 'item.create', item: userText('keep', 'item_x') });
    harness.handle({ type: 'item.retrieve', eventId: 'r', itemId: 'item_missing' });
    harness.handle({ type: 'item.delete', eventId: 'd', itemId: 'item_missing' });
    harness.handle({ type: 'item.truncate', eventId: 't', itemId: 'item_missing', contentIndex: 0, audioEndMs: 0 });
    harness.handle({ type: 'item.retrieve', itemId: 'item_x' });
    harness.handle({ type: 'item.delete', itemId: 'item_x' });
    harness.handle({ type: 'item.retrieve', eventId: 'gone', itemId: 'item_x' });
    await harness.close();
    assert.deepEqual(
      harness.all('error').map((error) => [error.eventId, error.code, error.param]),
      [
        ['r', 'item_retrieve_invalid_item_id', 'itemId'],
        ['d', 'item_delete_invalid_item_id', 'itemId'],
        ['t', 'item_truncate_invalid_item_id', 'itemId'],
        ['gone', 'item_retrieve_invalid_item_id', 'itemId'],
      ],
    );
    assert.deepEqual(
      harness.all('item.retrieved').map((event) => event.item.id),
      ['item_x'],
    );
    assert.deepEqual(
      harness.all('item.deleted').map((event) => event.itemId),
      ['item_x'],
    );
    assert.deepEqual(harness.engine.items, []);
  });

  test('a user item with audio is transcribed like a committed turn', async () => {
    const harness = await startHarness({ defaults: MANUAL, transcriber: new ScriptedTranscriber({ texts: 'from an item' }) });
    harness.handle({ type: 'item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_audio', audio: silence(400) }] } });
    const transcript = await harness.next('transcript.completed');
    await harness.close();
    assert.equal(transcript.transcript, 'from an item');
    const item = harness.engine.items[0];
    assert.equal(item.type === 'message' && item.content[0].type === 'input_audio' && item.content[0].transcript, 'from an item');
  });

  test('a user item may not hold assistant-only content and a bad item type is refused', async () => {
    const harness = await startHarness({ defaults: MANUAL });
    harness.handle({ type: 'item.create', eventId: 'e1', item: { type: 'message', role: 'assistant', content: [{ type: 'input_audio', transcript: 'x' }] } });
    harness.handle({ type: 'item.create', eventId: 'e2', item: { type: 'nonsense' } as unknown as NewItem });
    await harness.close();
    assert.deepEqual(
      harness.all('error').map((error) => [error.eventId, error.code, error.param]),
      [
        ['e1', 'invalid_value', 'item.content[0].type'],
        ['e2', 'invalid_value', 'item.type'],
      ],
    );
    assert.deepEqual(harness.engine.items, []);
  });
});

describe('session.update', () => {
  test('valid values apply and are reported in session.updated', async () => {
    const harness = await startHarness();
    harness.handle({ type: 'session.update', session: { voice: 'coral', instructions: 'Be kind.', turnDetection: { endMs: 800, padMs: 300 } } });
    await harness.close();
    const updated = harness.all('session.updated')[0].session;
    assert.equal(updated.voice, 'coral');
    assert.equal(updated.instructions, 'Be kind.');
    assert.equal(updated.turnDetection.endMs, 800);
    assert.equal(updated.turnDetection.padMs, 300);
    assert.deepEqual(harness.engine.config, updated);
  });

  for (const [name, session, param] of [
    ['silence too short', { turnDetection: { endMs: 50 } }, 'session.turnDetection.endMs'],
    ['aggressiveness 4', { turnDetection: { aggressiveness: 4 } }, 'session.turnDetection.aggressiveness'],
    ['threshold 1.5', { turnDetection: { threshold: 1.5 } }, 'session.turnDetection.threshold'],
    ['speed 9', { speed: 9 }, 'session.speed'],
    ['modalities empty', { outputModalities: [] }, 'session.outputModalities'],
    ['sample rate 7', { inputSampleRate: 7 }, 'session.inputSampleRate'],
    ['tool choice names no tool', { toolChoice: { type: 'function', name: 'nope' } }, 'session.toolChoice.name'],
    ['string where a number goes', { temperature: 'hot' }, 'session.temperature'],
  ] as const) {
    test(`a bad value (${name}) is an error naming ${param}, and nothing of the update applies`, async () => {
      const harness = await startHarness();
      const before = structuredClone(harness.engine.config);
      harness.handle({ type: 'session.update', eventId: 'upd', session: { voice: 'verse', ...session } } as EngineInput);
      await harness.close();
      const error = harness.all('error')[0];
      assert.deepEqual([error.code, error.param, error.eventId], ['invalid_value', param, 'upd']);
      assert.deepEqual(harness.engine.config, before);
      assert.equal(harness.all('session.updated').length, 0);
    });
  }

  test('semantic_vad maps eagerness onto the silence length; a threshold picks the WebRTC mode', async () => {
    const harness = await startHarness();
    harness.handle({ type: 'session.update', session: { turnDetection: { type: 'semantic_vad', eagerness: 'high' } } });
    harness.handle({ type: 'session.update', session: { turnDetection: { eagerness: 'low' } } });
    harness.handle({ type: 'session.update', session: { turnDetection: { type: 'server_vad', threshold: 0.9 } } });
    await harness.close();
    const [high, low, server] = harness.all('session.updated').map((event) => event.session.turnDetection);
    assert.deepEqual([high.type, high.eagerness, high.endMs], ['semantic_vad', 'high', 300]);
    assert.deepEqual([low.type, low.eagerness, low.endMs], ['semantic_vad', 'low', 1500]);
    assert.deepEqual([server.type, server.eagerness, server.aggressiveness], ['server_vad', undefined, 3]);
  });
});

describe('bad input never throws', () => {
  test('wrong audio and unknown types become error events; the session keeps working', async () => {
    const harness = await startHarness({ defaults: MANUAL });
    assert.doesNotThrow(() => {
      harness.handle({ type: 'audio.append', eventId: 'a', audio: [1, 2, 3] as unknown as Int16Array });
      harness.handle({ type: 'what.is.this', eventId: 'b' } as unknown as EngineInput);
      harness.handle({ type: 'item.truncate', eventId: 'c', itemId: 'x', contentIndex: 0, audioEndMs: Number.NaN });
    });
    harness.handle({ type: 'item.create', item: userText('still alive') });
    await harness.close();
    assert.deepEqual(
      harness.all('error').map((error) => [error.eventId, error.code]),
      [
        ['a', 'invalid_audio'],
        ['b', 'unknown_event'],
        ['c', 'item_truncate_invalid_item_id'],
      ],
    );
    assert.equal(harness.engine.items.length, 1);
  });

  test('close() during start() leaves a session that never runs and emits nothing', async () => {
    const harness = new Harness({ defaults: MANUAL });
    const starting = harness.start();
    const closing = harness.close();
    await starting;
    await closing;
    harness.handle({ type: 'item.create', item: userText('too late') });
    assert.deepEqual(harness.log, []);
  });

  test('an input before start() is an error event, not an exception', async () => {
    const harness = new Harness({ defaults: MANUAL });
    assert.doesNotThrow(() => harness.handle({ type: 'audio.commit', eventId: 'early' }));
    assert.deepEqual(
      harness.all('error').map((error) => [error.eventId, error.code]),
      [['early', 'engine_unavailable']],
    );
    await harness.start();
    harness.handle({ type: 'item.create', item: userText('now it works') });
    await harness.close();
    assert.equal(harness.engine.items.length, 1);
  });
});
