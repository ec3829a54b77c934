/**
 * /v1/transcriptions on real engines: the real server on port 0, WebRTC VAD, pocketsphinx with
 * a JSGF command grammar, speech spoken now by espeak-ng, raw PCM16 and a WebM/Opus stream made
 * by ffmpeg the way a browser's MediaRecorder streams it.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { resample } from '../../../src/audio/resample.ts';
import { writeWav } from '../../../src/audio/wav.ts';
import type { RunningServer } from '../../../src/server/app.ts';
import { createPocketsphinxTranscriber } from '../../../src/providers/local/pocketsphinx-transcriber.ts';
import { startTestServer } from '../../helpers/server.ts';
import { COMMAND_GRAMMAR, requireTool } from '../../helpers/spoken.ts';
import {
  childProcessNames,
  chunksOf,
  concatPcm,
  mediaRecorderWebm,
  pcmBytes,
  recorderStream,
  silence,
  slowlySpokenPcm,
  spokenPcm,
  streamChunks,
  TranscriptionClient,
  trimSilence,
} from './transcriptions-harness.ts';

const TOKEN = 'transcriptions-test-token';
/** 100 ms of 16 kHz PCM16 per message. */
const PCM_CHUNK_BYTES = 3200;
/** The phrases are spoken at 16 kHz; raw PCM at that rate is named in `start` (the default is 24 kHz). */
const AT_16K = { sample_rate: 16000 };

let server: RunningServer;
let url: string;
const phrases = new Map<string, Int16Array>();

before(async () => {
  await requireTool('pocketsphinx_continuous', 'apt-get install pocketsphinx pocketsphinx-en-us');
  const transcriber = await createPocketsphinxTranscriber({ grammar: COMMAND_GRAMMAR, timeoutMs: 30_000 });
  server = await startTestServer({ transcriber }, { API_TOKENS: TOKEN });
  url = `${server.url.replace(/^http/, 'ws')}/v1/transcriptions?token=${TOKEN}`;
  for (const phrase of ['turn on the light', 'turn off the radio', 'turn on the heater']) phrases.set(phrase, (await spokenPcm(phrase)).samples);
});

after(async () => {
  await server?.close();
});

function phrase(text: string): Int16Array {
  const samples = phrases.get(text);
  assert.ok(samples, `phrase ${text} was not spoken in before()`);
  return samples;
}

async function noFfmpegLeft(): Promise<void> {
  for (let attempt = 0; attempt < 50; attempt++) {
    if (!(await childProcessNames()).includes('ffmpeg')) return;
    await sleep(100);
  }
  assert.fail(`ffmpeg is still running: ${(await childProcessNames()).join(', ')}`);
}

test('raw PCM16 at the default 24 kHz (no sample_rate): two phrases separated by silence give session_id first, then two finals equal to the phrases, in order', async () => {
  const client = await TranscriptionClient.connect(url);
  client.send({ action: 'start', language: 'en' });
  const at16k = concatPcm([silence(300), phrase('turn on the light'), silence(1200), phrase('turn off the radio'), silence(1200)]);
  const at24k = (await resample({ samples: at16k, sampleRate: 16000 }, 24000)).samples;
  // 100 ms per message, five times faster than real time: the VAD works on the samples, not on the clock.
  await client.next((message) => 'session_id' in message);
  await streamChunks(client, chunksOf(pcmBytes(at24k), 4800), 20);
  const last = await client.next((message) => 'final' in message && message.final === 'turn off the radio');
  assert.match(client.messages[0].session_id, /^sess_[A-Za-z0-9_-]{10,}$/);
  assert.deepEqual(client.finals(), ['turn on the light', 'turn off the radio']);
  // Read at 16 kHz, the same bytes would last 1.5 times longer.
  const spokenMs = (phrase('turn off the radio').length * 1000) / 16000;
  assert.ok(
    Math.abs(last.duration_ms - spokenMs) < 600,
    `the utterance lasts as long as the phrase at 24 kHz (${last.duration_ms} ms, phrase ${Math.round(spokenMs)} ms)`,
  );
  assert.equal(client.messages.filter((message) => 'error' in message).length, 0, JSON.stringify(client.messages));
  const closed = await client.close();
  assert.equal(closed.code, 1000);
});

test('raw PCM16 split at odd byte offsets and at 48 kHz (sample_rate) is still transcribed', async () => {
  const client = await TranscriptionClient.started(url, { sample_rate: 48000 });
  const at16k = concatPcm([silence(300), phrase('turn on the heater'), silence(1000)]);
  // Each 16 kHz sample three times: a 48 kHz stream of the same speech.
  const at48k = new Int16Array(at16k.length * 3);
  for (let i = 0; i < at48k.length; i++) at48k[i] = at16k[Math.floor(i / 3)];
  await streamChunks(client, chunksOf(pcmBytes(at48k), 4801), 10);
  const final = await client.next((message) => 'final' in message);
  assert.equal(final.final, 'turn on the heater');
  await client.close();
});

