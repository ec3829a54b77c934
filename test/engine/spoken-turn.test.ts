/**
 * Spoken turns through the engine: real recorded speech at 24 kHz, the real WebRTC VAD, and
 * scripted transcriber / responder / synthesizer, so the events and their order are exact.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { ManualClock } from '../../src/engine/clock.ts';
import { ScriptedResponder } from '../../src/providers/testing/scripted-responder.ts';
import { ScriptedTranscriber } from '../../src/providers/testing/scripted-transcriber.ts';
import { energyBounds, loadClip } from '../vad/speech-audio.ts';
import { compress, silence, speechAt24k, startHarness, VAD_DEFAULTS } from './engine-harness.ts';

const CLIP = 'en_harvard_birch_canoe.wav';
const LEAD_MS = 1000;
const TAIL_MS = 1500;
/** VAD boundaries within 100 ms of the energy-measured speech (five 20 ms frames). */
const TOLERANCE_MS = 100;

let speech: Int16Array;
let bounds: { startMs: number; endMs: number };

before(async () => {
  const fixture = await speechAt24k(CLIP, LEAD_MS, TAIL_MS);
  speech = fixture.samples;
  const clipBounds = energyBounds(fixture.clip16k);
  bounds = { startMs: LEAD_MS + clipBounds.startMs, endMs: LEAD_MS + clipBounds.endMs };
});

