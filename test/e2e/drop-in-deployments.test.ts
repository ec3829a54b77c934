/**
 * Drop-in deployments: for each service speechbridge replaces, its `.env` written as that
 * service documents it (plus only the lines a test needs: where its local upstreams listen,
 * which recognizer runs here), read as `speechbridge serve --env-file` reads it (dotenv →
 * loadConfig → the engine factory → the server), and that service's own client over real
 * sockets:
 *
 * (a) the realtime Whisper + TTS bridge: endpoint-form WHISPER_URL / TTS_API_URL on local
 *     OpenAI-compatible audio upstreams (pocketsphinx and espeak-ng behind them), an
 *     OpenAI-compatible LLM, DEFAULT_VAD_AGGR; a realtime client on /v1/realtime.
 * (b) the Gradium audio gateway: GATEWAY_HOST / GATEWAY_PORT, OPENAI_MODEL / OPENAI_PROMPT;
 *     its client doing start → ready → audio → end on `/` of the extra port.
 * (c) the live transcription service: PORT and MODEL_NAME; its client streaming 24 kHz PCM on
 *     /v1/transcriptions without naming a rate.
 *
 * Real recordings from ../shared/audio; the recognizers are given a grammar of a few
 * sentences, so the words that come back prove the audio went through intact.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import dotenv from 'dotenv';
import { int16ToBytes } from '../../src/audio/pcm.ts';
import { EspeakSynthesizer } from '../../src/providers/local/espeak-synthesizer.ts';
import { createPocketsphinxTranscriber } from '../../src/providers/local/pocketsphinx-transcriber.ts';
import { type RunningServer, startServer } from '../../src/server/app.ts';
import { type Config, loadConfig } from '../../src/server/config.ts';
import { createProviders } from '../../src/server/provider-factory.ts';
import { createLogger } from '../../src/server/logging.ts';
import { startAudioUpstream } from '../helpers/engine-audio-upstream.ts';
import { type ChatCompletionsUpstream, messagesOf, startChatCompletionsUpstream } from '../helpers/chat-completions-upstream.ts';
import { zeroWhisperModel } from '../helpers/zero-whisper-model.ts';
import { requireTool } from '../helpers/spoken.ts';
import { GatewayClient } from '../protocols/gateway/gateway-harness.ts';
import { TranscriptionClient, chunksOf, streamChunks } from '../protocols/transcriptions/transcriptions-harness.ts';
import { RealtimeClient, pcmFrames, recording, streamRealtime } from './realtime-harness.ts';

const BIRCH_CANOE = 'the birch canoe slid on the smooth planks';
/** The sentences of the recordings used here, and two that are not: pocketsphinx picks among them. */
const SENTENCE_GRAMMAR = `public <sentence> = ${BIRCH_CANOE} | he could wait no longer | glue the sheet to the dark blue background | turn on the light;`;

let workDir: string;
const servers: RunningServer[] = [];

before(async () => {
  await requireTool('pocketsphinx_continuous', 'apt-get install pocketsphinx pocketsphinx-en-us');
  workDir = await mkdtemp(path.join(os.tmpdir(), 'speechbridge-drop-in-'));
});

