/**
 * The openai-realtime recognizer against a local OpenAI Realtime transcription server written
 * from the GA protocol (test/helpers/openai-realtime-upstream.ts), over real sockets: what goes
 * up (session.update, appends, commits), what comes back to the caller (deltas, one completed,
 * errors naming the upstream and the setting to fix), one upstream connection per client
 * session, the previous_item_id order, the upstream's own VAD and the commit it must not
 * double, and injected faults.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { muLawDecode, muLawEncode } from '../../src/audio/g711.ts';
import { type PcmAudio } from '../../src/audio/pcm.ts';
import { resample } from '../../src/audio/resample.ts';
import { readWav } from '../../src/audio/wav.ts';
import { SpeechbridgeError } from '../../src/errors/registry.ts';
import type { StreamFrame, TranscriberSession, TranscriptStreamEvent } from '../../src/providers/contracts.ts';
import { OpenAIRealtimeTranscriber, type OpenAIRealtimeTranscriberOptions } from '../../src/providers/openai/openai-realtime-transcriber.ts';
import { startRealtimeUpstream, type RealtimeUpstream } from '../helpers/openai-realtime-upstream.ts';
import { sharedAudioPath } from '../helpers/shared.ts';

const KEY = 'sk-test-realtime-key-0123456789';
const RATE = 24000;

let speech: PcmAudio;

before(async () => {
  speech = await resample(readWav(await readFile(sharedAudioPath('en_harvard_birch_canoe.wav'))), RATE);
});

const upstreams: RealtimeUpstream[] = [];
const transcribers: OpenAIRealtimeTranscriber[] = [];

after(async () => {
  await Promise.all(transcribers.map((transcriber) => transcriber.close()));
  await Promise.all(upstreams.map((upstream) => upstream.close()));
});

async function upstreamWith(options: Parameters<typeof startRealtimeUpstream>[0] = {}): Promise<RealtimeUpstream> {
  const upstream = await startRealtimeUpstream({ apiKey: KEY, ...options });
  upstreams.push(upstream);
  return upstream;
}

function transcriberFor(upstream: RealtimeUpstream, options: Partial<OpenAIRealtimeTranscriberOptions> = {}): OpenAIRealtimeTranscriber {
  const transcriber = new OpenAIRealtimeTranscriber({ url: upstream.url, apiKey: KEY, timeoutMs: 5000, ...options });
  transcribers.push(transcriber);
  return transcriber;
}

/** A 300 Hz tone: loud enough for the server VAD, exact in length. */
function tone(ms: number, rate = RATE): Int16Array {
  const samples = new Int16Array(Math.round((rate * ms) / 1000));
  for (let i = 0; i < samples.length; i++) samples[i] = Math.round(8000 * Math.sin((2 * Math.PI * 300 * i) / rate));
  return samples;
}

function silence(ms: number, rate = RATE): Int16Array {
  return new Int16Array(Math.round((rate * ms) / 1000));
}