describe('a spoken turn', () => {
  test('runs speech → commit → transcript → response in protocol order, with one item id throughout', async () => {
    const harness = await startHarness({
      transcriber: new ScriptedTranscriber({ texts: 'the birch canoe slid on the smooth planks' }),
      responder: new ScriptedResponder({ script: { text: 'It did. Planks are smooth.' } }),
    });
    harness.feed(speech);
    const done = await harness.next('response.done');
    await harness.close();

    const sequence = compress(harness.log);
    const head = [
      'speech.started',
      'speech.stopped',
      'input.committed',
      'item.added',
      'item.done',
      'transcript.completed',
      'response.created',
      'output_item.added',
      'item.added',
      'content_part.added',
      'audio_transcript.delta',
      'audio.delta',
    ];
    const tail = ['audio.done', 'audio_transcript.done', 'content_part.done', 'item.done', 'output_item.done', 'turn.timings', 'response.done', 'turn.ended'];
    assert.deepEqual(sequence.slice(0, head.length), head);
    assert.deepEqual(sequence.slice(-tail.length), tail);
    const middle = sequence.slice(head.length, -tail.length);
    assert.ok(
      middle.every((type) => type === 'audio.delta' || type === 'audio_transcript.delta'),
      `between the first and last audio: ${middle.join(' ')}`,
    );

    const started = harness.all('speech.started')[0];
    const stopped = harness.all('speech.stopped')[0];
    assert.ok(
      Math.abs(started.speechStartMs - bounds.startMs) <= TOLERANCE_MS,
      `speech.started at ${started.speechStartMs} ms, speech begins at ${bounds.startMs} ms`,
    );
    assert.ok(Math.abs(stopped.speechEndMs - bounds.endMs) <= TOLERANCE_MS, `speech.stopped at ${stopped.speechEndMs} ms, speech ends at ${bounds.endMs} ms`);
    // As OpenAI defines them: the turn's audio starts padMs before the onset and ends after the silence that ended it.
    assert.equal(started.audioStartMs, Math.max(0, started.speechStartMs - VAD_DEFAULTS.padMs));
    assert.equal(stopped.audioEndMs, stopped.speechEndMs + VAD_DEFAULTS.endMs);

    const itemId = started.itemId;
    assert.equal(stopped.itemId, itemId);
    assert.equal(harness.all('input.committed')[0].itemId, itemId);
    assert.equal(harness.all('item.added')[0].item.id, itemId);
    const transcript = harness.all('transcript.completed')[0];
    assert.equal(transcript.itemId, itemId);
    assert.equal(transcript.transcript, 'the birch canoe slid on the smooth planks');

    // The committed audio runs from padMs before the start to the end of the buffer (endMs of silence after the stop).
    const committedMs = harness.transcriber.calls[0].audioMs;
    const spokenMs = stopped.speechEndMs - started.speechStartMs;
    // Within two frames: the VAD hears the silence out to a whole frame, and the resampler holds a few ms back.
    assert.ok(
      Math.abs(committedMs - (stopped.audioEndMs - started.audioStartMs)) <= 40,
      `committed ${committedMs} ms, reported ${started.audioStartMs}–${stopped.audioEndMs} ms`,
    );
    assert.ok(committedMs >= spokenMs + VAD_DEFAULTS.padMs, `committed ${committedMs} ms for ${spokenMs} ms of speech`);
    assert.ok(committedMs <= spokenMs + VAD_DEFAULTS.padMs + VAD_DEFAULTS.endMs + 100, `committed ${committedMs} ms for ${spokenMs} ms of speech`);

    // The responder heard the transcript; the reply is the scripted text, spoken.
    assert.deepEqual(harness.responder.requests[0].messages, [{ role: 'user', content: 'the birch canoe slid on the smooth planks' }]);
    assert.equal(done.response.status, 'completed');
    assert.equal(harness.all('audio_transcript.done')[0].transcript, 'It did. Planks are smooth.');
    const item = harness.engine.items.at(-1)!;
    assert.equal(item.type === 'message' && item.content[0].type === 'output_audio' && item.content[0].transcript, 'It did. Planks are smooth.');
    const timings = harness.all('turn.timings')[0].timings;
    assert.equal(timings.itemId, itemId);
    assert.equal(timings.responseId, done.response.id);
    assert.ok(timings.totalMs !== null && timings.totalMs >= 0);
  });

  test('speech during a response cancels it (turn_detected) and the new turn gets its own response', async () => {
    const harness = await startHarness({
      // Slow enough that the reply is still streaming when the second turn starts.
      responder: new ScriptedResponder({
        script: [{ text: 'First answer, long. It goes on. And on. And on.' }, { text: 'Second answer.' }],
        deltaLatencyMs: 15,
      }),
    });
    harness.feed(speech);
    const firstCreated = await harness.next('response.created');
    await harness.next('audio.delta');
    harness.feed(speech);
    const cancelled = await harness.next('response.done', (event) => event.response.id === firstCreated.response.id);
    const second = await harness.next('response.done', (event) => event.response.id !== firstCreated.response.id);
    await harness.close();

    assert.equal(cancelled.response.status, 'cancelled');
    assert.deepEqual(cancelled.response.statusDetails, { type: 'cancelled', reason: 'turn_detected' });
    assert.equal(harness.responder.calls[0].aborted, true, 'the LLM call of the interrupted response was aborted');
    // The cancel came from the second speech.started, before that turn was committed.
    const secondStart = harness.events.indexOf(harness.all('speech.started')[1]);
    assert.ok(secondStart < harness.events.indexOf(cancelled), 'barge-in follows speech.started');
    assert.ok(harness.events.indexOf(cancelled) < harness.events.indexOf(harness.all('input.committed')[1]));
    assert.equal(second.response.status, 'completed');
    assert.equal(harness.all('response.done').length, 2);
    // No audio of the cancelled response after its response.done.
    const cancelledAt = harness.events.indexOf(cancelled);
    // (The interrupted turn's turn.ended names the response that was cancelled; it carries no output.)
    const late = harness.events
      .slice(cancelledAt + 1)
      .filter((event) => event.type !== 'turn.ended' && 'responseId' in event && event.responseId === firstCreated.response.id);
    assert.deepEqual(late, []);
    // The interrupted assistant item is incomplete and its transcript holds only the sentences sent as audio.
    const interrupted = cancelled.response.output[0];
    assert.equal(interrupted.status, 'incomplete');
    const sent = harness
      .all('audio_transcript.delta')
      .filter((event) => event.responseId === firstCreated.response.id)
      .map((event) => event.delta)
      .join('');
    assert.ok(interrupted.type === 'message' && interrupted.content[0].type === 'output_audio');
    assert.equal(interrupted.content[0].transcript, sent);
    assert.notEqual(sent, 'First answer, long. It goes on. And on. And on.', 'cut before the end');
  });

  test('with interruptResponse off, speech does not cancel; the new turn is answered after the first response', async () => {
    const harness = await startHarness({
      defaults: { vad: { ...VAD_DEFAULTS, interruptResponse: false } },
      responder: new ScriptedResponder({ script: [{ text: 'First answer. It goes on. And on.' }, { text: 'Second answer.' }], deltaLatencyMs: 15 }),
    });
    harness.feed(speech);
    await harness.next('audio.delta');
    harness.feed(speech);
    const first = await harness.next('response.done');
    const secondCreated = await harness.next('response.created', (event) => event.response.id !== first.response.id);
    await harness.next('response.done', (event) => event.response.id === secondCreated.response.id);
    await harness.close();

    assert.equal(first.response.status, 'completed');
    assert.ok(harness.events.indexOf(first) < harness.events.indexOf(secondCreated), 'the second response starts after the first is done');
    assert.equal(harness.all('error').length, 0);
    // The second response reads both user turns and the first answer.
    assert.deepEqual(
      harness.responder.requests[1].messages.map((message) => message.role),
      ['user', 'assistant', 'user'],
    );
  });

  test('speech while the previous turn is still being transcribed calls off its response: one answer for both turns', async () => {
    const harness = await startHarness({ transcriber: new ScriptedTranscriber({ texts: ['first part', 'second part'], latencyMs: 50 }) });
    harness.feed(speech);
    assert.equal(harness.all('input.committed').length, 1);
    harness.feed(speech);
    const done = await harness.next('response.done');
    await harness.close();
    assert.equal(harness.all('input.committed').length, 2);
    assert.equal(harness.all('response.created').length, 1);
    assert.equal(done.response.status, 'completed');
    assert.deepEqual(harness.responder.requests[0].messages, [
      { role: 'user', content: 'first part' },
      { role: 'user', content: 'second part' },
    ]);
  });

  test('turning VAD off mid-turn ends the turn there and commits it; a new WebRTC mode still finds turns', async () => {
    const harness = await startHarness({ defaults: { vad: { ...VAD_DEFAULTS, createResponse: false } } });
    const halfway = Math.round(((bounds.startMs + bounds.endMs) / 2) * 24);
    harness.feed(speech.subarray(0, halfway));
    assert.equal(harness.all('speech.started').length, 1);
    harness.handle({ type: 'session.update', session: { turnDetection: null } });
    assert.deepEqual(compress(harness.log), ['speech.started', 'speech.stopped', 'input.committed', 'item.added', 'item.done', 'session.updated']);
    assert.equal(harness.engine.config.turnDetection.type, 'none');
    harness.handle({ type: 'session.update', session: { turnDetection: { type: 'server_vad', aggressiveness: 3 } } });
    assert.equal(harness.engine.config.turnDetection.aggressiveness, 3);
    // The new detector loads asynchronously and is swapped in at the first append after that.
    await new Promise<void>((resolve) => setImmediate(resolve));
    harness.feed(silence(100));
    harness.feed(speech);
    await harness.close();
    assert.equal(harness.all('speech.started').length, 2, 'the new detector found the next turn');
    assert.equal(harness.all('input.committed').length, 2);
  });

  test('a transcription session transcribes each turn and never responds', async () => {
    const harness = await startHarness({ session: { kind: 'transcription' }, transcriber: new ScriptedTranscriber({ texts: 'birch canoe' }) });
    harness.feed(speech);
    const transcript = await harness.next('transcript.completed');
    harness.handle({ type: 'response.create', eventId: 'evt_1' });
    await harness.close();

    assert.equal(transcript.transcript, 'birch canoe');
    assert.equal(harness.all('response.created').length, 0);
    assert.equal(harness.responder.calls.length, 0);
    const error = harness.all('error')[0];
    assert.equal(error.code, 'invalid_value');
    assert.equal(error.eventId, 'evt_1');
  });

  test('a streaming transcriber sends deltas that add up to the transcript', async () => {
    const harness = await startHarness({
      session: { kind: 'transcription' },
      transcriber: new ScriptedTranscriber({ streaming: true, texts: 'the birch canoe slid' }),
    });
    harness.feed(speech);
    const completed = await harness.next('transcript.completed');
    await harness.close();
    const deltas = harness.all('transcript.delta');
    assert.ok(deltas.length >= 2, `${deltas.length} deltas`);
    assert.equal(deltas.map((delta) => delta.delta).join(''), completed.transcript);
    assert.ok(harness.events.indexOf(deltas.at(-1)!) < harness.events.indexOf(completed));
  });

  test('a failed transcription ends in transcript.failed and the automatic response fails with its code', async () => {
    const harness = await startHarness({ transcriber: new ScriptedTranscriber({ failure: { code: 'upstream_unreachable', message: 'asr down' } }) });
    harness.feed(speech);
    const failed = await harness.next('transcript.failed');
    const done = await harness.next('response.done');
    await harness.close();

    assert.equal(failed.itemId, harness.all('input.committed')[0].itemId);
    assert.equal(failed.error.code, 'upstream_unreachable');
    assert.equal(done.response.status, 'failed');
    assert.deepEqual(done.response.statusDetails?.type === 'failed' && done.response.statusDetails.error.code, 'upstream_unreachable');
    assert.equal(harness.responder.calls.length, 0, 'the LLM is not asked to answer words it never got');
    const user = harness.engine.items[0];
    assert.equal(user.type === 'message' && user.content[0].type === 'input_audio' && user.content[0].transcript, null);
  });

  test('a turn longer than maxMs is cut and committed, and the rest becomes the next turn', async () => {
    const harness = await startHarness({ defaults: { vad: { ...VAD_DEFAULTS, maxMs: 1000, createResponse: false } } });
    harness.feed(speech);
    await harness.close();
    const started = harness.all('speech.started');
    const stopped = harness.all('speech.stopped');
    assert.ok(stopped.length >= 2, `${stopped.length} turns`);
    assert.ok(stopped[0].speechEndMs - started[0].speechStartMs <= 1000, `first turn ${stopped[0].speechEndMs - started[0].speechStartMs} ms`);
    assert.equal(harness.all('input.committed').length, stopped.length);
    assert.equal(harness.all('response.created').length, 0, 'createResponse off');
  });

  test('steady noise opens no turn, and the buffer stays bounded to the padding tail', async () => {
    // Sent at its own 16 kHz (no resampling), as the VAD tests run it.
    const noise = loadClip('noise_stationary_leopard_empty.wav').samples;
    const harness = await startHarness({ session: { inputSampleRate: 16000 } });
    harness.feed(noise, 320);
    harness.handle({ type: 'audio.commit', eventId: 'commit_1' });
    await harness.next('transcript.completed');
    await harness.close();
    assert.equal(harness.all('speech.started').length, 0);
    // A commit between turns takes only the tail kept for the next turn's padding (padMs + startMs + 4 frames).
    const tailMs = VAD_DEFAULTS.padMs + VAD_DEFAULTS.startMs + 80;
    const committedMs = harness.transcriber.calls[0].audioMs;
    assert.ok(committedMs >= tailMs && committedMs <= tailMs + 20, `committed ${committedMs} ms of ${(noise.length / 16).toFixed(0)} ms sent`);
  });
});