test('WebM/Opus chunks as a MediaRecorder sends them (4 KB pieces) give the phrase as final; stop flushes and closes 1000', async () => {
  const webm = await mediaRecorderWebm(concatPcm([silence(300), phrase('turn off the radio'), silence(200)]));
  assert.deepEqual([...webm.subarray(0, 4)], [0x1a, 0x45, 0xdf, 0xa3], 'ffmpeg wrote a WebM (EBML) stream');
  const client = await TranscriptionClient.started(url);
  const chunks = chunksOf(webm, 4096);
  assert.ok(chunks.length >= 2, `the stream is cut into several chunks (${webm.byteLength} bytes)`);
  await streamChunks(client, chunks, 50);
  // The speech ends 200 ms before the stream does, under the 450 ms that ends a VAD turn: stop commits it.
  client.send({ action: 'stop' });
  const closed = await client.closed;
  assert.deepEqual(client.finals(), ['turn off the radio'], JSON.stringify(client.messages));
  assert.equal(closed.code, 1000);
  assert.ok(client.messages.findIndex((message) => 'final' in message) > 0, 'the final came after session_id');
  await noFfmpegLeft();
});

for (const container of ['ogg', 'mp4'] as const) {
  const label = container === 'mp4' ? "Safari's fragmented MP4/AAC stream" : 'an Ogg/Opus stream';
  test(`${label} in 3 KB chunks is detected and transcribed`, async () => {
    const stream = await recorderStream(concatPcm([silence(300), phrase('turn on the heater'), silence(1000)]), container);
    const client = await TranscriptionClient.started(url);
    await streamChunks(client, chunksOf(stream, 3000), 20);
    const final = await client.next((message) => 'final' in message);
    assert.equal(final.final, 'turn on the heater');
    await client.close();
  });
}

test('a whole WAV file per message (a recorder blob each time): every file is transcribed, in order, and no ffmpeg is left', async () => {
  const client = await TranscriptionClient.started(url);
  const files = ['turn on the light', 'turn off the radio', 'turn on the heater'].map((text) =>
    writeWav({ samples: concatPcm([silence(300), phrase(text), silence(1000)]), sampleRate: 16000 }),
  );
  for (const file of files) client.sendBinary(file);
  client.send({ action: 'stop' });
  const closed = await client.closed;
  assert.equal(closed.code, 1000);
  assert.deepEqual(client.finals(), ['turn on the light', 'turn off the radio', 'turn on the heater'], JSON.stringify(client.messages));
  assert.equal(client.messages.filter((message) => 'error' in message).length, 0, JSON.stringify(client.messages));
  await noFfmpegLeft();
});

test('stop during speech commits it: the final arrives before the normal close', async () => {
  const client = await TranscriptionClient.started(url, AT_16K);
  await streamChunks(client, chunksOf(pcmBytes(concatPcm([silence(300), phrase('turn on the light')])), PCM_CHUNK_BYTES), 5);
  client.send({ action: 'end' });
  const closed = await client.closed;
  assert.equal(closed.code, 1000);
  assert.deepEqual(client.finals(), ['turn on the light']);
});

test('partials arrive while a longer utterance goes on, before its final', async () => {
  const client = await TranscriptionClient.started(url, { ...AT_16K, vad: { max_ms: 20_000 } });
  // One utterance of about 5 s (several interim passes, 700 ms of audio apart): a command spoken slowly, three times, with no pause between.
  const slow = trimSilence((await slowlySpokenPcm('turn on the heater', 80)).samples);
  const utterance = concatPcm([silence(300), slow, slow, slow, silence(1200)]);
  // Real time, as a microphone sends it.
  await streamChunks(client, chunksOf(pcmBytes(utterance), PCM_CHUNK_BYTES), 100);
  const final = await client.next((message) => 'final' in message);
  const partials = client.messages.slice(0, client.messages.indexOf(final)).filter((message) => 'partial' in message);
  assert.ok(partials.length > 0, `no partial before the final: ${JSON.stringify(client.messages)}`);
  for (const partial of partials) assert.match(partial.partial, /^(turn (on|off) the (light|radio|heater) ?)+$/);
  // stop closes the socket only after every utterance has its final: all of them are in.
  client.send({ action: 'stop' });
  assert.equal((await client.closed).code, 1000);
  assert.equal(client.finals().length, 1, `the utterance was one turn: ${JSON.stringify(client.messages)}`);
  assert.equal(client.messages.filter((message) => 'error' in message).length, 0, JSON.stringify(client.messages));
});

test('a client that disconnects mid-stream leaves no ffmpeg behind', async () => {
  const webm = await mediaRecorderWebm(concatPcm([silence(300), phrase('turn on the heater'), phrase('turn on the light')]));
  const client = await TranscriptionClient.started(url);
  const chunks = chunksOf(webm, 1024);
  await streamChunks(client, chunks.slice(0, Math.ceil(chunks.length / 2)), 10);
  let running = false;
  for (let attempt = 0; attempt < 50 && !running; attempt++) {
    running = (await childProcessNames()).includes('ffmpeg');
    if (!running) await sleep(50);
  }
  assert.ok(running, 'ffmpeg decodes the stream while it is sent');
  client.socket.terminate();
  await client.closed;
  await noFfmpegLeft();
  // The server still serves new sessions.
  const next = await TranscriptionClient.started(url);
  assert.match(next.messages[0].session_id, /^sess_/);
  await next.close();
});
