import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { aLawDecode, muLawEncode } from '../../../src/audio/g711.ts';
import { durationMs, rmsDbfs, type PcmAudio } from '../../../src/audio/pcm.ts';
import { ScriptedResponder } from '../../../src/providers/testing/scripted-responder.ts';
import { ScriptedSynthesizer } from '../../../src/providers/testing/scripted-synthesizer.ts';
import { ScriptedTranscriber } from '../../../src/providers/testing/scripted-transcriber.ts';
import { RealtimeClient, recording } from '../../e2e/realtime-harness.ts';
import { assembleProviders, startTestServer, type TestServer } from '../../helpers/server.ts';

const REPLY = 'Telephone reply.';
let server: TestServer;
let heard: PcmAudio | undefined;
const synthesizer = new ScriptedSynthesizer();

before(async () => {
  const transcriber = new ScriptedTranscriber({
    texts: (audio) => {
      heard = audio;
      return 'one two three';
    },
  });
  server = await startTestServer(assembleProviders({ transcriber, responder: new ScriptedResponder({ script: { text: REPLY } }), synthesizer }));
});

after(async () => {
  await server.close();
});

test('G.711 μ-law in and A-law out: speech arrives intact at the transcriber and audio leaves at one byte per 8 kHz sample', async () => {
  const speech = await recording('en_one_two_three.wav', 8000);
  const client = await RealtimeClient.connect(server.realtimeUrl);
  await client.next('session.created');
  client.send({
    type: 'session.update',
    session: { type: 'realtime', audio: { input: { format: { type: 'audio/pcmu' }, turn_detection: null }, output: { format: { type: 'audio/pcma' } } } },
  });
  const updated = await client.next('session.updated');
  assert.deepEqual([updated.session.audio.input.format, updated.session.audio.output.format], [{ type: 'audio/pcmu' }, { type: 'audio/pcma' }]);

  // 20 ms of μ-law is 160 bytes.
  const codes = muLawEncode(speech.samples);
  for (let start = 0; start < codes.length; start += 160)
    client.send({ type: 'input_audio_buffer.append', audio: Buffer.from(codes.subarray(start, start + 160)).toString('base64') });
  client.send({ type: 'input_audio_buffer.commit' });
  const transcript = await client.next('conversation.item.input_audio_transcription.completed');
  assert.equal(transcript.transcript, 'one two three');
  assert.ok(heard, 'the transcriber was called');
  assert.ok(
    Math.abs(durationMs(heard) - durationMs(speech)) <= 20,
    `the whole turn reached the transcriber: ${durationMs(heard)} ms of ${durationMs(speech)} ms`,
  );
  assert.ok(
    Math.abs(rmsDbfs(heard.samples) - rmsDbfs(speech.samples)) < 1,
    `its level survived μ-law and resampling: ${rmsDbfs(heard.samples).toFixed(1)} vs ${rmsDbfs(speech.samples).toFixed(1)} dBFS`,
  );

  client.send({ type: 'response.create' });
  const done = await client.next('response.done');
  assert.equal(done.response.status, 'completed');
  assert.deepEqual(done.response.audio.output.format, { type: 'audio/pcma' });
  const bytes = Buffer.concat(client.events.filter((event) => event.type === 'response.output_audio.delta').map((event) => Buffer.from(event.delta, 'base64')));
  const expected = Math.round(synthesizer.expectedSamples(REPLY) / 3);
  assert.ok(Math.abs(bytes.length - expected) <= 8, `one byte per 8 kHz sample: ${bytes.length} bytes for ${expected} samples`);
  const decoded = aLawDecode(new Uint8Array(bytes));
  // The scripted synthesizer's tone is −15 dBFS RMS; A-law keeps it within a dB.
  assert.ok(Math.abs(rmsDbfs(decoded.subarray(400, decoded.length - 400)) + 15) < 1, `decoded A-law level ${rmsDbfs(decoded).toFixed(1)} dBFS`);

  // The turn's stage timings go to the metrics, never on the wire.
  assert.equal(
    client.types().some((type) => type.includes('timings')),
    false,
  );
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  assert.match(metrics, /speechbridge_turn_stage_seconds_count\{door="realtime",stage="transcription"\} 1/);
  assert.match(metrics, /speechbridge_responses_total\{door="realtime",status="completed"\} 1/);
  await client.close();
});
