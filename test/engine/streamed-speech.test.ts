/**
 * A synthesizer that takes text as it is written (capabilities.textStreaming) gets one stream
 * per response, fed the LLM's text piece by piece while the LLM is still writing; its audio
 * leaves as it comes, each piece's transcript just before the audio that follows it, and a
 * cancel stops the stream.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EngineInput } from '../../src/engine/events.ts';
import { ScriptedResponder } from '../../src/providers/testing/scripted-responder.ts';
import { ScriptedSynthesizer } from '../../src/providers/testing/scripted-synthesizer.ts';
import { startHarness } from './engine-harness.ts';

const MANUAL = { turnDetection: 'none' as const };
const REPLY = 'One sentence here. Another one follows, and a third one ends it.';

function ask(harness: { handle(input: EngineInput): void }, text: string): void {
  harness.handle({ type: 'item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text }] } });
  harness.handle({ type: 'response.create' });
}

test('one synthesizer stream per response, fed while the LLM writes; the transcript is the LLM text and leads its audio', async () => {
  const synthesizer = new ScriptedSynthesizer({ textStreaming: true, msPerChar: 10 });
  const responder = new ScriptedResponder({ script: { text: REPLY }, deltaChars: 6, deltaLatencyMs: 15 });
  const harness = await startHarness({ defaults: MANUAL, synthesizer, responder });
  ask(harness, 'talk to me');
  const done = await harness.next('response.done');
  await harness.close();

  assert.equal(done.response.status, 'completed');
  assert.equal(synthesizer.calls.length, 1, 'one stream for the whole response, not one call per sentence');
  const call = synthesizer.calls[0];
  assert.equal(call.text, REPLY);
  assert.ok(call.pieces!.length > 3, `the text came in pieces as written (${call.pieces!.length})`);
  assert.ok(call.pieces![1].hopsBefore > 0, 'audio for the first piece was out before the second piece came');
  const firstAudio = harness.log.indexOf('audio.delta');
  const firstTranscript = harness.log.indexOf('audio_transcript.delta');
  assert.ok(firstTranscript >= 0 && firstTranscript < firstAudio, 'a transcript delta precedes the first audio');
  const transcript = harness
    .all('audio_transcript.delta')
    .map((event) => event.delta)
    .join('');
  assert.equal(transcript, REPLY);
  assert.equal(harness.all('audio_transcript.done')[0].transcript, REPLY);
  const audioSamples = harness.all('audio.delta').reduce((sum, event) => sum + event.audio.length, 0);
  assert.equal(audioSamples, synthesizer.expectedSamples(REPLY));
});

test('a cancel stops the stream: the synthesizer call is aborted and nothing follows response.done', async () => {
  const synthesizer = new ScriptedSynthesizer({ textStreaming: true, hopLatencyMs: 5 });
  const responder = new ScriptedResponder({ script: { text: REPLY }, deltaLatencyMs: 10 });
  const harness = await startHarness({ defaults: MANUAL, synthesizer, responder });
  ask(harness, 'talk to me');
  await harness.next('audio.delta');
  harness.handle({ type: 'response.cancel' });
  const done = harness.all('response.done');
  await harness.close();
  assert.equal(done.length, 1);
  assert.equal(done[0].response.status, 'cancelled');
  assert.equal(synthesizer.calls[0].aborted, true, 'the text stream to the synthesizer was stopped');
  assert.equal(synthesizer.calls[0].completed, false);
  assert.equal(harness.log.at(-1), 'response.done');
});

test('a response of tool calls only opens no synthesizer stream', async () => {
  const synthesizer = new ScriptedSynthesizer({ textStreaming: true });
  const responder = new ScriptedResponder({ script: { toolCalls: [{ name: 'lookup', arguments: '{"q":"x"}' }] } });
  const harness = await startHarness({
    defaults: MANUAL,
    synthesizer,
    responder,
    session: { tools: [{ type: 'function', name: 'lookup', parameters: { type: 'object', properties: { q: { type: 'string' } } } }] },
  });
  ask(harness, 'look it up');
  const done = await harness.next('response.done');
  await harness.close();
  assert.equal(done.response.status, 'completed');
  assert.equal(done.response.output[0].type, 'function_call');
  assert.equal(synthesizer.calls.length, 0);
});
