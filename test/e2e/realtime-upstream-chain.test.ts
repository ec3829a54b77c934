/**
 * speechbridge as the OpenAI Realtime transcription upstream of another speechbridge: the
 * upstream is a real server whose embedded pocketsphinx listens for keywords (so its words are
 * exact) and serves `/v1/realtime?intent=transcription`; the gateway under test runs with
 * ASR_ENGINE=openai-realtime pointed at it, built by the real engine factory (start-up check
 * included). A real recording goes in through the gateway's doors — a `/v1/realtime`
 * transcription session and a browser-style WebM/Opus stream on `/v1/transcriptions` — and the
 * upstream's text comes out. `speechbridge serve` itself stops at start-up, saying what to fix,
 * when the upstream refuses the key or cannot be reached.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, test } from 'node:test';
import { resample } from '../../src/audio/resample.ts';
import { createPocketsphinxTranscriber } from '../../src/providers/local/pocketsphinx-transcriber.ts';
import type { RunningServer } from '../../src/server/app.ts';
import { loadConfig } from '../../src/server/config.ts';
import { buildTranscriber } from '../../src/server/provider-factory.ts';
import { createLogger } from '../../src/server/logging.ts';
import { startServe } from '../cli/serve-process.ts';
import { mediaRecorderWebm, chunksOf, streamChunks, TranscriptionClient } from '../protocols/transcriptions/transcriptions-harness.ts';
import { assembleProviders, startTestServer } from '../helpers/server.ts';
import { startRealtimeUpstream, type RealtimeUpstream } from '../helpers/openai-realtime-upstream.ts';
import { requireTool } from '../helpers/spoken.ts';
import { pcmFrames, RealtimeClient, recording, withSilence } from './realtime-harness.ts';

const UPSTREAM_TOKEN = 'upstream-speechbridge-token';
/** What the upstream's pocketsphinx listens for; the recording says the first. */
const KEYWORDS = 'birch canoe,your country';

let upstream: RunningServer;
let gateway: RunningServer;
let fakeOpenAI: RealtimeUpstream;
let closedPort: number;

