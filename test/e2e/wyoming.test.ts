/**
 * Wyoming servers by configuration alone: a real speechbridge whose providers are built from its
 * environment (ASR_ENGINE=wyoming, TTS_ENGINE=wyoming and the two addresses) against local
 * Wyoming servers (test/helpers/wyoming-server.ts: a scripted recognizer that checks it gets
 * 16 kHz PCM16 mono, and a synthesizer speaking with espeak-ng at 22050 Hz as piper does). A
 * `/v1/realtime` client speaks a real recording and gets the server's transcript and spoken
 * audio back; `/v1/audio/speech` speaks through Wyoming; `GET /` names the servers' model and
 * voice; and `speechbridge serve` pointed at a dead host stops with what to fix.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { after, before, test } from 'node:test';
import { concatPcm, durationMs, rmsDbfs } from '../../src/audio/pcm.ts';
import { EspeakSynthesizer } from '../../src/providers/local/espeak-synthesizer.ts';
import { startServer, type RunningServer } from '../../src/server/app.ts';
import { loadConfig } from '../../src/server/config.ts';
import { createProviders } from '../../src/server/provider-factory.ts';
import type { Providers } from '../../src/server/providers.ts';
import { createLogger } from '../../src/server/logging.ts';
import { startServe } from '../cli/serve-process.ts';
import { startWyomingServer, type AsrRequest, type WyomingServer } from '../helpers/wyoming-server.ts';
import { joinedPcm, pcmFrames, RealtimeClient, recording, streamRealtime } from './realtime-harness.ts';

const CANOE = 'The birch canoe slid on the smooth planks';

let espeak: EspeakSynthesizer;
let asr: WyomingServer;
let tts: WyomingServer;
let providers: Providers;
let server: RunningServer;
const heard: AsrRequest[] = [];

before(async () => {
  espeak = await EspeakSynthesizer.create({ workers: 1, warmUp: false });
  asr = await startWyomingServer({
    asr: {
      expectFormat: { rate: 16_000, width: 2, channels: 1 },
      // The scripted text, for a whole turn; a short interim pass hears nothing yet.
      transcript: (request) => {
        heard.push(request);
        return request.samples.length >= 16_000 * 2.5 ? CANOE : '';
      },
    },
  });
  tts = await startWyomingServer({
    tts: {
      speakRate: 22_050,
      speak: async (text) => {
        const parts: Int16Array[] = [];
        for await (const chunk of espeak.synthesize({ text, voice: 'en-us' })) parts.push(chunk.samples);
        return concatPcm(parts);
      },
    },
  });
  const config = loadConfig({
    SERVER_NAME: '127.0.0.1',
    SERVER_PORT: '0',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    ASR_ENGINE: 'wyoming',
    WYOMING_ASR_URI: asr.uri,
    TTS_ENGINE: 'wyoming',
    WYOMING_TTS_URI: tts.uri,
    REQUEST_TIMEOUT: '10',
  });
  const logger = createLogger(config.logLevel);
  providers = await createProviders(config, logger);
  server = await startServer({ config, providers, logger });
});

after(async () => {
  await server?.close();
  await providers?.close();
  await asr?.close();
  await tts?.close();
  await espeak?.close();
});

test("GET / names the Wyoming providers with the servers' model and voice", async () => {
  const body = (await (await fetch(`${server.url}/`)).json()) as { engines: Record<string, unknown> };
  assert.deepEqual(body.engines.transcriber, { engine: 'wyoming', model: 'base-int8' });
  assert.deepEqual(body.engines.synthesizer, { engine: 'wyoming', model: 'piper', voice: 'en_US-lessac-medium' });
});

test('a /v1/realtime client speaks a real recording: the Wyoming transcript comes back, and the answer is spoken through Wyoming', async () => {
  const client = await RealtimeClient.connect(`${server.url.replace(/^http/, 'ws')}/v1/realtime`);
  try {
    await client.next('session.created');
    const speech = await recording('en_harvard_birch_canoe.wav', 24_000, 1200);
    await streamRealtime((frame) => client.send({ type: 'input_audio_buffer.append', audio: frame }), pcmFrames(speech), 5);
    const transcript = await client.next('conversation.item.input_audio_transcription.completed', 20_000);
    assert.equal(transcript.transcript, CANOE);
    const done = await client.next('response.done', 30_000);
    assert.equal(done.response.status, 'completed', JSON.stringify(done.response.status_details));
    const answer = done.response.output.find((item: { type: string }) => item.type === 'message');
    assert.equal(answer.content[0].transcript, CANOE, 'the echo responder says the transcript back');
    const audio = joinedPcm(client.events.filter((event) => event.type === 'response.output_audio.delta' && event.response_id === done.response.id));
    assert.ok(durationMs(audio) > 1500, `a spoken answer: ${durationMs(audio)} ms`);
    assert.ok(rmsDbfs(audio.samples) > -35, `not silence: ${rmsDbfs(audio.samples).toFixed(1)} dBFS`);

    // What the Wyoming servers saw: the turn as 16 kHz PCM16 mono (the recognizer refuses
    // anything else), about as long as the recording, and the answer's text to speak.
    const turn = heard.reduce((longest, request) => (request.samples.length > longest.samples.length ? request : longest));
    assert.deepEqual(turn.format, { rate: 16_000, width: 2, channels: 1 });
    const turnMs = (turn.samples.length * 1000) / 16_000;
    assert.ok(turnMs > 2500 && turnMs < durationMs(speech) + 500, `the turn sent was ${Math.round(turnMs)} ms`);
    const spokenTexts = tts.connections.flatMap((connection) =>
      connection.events.filter((event) => event.type === 'synthesize').map((event) => event.data.text),
    );
    assert.ok(
      spokenTexts.some((text) => typeof text === 'string' && text.includes('birch canoe')),
      JSON.stringify(spokenTexts),
    );
  } finally {
    await client.close();
  }
  // One connection per request, each closed when done.
  await asr.drained(3000);
  await tts.drained(3000);
});

test('/v1/audio/speech speaks through Wyoming; a voice the server lacks is refused with unknown_voice', async () => {
  const response = await fetch(`${server.url}/v1/audio/speech`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'tts-1', voice: 'alloy', input: 'Glue the sheet to the dark blue background.', response_format: 'pcm' }),
  });
  assert.equal(response.status, 200);
  const bytes = Buffer.from(await response.arrayBuffer());
  const samples = new Int16Array(bytes.byteLength / 2);
  for (let i = 0; i < samples.length; i++) samples[i] = bytes.readInt16LE(i * 2);
  const audio = { samples, sampleRate: 24_000 };
  assert.ok(durationMs(audio) > 1500, `${durationMs(audio)} ms of speech`);
  assert.ok(rmsDbfs(audio.samples) > -35, 'not silence');
  const lastSynthesis = tts.connections.at(-1)!.events[0];
  assert.deepEqual(lastSynthesis.data, { text: 'Glue the sheet to the dark blue background.', voice: { name: 'en_US-lessac-medium' } });

  const refused = await fetch(`${server.url}/v1/audio/speech`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'tts-1', voice: 'nl_NL-mls-medium', input: 'Hallo.', response_format: 'pcm' }),
  });
  assert.equal(refused.status, 400);
  const error = ((await refused.json()) as { error: { code: string; message: string } }).error;
  assert.equal(error.code, 'unknown_voice');
  assert.match(error.message, /has no voice "nl_NL-mls-medium"; its voices: en_US-lessac-medium/);
});

test('speechbridge serve with WYOMING_ASR_URI at a dead host stops at start-up saying what to fix', async () => {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as { port: number }).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const serve = startServe(['--port', '0'], {
    ASR_ENGINE: 'wyoming',
    WYOMING_ASR_URI: `tcp://127.0.0.1:${port}`,
    TTS_ENGINE: 'wyoming',
    WYOMING_TTS_URI: tts.uri,
  });
  const [code] = (await Promise.race([
    once(serve.child, 'exit'),
    new Promise((_, reject) => setTimeout(() => reject(new Error(`still running; stderr:\n${serve.stderr()}`)), 30_000)),
  ])) as [number | null];
  assert.equal(code, 1);
  assert.match(
    serve.stderr(),
    new RegExp(
      `^speechbridge: WYOMING_ASR_URI: could not reach the Wyoming speech recognition server at tcp://127\\.0\\.0\\.1:${port}: connection refused: nothing listens there \\(ECONNREFUSED\\); start the server, or fix WYOMING_ASR_URI$`,
      'm',
    ),
  );
  assert.doesNotMatch(serve.stderr(), /listening on/);
});