after(async () => {
  for (const server of servers) await server.close();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

/** Writes the .env file and reads it as the CLI does (`.env` or --env-file, through dotenv). */
async function envFile(name: string, text: string): Promise<{ file: string; config: Config }> {
  const file = path.join(workDir, name);
  await writeFile(file, text);
  return { file, config: loadConfig(dotenv.parse(await readFile(file))) };
}

/** The server exactly as `speechbridge serve` builds it from a configuration (its logs kept quiet). */
async function serve(config: Config): Promise<RunningServer> {
  const logger = createLogger('silent');
  const providers = await createProviders(config, logger);
  const server = await startServer({ config, providers, logger });
  const close = server.close;
  const running = { ...server, close: async () => (await close(), await providers.close()) };
  servers.push(running);
  return running;
}

/** A port nothing listens on now, for an .env that names its port as deployments do. */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

test('(a) the realtime Whisper + TTS bridge .env: endpoint-form upstream URLs reach /v1/audio/transcriptions and /v1/audio/speech, DEFAULT_VAD_AGGR sets the VAD', async () => {
  const audio = await startAudioUpstream({
    transcriber: await createPocketsphinxTranscriber({ grammar: SENTENCE_GRAMMAR, timeoutMs: 30_000 }),
    synthesizer: await EspeakSynthesizer.create({ workers: 1 }),
  });
  const llm: ChatCompletionsUpstream = await startChatCompletionsUpstream({
    reply: (request) => `You said: ${messagesOf(request, 'user').at(-1)}.`,
  });
  try {
    const port = await freePort();
    const { config } = await envFile(
      'realtime-bridge.env',
      [
        '# The realtime bridge: LLM, Whisper and TTS upstreams, tokens and VAD defaults.',
        'OPENAI_API_KEY=sk-bridge-llm',
        `OPENAI_API_BASE=${llm.baseURL}`,
        'OPENAI_API_MODEL=bridge-llm',
        `WHISPER_URL=${audio.baseURL}/audio/transcriptions`,
        'AUDIO_API_KEY=sk-bridge-audio',
        `TTS_API_URL=${audio.baseURL}/audio/speech`,
        'TTS_API_KEY=sk-bridge-tts',
        'REQUEST_TIMEOUT=30',
        'DEFAULT_SYSTEM_PROMPT="You are a realtime dialogue partner. Answer in short sentences."',
        'DEFAULT_TTS_INSTRUCTIONS="Speak clearly and positively."',
        'DEFAULT_VAD_AGGR=3',
        'DEFAULT_VAD_END_MS=500',
        'API_TOKENS=bridge-client-token',
        'SERVER_NAME=127.0.0.1',
        `SERVER_PORT=${port}`,
        '',
      ].join('\n'),
    );
    assert.deepEqual(config.warnings, []);
    const server = await serve(config);
    assert.equal(server.port, port);
    const health = (await (await fetch(`${server.url}/`)).json()) as { engines: Record<string, { engine: string; model?: string }> };
    assert.equal(health.engines.transcriber.engine, 'openai-compatible');
    assert.equal(health.engines.synthesizer.engine, 'openai-compatible');
    assert.deepEqual(health.engines.responder, { engine: 'openai-compatible', model: 'bridge-llm' });
    assert.match(health.engines.vad.engine, /aggressiveness 3/);

    // The bridge's clients: an OpenAI Realtime client with a bearer token, PCM16 at 24 kHz.
    const client = await RealtimeClient.connect(`${server.url.replace(/^http/, 'ws')}/v1/realtime`, {
      headers: { Authorization: 'Bearer bridge-client-token' },
    });
    const created = await client.next('session.created');
    const turnDetection = created.session.audio.input.turn_detection;
    assert.deepEqual(
      [turnDetection.aggressiveness, turnDetection.silence_duration_ms],
      [3, 500],
      'DEFAULT_VAD_AGGR and DEFAULT_VAD_END_MS are the session defaults',
    );
    client.send({ type: 'session.update', session: { type: 'realtime', speechbridge: { turn_timings: true } } });
    await client.next('session.updated');

    const speech = await recording('en_harvard_birch_canoe.wav', 24000, 1200);
    await streamRealtime((frame) => client.send({ type: 'input_audio_buffer.append', audio: frame }), pcmFrames(speech), 5);
    const transcript = await client.next('conversation.item.input_audio_transcription.completed', 30_000);
    assert.equal(transcript.transcript, BIRCH_CANOE);
    const done = await client.next('response.done', 30_000);
    assert.equal(done.response.status, 'completed', JSON.stringify(done.response.status_details));
    const spoken = client.events.filter((event) => event.type === 'response.output_audio.delta');
    const samples = spoken.reduce((sum, event) => sum + Buffer.from(event.delta, 'base64').byteLength / 2, 0);
    assert.ok(samples > 24000 * 0.5, `the reply was spoken through the TTS upstream (${samples} samples)`);
    const timings = await client.next('speechbridge.turn.timings');
    assert.equal(timings.item_id, transcript.item_id);
    for (const field of ['transcription_ms', 'first_token_ms', 'first_audio_ms', 'total_ms']) {
      assert.ok(typeof timings[field] === 'number' && timings[field] >= 0, `${field} is measured: ${JSON.stringify(timings)}`);
    }
    await client.close();

    // The upstreams saw the paths, keys and models the bridge's .env gives, never a doubled endpoint.
    const transcriptions = audio.requests.filter((request) => request.path === '/v1/audio/transcriptions');
    const speechRequests = audio.requests.filter((request) => request.path === '/v1/audio/speech');
    assert.deepEqual(
      audio.requests.filter((request) => request.status !== 200),
      [],
      'every upstream request found its endpoint',
    );
    assert.equal(transcriptions.length, 1);
    assert.equal(transcriptions[0].authorization, 'Bearer sk-bridge-audio');
    assert.equal(transcriptions[0].model, 'whisper-1');
    assert.ok(speechRequests.length >= 1);
    assert.ok(speechRequests.every((request) => request.authorization === 'Bearer sk-bridge-tts' && request.responseFormat === 'pcm'));
    assert.equal(speechRequests.map((request) => request.input).join(' '), `You said: ${BIRCH_CANOE}.`);
    assert.equal(llm.requests.length, 1);
    assert.equal(llm.requests[0].model, 'bridge-llm');
    assert.equal(llm.requests[0].headers.authorization, 'Bearer sk-bridge-llm');
    assert.deepEqual(messagesOf(llm.requests[0], 'system'), ['You are a realtime dialogue partner. Answer in short sentences.']);
    assert.deepEqual(messagesOf(llm.requests[0], 'user'), [BIRCH_CANOE]);
  } finally {
    await audio.close();
    await llm.close();
  }
});

test('(b) the Gradium audio gateway .env: its client speaks start → ready → audio → end on / of GATEWAY_PORT, rewritten with OPENAI_MODEL and OPENAI_PROMPT', async () => {
  const llm = await startChatCompletionsUpstream({ reply: 'The birch canoe slid on the smooth planks.' });
  const grammarFile = path.join(workDir, 'sentences.gram');
  await writeFile(grammarFile, `#JSGF V1.0;\ngrammar sentences;\n${SENTENCE_GRAMMAR}\n`);
  try {
    const gatewayPort = await freePort();
    const prompt = 'Rewrite the user transcript into concise, well-punctuated text while preserving meaning.';
    const { config } = await envFile(
      'gradium-gateway.env',
      [
        '# The Gradium audio gateway, as its README lists the variables.',
        'GRADIUM_API_KEY=gd-not-used-by-speechbridge',
        'OPENAI_API_KEY=sk-gateway-llm',
        'GATEWAY_HOST=127.0.0.1',
        `GATEWAY_PORT=${gatewayPort}`,
        'GRADIUM_STT_MODEL=default',
        'GRADIUM_STT_INPUT_FORMAT=pcm',
        'GRADIUM_TTS_MODEL=default',
        'GRADIUM_TTS_VOICE_ID=YTpq7expH9539ERJ',
        'GRADIUM_TTS_OUTPUT_FORMAT=pcm',
        'OPENAI_MODEL=gpt-4o-mini-rewriter',
        `OPENAI_PROMPT="${prompt}"`,
        'LOG_LEVEL=DEBUG',
        "# Here: the LLM is the test's local server (the OpenAI SDK's own variable), the recognizer",
        "# pocketsphinx instead of Gradium's, and the main HTTP port any free one.",
        `OPENAI_BASE_URL=${llm.baseURL}`,
        'ASR_ENGINE=pocketsphinx',
        `POCKETSPHINX_GRAMMAR=${grammarFile}`,
        'SERVER_NAME=127.0.0.1',
        'SERVER_PORT=0',
        '',
      ].join('\n'),
    );
    assert.equal(config.logLevel, 'debug');
    const server = await serve(config);
    assert.equal(server.gateway?.port, gatewayPort);
    assert.equal(server.gateway?.url, `ws://127.0.0.1:${gatewayPort}/`);

    // The gateway's documented client: ws://host:port, a start message, binary PCM at 24 kHz, end.
    const client = await GatewayClient.connect(`ws://127.0.0.1:${gatewayPort}`);
    client.send({ type: 'start', input_format: 'pcm', output_format: 'pcm', stt_model: 'default', tts_model: 'default' });
    const ready = await client.next('ready');
    assert.deepEqual([ready.stt_input_format, ready.tts_output_format, ready.openai_model], ['pcm_24000', 'pcm_24000', 'gpt-4o-mini-rewriter']);
    const speech = await recording('en_harvard_birch_canoe.wav', 24000, 1000);
    client.sendFrames(Buffer.from(int16ToBytes(speech.samples)), 48);
    client.send({ type: 'end' });
    const closed = await client.closed;
    assert.equal(closed.code, 1000, client.sequence().join(', '));

    const final = client.messages.find((message) => message.type === 'stt_final');
    assert.equal(final?.text, BIRCH_CANOE);
    const rewrite = client.messages.find((message) => message.type === 'text_final');
    assert.equal(rewrite?.text, 'The birch canoe slid on the smooth planks.');
    const start = client.messages.find((message) => message.type === 'tts_start');
    assert.equal(start?.sample_rate, 24000);
    assert.ok(client.audioBytes().byteLength > 2 * 24000 * 0.5, `the rewrite was spoken (${client.audioBytes().byteLength} bytes)`);
    assert.equal(client.messages.at(-1)?.type, 'tts_end');
    assert.deepEqual(
      client.messages.filter((message) => message.type === 'error'),
      [],
    );

    assert.equal(llm.requests.length, 1);
    assert.equal(llm.requests[0].model, 'gpt-4o-mini-rewriter', 'OPENAI_MODEL is the LLM model');
    assert.deepEqual(messagesOf(llm.requests[0], 'system'), [prompt], 'OPENAI_PROMPT is the rewrite prompt');
    assert.deepEqual(messagesOf(llm.requests[0], 'user'), [BIRCH_CANOE]);
    assert.equal(llm.requests[0].headers.authorization, 'Bearer sk-gateway-llm');
  } finally {
    await llm.close();
  }
});

test('(c) the live transcription service .env: PORT and MODEL_NAME; its client streams 24 kHz PCM without naming a rate and gets {"final"}', async () => {
  // MODEL_NAME is a whisper model name; the test's model cache holds tiny.en as the zero-weight
  // file (real compute, meaningless words), so the words are not checked here: the final's
  // duration is, which is 1.5 times too long if the 24 kHz stream were read at 16 kHz.
  const cacheDir = path.join(workDir, 'models');
  await mkdir(cacheDir);
  await symlink(await zeroWhisperModel('tiny.en'), path.join(cacheDir, 'ggml-tiny.en.bin'));
  const port = await freePort();
  const { config } = await envFile(
    'live-transcription.env',
    [
      '# The live transcription service.',
      `PORT=${port}`,
      'MODEL_NAME=tiny.en',
      '# Here: where named models are.',
      `MODEL_CACHE_DIR=${cacheDir}`,
      'WHISPER_AUDIO_CTX=512',
      // whisper is slow on a busy machine: the time limit is not what this test is about.
      'REQUEST_TIMEOUT=120',
      '',
    ].join('\n'),
  );
  const server = await serve(config);
  assert.equal(server.port, port, 'PORT is the listen port');
  const health = (await (await fetch(`http://127.0.0.1:${port}/`)).json()) as { engines: { transcriber: { engine: string; model?: string } } };
  assert.deepEqual(health.engines.transcriber, { engine: 'whisper', model: 'tiny.en' }, 'MODEL_NAME is the whisper model');

  const client = await TranscriptionClient.connect(`ws://127.0.0.1:${port}/v1/transcriptions`);
  client.send({ action: 'start', language: 'en' });
  await client.next((message) => 'session_id' in message);
  const speech = await recording('en_harvard_birch_canoe.wav', 24000, 1000);
  await streamChunks(client, chunksOf(Buffer.from(int16ToBytes(speech.samples)), 4800), 25);
  client.send({ action: 'stop' });
  const closed = await client.closed;
  assert.equal(closed.code, 1000);
  const finals = client.messages.filter((message) => 'final' in message);
  assert.equal(finals.length, 1, JSON.stringify(client.messages));
  assert.equal(typeof finals[0].final, 'string');
  // 3.26 s of recording, cut by the VAD with its padding: well under the 4.9 s it would last read at 16 kHz.
  assert.ok(finals[0].duration_ms > 3000 && finals[0].duration_ms < 4300, `the utterance lasts as long as the recording (${finals[0].duration_ms} ms)`);
  assert.equal(client.messages.filter((message) => 'error' in message).length, 0, JSON.stringify(client.messages));
});