before(async () => {
  await requireTool('pocketsphinx_continuous', 'apt-get install pocketsphinx pocketsphinx-en-us');
  await requireTool('ffmpeg', 'apt-get install ffmpeg');
  const keywords = await createPocketsphinxTranscriber({ keywords: KEYWORDS.split(','), timeoutMs: 30_000 });
  upstream = await startTestServer({ transcriber: keywords }, { API_TOKENS: UPSTREAM_TOKEN });
  const config = loadConfig({
    SERVER_NAME: '127.0.0.1',
    SERVER_PORT: '0',
    LOG_LEVEL: 'silent',
    ASR_ENGINE: 'openai-realtime',
    // The API root, as WHISPER_URL is given; the gateway finds /realtime under it.
    OPENAI_REALTIME_URL: `${upstream.url}/v1`,
    AUDIO_API_KEY: UPSTREAM_TOKEN,
  });
  const built = await buildTranscriber(config, createLogger('silent'));
  const engines = assembleProviders({ transcriber: built.transcriber });
  engines.summary.transcriber = built.summary;
  gateway = await startTestServer(engines);
  fakeOpenAI = await startRealtimeUpstream({ apiKey: 'sk-the-right-key' });
  closedPort = await new Promise<number>((resolve) => {
    const probe = createServer();
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
});

after(async () => {
  await gateway?.close();
  await upstream?.close();
  await fakeOpenAI?.close();
});

test('the start-up check passes against a speechbridge upstream, and GET / names the recognizer', async () => {
  const health = (await (await fetch(`${gateway.url}/`)).json()) as { engines: { transcriber: unknown } };
  assert.deepEqual(health.engines.transcriber, { engine: 'openai-realtime', model: 'gpt-4o-transcribe' });
});

test('a /v1/realtime transcription session on the gateway gets the upstream speechbridge’s text for a real recording', async () => {
  const client = await RealtimeClient.connect(`${gateway.url.replace(/^http/, 'ws')}/v1/realtime?intent=transcription`);
  await client.next('session.created');
  client.send({
    type: 'session.update',
    session: {
      type: 'transcription',
      audio: { input: { format: { type: 'audio/pcm', rate: 24000 }, transcription: { model: 'gpt-4o-transcribe', language: 'en' } } },
    },
  });
  await client.next('session.updated');
  const speech = withSilence(await recording('en_harvard_birch_canoe.wav'), 300, 1200);
  // Four times faster than real time: the gateway's VAD works on the samples, not on the clock.
  for (const frame of pcmFrames(speech)) {
    client.send({ type: 'input_audio_buffer.append', audio: frame });
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const committed = await client.next('input_audio_buffer.committed', 15_000);
  const completed = await client.next('conversation.item.input_audio_transcription.completed', 30_000);
  assert.equal(completed.item_id, committed.item_id);
  assert.equal(completed.transcript, 'birch canoe');
  assert.equal(client.events.filter((event) => event.type === 'conversation.item.input_audio_transcription.failed').length, 0, JSON.stringify(client.types()));
  await client.close();
});

test('a browser-style WebM/Opus stream on /v1/transcriptions comes back as {"final"} with the upstream speechbridge’s text', async () => {
  const speech = withSilence(await resample(await recording('en_harvard_birch_canoe.wav'), 16000), 300, 200);
  const webm = await mediaRecorderWebm(speech.samples);
  const client = await TranscriptionClient.started(`${gateway.url.replace(/^http/, 'ws')}/v1/transcriptions`);
  await streamChunks(client, chunksOf(webm, 4096), 20);
  // The recording ends 200 ms before the stream: stop commits the last turn.
  client.send({ action: 'stop' });
  const closed = await client.closed;
  assert.deepEqual(client.finals(), ['birch canoe'], JSON.stringify(client.messages));
  assert.equal(closed.code, 1000);
});

test('speechbridge serve stops at start-up when the realtime upstream refuses the key, saying which setting to check', async () => {
  const serve = startServe(['--port', '0'], { ASR_ENGINE: 'openai-realtime', OPENAI_REALTIME_URL: fakeOpenAI.url, AUDIO_API_KEY: 'sk-a-wrong-key-123456' });
  const code = await new Promise<number | null>((resolve) => serve.child.once('exit', (exitCode) => resolve(exitCode)));
  assert.equal(code, 1, serve.stderr());
  assert.match(
    serve.stderr(),
    new RegExp(
      `speechbridge: the speech recognition upstream \\(ASR_ENGINE=openai-realtime\\) failed its start-up check: ${fakeOpenAI.url} rejected the credentials for realtime transcription \\(HTTP 401\\).*; check AUDIO_API_KEY`,
    ),
  );
  assert.ok(!serve.stderr().includes('sk-a-wrong-key-123456'), 'the key is not printed');
  assert.equal(serve.lines().filter((line) => line.msg.startsWith('speechbridge listening')).length, 0);
});

test('speechbridge serve stops at start-up when the realtime upstream cannot be reached, pointing at OPENAI_REALTIME_URL', async () => {
  const serve = startServe(['--port', '0'], { ASR_ENGINE: 'openai-realtime', OPENAI_REALTIME_URL: `ws://127.0.0.1:${closedPort}/v1/realtime` });
  const code = await new Promise<number | null>((resolve) => serve.child.once('exit', (exitCode) => resolve(exitCode)));
  assert.equal(code, 1, serve.stderr());
  assert.match(
    serve.stderr(),
    new RegExp(`could not reach ws://127.0.0.1:${closedPort}/v1/realtime for realtime transcription: ECONNREFUSED; check OPENAI_REALTIME_URL`),
  );
});
