/**
 * The Gradium transcriber against the local Gradium server (test/helpers/gradium-upstream.ts)
 * over real sockets, on a real recording: the protocol it speaks (setup, leading silence,
 * 80 ms base64 frames, flush → flushed, end_of_stream), text while the audio still streams,
 * the long-turn socket switch before Gradium's 300 s limit, and every failure Gradium can
 * give — each naming the upstream, each bounded in time, none leaving a socket open.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { decodeBase64Audio } from '../../../src/audio/base64.ts';
import { rmsDbfs, type PcmAudio } from '../../../src/audio/pcm.ts';
import { resample } from '../../../src/audio/resample.ts';
import { readWav } from '../../../src/audio/wav.ts';
import { SpeechbridgeError } from '../../../src/errors/registry.ts';
import type { TranscriptStreamEvent } from '../../../src/providers/contracts.ts';
import { GradiumTranscriber, type GradiumTranscriberOptions } from '../../../src/providers/gradium/gradium-transcriber.ts';
import { GRADIUM_TEST_KEY, startGradiumUpstream, type GradiumUpstream } from '../../helpers/gradium-upstream.ts';
import { sharedAudioPath } from '../../helpers/shared.ts';

const BIRCH_CANOE = 'The birch canoe slid on the smooth planks';
let upstream: GradiumUpstream;
let birch: PcmAudio;

before(async () => {
  upstream = await startGradiumUpstream({ transcript: BIRCH_CANOE, msPerWord: 300 });
  birch = await resample(readWav(await readFile(sharedAudioPath('en_harvard_birch_canoe.wav'))), 24000);
});

after(async () => {
  await upstream.close();
});

function transcriber(options: Partial<GradiumTranscriberOptions> = {}): GradiumTranscriber {
  return new GradiumTranscriber({ apiKey: GRADIUM_TEST_KEY, baseURL: upstream.baseUrl, timeoutMs: 5000, ...options });
}

/** Resets the server's behaviour and returns the connections that come from here on. */
function fresh(options: Parameters<GradiumUpstream['configure']>[0] = {}): () => GradiumUpstream['connections'] {
  upstream.configure({
    faults: {},
    readyDelayMs: 75,
    sessionLimitMs: 300_000,
    apiKeys: [GRADIUM_TEST_KEY],
    transcript: BIRCH_CANOE,
    msPerWord: 300,
    ...options,
  });
  const from = upstream.connections.length;
  return () => upstream.connections.slice(from);
}

/** 80 ms chunks of `audio`, each after the previous one's duration: a live microphone. */
async function* live(audio: PcmAudio, chunkMs = 80, onChunk?: (index: number) => void): AsyncIterable<PcmAudio> {
  const size = Math.round((audio.sampleRate * chunkMs) / 1000);
  const started = performance.now();
  for (let index = 0, offset = 0; offset < audio.samples.length; index++, offset += size) {
    const wait = started + index * chunkMs - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    onChunk?.(index);
    yield { samples: audio.samples.subarray(offset, offset + size), sampleRate: audio.sampleRate };
  }
}

async function collect(events: AsyncIterable<TranscriptStreamEvent>): Promise<TranscriptStreamEvent[]> {
  const out: TranscriptStreamEvent[] = [];
  for await (const event of events) out.push(event);
  return out;
}

async function failure(run: Promise<unknown>): Promise<SpeechbridgeError> {
  const error = await run.then(
    () => assert.fail('expected a failure'),
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof SpeechbridgeError, `a SpeechbridgeError, got ${String(error)}`);
  return error;
}

function tone(ms: number, sampleRate = 24000): PcmAudio {
  const samples = new Int16Array(Math.round((sampleRate * ms) / 1000));
  for (let i = 0; i < samples.length; i++) samples[i] = Math.round(8000 * Math.sin((2 * Math.PI * 300 * i) / sampleRate));
  return { samples, sampleRate };
}

/** The recording from its first loud sample on: speech from the very first frame. */
function fromSpeechOnset(audio: PcmAudio): PcmAudio {
  const frame = audio.sampleRate / 100;
  let start = 0;
  while (start < audio.samples.length && rmsDbfs(audio.samples.subarray(start, start + frame)) < -45) start += frame;
  return { samples: audio.samples.slice(start), sampleRate: audio.sampleRate };
}

