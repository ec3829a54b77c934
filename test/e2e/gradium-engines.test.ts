/**
 * speechbridge on Gradium's providers by configuration alone (ASR_ENGINE=gradium,
 * TTS_ENGINE=gradium, GRADIUM_BASE_URL at the local Gradium server, which answers with the
 * scripted words of the recording and speaks with espeak-ng at 48 kHz), built as
 * `speechbridge serve` builds it, and used by real clients:
 * - a /v1/realtime client (plain `ws`) speaks a real recording; server VAD ends the turn, the
 *   transcript is Gradium's, and the spoken answer comes back as non-silent audio;
 * - a client of the Gradium audio gateway on `/`, message for message as that gateway's
 *   protocol says: start → ready → stt_partial… → stt_final → tts_start, binary audio, text_final, tts_end.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { int16ToBytes, rmsDbfs } from '../../src/audio/pcm.ts';
import { EspeakSynthesizer } from '../../src/providers/local/espeak-synthesizer.ts';
import { startConfiguredServer, type TestServer } from '../helpers/server.ts';
import { GRADIUM_TEST_KEY, startGradiumUpstream, type GradiumUpstream } from '../helpers/gradium-upstream.ts';
import { GatewayClient, gatewayUrl, samplesOf } from '../protocols/gateway/gateway-harness.ts';
import { joinedPcm, pcmFrames, RealtimeClient, recording, streamRealtime } from './realtime-harness.ts';

const BIRCH_CANOE = 'The birch canoe slid on the smooth planks';

let espeak: EspeakSynthesizer;
let upstream: GradiumUpstream;
let server: TestServer;

before(async () => {
  espeak = await EspeakSynthesizer.create({ workers: 1 });
  upstream = await startGradiumUpstream({ synthesizer: espeak, transcript: BIRCH_CANOE, msPerWord: 300 });
  server = await startConfiguredServer({
    ASR_ENGINE: 'gradium',
    TTS_ENGINE: 'gradium',
    GRADIUM_API_KEY: GRADIUM_TEST_KEY,
    GRADIUM_BASE_URL: upstream.baseUrl,
  });
});

after(async () => {
  await server?.close();
  await upstream?.close();
  await espeak?.close();
});

test('GET / names the Gradium providers', async () => {
  const health = (await (await fetch(`${server.url}/`)).json()) as { engines: Record<string, unknown> };
  assert.deepEqual(health.engines.transcriber, { engine: 'gradium', model: 'default' });
  assert.deepEqual(health.engines.synthesizer, { engine: 'gradium', model: 'default', voice: 'YTpq7expH9539ERJ' });
});

test("/v1/realtime: a spoken turn is transcribed by Gradium and answered in Gradium's voice", async () => {
  const from = upstream.connections.length;
  const client = await RealtimeClient.connect(`${server.url.replace(/^http/, 'ws')}/v1/realtime`);
  try {
    await client.next('session.created');
    const speech = await recording('en_harvard_birch_canoe.wav', 24000, 1200);
    await streamRealtime((audio) => client.send({ type: 'input_audio_buffer.append', audio }), pcmFrames(speech));
    const completed = await client.next('conversation.item.input_audio_transcription.completed', 15_000);
    assert.equal(completed.transcript, BIRCH_CANOE);
    const deltas = client.events.filter((event) => event.type === 'conversation.item.input_audio_transcription.delta' && event.item_id === completed.item_id);
    assert.equal(deltas.map((event) => event.delta).join(''), BIRCH_CANOE, 'the deltas add up to the transcript');

    const done = await client.next('response.done', 20_000);
    assert.equal(done.response.status, 'completed', JSON.stringify(done.response.status_details));
    const audio = joinedPcm(client.events.filter((event) => event.type === 'response.output_audio.delta'));
    const seconds = audio.samples.length / audio.sampleRate;
    assert.ok(seconds > 1 && seconds < 8, `${seconds.toFixed(2)} s of answer audio at 24 kHz`);
    assert.ok(rmsDbfs(audio.samples) > -35, `the answer is not silent (${rmsDbfs(audio.samples).toFixed(1)} dBFS)`);
    const transcript = client.events
      .filter((event) => event.type === 'response.output_audio_transcript.delta')
      .map((event) => event.delta)
      .join('');
    assert.equal(transcript, BIRCH_CANOE, 'the echo responder repeated the transcript, which was spoken');
    assert.deepEqual(
      client.events.filter((event) => event.type === 'error'),
      [],
    );
  } finally {
    await client.close();
  }
  // The turn went to Gradium's speech-to-text as 24 kHz PCM and was flushed; the answer to its text-to-speech.
  const used = upstream.connections.slice(from);
  const stt = used.filter((connection) => connection.path === '/api/speech/asr');
  assert.equal(stt.length, 1);
  assert.deepEqual(
    stt[0].received.slice(-2).map((message) => message.type),
    ['flush', 'end_of_stream'],
  );
  // One text-to-speech request for the answer, fed word by word as the LLM wrote it.
  const ttsReceived = used.filter((connection) => connection.path === '/api/speech/tts').flatMap((connection) => connection.received);
  assert.equal(ttsReceived.filter((message) => message.type === 'setup').length, 1, 'one request per response');
  const ttsTexts = ttsReceived.filter((message) => message.type === 'text').map((message) => message.text);
  assert.ok(ttsTexts.length > 1, `the text went as it was written (${ttsTexts.length} messages)`);
  assert.equal(ttsTexts.join(' '), BIRCH_CANOE);
});

test("the Gradium audio gateway's client on /: start → ready → stt_partial… → stt_final → tts_start, audio, text_final, tts_end", async () => {
  const client = await GatewayClient.connect(gatewayUrl(server.url));
  client.send({ type: 'start', input_format: 'pcm', output_format: 'pcm_48000', stt_model: 'default', tts_model: 'default', voice_id: 'YTpq7expH9539ERJ' });
  const ready = await client.next('ready');
  assert.equal(ready.stt_input_format, 'pcm_24000');
  assert.equal(ready.tts_output_format, 'pcm_48000');
  // A microphone: 20 ms binary frames in real time, then `end`.
  const speech = await recording('en_harvard_birch_canoe.wav', 24000, 1000);
  const bytes = Buffer.from(int16ToBytes(speech.samples));
  const startedAt = performance.now();
  for (let index = 0; index * 960 < bytes.byteLength; index++) {
    const wait = startedAt + index * 20 - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    client.sendBinary(bytes.subarray(index * 960, (index + 1) * 960));
  }
  const beforeEnd = client.sequence();
  client.send({ type: 'end' });
  const closed = await client.closed;
  assert.equal(closed.code, 1000, client.sequence().join(', '));

  // The order the gateway door documents (src/protocols/gateway/event-mapper.ts): text_final
  // is the answer's whole text, known when it is done, after its audio.
  const sequence = client.sequence().filter((type) => type !== 'stt_partial');
  const firstAudio = sequence.indexOf('audio');
  assert.deepEqual(sequence.slice(0, firstAudio), ['ready', 'stt_final', 'tts_start'], sequence.join(', '));
  assert.deepEqual(sequence.slice(-2), ['text_final', 'tts_end'], sequence.join(', '));
  assert.ok(sequence.slice(firstAudio, -2).every((type) => type === 'audio'));
  // The partials before stt_final are Gradium's deltas, adding up to its text.
  const partials = client.messages.filter((message) => message.type === 'stt_partial');
  assert.ok(partials.length > 0);
  // Gradium's text streams while the user speaks: partials came before the client said `end`,
  // each the text so far, growing word by word.
  assert.ok(beforeEnd.includes('stt_partial'), `stt_partial before end: ${beforeEnd.join(', ')}`);
  assert.equal(client.sequence().indexOf('stt_partial'), 1, 'the first message after ready is a partial');
  partials.forEach(
    (partial, index) => index > 0 && assert.ok(partial.text.startsWith(partials[index - 1].text), `growing: ${partials.map((each) => each.text).join(' | ')}`),
  );
  assert.equal(new Set(partials.map((partial) => partial.turn_id)).size, 1);
  assert.equal(partials[0].turn_id, client.messages.find((message) => message.type === 'stt_final')?.turn_id);
  assert.equal(partials.at(-1)?.text, BIRCH_CANOE);
  assert.equal(client.messages.find((message) => message.type === 'stt_final')?.text, BIRCH_CANOE);
  assert.equal(client.messages.find((message) => message.type === 'text_final')?.text, BIRCH_CANOE);
  assert.equal(client.messages.find((message) => message.type === 'tts_start')?.sample_rate, 48000);
  const audio = samplesOf(client.audioBytes());
  assert.ok(audio.length / 48000 > 1, `${(audio.length / 48000).toFixed(2)} s of speech`);
  assert.ok(rmsDbfs(audio) > -35);
});
