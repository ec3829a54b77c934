/**
 * The OpenAI-compatible audio endpoints on real providers: pocketsphinx (with a grammar, so
 * the words can be checked exactly), espeak-ng and ffmpeg; and one speechbridge used as the
 * OpenAI-compatible upstream of another, through the official SDK.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import OpenAI, { toFile } from 'openai';
import { decodeAudio } from '../../../src/audio/decode.ts';
import { bytesToInt16, durationMs, rmsDbfs } from '../../../src/audio/pcm.ts';
import { readWav } from '../../../src/audio/wav.ts';
import type { RunningServer } from '../../../src/server/app.ts';
import { loadConfig } from '../../../src/server/config.ts';
import { createProviders } from '../../../src/server/provider-factory.ts';
import { createLogger } from '../../../src/server/logging.ts';
import { createPocketsphinxTranscriber } from '../../../src/providers/local/pocketsphinx-transcriber.ts';
import { EspeakSynthesizer } from '../../../src/providers/local/espeak-synthesizer.ts';
import { createWhisperTranscriber } from '../../../src/providers/local/whisper-transcriber.ts';
import { startTestServer } from '../../helpers/server.ts';
import { sharedAudioPath } from '../../helpers/shared.ts';
import { zeroWhisperModel } from '../../helpers/zero-whisper-model.ts';
import { COMMAND_GRAMMAR, requireTool, speakPhrase } from '../../helpers/spoken.ts';
import { readFile, writeFile, mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

let upstream: RunningServer;
let gateway: RunningServer;

before(async () => {
  await requireTool('pocketsphinx_continuous', 'apt-get install pocketsphinx pocketsphinx-en-us');
  upstream = await startTestServer({
    transcriber: await createPocketsphinxTranscriber({ grammar: COMMAND_GRAMMAR, timeoutMs: 20_000 }),
    synthesizer: await EspeakSynthesizer.create({ timeoutMs: 20_000 }),
  });
  // The second speechbridge is configured only through the environment, as a user would:
  // its transcriber and synthesizer are the first one's HTTP API.
  const config = loadConfig({
    SERVER_NAME: '127.0.0.1',
    SERVER_PORT: '0',
    LOG_LEVEL: 'silent',
    WHISPER_URL: `${upstream.url}/v1`,
    TTS_API_URL: `${upstream.url}/v1`,
  });
  const { startServer } = await import('../../../src/server/app.ts');
  gateway = await startServer({ config, providers: await createProviders(config, createLogger('silent')), logger: createLogger('silent') });
});

after(async () => {
  await gateway?.close();
  await upstream?.close();
});

async function transcribe(server: RunningServer, bytes: Buffer, filename: string, fields: Record<string, string> = {}): Promise<Response> {
  const form = new FormData();
  form.set('file', new Blob([new Uint8Array(bytes)]), filename);
  form.set('model', 'whisper-1');
  for (const [key, value] of Object.entries(fields)) form.set(key, value);
  return fetch(`${server.url}/v1/audio/transcriptions`, { method: 'POST', body: form });
}

test('a spoken command in WAV, MP3 and WebM/Opus is transcribed word for word', async () => {
  for (const [phrase, format] of [
    ['turn on the light', 'wav'],
    ['turn off the radio', 'mp3'],
    ['turn on the heater', 'webm'],
  ] as const) {
    const { bytes } = await speakPhrase(phrase, format);
    const response = await transcribe(upstream, bytes, `command.${format}`);
    assert.equal(response.status, 200, await response.clone().text());
    assert.equal(((await response.json()) as { text: string }).text, phrase, `${format} upload`);
  }
});

test('response formats: text, verbose_json, srt and vtt', async () => {
  const { bytes } = await speakPhrase('turn off the light');
  const text = await transcribe(upstream, bytes, 'a.wav', { response_format: 'text' });
  assert.match(text.headers.get('content-type') ?? '', /text\/plain/);
  assert.equal(await text.text(), 'turn off the light\n');

  const verbose = (await (await transcribe(upstream, bytes, 'a.wav', { response_format: 'verbose_json' })).json()) as {
    task: string;
    language: string;
    duration: number;
    text: string;
    segments: Array<{ start: number; end: number; text: string }>;
  };
  assert.equal(verbose.task, 'transcribe');
  assert.equal(verbose.language, 'english');
  assert.equal(verbose.text, 'turn off the light');
  const audio = readWav(bytes);
  assert.ok(Math.abs(verbose.duration - durationMs(audio) / 1000) < 0.01, `duration ${verbose.duration}`);
  assert.ok(verbose.segments.length >= 1);
  assert.ok(verbose.segments.every((segment) => segment.end >= segment.start && segment.end <= verbose.duration + 0.05));

  const srt = await (await transcribe(upstream, bytes, 'a.wav', { response_format: 'srt' })).text();
  assert.match(srt, /^1\n\d\d:\d\d:\d\d,\d\d\d --> \d\d:\d\d:\d\d,\d\d\d\n/);
  const vtt = await (await transcribe(upstream, bytes, 'a.wav', { response_format: 'vtt' })).text();
  assert.match(vtt, /^WEBVTT\n\n\d\d:\d\d:\d\d\.\d\d\d --> /);
  assert.match(srt + vtt, /turn|off|light/);
});

test('speech: every response format decodes back to non-silent speech of the same length', async () => {
  const input = 'Turn on the light. Then turn off the radio.';
  const lengths: number[] = [];
  for (const format of ['wav', 'mp3', 'opus', 'flac', 'aac', 'pcm'] as const) {
    const response = await fetch(`${upstream.url}/v1/audio/speech`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'tts-1', input, voice: 'alloy', response_format: format }),
    });
    assert.equal(response.status, 200, format);
    const bytes = Buffer.from(await response.arrayBuffer());
    const audio = format === 'pcm' ? { samples: bytesToInt16(bytes), sampleRate: 24000 } : await decodeAudio(bytes, { sampleRate: 24000 });
    assert.ok(rmsDbfs(audio.samples) > -40, `${format} is not silent`);
    lengths.push(durationMs(audio));
  }
  const shortest = Math.min(...lengths);
  const longest = Math.max(...lengths);
  assert.ok(shortest > 1500 && longest < 6000, `plausible length for two short sentences: ${lengths.join(', ')} ms`);
  assert.ok(longest - shortest < 200, `formats agree on the length: ${lengths.join(', ')} ms`);
});

test('speech as SSE: speech.audio.delta events then speech.audio.done', async () => {
  const response = await fetch(`${upstream.url}/v1/audio/speech`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ input: 'One sentence. And another one.', response_format: 'pcm', stream_format: 'sse' }),
  });
  assert.match(response.headers.get('content-type') ?? '', /text\/event-stream/);
  const events = (await response.text())
    .split('\n\n')
    .filter(Boolean)
    .map((block) => JSON.parse(block.replace(/^data: /, '')) as { type: string; audio?: string });
  assert.ok(events.filter((event) => event.type === 'speech.audio.delta').length >= 2);
  assert.equal(events.at(-1)?.type, 'speech.audio.done');
  const bytes = events.filter((event) => event.audio).reduce((sum, event) => sum + Buffer.from(event.audio!, 'base64').length, 0);
  assert.ok(bytes > 24000 * 2 * 0.8, `at least ~0.8 s of audio, got ${bytes} bytes`);
});

test('speech spoken by the gateway is recognized back by the gateway', async () => {
  const response = await fetch(`${upstream.url}/v1/audio/speech`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    // espeak's British voice: pocketsphinx's en-us model hears its "off" reliably, the American one's often as "on".
    body: JSON.stringify({ input: 'turn off the heater', response_format: 'wav', voice: 'en' }),
  });
  const wav = Buffer.from(await response.arrayBuffer());
  const heard = (await (await transcribe(upstream, wav, 'reply.wav')).json()) as { text: string };
  assert.equal(heard.text, 'turn off the heater');
});

test('a speechbridge configured with another as its OpenAI-compatible upstream transcribes and speaks through it', async () => {
  const { bytes } = await speakPhrase('turn on the radio', 'mp3');
  const response = await transcribe(gateway, bytes, 'command.mp3', { response_format: 'verbose_json' });
  assert.equal(response.status, 200);
  const body = (await response.json()) as { text: string; language: string };
  assert.equal(body.text, 'turn on the radio');
  assert.equal(body.language, 'english');

  const health = (await (await fetch(`${gateway.url}/`)).json()) as { engines: { transcriber: { engine: string }; synthesizer: { engine: string } } };
  assert.equal(health.engines.transcriber.engine, 'openai-compatible');
  assert.equal(health.engines.synthesizer.engine, 'openai-compatible');

  const speech = await fetch(`${gateway.url}/v1/audio/speech`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ input: 'turn off the light', response_format: 'wav', voice: 'en' }),
  });
  assert.equal(speech.status, 200);
  const wav = Buffer.from(await speech.arrayBuffer());
  const heard = (await (await transcribe(upstream, wav, 'relayed.wav')).json()) as { text: string };
  assert.equal(heard.text, 'turn off the light');
});

test('the official openai SDK works against speechbridge unchanged', async () => {
  const client = new OpenAI({ baseURL: `${upstream.url}/v1`, apiKey: 'unused' });
  const { bytes } = await speakPhrase('turn on the light', 'webm');
  const transcription = await client.audio.transcriptions.create({ file: await toFile(bytes, 'speech.webm'), model: 'whisper-1' });
  assert.equal(transcription.text, 'turn on the light');
  const speech = await client.audio.speech.create({ model: 'tts-1', voice: 'coral', input: 'turn off the radio', response_format: 'wav' });
  const audio = readWav(Buffer.from(await speech.arrayBuffer()));
  assert.equal(audio.sampleRate, 24000);
  assert.ok(durationMs(audio) > 500 && rmsDbfs(audio.samples) > -40);
});

test('whisper (a zero-weight model generated for the test) serves the endpoint: a result of the right shape', async () => {
  const whisper = await startTestServer({ transcriber: await createWhisperTranscriber({ modelPath: await zeroWhisperModel('tiny.en'), timeoutMs: 120_000 }) });
  try {
    const response = await transcribe(whisper, await readFile(sharedAudioPath('en_one_two_three.wav')), 'clip.wav', { response_format: 'verbose_json' });
    assert.equal(response.status, 200);
    const body = (await response.json()) as { text: unknown; language: unknown; duration: number };
    // The weights are all zero: the words are meaningless, only the shape is checked.
    assert.equal(typeof body.text, 'string');
    assert.equal(body.language, 'english');
    assert.ok(Math.abs(body.duration - 2.745) < 0.05);
  } finally {
    await whisper.close();
  }
});

test('the default start-up falls back to pocketsphinx when the whisper model cannot be had', async () => {
  const cacheDir = await mkdtemp(path.join(os.tmpdir(), 'speechbridge-empty-cache-'));
  // A base URL on a closed local port: the download fails at once, as it does offline.
  const config = loadConfig({ MODEL_CACHE_DIR: cacheDir, WHISPER_MODEL_BASE_URL: 'http://127.0.0.1:9/models', LOG_LEVEL: 'silent' });
  const lines: string[] = [];
  const { pino } = await import('pino');
  const logger = pino({ level: 'warn' }, { write: (line: string) => lines.push(line) });
  const providers = await createProviders(config, logger);
  try {
    assert.equal(providers.summary.transcriber.engine, 'pocketsphinx');
    assert.match(providers.summary.transcriber.note ?? '', /whisper base\.en unavailable/);
    // GET / (and the demo page) say why, without the server's cache path or the download URL.
    assert.deepEqual(providers.summary.transcriber.fallback, {
      from: 'whisper base.en',
      reason: 'the model base.en is not in the model cache and could not be downloaded',
    });
    assert.ok(!JSON.stringify(providers.summary).includes(cacheDir), 'no server path in the summary');
    assert.ok(
      lines.some((line) => /falling back to pocketsphinx/.test(line)),
      'the fallback is logged',
    );
    await writeFile(path.join(cacheDir, 'note.txt'), 'no model here');
  } finally {
    await providers.close();
  }
  // Asked for explicitly, an unavailable whisper model is an error that says what to do.
  const explicit = loadConfig({ ASR_ENGINE: 'whisper', MODEL_CACHE_DIR: cacheDir, WHISPER_MODEL_BASE_URL: 'http://127.0.0.1:9/models' });
  await assert.rejects(createProviders(explicit, logger), /ggml-base\.en\.bin|WHISPER_MODEL/);
});

test('the SDK streams a transcript (stream: true) and parses speech sent as SSE in the default mp3', async () => {
  const client = new OpenAI({ baseURL: `${upstream.url}/v1`, apiKey: 'unused' });
  const { bytes } = await speakPhrase('turn off the light');
  const stream = await client.audio.transcriptions.create({ file: await toFile(bytes, 'speech.wav'), model: 'gpt-4o-transcribe', stream: true });
  const events: Array<{ type: string; delta?: string; text?: string }> = [];
  for await (const event of stream) events.push(event);
  assert.equal(events.at(-1)?.type, 'transcript.text.done', JSON.stringify(events));
  assert.equal(events.at(-1)?.text, 'turn off the light');
  assert.equal(
    events
      .filter((event) => event.type === 'transcript.text.delta')
      .map((event) => event.delta)
      .join(''),
    'turn off the light',
  );

  // No response_format: OpenAI's default, mp3, base64 in each speech.audio.delta.
  const speech = await client.audio.speech.create({ model: 'gpt-4o-mini-tts', voice: 'en', input: 'turn off the radio', stream_format: 'sse' });
  assert.equal(speech.status, 200);
  const deltas = (await speech.text())
    .split('\n\n')
    .filter(Boolean)
    .map((block) => JSON.parse(block.replace(/^data: /, '')) as { type: string; audio?: string });
  assert.equal(deltas.at(-1)?.type, 'speech.audio.done');
  const mp3 = Buffer.concat(deltas.filter((event) => event.audio).map((event) => Buffer.from(event.audio!, 'base64')));
  const heard = (await (await transcribe(upstream, mp3, 'speech.mp3')).json()) as { text: string };
  assert.equal(heard.text, 'turn off the radio');
});
