import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rmsDbfs, type PcmAudio } from '../../src/audio/pcm.ts';
import { SpeechbridgeError } from '../../src/errors/registry.ts';
import type { ResponderEvent, TranscriptStreamEvent } from '../../src/providers/contracts.ts';
import { ScriptedResponder } from '../../src/providers/testing/scripted-responder.ts';
import { ScriptedSynthesizer } from '../../src/providers/testing/scripted-synthesizer.ts';
import { ScriptedTranscriber } from '../../src/providers/testing/scripted-transcriber.ts';

const second: PcmAudio = { samples: new Int16Array(16000), sampleRate: 16000 };

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

async function* chunks(count: number): AsyncIterable<PcmAudio> {
  for (let i = 0; i < count; i++) yield { samples: new Int16Array(1600), sampleRate: 16000 };
}

// ── Transcriber ─────────────────────────────────────────────────────────────────────────

test('ScriptedTranscriber returns scripted texts in order, repeats the last and records calls', async () => {
  const transcriber = new ScriptedTranscriber({ texts: ['one', 'two'], language: 'fr' });
  const results = [];
  for (let i = 0; i < 3; i++) results.push(await transcriber.transcribe(second, { prompt: `p${i}` }));
  assert.deepEqual(
    results.map((result) => result.text),
    ['one', 'two', 'two'],
  );
  assert.equal(results[0].language, 'fr');
  assert.equal(results[0].durationMs, 1000);
  assert.deepEqual(
    transcriber.calls.map((call) => [call.options.prompt, call.audioMs, call.completed]),
    [
      ['p0', 1000, true],
      ['p1', 1000, true],
      ['p2', 1000, true],
    ],
  );
});

test('ScriptedTranscriber texts can be a function of the audio', async () => {
  const transcriber = new ScriptedTranscriber({ texts: (audio) => `${audio?.samples.length} samples` });
  assert.equal((await transcriber.transcribe(second)).text, '16000 samples');
});

test('ScriptedTranscriber fails on the scripted call only, or on every call', async () => {
  const third = new ScriptedTranscriber({ failure: { code: 'upstream_timeout', onCall: 2 } });
  await third.transcribe(second);
  await assert.rejects(third.transcribe(second), (error: unknown) => error instanceof SpeechbridgeError && error.code === 'upstream_timeout');
  await third.transcribe(second);
  assert.deepEqual(
    third.calls.map((call) => call.failedWith),
    [undefined, 'upstream_timeout', undefined],
  );

  const always = new ScriptedTranscriber({ failure: { code: 'engine_failed', message: 'boom' } });
  for (let i = 0; i < 2; i++) await assert.rejects(always.transcribe(second), { code: 'engine_failed', message: 'boom' });
});

test('ScriptedTranscriber latency is cut short by an abort', async () => {
  const transcriber = new ScriptedTranscriber({ latencyMs: 10_000 });
  const controller = new AbortController();
  const pending = transcriber.transcribe(second, { signal: controller.signal });
  setTimeout(() => controller.abort(), 5);
  await assert.rejects(pending, { name: 'AbortError' });
  assert.equal(transcriber.calls[0].aborted, true);
  assert.equal(transcriber.calls[0].completed, false);
});

test('ScriptedTranscriber streaming gives word deltas while audio arrives, then the transcription', async () => {
  const transcriber = new ScriptedTranscriber({ streaming: true, texts: 'the quick brown fox jumps' });
  assert.equal(transcriber.capabilities.streaming, true);
  assert.ok(transcriber.transcribeStream);
  const order: string[] = [];
  async function* audio(): AsyncIterable<PcmAudio> {
    for (let i = 0; i < 2; i++) {
      order.push(`chunk ${i}`);
      yield { samples: new Int16Array(1600), sampleRate: 16000 };
    }
  }
  const events: TranscriptStreamEvent[] = [];
  for await (const event of transcriber.transcribeStream(audio())) {
    events.push(event);
    order.push(event.type === 'delta' ? `delta${event.text}` : 'completed');
  }
  assert.deepEqual(order, ['chunk 0', 'deltathe', 'chunk 1', 'delta quick', 'delta brown', 'delta fox', 'delta jumps', 'completed']);
  const last = events.at(-1);
  assert.equal(last?.type === 'completed' ? last.transcription.text : undefined, 'the quick brown fox jumps');
  assert.equal(last?.type === 'completed' ? last.transcription.durationMs : undefined, 200);
});

