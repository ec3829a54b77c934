/**
 * The Gradium synthesizer against the local Gradium server, which speaks with espeak-ng
 * (the project's EspeakSynthesizer) at Gradium's 48 kHz: real audio back per sentence and
 * for text streamed word by word, requests multiplexed on one socket by client_req_id,
 * sockets retired before Gradium's 300 s session limit, barge-in, and every failure — each
 * naming the upstream, and the next request working.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { concatPcm, rmsDbfs, type PcmAudio } from '../../../src/audio/pcm.ts';
import { SpeechbridgeError } from '../../../src/errors/registry.ts';
import { EspeakSynthesizer } from '../../../src/providers/local/espeak-synthesizer.ts';
import { GradiumSynthesizer, type GradiumSynthesizerOptions } from '../../../src/providers/gradium/gradium-synthesizer.ts';
import { GRADIUM_DEFAULT_VOICE, GRADIUM_TEST_KEY, startGradiumUpstream, type GradiumUpstream } from '../../helpers/gradium-upstream.ts';

let upstream: GradiumUpstream;
let espeak: EspeakSynthesizer;
const synthesizers: GradiumSynthesizer[] = [];

before(async () => {
  espeak = await EspeakSynthesizer.create({ workers: 1 });
  upstream = await startGradiumUpstream({ synthesizer: espeak, voices: [GRADIUM_DEFAULT_VOICE, 'customVoice0001'] });
});

after(async () => {
  for (const synthesizer of synthesizers) await synthesizer.close();
  await upstream.close();
  await espeak.close();
});

function synthesizer(options: Partial<GradiumSynthesizerOptions> = {}): GradiumSynthesizer {
  const made = new GradiumSynthesizer({ apiKey: GRADIUM_TEST_KEY, baseURL: upstream.baseUrl, timeoutMs: 5000, ...options });
  synthesizers.push(made);
  return made;
}

function fresh(options: Parameters<GradiumUpstream['configure']>[0] = {}): () => GradiumUpstream['connections'] {
  upstream.configure({ faults: {}, readyDelayMs: 75, ttsFirstAudioDelayMs: 200, sessionLimitMs: 300_000, apiKeys: [GRADIUM_TEST_KEY], ...options });
  const from = upstream.connections.length;
  return () => upstream.connections.slice(from);
}

async function audioOf(chunks: AsyncIterable<PcmAudio>): Promise<PcmAudio> {
  const parts: Int16Array[] = [];
  let sampleRate = 0;
  for await (const chunk of chunks) {
    parts.push(chunk.samples);
    sampleRate = chunk.sampleRate;
  }
  return { samples: concatPcm(parts), sampleRate };
}

const seconds = (audio: PcmAudio) => audio.samples.length / audio.sampleRate;

async function failure(run: Promise<unknown>): Promise<SpeechbridgeError> {
  const error = await run.then(
    () => assert.fail('expected a failure'),
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof SpeechbridgeError, `a SpeechbridgeError, got ${String(error)}`);
  return error;
}

async function* pieces(texts: string[], gapMs = 20): AsyncIterable<string> {
  for (const text of texts) {
    await new Promise((resolve) => setTimeout(resolve, gapMs));
    yield text;
  }
}

test('a sentence: real 48 kHz speech back; setup with the voice, format, client_req_id and close_ws_on_eos false', async () => {
  const connections = fresh();
  const tts = synthesizer();
  assert.deepEqual([tts.capabilities.sampleRate, tts.capabilities.textStreaming, tts.capabilities.defaultVoice], [48000, true, GRADIUM_DEFAULT_VOICE]);
  const audio = await audioOf(tts.synthesize({ text: 'The birch canoe slid on the smooth planks.', voice: 'alloy' }));
  assert.equal(audio.sampleRate, 48000);
  assert.ok(seconds(audio) > 1 && seconds(audio) < 6, `${seconds(audio)} s of speech`);
  assert.ok(rmsDbfs(audio.samples) > -35, `not silent (${rmsDbfs(audio.samples).toFixed(1)} dBFS)`);
  const [connection] = connections();
  assert.equal(connection.path, '/api/speech/tts');
  const [setup, text, end] = connection.received;
  assert.deepEqual(setup, {
    type: 'setup',
    model_name: 'default',
    voice_id: GRADIUM_DEFAULT_VOICE,
    output_format: 'pcm',
    client_req_id: setup.client_req_id,
    close_ws_on_eos: false,
  });
  assert.deepEqual(text, { type: 'text', text: 'The birch canoe slid on the smooth planks.', client_req_id: setup.client_req_id });
  assert.deepEqual(end, { type: 'end_of_stream', client_req_id: setup.client_req_id });
  assert.equal(connection.closed, undefined, 'the socket stays open for the next request');
});

test('several requests at once share one socket by client_req_id; each gets its own audio; the next one reuses the socket', async () => {
  const connections = fresh();
  const tts = synthesizer();
  const texts = ['One.', 'This second sentence is a good deal longer than the first one.', 'Three four.'];
  const audios = await Promise.all(texts.map((text) => audioOf(tts.synthesize({ text }))));
  assert.equal(connections().length, 1);
  const ids = connections()[0]
    .received.filter((message) => message.type === 'setup')
    .map((message) => message.client_req_id);
  assert.equal(new Set(ids).size, 3);
  assert.ok(audios.every((audio) => rmsDbfs(audio.samples) > -35));
  assert.ok(seconds(audios[1]) > 2 * seconds(audios[0]), 'the long sentence got the long audio');
  assert.ok(seconds(audios[1]) > seconds(audios[2]));
  await audioOf(tts.synthesize({ text: 'Again.' }));
  assert.equal(connections().length, 1, 'the socket was reused');
  assert.equal(tts.socketCount, 1);
});

test('text streamed as an LLM writes it goes out in whole words, and the audio is the whole text', async () => {
  const connections = fresh();
  const tts = synthesizer();
  const audio = await audioOf(tts.synthesizeStream(pieces(['Hel', 'lo wor', 'ld. How', ' are you', ' to', 'day?']), { voice: 'alloy' }));
  const sent = connections()[0]
    .received.filter((message) => message.type === 'text')
    .map((message) => message.text);
  assert.deepEqual(sent, ['Hello', 'world.', 'How are', 'you', 'today?']);
  assert.equal(sent.join(' '), 'Hello world. How are you today?');
  assert.ok(seconds(audio) > 1 && rmsDbfs(audio.samples) > -35);
});

test('a Gradium voice id is passed on; an unknown one fails that request alone with unknown_voice', async () => {
  const connections = fresh();
  const tts = synthesizer();
  const custom = await audioOf(tts.synthesize({ text: 'Hello there.', voice: 'customVoice0001' }));
  assert.ok(rmsDbfs(custom.samples) > -35);
  assert.equal(connections()[0].received[0].voice_id, 'customVoice0001');
  const error = await failure(audioOf(tts.synthesize({ text: 'Hello there.', voice: 'noSuchVoice00000' })));
  assert.equal(error.code, 'unknown_voice');
  assert.match(
    error.message,
    /^Gradium text-to-speech \(ws:\/\/127\.0\.0\.1:\d+\/api\/speech\/tts\) has no voice "noSuchVoice00000": "Voice not found: noSuchVoice00000" \(error 1008, policy violation\); check the voice \(GRADIUM_TTS_VOICE_ID is the default one\)$/,
  );
  assert.ok(rmsDbfs((await audioOf(tts.synthesize({ text: 'Still here.' }))).samples) > -35);
  assert.equal(connections().length, 1, 'the socket survived the request error');
});

test('a wrong key fails naming Gradium and GRADIUM_API_KEY', async () => {
  fresh();
  const error = await failure(audioOf(synthesizer({ apiKey: 'gd-bad-bad-bad' }).synthesize({ text: 'Hello.' })));
  assert.equal(error.code, 'upstream_error');
  assert.match(
    error.message,
    /^Gradium text-to-speech \(ws:\/\/127\.0\.0\.1:\d+\/api\/speech\/tts\) refused the API key: "API key is revoked or expired" \(error 1008, policy violation\); check GRADIUM_API_KEY$/,
  );
});

test('close 1011 mid-speech fails the requests on that socket naming Gradium; the next request opens a fresh socket', async () => {
  const connections = fresh({ faults: { closeAfterAudioChunks: 5 } });
  const tts = synthesizer();
  const error = await failure(audioOf(tts.synthesize({ text: 'The birch canoe slid on the smooth planks.' })));
  assert.match(error.message, /^Gradium text-to-speech \(.*\) failed: "Internal server error" \(error 1011, internal server error\)$/);
  upstream.configure({ faults: {} });
  assert.ok(rmsDbfs((await audioOf(tts.synthesize({ text: 'Back again.' }))).samples) > -35);
  assert.equal(connections().length, 2);
});

test('barge-in: aborting ends the request upstream at once; the socket serves the next request', async () => {
  const connections = fresh();
  const tts = synthesizer();
  const controller = new AbortController();
  let chunks = 0;
  await assert.rejects(
    (async () => {
      for await (const _chunk of tts.synthesize({ text: 'This is a long answer that the user interrupts before it ends.', signal: controller.signal })) {
        if (++chunks === 2) controller.abort();
      }
    })(),
    { name: 'AbortError' },
  );
  const [setup] = connections()[0].received;
  const ends = connections()[0].received.filter((message) => message.type === 'end_of_stream' && message.client_req_id === setup.client_req_id);
  assert.equal(ends.length, 1);
  assert.ok(rmsDbfs((await audioOf(tts.synthesize({ text: 'Next.' }))).samples) > -35);
  assert.equal(connections().length, 1);
});

test("sockets take no new request after retireAfterMs and are ended with an unscoped end_of_stream, so Gradium's session limit never cuts one", async () => {
  const connections = fresh({ sessionLimitMs: 1200 });
  const tts = synthesizer({ retireAfterMs: 500 });
  for (let i = 0; i < 4; i++) {
    assert.ok(rmsDbfs((await audioOf(tts.synthesize({ text: `Sentence ${i + 1}.` }))).samples) > -35);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  assert.ok(connections().length >= 2, `${connections().length} sockets over ~2 s with retirement at 0.5 s`);
  await new Promise((resolve) => setTimeout(resolve, 700));
  const retired = connections().slice(0, -1);
  for (const connection of retired) {
    assert.deepEqual(connection.received.at(-1), { type: 'end_of_stream' });
    assert.equal(connection.closed?.code, 1000, 'closed after the client ended it, not by the session limit (1008)');
  }
});

test('an idle socket is closed after idleCloseMs; close() ends them all', async () => {
  const connections = fresh();
  const tts = synthesizer({ idleCloseMs: 200 });
  await audioOf(tts.synthesize({ text: 'Hello.' }));
  assert.equal(tts.socketCount, 1);
  const started = Date.now();
  while (!connections()[0].closed && Date.now() - started < 3000) await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(connections()[0].closed, { code: 1000, by: 'server' }, 'the server closed it on the unscoped end_of_stream');
  assert.deepEqual(connections()[0].received.at(-1), { type: 'end_of_stream' });
  assert.equal(tts.socketCount, 0);

  const busy = synthesizer();
  await audioOf(busy.synthesize({ text: 'Hello.' }));
  const closedOf = () => connections()[1].closed;
  assert.equal(closedOf(), undefined);
  await busy.close();
  assert.equal(busy.socketCount, 0);
  while (!closedOf() && Date.now() - started < 6000) await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(closedOf()?.code, 1000);
});

test('a slow ready and garbage frames fail naming Gradium, within the deadline', async () => {
  fresh({ readyDelayMs: 3000 });
  const slow = await failure(audioOf(synthesizer({ timeoutMs: 400 }).synthesize({ text: 'Hello.' })));
  assert.equal(slow.code, 'upstream_timeout');
  assert.match(slow.message, /sent no ready after setup within 400 ms \(REQUEST_TIMEOUT\)$/);
  fresh({ faults: { garbageAfterReady: 'not-json' } });
  const garbage = await failure(audioOf(synthesizer().synthesize({ text: 'Hello.' })));
  assert.equal(garbage.code, 'upstream_bad_response');
  assert.match(garbage.message, /^Gradium text-to-speech \(.*\) sent a frame that is not JSON/);
});

test('μ-law at 8 kHz (GRADIUM_TTS_OUTPUT_FORMAT=ulaw_8000) is decoded to PCM; text with nothing to say sends nothing', async () => {
  const connections = fresh();
  const tts = synthesizer({ outputFormat: 'ulaw_8000' });
  const audio = await audioOf(tts.synthesize({ text: 'Hello there.' }));
  assert.equal(audio.sampleRate, 8000);
  assert.ok(seconds(audio) > 0.4 && rmsDbfs(audio.samples) > -35);
  assert.equal(connections()[0].received[0].output_format, 'ulaw_8000');
  assert.equal((await audioOf(tts.synthesize({ text: ' ... ' }))).samples.length, 0);
  assert.equal(connections()[0].received.filter((message) => message.type === 'setup').length, 1);
});

test('probe: setup with the configured voice answered by ready', async () => {
  fresh();
  const probe = await synthesizer().probe();
  assert.equal(probe.sampleRate, 48000);
  await assert.rejects(synthesizer({ voiceId: 'noSuchVoice00000' }).probe(), /has no voice "noSuchVoice00000"/);
});