describe('idle timeout', () => {
  test('fires idleTimeoutMs after the answer finished playing, commits and responds', async () => {
    const clock = new ManualClock();
    const harness = await startHarness({ clock, defaults: { idleTimeoutMs: 5000 } });
    harness.handle({ type: 'item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hi' }] } });
    harness.handle({ type: 'response.create' });
    await harness.next('response.done');
    const audioSamples = harness.all('audio.delta').reduce((sum, event) => sum + event.audio.length, 0);
    const playMs = (audioSamples * 1000) / 24000;
    assert.ok(playMs > 0);

    // 300 ms of input while the answer plays, then the idle window: 5 s, in which 200 ms arrive.
    harness.feed(silence(300));
    clock.advance(playMs);
    clock.advance(5000 - 1);
    assert.equal(harness.all('input.timeout_triggered').length, 0, 'not before the audio has played plus the timeout');
    harness.feed(silence(200));
    clock.advance(1);
    const triggered = await harness.next('input.timeout_triggered');
    const committed = await harness.next('input.committed');
    const second = await harness.next('response.created', (event) => event.response.id !== harness.all('response.done')[0].response.id);
    await harness.close();

    assert.equal(committed.itemId, triggered.itemId);
    // The 24 → 16 kHz resampler holds 3 ms back, so positions trail what was sent by that much.
    assert.ok(
      Math.abs(triggered.audioStartMs - 300) <= 5 && Math.abs(triggered.audioEndMs - 500) <= 5,
      `idle window ${triggered.audioStartMs}–${triggered.audioEndMs} ms`,
    );
    assert.ok(second.response.id);
  });

  test('speech before the timeout stops it', async () => {
    const clock = new ManualClock();
    const harness = await startHarness({ clock, defaults: { idleTimeoutMs: 5000, vad: { ...VAD_DEFAULTS, createResponse: false } } });
    harness.handle({ type: 'item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hi' }] } });
    harness.handle({ type: 'response.create' });
    await harness.next('response.done');
    harness.feed(speech);
    await harness.next('speech.started');
    clock.advance(60_000);
    await harness.next('transcript.completed');
    await harness.close();
    assert.equal(harness.all('input.timeout_triggered').length, 0);
  });
});