function concat(...parts: Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** The samples as 20 ms frames, with `pauseMs` of real time between frames (0: as fast as they are taken). */
async function* frames(samples: Int16Array, pauseMs = 0, rate = RATE): AsyncIterable<PcmAudio> {
  const step = (rate * 20) / 1000;
  for (let offset = 0; offset < samples.length; offset += step) {
    yield { samples: samples.subarray(offset, offset + step), sampleRate: rate };
    if (pauseMs > 0) await sleep(pauseMs);
  }
}

interface Collected {
  events: TranscriptStreamEvent[];
  deltas: string;
  text: string;
  completedAt: number;
}

async function collect(stream: AsyncIterable<TranscriptStreamEvent>): Promise<Collected> {
  const events: TranscriptStreamEvent[] = [];
  for await (const event of stream) events.push(event);
  const completed = events.at(-1);
  assert.equal(completed?.type, 'completed', `the stream ends with one completed: ${JSON.stringify(events)}`);
  assert.equal(events.filter((event) => event.type === 'completed').length, 1);
  return {
    events,
    deltas: events.map((event) => (event.type === 'delta' ? event.text : '')).join(''),
    text: completed.type === 'completed' ? completed.transcription.text : '',
    completedAt: performance.now(),
  };
}

async function failureOf(run: Promise<unknown>): Promise<SpeechbridgeError> {
  const error = await run.then(
    () => assert.fail('expected a failure'),
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof SpeechbridgeError, `a SpeechbridgeError, got ${String(error)}`);
  return error;
}

function bytesOf(samples: Int16Array): number {
  return samples.byteLength;
}

test('a turn goes up as 24 kHz PCM16 appends and one commit, and comes back as deltas then one completed', async () => {
  const upstream = await upstreamWith({
    script: () => ({ transcript: 'The birch canoe slid on the smooth planks.', deltas: ['The birch', ' canoe slid', ' on the smooth planks.'] }),
  });
  const transcriber = transcriberFor(upstream);
  assert.deepEqual(transcriber.capabilities, {
    streaming: true,
    languageDetection: true,
    segments: false,
    sampleRate: 24000,
    languages: 'any',
    logprobs: true,
    inputEncodings: ['pcm16', 'g711_ulaw', 'g711_alaw'],
  });
  const result = await collect(transcriber.transcribeStream(frames(speech.samples), { language: 'en', prompt: 'boats' }));

  assert.deepEqual(
    result.events.filter((event) => event.type === 'delta').map((event) => (event as { text: string }).text),
    ['The birch', ' canoe slid', ' on the smooth planks.'],
  );
  assert.equal(result.text, 'The birch canoe slid on the smooth planks.');
  const completed = result.events.at(-1) as Extract<TranscriptStreamEvent, { type: 'completed' }>;
  assert.equal(completed.transcription.language, 'en');
  assert.ok(Math.abs(completed.transcription.durationMs - (speech.samples.length * 1000) / RATE) < 1);

  const [connection] = upstream.connections;
  const url = new URL(connection.url, 'ws://x');
  assert.equal(url.searchParams.get('intent'), 'transcription');
  assert.equal(url.searchParams.has('model'), false, 'no ?model=: it would open a conversation session');
  assert.equal(connection.authorization, `Bearer ${KEY}`);
  const update = upstream.received.find((event) => event.type === 'session.update');
  assert.deepEqual(update?.session, {
    type: 'transcription',
    audio: {
      input: {
        format: { type: 'audio/pcm', rate: 24000 },
        transcription: { model: 'gpt-4o-transcribe', language: 'en', prompt: 'boats' },
        turn_detection: null,
      },
    },
  });
  const appended = upstream.received.filter((event) => event.type === 'input_audio_buffer.append');
  assert.equal(
    appended.reduce((sum, event) => sum + event.bytes!, 0),
    bytesOf(speech.samples),
  );
  assert.equal(upstream.received.filter((event) => event.type === 'input_audio_buffer.commit').length, 1);
  assert.equal(upstream.items.length, 1);
  assert.deepEqual(upstream.items[0].audio, Buffer.from(speech.samples.buffer, speech.samples.byteOffset, speech.samples.byteLength));
  // The call had its own connection, closed at its end.
  assert.deepEqual(await connection.closed, { code: 1000, reason: 'done' });
});

test('frames at another rate are resampled to 24 kHz on the way up', async () => {
  const upstream = await upstreamWith();
  const transcriber = transcriberFor(upstream);
  const at16k = await resample(speech, 16000);
  const result = await collect(transcriber.transcribeStream(frames(at16k.samples, 0, 16000)));
  assert.equal(result.text, 'item 0');
  const bytes = upstream.items[0].audio.length;
  // 1.5 times the 16 kHz bytes, give or take the resampler's filter delay.
  assert.ok(Math.abs(bytes - 1.5 * bytesOf(at16k.samples)) < 200, `${bytes} bytes for ${bytesOf(at16k.samples)} at 16 kHz`);
});

test('the turns of one session share one upstream connection, and each gets its own text when completions come back out of order', async () => {
  const upstream = await upstreamWith({
    script: (item) =>
      [
        { transcript: 'first turn', delayMs: 600 },
        { transcript: 'second turn', delayMs: 0 },
      ][item.index] ?? { transcript: `item ${item.index}` },
  });
  const transcriber = transcriberFor(upstream);
  const session = transcriber.openSession();
  assert.equal(transcriber.openSessions, 1);
  const first = collect(session.transcribeStream!(frames(tone(400))));
  const second = collect(session.transcribeStream!(frames(tone(300))));
  const [one, two] = await Promise.all([first, second]);
  assert.equal(one.text, 'first turn');
  assert.equal(two.text, 'second turn');
  assert.ok(two.completedAt < one.completedAt, 'the second turn finished first: the upstream answered it first');
  assert.equal(upstream.connections.length, 1, 'one upstream connection for both turns');
  assert.equal(upstream.items[1].previousItemId, upstream.items[0].itemId);
  // Each item holds its own turn's audio only.
  assert.equal(upstream.items[0].audio.length, bytesOf(tone(400)));
  assert.equal(upstream.items[1].audio.length, bytesOf(tone(300)));

  const third = await collect(session.transcribeStream!(frames(tone(200))));
  assert.equal(third.text, 'item 2');
  assert.equal(upstream.connections.length, 1);
  await session.close();
  assert.equal(transcriber.openSessions, 0);
  assert.equal((await upstream.connections[0].closed).code, 1000);
  await assert.rejects(collect(session.transcribeStream!(frames(tone(200)))), /closed/);
});

test("with the upstream's VAD, a turn it cut in two is put together in previous_item_id order, and its deltas stay append-only though the second item finished first", async () => {
  const upstream = await upstreamWith({
    script: (item) =>
      item.by === 'server_vad'
        ? { transcript: 'alpha one', deltas: ['alpha', ' one'], delayMs: 500 }
        : { transcript: 'bravo two', deltas: ['bravo', ' two'], delayMs: 0 },
  });
  const transcriber = transcriberFor(upstream, { turnDetection: 'server_vad' });
  // Speech, 700 ms of silence (the server VAD ends speech after 500 ms), speech again.
  const result = await collect(transcriber.transcribeStream(frames(concat(tone(600), silence(700), tone(600), silence(200)))));

  assert.equal(result.text, 'alpha one bravo two');
  assert.equal(result.deltas, 'alpha one bravo two', 'the deltas add up to the text, in spoken order');
  assert.deepEqual(
    upstream.items.map((item) => item.by),
    ['server_vad', 'client'],
  );
  assert.equal(upstream.items[1].previousItemId, upstream.items[0].itemId);
  const completions = upstream.connections[0].sent
    .filter((event) => event.type === 'conversation.item.input_audio_transcription.completed')
    .map((event) => event.item_id);
  assert.deepEqual(completions, [upstream.items[1].itemId, upstream.items[0].itemId], 'the upstream completed the items out of order');
  assert.equal(upstream.received.find((event) => event.type === 'session.update')?.session.audio.input.turn_detection.type, 'server_vad');
});

test("no double commit: when the upstream's VAD has committed the speech and hears silence, the turn ends with a clear, not a commit", async () => {
  const upstream = await upstreamWith({ script: () => ({ transcript: 'just once' }) });
  const transcriber = transcriberFor(upstream, { turnDetection: 'server_vad' });
  // Paced frames, so the upstream's speech_stopped and committed arrive while the silence is still sent.
  const result = await collect(transcriber.transcribeStream(frames(concat(tone(600), silence(1200)), 4)));
  assert.equal(result.text, 'just once');
  // Everything the call sent has arrived once its connection is closed.
  await upstream.connections[0].closed;
  assert.equal(upstream.items.length, 1);
  assert.equal(upstream.items[0].by, 'server_vad');
  assert.equal(upstream.received.filter((event) => event.type === 'input_audio_buffer.commit').length, 0, 'no commit after the upstream committed');
  assert.deepEqual(
    upstream.received.filter((event) => event.type === 'input_audio_buffer.clear').map((event) => event.event_id),
    ['sb_t1_clear'],
  );
  assert.equal(upstream.connections[0].sent.filter((event) => event.type === 'error').length, 0);
});

test("a commit refused as empty right after the upstream's own VAD commit is not a failure: the turn keeps the upstream's item", async () => {
  const upstream = await upstreamWith({ script: () => ({ transcript: 'committed by the upstream' }) });
  const transcriber = transcriberFor(upstream, { turnDetection: 'server_vad' });
  // Sent at once: the upstream's VAD commits on the last frame, before its events can arrive.
  const result = await collect(transcriber.transcribeStream(frames(concat(tone(600), silence(500)))));
  assert.equal(result.text, 'committed by the upstream');
  const refusal = upstream.connections[0].sent.find((event) => event.type === 'error');
  assert.equal(refusal?.error.code, 'input_audio_buffer_commit_empty', 'the race happened: the upstream refused our commit');
  assert.equal(refusal?.error.event_id, 'sb_t1_commit');
});

test('a wrong key refused with HTTP 401 at the upgrade: the start-up check and a turn say to check the key, without quoting it', async () => {
  const upstream = await upstreamWith();
  const transcriber = transcriberFor(upstream, { apiKey: 'sk-wrong-key-abcdef123456' });
  for (const attempt of [transcriber.check(), transcriber.transcribe({ samples: tone(300), sampleRate: RATE })]) {
    const error = await failureOf(attempt);
    assert.equal(error.code, 'upstream_error');
    assert.match(error.message, /rejected the credentials/);
    assert.match(error.message, /HTTP 401/);
    assert.match(error.message, /check AUDIO_API_KEY or OPENAI_API_KEY/);
    assert.ok(error.message.includes(upstream.url), error.message);
    assert.ok(!error.message.includes('sk-wrong-key-abcdef123456'), `the key is scrubbed: ${error.message}`);
  }
});

test('a wrong key refused after the upgrade with an invalid_api_key error event fails the check the same way', async () => {
  const upstream = await upstreamWith({ authFailure: 'event' });
  const transcriber = transcriberFor(upstream, { apiKey: 'sk-another-wrong-key-999', settingNames: { apiKey: 'AUDIO_API_KEY' } });
  const error = await failureOf(transcriber.check());
  assert.match(error.message, /rejected the credentials for realtime transcription \(invalid_api_key\)/);
  assert.match(error.message, /check AUDIO_API_KEY$/);
});

test('an unknown transcription model fails the start-up check naming the model and its setting', async () => {
  const upstream = await upstreamWith();
  const transcriber = transcriberFor(upstream, { model: 'gpt-4o-transcribe-nonexistent' });
  const error = await failureOf(transcriber.check());
  assert.equal(error.code, 'upstream_error');
  assert.match(error.message, /does not offer the transcription model "gpt-4o-transcribe-nonexistent"/);
  assert.match(error.message, /check OPENAI_REALTIME_TRANSCRIBE_MODEL/);
  const refusal = upstream.connections[0].sent.find((event) => event.type === 'error');
  assert.equal(refusal?.error.code, 'invalid_model');
  // The model the upstream does offer passes.
  assert.deepEqual(await transcriberFor(upstream).check(), { upstream: upstream.url, model: 'gpt-4o-transcribe' });
});

test('an unreachable host and a path with no realtime endpoint say to check OPENAI_REALTIME_URL', async () => {
  const closedPort = await new Promise<number>((resolve) => {
    const probe = createServer();
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
  const unreachable = await failureOf(new OpenAIRealtimeTranscriber({ url: `ws://127.0.0.1:${closedPort}/v1/realtime`, timeoutMs: 5000 }).check());
  assert.equal(unreachable.code, 'upstream_unreachable');
  assert.match(unreachable.message, new RegExp(`could not reach ws://127.0.0.1:${closedPort}/v1/realtime .*ECONNREFUSED; check OPENAI_REALTIME_URL`));

  const upstream = await upstreamWith();
  const wrongPath = await failureOf(
    new OpenAIRealtimeTranscriber({ url: upstream.url.replace('/v1/realtime', '/v2/realtime'), apiKey: KEY, timeoutMs: 5000 }).check(),
  );
  assert.match(wrongPath.message, /has no realtime endpoint \(HTTP 404\).*check OPENAI_REALTIME_URL/);
});

test('close 1011 in the middle of a turn fails that turn naming the upstream; the next turn of the session reconnects', async () => {
  const upstream = await upstreamWith();
  upstream.faults.closeAfterAppends = { appends: 3, code: 1011, reason: 'internal server error' };
  const session = transcriberFor(upstream).openSession();
  const error = await failureOf(collect(session.transcribeStream!(frames(tone(400), 2))));
  assert.equal(error.code, 'upstream_error');
  assert.match(error.message, /closed the session after an internal error \(close 1011: internal server error\)/);
  assert.ok(error.message.startsWith(upstream.url), error.message);
  const next = await collect(session.transcribeStream!(frames(tone(300))));
  assert.equal(next.text, 'item 0');
  assert.equal(upstream.connections.length, 2);
  await session.close();
});

test('slow answers: a slow session.updated is waited for; a missing one and a missing transcript fail within REQUEST_TIMEOUT, and the session goes on', async () => {
  const upstream = await upstreamWith({
    script: (item) => (item.index === 0 ? { transcript: 'never sent', silent: true } : { transcript: 'answered', delayMs: 150 }),
  });
  upstream.faults.sessionUpdatedDelayMs = 200;
  const transcriber = transcriberFor(upstream, { timeoutMs: 700 });
  assert.deepEqual(await transcriber.check(), { upstream: upstream.url, model: 'gpt-4o-transcribe' });

  upstream.faults.sessionUpdatedDelayMs = Infinity;
  let started = performance.now();
  const setUp = await failureOf(transcriber.check());
  assert.equal(setUp.code, 'upstream_timeout');
  assert.match(setUp.message, /did not confirm the transcription session \(session\.updated\) within 700 ms \(REQUEST_TIMEOUT\)/);
  assert.ok(performance.now() - started < 700 + 2000, 'within the timeout and some slack');

  delete upstream.faults.sessionUpdatedDelayMs;
  const session = transcriber.openSession();
  started = performance.now();
  const silent = await failureOf(collect(session.transcribeStream!(frames(tone(300)))));
  assert.equal(silent.code, 'upstream_timeout');
  assert.match(silent.message, /did not answer the commit and transcribe the turn within 700 ms/);
  assert.ok(performance.now() - started < 700 + 2000);
  const next = await collect(session.transcribeStream!(frames(tone(300))));
  assert.equal(next.text, 'answered');
  await session.close();
});

test('a transcription the upstream reports as failed fails that turn with its message; the next turn works', async () => {
  const upstream = await upstreamWith({
    script: (item) =>
      item.index === 0
        ? { transcript: '', fail: { code: 'audio_unintelligible', message: 'Input transcription failed for item.' } }
        : { transcript: 'fine again' },
  });
  const session = transcriberFor(upstream).openSession();
  const error = await failureOf(collect(session.transcribeStream!(frames(tone(300)))));
  assert.equal(error.code, 'upstream_error');
  assert.match(error.message, /\(audio_unintelligible\): Input transcription failed for item\./);
  assert.equal((await collect(session.transcribeStream!(frames(tone(300))))).text, 'fine again');
  assert.equal(upstream.connections.length, 1, 'a failed item does not cost the connection');
  await session.close();
});

test('a message that is not JSON closes the connection with upstream_bad_response; the next turn reconnects', async () => {
  const upstream = await upstreamWith();
  upstream.faults.garbageOnCommit = true;
  const session = transcriberFor(upstream).openSession();
  const error = await failureOf(collect(session.transcribeStream!(frames(tone(300)))));
  assert.equal(error.code, 'upstream_bad_response');
  assert.match(error.message, /sent a message that is not JSON \(<html>502 Bad Gateway<\/html>\)/);
  assert.equal((await upstream.connections[0].closed).code, 1002);
  assert.equal((await collect(session.transcribeStream!(frames(tone(300))))).text, 'item 0');
  assert.equal(upstream.connections.length, 2);
  await session.close();
});

test("an aborted turn ends with an AbortError and its audio is cleared upstream, so the next turn's item holds only its own audio", async () => {
  const upstream = await upstreamWith({ script: () => ({ transcript: 'the next turn' }) });
  const session = transcriberFor(upstream).openSession();
  const controller = new AbortController();
  const stream = session.transcribeStream!(frames(tone(2000), 10), { signal: controller.signal });
  setTimeout(() => controller.abort(), 150);
  const error = await collect(stream).then(
    () => assert.fail('the aborted turn completed'),
    (caught: unknown) => caught as Error,
  );
  assert.equal(error.name, 'AbortError');
  const next = await collect(session.transcribeStream!(frames(tone(300))));
  assert.equal(next.text, 'the next turn');
  assert.ok(upstream.received.some((event) => event.type === 'input_audio_buffer.clear' && event.event_id === 'sb_t1_clear'));
  assert.equal(upstream.items.length, 1);
  assert.equal(upstream.items[0].audio.length, bytesOf(tone(300)));
  await session.close();
});

test('a G.711 μ-law session declares 8 kHz and sends the G.711 bytes up with no resampling', async () => {
  const upstream = await upstreamWith();
  const session: TranscriberSession = transcriberFor(upstream).openSession({ inputEncoding: 'g711_ulaw' });
  assert.equal(session.capabilities.sampleRate, 8000);
  const at8k = await resample(speech, 8000);
  // What a telephone bridge sends, and what the gateway decodes it to.
  const clientBytes = muLawEncode(at8k.samples);
  const decoded = muLawDecode(clientBytes);
  const result = await collect(session.transcribeStream!(frames(decoded, 0, 8000)));
  assert.equal(result.text, 'item 0');
  assert.deepEqual(upstream.received.find((event) => event.type === 'session.update')?.session.audio.input.format, { type: 'audio/pcmu' });
  const sent = upstream.items[0].audio;
  assert.equal(sent.length, clientBytes.length);
  // The same bytes, but for μ-law's negative zero (0x7F), which comes back as positive zero (0xFF): the same sample.
  const differing = [...clientBytes].filter((byte, index) => byte !== sent[index]);
  assert.ok(
    differing.every((byte) => byte === 0x7f),
    `only 0x7F may differ, got ${[...new Set(differing)]}`,
  );
  await session.close();
});

/** 20 ms frames of G.711 bytes, each with its decoded samples, as the engine streams a G.711 client's turn. */
async function* g711Frames(bytes: Uint8Array): AsyncIterable<StreamFrame> {
  for (let offset = 0; offset < bytes.length; offset += 160) {
    const piece = bytes.subarray(offset, offset + 160);
    yield { samples: muLawDecode(piece), sampleRate: 8000, encoded: { encoding: 'g711_ulaw', bytes: piece } };
  }
}

/** μ-law speech as a bridge that sends negative zero (0x7F) for its silence gives it: 0x7F decodes to the same 0 as 0xFF. */
async function muLawSpeech(): Promise<Uint8Array> {
  const at8k = await resample(speech, 8000);
  return new Uint8Array([...new Uint8Array(1600).fill(0x7f), ...muLawEncode(at8k.samples), ...new Uint8Array(1600).fill(0x7f)]);
}

test("a turn streamed in G.711 goes up as audio/pcmu with the client's own bytes, negative zeros included", async () => {
  const upstream = await upstreamWith();
  const session = transcriberFor(upstream).openSession();
  const clientBytes = await muLawSpeech();
  const result = await collect(session.transcribeStream!(g711Frames(clientBytes), { inputEncoding: 'g711_ulaw' }));
  assert.equal(result.text, 'item 0');
  assert.deepEqual(upstream.received.find((event) => event.type === 'session.update')?.session.audio.input.format, { type: 'audio/pcmu' });
  assert.deepEqual(upstream.items[0].formats, ['audio/pcmu']);
  assert.ok(upstream.items[0].audio.equals(clientBytes), 'the upstream item holds exactly the bytes the client sent');
  await session.close();
});

test('turns in different formats change the upstream input format between them, one format per item, on one connection', async () => {
  const upstream = await upstreamWith({ script: (item) => ({ transcript: `turn ${item.index}` }) });
  const session = transcriberFor(upstream).openSession();
  const clientBytes = await muLawSpeech();
  // Three turns started together, as a client that changes its format between turns has them pending: they send one after another.
  const [first, second, third] = await Promise.all([
    collect(session.transcribeStream!(frames(tone(300)))),
    collect(session.transcribeStream!(g711Frames(clientBytes), { inputEncoding: 'g711_ulaw' })),
    collect(session.transcribeStream!(frames(tone(300)))),
  ]);
  assert.deepEqual([first.text, second.text, third.text], ['turn 0', 'turn 1', 'turn 2']);
  assert.deepEqual(
    upstream.items.map((item) => item.formats),
    [['audio/pcm'], ['audio/pcmu'], ['audio/pcm']],
  );
  assert.ok(upstream.items[1].audio.equals(clientBytes));
  assert.equal(upstream.items[0].audio.length, bytesOf(tone(300)));
  assert.equal(upstream.items[2].audio.length, bytesOf(tone(300)));
  const updates = upstream.received.filter((event) => event.type === 'session.update').map((event) => event.session.audio.input.format.type);
  assert.deepEqual(updates, ['audio/pcm', 'audio/pcmu', 'audio/pcm']);
  assert.equal(upstream.connections.length, 1);
  await session.close();
});

test('logprobs asked for: the session includes them, each delta carries its tokens and the completion all of them; a turn that does not ask gets none', async () => {
  const upstream = await upstreamWith({ script: () => ({ transcript: 'the birch canoe' }) });
  const session = transcriberFor(upstream).openSession();
  const plain = await collect(session.transcribeStream!(frames(tone(300))));
  assert.ok(plain.events.every((event) => event.type !== 'delta' || event.logprobs === undefined));
  const plainCompleted = plain.events.at(-1);
  assert.ok(plainCompleted?.type === 'completed' && plainCompleted.transcription.logprobs === undefined);
  const asked = await collect(session.transcribeStream!(frames(tone(300)), { logprobs: true }));
  const updates = upstream.received.filter((event) => event.type === 'session.update');
  assert.equal(updates.length, 2, 'the second turn turned logprobs on with a session.update');
  assert.deepEqual(updates[1].session.include, ['item.input_audio_transcription.logprobs']);
  const deltas = asked.events.filter((event) => event.type === 'delta');
  assert.deepEqual(
    deltas.map((event) => event.logprobs?.map((token) => token.token)),
    [['the'], [' birch'], [' canoe']],
  );
  const completed = asked.events.at(-1);
  assert.ok(completed?.type === 'completed');
  assert.deepEqual(
    completed.transcription.logprobs,
    ['the', ' birch', ' canoe'].map((token, index) => ({ token, logprob: -0.01 * (index + 1), bytes: [...Buffer.from(token)] })),
  );
  await session.close();
});

test('an idle session closes its upstream connection and opens a new one at the next turn', async () => {
  const upstream = await upstreamWith();
  const session = transcriberFor(upstream, { idleCloseMs: 150 }).openSession();
  assert.equal((await collect(session.transcribeStream!(frames(tone(300))))).text, 'item 0');
  assert.deepEqual(await upstream.connections[0].closed, { code: 1000, reason: 'done' });
  assert.equal(upstream.connections[0].closedBy, 'client');
  assert.equal((await collect(session.transcribeStream!(frames(tone(300))))).text, 'item 1');
  assert.equal(upstream.connections.length, 2);
  await session.close();
});

test('a turn in another language updates the upstream session before its audio', async () => {
  const upstream = await upstreamWith();
  const session = transcriberFor(upstream).openSession();
  await collect(session.transcribeStream!(frames(tone(300)), { language: 'en' }));
  const french = await collect(session.transcribeStream!(frames(tone(300)), { language: 'fr' }));
  assert.equal((french.events.at(-1) as Extract<TranscriptStreamEvent, { type: 'completed' }>).transcription.language, 'fr');
  const updates = upstream.received.filter((event) => event.type === 'session.update');
  assert.deepEqual(
    updates.map((event) => [event.event_id, event.session.audio.input.transcription.language]),
    [
      ['speechbridge_setup', 'en'],
      ['sb_t2_update', 'fr'],
    ],
  );
  const turnTwo = upstream.received.filter((event) => event.event_id?.startsWith('sb_t2_'));
  assert.equal(turnTwo[0].type, 'session.update', 'the update goes before the second turn’s audio');
  await session.close();
});

test('a turn under 100 ms is not committed (OpenAI would refuse it) and comes back empty', async () => {
  const upstream = await upstreamWith();
  const result = await collect(transcriberFor(upstream).transcribeStream(frames(tone(60))));
  assert.equal(result.text, '');
  await upstream.connections[0].closed;
  assert.equal(upstream.received.filter((event) => event.type === 'input_audio_buffer.commit').length, 0);
  assert.ok(upstream.received.some((event) => event.type === 'input_audio_buffer.clear'));
});

test('a transcript past the size bound stops the turn with upstream_response_too_large', async () => {
  const upstream = await upstreamWith({ script: () => ({ transcript: 'word '.repeat(100) }) });
  const error = await failureOf(collect(transcriberFor(upstream, { maxTranscriptBytes: 64 }).transcribeStream(frames(tone(300)))));
  assert.equal(error.code, 'upstream_response_too_large');
  assert.match(error.message, /more than 64 characters of transcript for one turn \(MAX_TRANSCRIPTION_KB\)/);
});