test('ScriptedTranscriber without streaming has no transcribeStream', () => {
  assert.equal(new ScriptedTranscriber().transcribeStream, undefined);
});

// ── Responder ───────────────────────────────────────────────────────────────────────────

test('ScriptedResponder streams text in the given delta size, then tool calls, then done', async () => {
  const responder = new ScriptedResponder({
    deltaChars: 4,
    script: { text: 'Hello world', toolCalls: [{ name: 'lookup', arguments: '{"q":"x"}', callId: 'call_a' }] },
  });
  const events = await collect(responder.respond({ mode: 'reply', messages: [{ role: 'user', content: 'hi there' }] }));
  assert.deepEqual(events, [
    { type: 'text.delta', text: 'Hell' },
    { type: 'text.delta', text: 'o wo' },
    { type: 'text.delta', text: 'rld' },
    { type: 'tool_call.delta', index: 0, callId: 'call_a', name: 'lookup', argumentsDelta: '' },
    { type: 'tool_call.delta', index: 0, argumentsDelta: '{"q"' },
    { type: 'tool_call.delta', index: 0, argumentsDelta: ':"x"' },
    { type: 'tool_call.delta', index: 0, argumentsDelta: '}' },
    { type: 'done', finishReason: 'tool_calls', usage: { inputTokens: 2, outputTokens: 2 } },
  ] satisfies ResponderEvent[]);
  assert.equal(responder.requests[0].messages[0].content, 'hi there');
  assert.equal(responder.calls[0].completed, true);
  assert.equal(responder.calls[0].deltas, 7);
});

test('ScriptedResponder scripts per call with a function of the request', async () => {
  const responder = new ScriptedResponder({ deltaChars: 100, script: (request, index) => ({ text: `${request.mode} ${index}` }) });
  const first = await collect(responder.respond({ mode: 'translate', messages: [] }));
  const second = await collect(responder.respond({ mode: 'rewrite', messages: [] }));
  assert.deepEqual(first[0], { type: 'text.delta', text: 'translate 0' });
  assert.deepEqual(second[0], { type: 'text.delta', text: 'rewrite 1' });
});

test('ScriptedResponder injects a failure mid-stream after the given deltas', async () => {
  const responder = new ScriptedResponder({ deltaChars: 2, script: { text: 'abcdefgh' }, failure: { code: 'upstream_error', afterDeltas: 2 } });
  const seen: ResponderEvent[] = [];
  await assert.rejects(
    (async () => {
      for await (const event of responder.respond({ mode: 'reply', messages: [] })) seen.push(event);
    })(),
    { code: 'upstream_error' },
  );
  assert.deepEqual(seen, [
    { type: 'text.delta', text: 'ab' },
    { type: 'text.delta', text: 'cd' },
  ]);
  assert.equal(responder.calls[0].failedWith, 'upstream_error');
});

test('ScriptedResponder records an abort during its delta latency and stops promptly', async () => {
  const responder = new ScriptedResponder({ deltaChars: 1, script: { text: 'abcdef' }, firstTokenLatencyMs: 0, deltaLatencyMs: 10_000 });
  const controller = new AbortController();
  const seen: string[] = [];
  await assert.rejects(
    (async () => {
      for await (const event of responder.respond({ mode: 'reply', messages: [], signal: controller.signal })) {
        if (event.type === 'text.delta') seen.push(event.text);
        setTimeout(() => controller.abort(), 5);
      }
    })(),
    { name: 'AbortError' },
  );
  assert.deepEqual(seen, ['a']);
  assert.equal(responder.calls[0].aborted, true);
  assert.equal(responder.calls[0].completed, false);
});

