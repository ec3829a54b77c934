/**
 * The engine's live transcription with a streaming recognizer (the scripted fake, which
 * releases a word per audio chunk it takes): the stream is opened at speech.started and fed as
 * the user speaks, so deltas come before speech.stopped; the commit only waits for its final
 * text (one transcriber call per turn, no second pass); a cleared turn and a closing session
 * abort the stream; a recognizer with openSession gets one handle per session, closed with it;
 * audio a stalled recognizer does not take is bounded. Also the interim-pass setting for batch
 * recognizers (item 6): off by default for an upstream billed per use, on for a local engine.
 * With turn detection off, the stream opens at the first append and the client's commit
 * finishes it; a clear aborts it, a commit under 100 ms is refused and leaves it open.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PcmAudio } from '../../src/audio/pcm.ts';
import { abortError } from '../../src/errors/abort.ts';
import { SpeechbridgeError } from '../../src/errors/registry.ts';
import { LiveTranscription } from '../../src/engine/live-transcription.ts';
import type { EngineEvent } from '../../src/engine/events.ts';
import type { TranscribeOptions, Transcriber, TranscriberSession, TranscriptStreamEvent } from '../../src/providers/contracts.ts';
import { ScriptedTranscriber } from '../../src/providers/testing/scripted-transcriber.ts';
import { FRAME_SAMPLES, speechAt24k, startHarness } from './engine-harness.ts';

const RECORDING = 'en_harvard_birch_canoe.wav';

/** 20 ms frames with the event loop turning between them, so async work runs while the turn is spoken. */
async function feedPaced(harness: { handle: (input: { type: 'audio.append'; audio: Int16Array }) => void }, samples: Int16Array): Promise<void> {
  for (let offset = 0; offset < samples.length; offset += FRAME_SAMPLES) {
    harness.handle({ type: 'audio.append', audio: samples.subarray(offset, offset + FRAME_SAMPLES) });
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

test('a streaming recognizer gets the turn live: deltas before speech.stopped, one call, the final right after the commit', async () => {
  const transcriber = new ScriptedTranscriber({ streaming: true, texts: 'the birch canoe slid on the smooth planks' });
  const harness = await startHarness({ transcriber, session: { interimTranscripts: true, turnDetection: { createResponse: false } } });
  try {
    const { samples } = await speechAt24k(RECORDING, 300, 1200);
    await feedPaced(harness, samples);
    const completed = await harness.next('transcript.completed');
    assert.equal(completed.transcript, 'the birch canoe slid on the smooth planks');
    const log = harness.log;
    assert.ok(log.indexOf('transcript.delta') > log.indexOf('speech.started'));
    assert.ok(log.indexOf('transcript.delta') < log.indexOf('speech.stopped'), `deltas while speaking: ${log.join(' ')}`);
    assert.ok(log.indexOf('transcript.interim') < log.indexOf('speech.stopped'), 'the text so far too, for doors that show partials');
    const deltas = harness
      .all('transcript.delta')
      .map((event) => event.delta)
      .join('');
    assert.equal(deltas, completed.transcript);
    assert.equal(transcriber.calls.length, 1, 'one live stream, no second pass over the turn');
    // The stream got the turn's audio: prefix padding included, as the committed turn.
    const committedMs = transcriber.calls[0].audioMs;
    assert.ok(committedMs > 2000, `${committedMs} ms streamed`);
    assert.equal(harness.all('transcript.completed').length + harness.all('transcript.failed').length, 1);
  } finally {
    await harness.close();
  }
});

test('a cleared turn aborts its stream and no transcript comes for it; the next turn streams again', async () => {
  const transcriber = new ScriptedTranscriber({ streaming: true, texts: 'one two three four five six seven eight nine ten eleven twelve' });
  const harness = await startHarness({ transcriber, session: { turnDetection: { createResponse: false } } });
  try {
    const { samples } = await speechAt24k(RECORDING, 300, 1200);
    // Half the speech, then a clear mid-turn.
    harness.feed(samples.subarray(0, Math.round(samples.length * 0.4)));
    await harness.next('speech.started');
    await harness.until(() => transcriber.calls.length === 1, 'the stream opened');
    harness.handle({ type: 'audio.clear' });
    await harness.until(() => transcriber.calls[0].aborted, 'the stream aborted');
    assert.equal(transcriber.calls[0].completed, false);
    harness.feed(samples);
    await harness.next('transcript.completed');
    assert.equal(transcriber.calls.length, 2);
    assert.equal(harness.all('transcript.completed').length, 1, 'only the committed turn has a transcript');
    assert.equal(harness.all('transcript.failed').length, 0);
  } finally {
    await harness.close();
  }
});

test('closing the session mid-turn aborts the open stream; nothing is emitted after close', async () => {
  const transcriber = new ScriptedTranscriber({ streaming: true });
  const harness = await startHarness({ transcriber });
  const { samples } = await speechAt24k(RECORDING, 300, 0);
  harness.feed(samples.subarray(0, Math.round(samples.length * 0.5)));
  await harness.until(() => transcriber.calls.length === 1, 'the stream opened');
  await harness.close();
  assert.equal(transcriber.calls[0].aborted, true);
  const count = harness.events.length;
  harness.feed(samples.subarray(0, FRAME_SAMPLES * 10));
  assert.equal(harness.events.length, count);
});

test('a recognizer with openSession: the session takes one handle, sends its turns through it, and closes it at the end', async () => {
  const inner = new ScriptedTranscriber({ streaming: true, texts: 'hello there' });
  const opened: Array<{ closed: boolean }> = [];
  const recognizer: Transcriber = {
    name: 'per-session',
    capabilities: inner.capabilities,
    transcribe: (audio, options) => inner.transcribe(audio, options),
    openSession(): TranscriberSession {
      const record = { closed: false };
      opened.push(record);
      return {
        name: 'per-session handle',
        capabilities: inner.capabilities,
        transcribe: (audio, options) => inner.transcribe(audio, options),
        transcribeStream: (audio, options) => inner.transcribeStream!(audio, options),
        close: async () => {
          record.closed = true;
        },
      };
    },
  };
  const harness = await startHarness({ transcriber: recognizer, session: { turnDetection: { createResponse: false } } });
  const { samples } = await speechAt24k(RECORDING, 300, 1200);
  harness.feed(samples);
  assert.equal((await harness.next('transcript.completed')).transcript, 'hello there');
  assert.equal(opened.length, 1);
  assert.equal(opened[0].closed, false);
  await harness.close();
  assert.equal(opened[0].closed, true);
});

/** A streaming recognizer that never takes audio (an upstream stuck connecting) until aborted. */
class StalledTranscriber implements Transcriber {
  readonly name = 'stalled';
  readonly upstream = 'wss://stalled.example/asr';
  readonly capabilities = { streaming: true, languageDetection: false, segments: false, sampleRate: 16000, languages: 'any' as const };
  aborted = false;
  async transcribe(): Promise<never> {
    throw new Error('not used');
  }
  // eslint-disable-next-line require-yield -- a stream that never yields: it only waits for its abort.
  async *transcribeStream(_audio: AsyncIterable<PcmAudio>, options: TranscribeOptions = {}): AsyncIterable<TranscriptStreamEvent> {
    await new Promise<void>((_resolve, reject) => {
      if (options.signal?.aborted) reject(abortError());
      options.signal?.addEventListener('abort', () => {
        this.aborted = true;
        reject(abortError());
      });
    });
  }
}

test('audio a recognizer does not take is bounded: past the cap the stream stops and the turn fails naming the upstream', async () => {
  const transcriber = new StalledTranscriber();
  const events: EngineEvent[] = [];
  const tasks: Promise<unknown>[] = [];
  const live = new LiveTranscription({ transcriber, emit: (event) => events.push(event), track: (task) => tasks.push(task), maxPendingMs: 500 });
  live.begin('item_1', { samples: new Int16Array(1600), sampleRate: 16000 }, { transcription: {}, interim: false });
  // The recognizer is called and waits (connecting) while the user goes on speaking.
  await new Promise((resolve) => setImmediate(resolve));
  // 40 frames of 20 ms: 900 ms with the prefix, over the 500 ms cap.
  for (let frame = 0; frame < 40; frame++) {
    const samples = new Int16Array(320).fill(1000);
    live.push(samples, 16000, samples);
  }
  await Promise.all(tasks);
  assert.equal(transcriber.aborted, true, 'the stalled call is aborted at the cap');
  const stream = live.take('item_1');
  assert.ok(stream);
  await assert.rejects(stream.finish(new AbortController().signal), (error: unknown) => {
    assert.ok(error instanceof SpeechbridgeError);
    assert.equal(error.code, 'upstream_timeout');
    assert.match(error.message, /wss:\/\/stalled\.example\/asr took none of the last 500 ms of speech/);
    return true;
  });
  assert.deepEqual(events, []);
});

test('turn detection off: the stream opens at the first append, deltas come while the client appends, the commit finishes it with no second pass', async () => {
  const transcriber = new ScriptedTranscriber({ streaming: true, texts: 'the birch canoe slid on the smooth planks' });
  const harness = await startHarness({ transcriber, defaults: { turnDetection: 'none' }, session: { interimTranscripts: true } });
  try {
    const { samples } = await speechAt24k(RECORDING, 300, 300);
    await feedPaced(harness, samples);
    await harness.until(() => harness.all('transcript.delta').length >= 3, 'deltas while the client appends');
    assert.equal(harness.all('input.committed').length, 0, 'no commit yet');
    assert.equal(transcriber.calls.length, 1, 'one stream, opened by the appends');
    const streamedMs = transcriber.calls[0].audioMs;
    harness.handle({ type: 'audio.commit' });
    const committed = await harness.next('input.committed');
    const completed = await harness.next('transcript.completed');
    assert.equal(completed.itemId, committed.itemId);
    assert.equal(completed.transcript, 'the birch canoe slid on the smooth planks');
    assert.ok(
      harness.all('transcript.delta').every((delta) => delta.itemId === committed.itemId),
      'the deltas name the item the commit creates',
    );
    assert.ok(harness.all('transcript.interim').length > 0);
    assert.equal(transcriber.calls.length, 1, 'the commit finished the live stream; no second pass over the turn');
    // The turn as the input buffer has it (its 24 → 16 kHz resampler holds back a few ms), all of it streamed before the commit.
    const samplesMs = (samples.length * 1000) / 24000;
    assert.ok(streamedMs > samplesMs - 250 && streamedMs <= samplesMs, `the stream got the turn while it was appended: ${streamedMs} of ${samplesMs} ms`);
    assert.equal(transcriber.calls[0].audioMs, streamedMs, 'nothing was left to send at the commit');
    assert.equal(harness.all('transcript.completed').length + harness.all('transcript.failed').length, 1);
    // The next turn opens its own stream at its first append.
    await feedPaced(harness, samples.subarray(0, 24000));
    harness.handle({ type: 'audio.commit' });
    await harness.next('transcript.completed', (event) => event.itemId !== committed.itemId);
    assert.equal(transcriber.calls.length, 2);
  } finally {
    await harness.close();
  }
});

test('turn detection off: a clear aborts the stream and no transcript comes; a commit under 100 ms is refused and the stream goes on', async () => {
  const transcriber = new ScriptedTranscriber({ streaming: true, texts: 'one two three four five six seven eight nine ten' });
  const harness = await startHarness({ transcriber, defaults: { turnDetection: 'none' } });
  try {
    const { samples } = await speechAt24k(RECORDING, 300, 300);
    await feedPaced(harness, samples.subarray(0, 24000));
    await harness.until(() => transcriber.calls.length === 1, 'the stream opened');
    harness.handle({ type: 'audio.clear' });
    await harness.until(() => transcriber.calls[0].aborted, 'the stream aborted');
    assert.equal(transcriber.calls[0].completed, false);
    // 60 ms, then a commit: refused as OpenAI refuses it; the turn goes on.
    await feedPaced(harness, samples.subarray(0, FRAME_SAMPLES * 3));
    harness.handle({ type: 'audio.commit' });
    const refusal = await harness.next('error');
    assert.equal(refusal.code, 'input_audio_buffer_commit_empty');
    assert.equal(transcriber.calls.length, 2);
    assert.equal(transcriber.calls[1].aborted, false);
    await feedPaced(harness, samples.subarray(FRAME_SAMPLES * 3, 24000));
    harness.handle({ type: 'audio.commit' });
    const completed = await harness.next('transcript.completed');
    assert.equal(completed.transcript, 'one two three four five six seven eight nine ten');
    assert.equal(transcriber.calls.length, 2, 'the refused commit left the stream open; the second commit finished it');
    assert.ok(transcriber.calls[1].audioMs > 750 && transcriber.calls[1].audioMs <= 1000, `${transcriber.calls[1].audioMs} ms streamed`);
    assert.equal(harness.all('transcript.completed').length + harness.all('transcript.failed').length, 1);
  } finally {
    await harness.close();
  }
});

test('turn detection off: a turn sent at once (15 s, faster than real time) and committed is transcribed from its stream, not refused', async () => {
  const transcriber = new ScriptedTranscriber({ streaming: true, texts: 'the birch canoe' });
  const harness = await startHarness({ transcriber, defaults: { turnDetection: 'none' } });
  try {
    const { samples } = await speechAt24k(RECORDING, 300, 12_000);
    // Every frame before the recognizer has taken any: over the 10 s a VAD turn may hold waiting.
    harness.feed(samples);
    harness.handle({ type: 'audio.commit' });
    const completed = await harness.next('transcript.completed');
    assert.equal(completed.transcript, 'the birch canoe');
    assert.equal(harness.all('transcript.failed').length, 0);
    assert.equal(transcriber.calls.length, 1);
    assert.ok(transcriber.calls[0].audioMs > 15_000, `the whole turn streamed: ${transcriber.calls[0].audioMs} ms`);
  } finally {
    await harness.close();
  }
});

/** A batch recognizer behind an upstream (billed per use), or a local one. */
function batch(upstream: string | undefined): ScriptedTranscriber & { upstream?: string } {
  const transcriber = new ScriptedTranscriber({ texts: 'hello world' }) as ScriptedTranscriber & { upstream?: string };
  if (upstream !== undefined) Object.defineProperty(transcriber, 'upstream', { value: upstream });
  return transcriber;
}

for (const [label, upstream, setting, expectPasses] of [
  ['an upstream, auto', 'https://api.example/v1', 'auto', false],
  ['an upstream, on', 'https://api.example/v1', 'on', true],
  ['a local engine, auto', undefined, 'auto', true],
  ['a local engine, off', undefined, 'off', false],
] as const) {
  test(`interim passes of a batch recognizer: ${label} → ${expectPasses ? 'run' : 'none'}`, async () => {
    const transcriber = batch(upstream);
    const harness = await startHarness({
      transcriber,
      defaults: { interimPasses: setting },
      session: { interimTranscripts: true, turnDetection: { createResponse: false } },
    });
    try {
      const { samples } = await speechAt24k(RECORDING, 300, 1200);
      await feedPaced(harness, samples);
      await harness.next('transcript.completed');
      const passes = transcriber.calls.filter((call) => call.options.bestEffort === true).length;
      if (expectPasses) assert.ok(passes > 0, `${passes} interim passes`);
      else assert.equal(passes, 0);
      assert.equal(transcriber.calls.length - passes, 1, 'one transcription of the committed turn');
    } finally {
      await harness.close();
    }
  });
}
