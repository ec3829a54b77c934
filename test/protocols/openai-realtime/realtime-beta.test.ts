import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { encodeBase64Audio } from '../../../src/audio/base64.ts';
import { ScriptedResponder } from '../../../src/providers/testing/scripted-responder.ts';
import { ScriptedSynthesizer } from '../../../src/providers/testing/scripted-synthesizer.ts';
import { ScriptedTranscriber } from '../../../src/providers/testing/scripted-transcriber.ts';
import { RealtimeClient } from '../../e2e/realtime-harness.ts';
import { assembleProviders, startTestServer, type TestServer } from '../../helpers/server.ts';

const REPLY = 'Beta reply one. Beta reply two.';
const LONG_REPLY = 'This answer is long enough to be cancelled while it is still streaming out.';
let server: TestServer;
const responder = new ScriptedResponder({ script: [{ text: REPLY }, { text: LONG_REPLY }], deltaLatencyMs: 30 });
const synthesizer = new ScriptedSynthesizer();

before(async () => {
  server = await startTestServer(assembleProviders({ transcriber: new ScriptedTranscriber({ texts: 'hello beta' }), responder, synthesizer }));
});

after(async () => {
  await server.close();
});

test('a beta client follows the preview flow: update, append, commit, response, cancel', async () => {
  const client = await RealtimeClient.connect(server.realtimeUrl, { headers: { 'OpenAI-Beta': 'realtime=v1' } });
  await client.next('session.created');
  client.send({
    type: 'session.update',
    session: {
      modalities: ['text', 'audio'],
      voice: 'alloy',
      input_audio_format: 'pcm16',
      output_audio_format: 'pcm16',
      turn_detection: null,
      input_audio_transcription: { model: 'whisper-1' },
    },
  });
  const updated = await client.next('session.updated');
  assert.deepEqual(
    [updated.session.turn_detection, updated.session.modalities, updated.session.input_audio_transcription],
    [null, ['text', 'audio'], { model: 'whisper-1' }],
  );

  // 500 ms of a quiet tone in 20 ms appends, then a manual commit.
  const tone = new Int16Array(12000).map((_, i) => Math.round(2000 * Math.sin(i / 10)));
  for (let start = 0; start < tone.length; start += 480)
    client.send({ type: 'input_audio_buffer.append', audio: encodeBase64Audio(tone.subarray(start, start + 480), 'pcm16') });
  client.send({ type: 'input_audio_buffer.commit' });
  const committed = await client.next('input_audio_buffer.committed');
  const userItem = await client.next((event) => event.type === 'conversation.item.created' && event.item.id === committed.item_id);
  assert.deepEqual(userItem.item.content, [{ type: 'input_audio', transcript: null }]);
  const transcript = await client.next('conversation.item.input_audio_transcription.completed');
  assert.deepEqual([transcript.item_id, transcript.transcript], [committed.item_id, 'hello beta']);

  client.send({ type: 'response.create' });
  const done = await client.next('response.done');
  const types = client.types();
  for (const type of [
    'response.created',
    'response.output_item.added',
    'response.audio_transcript.delta',
    'response.audio.delta',
    'response.audio.done',
    'response.audio_transcript.done',
  ]) {
    assert.ok(types.includes(type), `beta clients receive ${type}; got ${types.join(', ')}`);
  }
  for (const type of ['response.output_audio.delta', 'conversation.item.added', 'conversation.item.done'])
    assert.ok(!types.includes(type), `no GA ${type} in beta`);
  const assistant = client.events.find((event) => event.type === 'conversation.item.created' && event.item.role === 'assistant');
  assert.ok(assistant, 'the assistant item is announced with conversation.item.created');
  assert.equal(done.response.status, 'completed');
  assert.deepEqual(done.response.output[0].content, [{ type: 'audio', transcript: REPLY }]);
  const audioBytes = client.events
    .filter((event) => event.type === 'response.audio.delta')
    .reduce((sum, event) => sum + Buffer.from(event.delta, 'base64').length, 0);
  // The reply is synthesized sentence by sentence; every sample of every sentence arrives.
  const synthesized = synthesizer.calls.reduce((sum, call) => sum + synthesizer.expectedSamples(call.text), 0);
  assert.deepEqual(
    synthesizer.calls.map((call) => call.text.trim()),
    ['Beta reply one.', 'Beta reply two.'],
  );
  assert.equal(audioBytes, 2 * synthesized, 'as PCM16 at 24 kHz');
  await client.next((event) => event.type === 'rate_limits.updated' && client.events.indexOf(event) > client.events.indexOf(done));

  const before = client.events.length;
  client.send({ type: 'response.create' });
  const created = await client.next('response.created', 5000, before);
  client.send({ type: 'response.cancel' });
  const cancelled = await client.next('response.cancelled', 5000, before);
  const cancelledDone = await client.next('response.done', 5000, before);
  assert.equal(cancelled.response_id, created.response.id);
  assert.ok(client.events.indexOf(cancelled) < client.events.indexOf(cancelledDone), 'response.cancelled comes before response.done');
  assert.deepEqual([cancelledDone.response.status, cancelledDone.response.status_details], ['cancelled', { type: 'cancelled', reason: 'client_cancelled' }]);
  assert.equal(responder.calls[1].aborted, true, 'the cancel reached the LLM call');
  await client.close();
});