test('a whole turn: setup, 320 ms of leading silence, 80 ms base64 frames, flush → flushed, end_of_stream; the scripted words come back', async () => {
  const connections = fresh();
  const stt = transcriber();
  assert.equal(stt.capabilities.streaming, true);
  assert.equal(stt.capabilities.sampleRate, 24000);
  const result = await stt.transcribe(birch, { language: 'en' });
  assert.equal(result.text, BIRCH_CANOE);
  assert.equal(result.language, 'en');
  assert.equal(Math.round(result.durationMs), 3261);
  assert.equal(result.segments.length, 8);
  assert.ok(
    result.segments.every((segment, index) => segment.endMs > segment.startMs && (index === 0 || segment.startMs >= result.segments[index - 1].startMs)),
  );
  await upstream.settled();

  const [connection] = connections();
  assert.equal(connections().length, 1);
  assert.equal(connection.path, '/api/speech/asr');
  assert.equal(connection.apiKey, GRADIUM_TEST_KEY);
  const types = connection.received.map((message) => message.type);
  assert.equal(types[0], 'setup');
  assert.deepEqual(connection.received[0], { type: 'setup', model_name: 'default', input_format: 'pcm', json_config: { language: 'en' } });
  assert.deepEqual(types.slice(-2), ['flush', 'end_of_stream']);
  assert.ok(types.slice(1, -2).every((type) => type === 'audio'));
  assert.equal(typeof connection.received.at(-2)!.flush_id, 'number');
  // Every frame is 80 ms at 24 kHz; the first four are silence, then the recording, padded to a whole frame.
  assert.ok(connection.audio.every((frame) => frame.length === 1920));
  assert.ok(connection.audio.slice(0, 4).every((frame) => frame.every((sample) => sample === 0)));
  assert.equal(connection.audio.length, 4 + Math.ceil(birch.samples.length / 1920));
  assert.deepEqual(connection.audio[4], birch.samples.slice(0, 1920));
  // Each audio message is canonical base64 of PCM16.
  const firstAudio = connection.received.find((message) => message.type === 'audio')!;
  assert.equal(decodeBase64Audio(firstAudio.audio, 'pcm16').length, 1920);
  assert.deepEqual(connection.closed, { code: 1000, by: 'client' });
});

test('live: append-only deltas while the user still speaks, then one completed with their concatenation', async () => {
  fresh();
  let chunksFed = 0;
  const arrivals: number[] = [];
  const events: TranscriptStreamEvent[] = [];
  for await (const event of transcriber().transcribeStream(live(birch, 80, (index) => (chunksFed = index + 1)))) {
    events.push(event);
    arrivals.push(chunksFed);
  }
  const deltas = events.filter((event) => event.type === 'delta');
  const completed = events.filter((event) => event.type === 'completed');
  assert.equal(completed.length, 1);
  assert.equal(events.at(-1)?.type, 'completed');
  assert.equal(deltas.map((event) => event.text).join(''), BIRCH_CANOE);
  assert.deepEqual(
    deltas.map((event) => event.text),
    BIRCH_CANOE.split(' ').map((word, index) => (index === 0 ? word : ` ${word}`)),
  );
  const totalChunks = Math.ceil(birch.samples.length / 1920);
  const whileSpeaking = arrivals.filter((fed, index) => events[index].type === 'delta' && fed < totalChunks).length;
  assert.ok(whileSpeaking >= 3, `partial text arrived while the audio was still streaming (${whileSpeaking} deltas before its end)`);
  assert.equal(completed[0].type === 'completed' && completed[0].transcription.text, BIRCH_CANOE);
  await upstream.settled();
});

test('why the leading silence: speech from the first frame loses its first word without it', async () => {
  const speechFirst = fromSpeechOnset(birch);
  fresh();
  const without = await transcriber({ leadingSilenceMs: 0 }).transcribe(speechFirst);
  assert.equal(without.text, BIRCH_CANOE.split(' ').slice(1).join(' '));
  const withSilence = await transcriber().transcribe(speechFirst);
  assert.equal(withSilence.text, BIRCH_CANOE);
  await upstream.settled();
});

test('G.711 μ-law at 8 kHz (GRADIUM_STT_INPUT_FORMAT=ulaw_8000) and PCM at 16 kHz', async () => {
  for (const [inputFormat, rate] of [
    ['ulaw_8000', 8000],
    ['pcm_16000', 16000],
  ] as const) {
    const connections = fresh();
    const stt = transcriber({ inputFormat });
    assert.equal(stt.capabilities.sampleRate, rate);
    const result = await stt.transcribe(await resample(birch, rate));
    assert.equal(result.text, BIRCH_CANOE, inputFormat);
    assert.equal(connections()[0].received[0].input_format, inputFormat);
    assert.ok(connections()[0].audio.every((frame) => frame.length === (rate * 80) / 1000));
  }
  await assert.rejects(transcriber().transcribe(await resample(birch, 16000)), /takes 24000 Hz audio \(GRADIUM_STT_INPUT_FORMAT=pcm\), got 16000 Hz/);
  await upstream.settled();
});