// ── Synthesizer ─────────────────────────────────────────────────────────────────────────

test('ScriptedSynthesizer yields a tone whose length follows the text and speed, in fixed hops', async () => {
  const synthesizer = new ScriptedSynthesizer({ sampleRate: 24000, hopMs: 20, msPerChar: 50 });
  const text = 'Hello there friend';
  const normal = await collect(synthesizer.synthesize({ text, voice: 'coral' }));
  const fast = await collect(synthesizer.synthesize({ text, voice: 'coral', speed: 2 }));
  const total = (parts: PcmAudio[]) => parts.reduce((sum, part) => sum + part.samples.length, 0);
  assert.equal(total(normal), Math.round((text.length * 50 * 24000) / 1000));
  assert.equal(total(normal), synthesizer.expectedSamples(text));
  assert.equal(total(fast), synthesizer.expectedSamples(text, 2));
  assert.ok(normal.slice(0, -1).every((part) => part.samples.length === 480 && part.sampleRate === 24000));
  const level = rmsDbfs(normal[1].samples);
  assert.ok(level > -20 && level < -10, `tone at ${level} dBFS`);
  assert.deepEqual(
    synthesizer.calls.map((call) => [call.voice, call.speed, call.completed, call.hops]),
    [
      ['coral', 1, true, normal.length],
      ['coral', 2, true, fast.length],
    ],
  );
});

test('ScriptedSynthesizer silence is silent and unknown voices are refused', async () => {
  const synthesizer = new ScriptedSynthesizer({ sound: 'silence' });
  const parts = await collect(synthesizer.synthesize({ text: 'quiet' }));
  assert.ok(parts.length > 0);
  assert.ok(parts.every((part) => rmsDbfs(part.samples) === -Infinity));
  await assert.rejects(collect(synthesizer.synthesize({ text: 'x', voice: 'nobody' })), { code: 'unknown_voice', param: 'voice' });
});

test('ScriptedSynthesizer fails after the given hops on the scripted call', async () => {
  const synthesizer = new ScriptedSynthesizer({ failure: { code: 'engine_failed', onCall: 1, afterHops: 3 } });
  let hops = 0;
  await assert.rejects(
    (async () => {
      for await (const _ of synthesizer.synthesize({ text: 'a fairly long sentence to speak' })) hops++;
    })(),
    { code: 'engine_failed' },
  );
  assert.equal(hops, 3);
  assert.ok((await collect(synthesizer.synthesize({ text: 'fine now' }))).length > 0);
});

test('ScriptedSynthesizer stops at once when aborted between hops and records it', async () => {
  const synthesizer = new ScriptedSynthesizer({ hopLatencyMs: 10_000 });
  const controller = new AbortController();
  let hops = 0;
  await assert.rejects(
    (async () => {
      for await (const _ of synthesizer.synthesize({ text: 'long enough for many hops', signal: controller.signal })) {
        hops++;
        setTimeout(() => controller.abort(), 5);
      }
    })(),
    { name: 'AbortError' },
  );
  assert.equal(hops, 1);
  assert.equal(synthesizer.calls[0].aborted, true);
});

test('ScriptedTranscriber stream consumes chunked audio and counts its duration', async () => {
  const transcriber = new ScriptedTranscriber({ streaming: true, texts: 'ok' });
  const events = await collect(transcriber.transcribeStream!(chunks(5)));
  assert.equal(transcriber.calls[0].audioMs, 500);
  assert.deepEqual(
    events.map((event) => event.type),
    ['delta', 'completed'],
  );
});