test('a turn longer than the session limit moves to a fresh socket before it, and the text stays in spoken order', async () => {
  const words = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot'];
  const connections = fresh({ sessionLimitMs: 1500, transcript: (index) => words[index % words.length] });
  const result = await collect(transcriber({ rotateAfterMs: 1000 }).transcribeStream(live(tone(2600), 160)));
  const used = connections();
  assert.ok(used.length >= 3, `${used.length} sockets for 2.6 s with a switch every second`);
  const completed = result.at(-1);
  assert.equal(completed?.type, 'completed');
  const expected = words.slice(0, used.length).join(' ');
  assert.equal(completed.type === 'completed' && completed.transcription.text, expected);
  assert.equal(
    result
      .filter((event) => event.type === 'delta')
      .map((event) => (event as { text: string }).text)
      .join(''),
    expected,
  );
  await upstream.settled();
  for (const connection of used) {
    assert.deepEqual(connection.closed, { code: 1000, by: 'client' }, 'each socket was ended by the client, none by the limit');
    assert.deepEqual(
      connection.received.slice(-2).map((message) => message.type),
      ['flush', 'end_of_stream'],
    );
  }
  // Every socket starts with its own leading silence; together they carry the whole turn.
  const turnFrames = used.reduce((sum, connection) => sum + connection.audio.length - 4, 0);
  assert.equal(turnFrames, Math.ceil(tone(2600).samples.length / 1920));
});

test("without the switch, Gradium's session limit ends the turn with a failure naming it", async () => {
  fresh({ sessionLimitMs: 600 });
  const error = await failure(collect(transcriber({ rotateAfterMs: 60_000 }).transcribeStream(live(tone(1500)))));
  assert.equal(error.code, 'upstream_error');
  assert.match(
    error.message,
    /^Gradium speech-to-text \(ws:\/\/127\.0\.0\.1:\d+\/api\/speech\/asr\) reported an error: "Session exceeded the maximum duration of 300 seconds" \(error 1008, policy violation\)$/,
  );
  await upstream.settled();
});

test('a wrong key: Gradium accepts the upgrade, then an error and close 1008; the failure names Gradium and GRADIUM_API_KEY, never the key', async () => {
  const connections = fresh();
  const key = 'gd-wrong-key-987654321';
  const error = await failure(transcriber({ apiKey: key }).transcribe(birch));
  assert.equal(error.code, 'upstream_error');
  assert.match(
    error.message,
    /^Gradium speech-to-text \(ws:\/\/127\.0\.0\.1:\d+\/api\/speech\/asr\) refused the API key: "API key is revoked or expired" \(error 1008, policy violation\); check GRADIUM_API_KEY$/,
  );
  assert.ok(!error.message.includes(key));
  assert.deepEqual(connections()[0].closed, { code: 1008, by: 'server' });
  assert.equal(connections()[0].apiKey, key);
});

test('an unknown model and a dead host say what to check', async () => {
  fresh();
  const model = await failure(transcriber({ model: 'no-such-model' }).transcribe(birch));
  assert.match(model.message, /has no model "no-such-model": "Unknown model_name: no-such-model" \(error 1008, policy violation\); check GRADIUM_STT_MODEL$/);
  // OpenAI's model names (what realtime clients send by default) mean the configured model.
  const connections = fresh();
  assert.equal((await transcriber().transcribe(birch, { model: 'gpt-4o-transcribe' })).text, BIRCH_CANOE);
  assert.equal(connections()[0].received[0].model_name, 'default');

  const dead = await failure(
    new GradiumTranscriber({ apiKey: GRADIUM_TEST_KEY, baseURL: `ws://127.0.0.1:${await closedPort()}/api`, timeoutMs: 5000 }).transcribe(birch),
  );
  assert.equal(dead.code, 'upstream_unreachable');
  assert.match(
    dead.message,
    /^could not reach Gradium speech-to-text \(ws:\/\/127\.0\.0\.1:\d+\/api\/speech\/asr\): ECONNREFUSED; check GRADIUM_BASE_URL and the network$/,
  );
  const wrongPath = await failure(new GradiumTranscriber({ apiKey: GRADIUM_TEST_KEY, baseURL: `${upstream.baseUrl}/v2`, timeoutMs: 5000 }).transcribe(birch));
  assert.match(wrongPath.message, /answered HTTP 404: no such endpoint; check GRADIUM_BASE_URL$/);
  await upstream.settled();
});

test('close 1011 in the middle of a turn fails that turn naming Gradium; the next turn works', async () => {
  fresh({ faults: { closeAfterAudioMessages: 12 } });
  const stt = transcriber();
  const error = await failure(collect(stt.transcribeStream(live(birch))));
  assert.equal(error.code, 'upstream_error');
  assert.match(
    error.message,
    /^Gradium speech-to-text \(ws:\/\/127\.0\.0\.1:\d+\/api\/speech\/asr\) failed: "Internal server error" \(error 1011, internal server error\)$/,
  );
  fresh();
  assert.equal((await stt.transcribe(birch)).text, BIRCH_CANOE);
  await upstream.settled();
});

test('a server that never answers flush: upstream_timeout within REQUEST_TIMEOUT, the socket closed', async () => {
  const connections = fresh({ faults: { neverFlush: true } });
  const started = performance.now();
  const error = await failure(transcriber({ timeoutMs: 600 }).transcribe(birch));
  const elapsed = performance.now() - started;
  assert.equal(error.code, 'upstream_timeout');
  assert.match(error.message, /^Gradium speech-to-text \(.*\) sent no flushed for flush_id \d+ \(the end of the turn\) within 600 ms \(REQUEST_TIMEOUT\)$/);
  assert.ok(elapsed < 600 + 3000, `it gave up after the deadline (${Math.round(elapsed)} ms)`);
  await upstream.settled();
  assert.equal(connections()[0].closed?.by, 'client');
});

test('a slow ready: upstream_timeout naming ready; the audio held meanwhile is bounded', async () => {
  fresh({ readyDelayMs: 3000 });
  const error = await failure(transcriber({ timeoutMs: 400, maxPendingMs: 500 }).transcribe(birch));
  assert.equal(error.code, 'upstream_timeout');
  assert.match(error.message, /sent no ready after setup within 400 ms \(REQUEST_TIMEOUT\)$/);
  await upstream.settled();

  // Within the deadline, a slow ready only delays: the held audio goes out once it comes.
  const connections = fresh({ readyDelayMs: 700 });
  assert.equal((await transcriber({ maxPendingMs: 500 }).transcribe(birch)).text, BIRCH_CANOE);
  assert.equal(connections()[0].audio.length, 4 + Math.ceil(birch.samples.length / 1920));
  await upstream.settled();
});

test('garbage frames end the turn with upstream_bad_response naming Gradium', async () => {
  for (const [garbage, problem] of [
    ['not-json', /sent a frame that is not JSON: "<html>502 Bad Gateway<\/html>"$/],
    ['binary', /sent a binary frame \(the protocol sends JSON text\)$/],
    ['text-without-text', /sent a "text" message with text: .*$/],
  ] as const) {
    fresh({ faults: { garbageAfterReady: garbage } });
    const error = await failure(transcriber().transcribe(birch));
    assert.equal(error.code, 'upstream_bad_response', garbage);
    assert.match(error.message, /^Gradium speech-to-text \(ws:\/\/127\.0\.0\.1:\d+\/api\/speech\/asr\) /);
    assert.match(error.message, problem);
  }
  await upstream.settled();
});

test('an abort stops the turn at once with an AbortError and closes the socket; the reader leaving early does too', async () => {
  const connections = fresh();
  const controller = new AbortController();
  const run = collect(transcriber().transcribeStream(live(birch), { signal: controller.signal }));
  setTimeout(() => controller.abort(), 500);
  await assert.rejects(run, { name: 'AbortError' });
  await upstream.settled();
  assert.equal(connections()[0].closed?.by, 'client');

  fresh();
  for await (const event of transcriber().transcribeStream(live(birch))) {
    if (event.type === 'delta') break;
  }
  await upstream.settled();
});

test('no audio: completed with no text and no socket; previews (bestEffort) are refused at once', async () => {
  const connections = fresh();
  const events = await collect(transcriber().transcribeStream((async function* () {})()));
  assert.deepEqual(events, [{ type: 'completed', transcription: { text: '', durationMs: 0, segments: [] } }]);
  const busy = await failure(transcriber().transcribe(birch, { bestEffort: true }));
  assert.equal(busy.code, 'engine_busy');
  assert.equal(connections().length, 0);
});

test('probe: connect, setup, ready, end; a wrong key fails it', async () => {
  const connections = fresh();
  const probe = await transcriber().probe();
  assert.match(probe.requestId ?? '', /^[0-9a-f-]{36}$/);
  assert.equal(probe.sampleRate, 24000);
  await upstream.settled();
  assert.deepEqual(
    connections()[0].received.map((message) => message.type),
    ['setup', 'end_of_stream'],
  );
  await assert.rejects(transcriber({ apiKey: 'gd-nope-nope' }).probe(), /refused the API key/);
});

async function closedPort(): Promise<number> {
  const { createServer } = await import('node:net');
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
