/**
 * The Wyoming recognizer against a local Wyoming server (test/helpers/wyoming-server.ts) over
 * real TCP: a real recording goes up as the protocol says and the server's text comes back;
 * frames go out as they arrive; partial text streams from a server that announces it; and each
 * fault (a dead host, a closed connection, garbage, an endless header, silence, an error event,
 * a slow `info`) ends in an error naming the server, within its deadline, with no socket left.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { PcmAudio } from '../../src/audio/pcm.ts';
import { resample } from '../../src/audio/resample.ts';
import { readWav } from '../../src/audio/wav.ts';
import { SpeechbridgeError } from '../../src/errors/registry.ts';
import { isAbortError } from '../../src/errors/abort.ts';
import type { TranscriptStreamEvent } from '../../src/providers/contracts.ts';
import { parseWyomingUri, type WyomingAddress } from '../../src/providers/wyoming/address.ts';
import { WyomingTranscriber } from '../../src/providers/wyoming/wyoming-transcriber.ts';
import { sharedAudioPath } from '../helpers/shared.ts';
import { startWyomingServer, type AsrRequest, type WyomingFault, type WyomingServer } from '../helpers/wyoming-server.ts';

const TIMEOUT_MS = 1500;
/** Room for a shared 2-core machine between a deadline and its error. */
const SLACK_MS = 2500;
const CANOE = 'The birch canoe slid on the smooth planks';

let speech: PcmAudio;
const servers: WyomingServer[] = [];
/** Faults for the next connections of the servers made by serverWith (index → fault). */
let faults = new Map<number, WyomingFault>();
const requests: AsrRequest[] = [];

before(async () => {
  speech = await resample(readWav(await readFile(sharedAudioPath('en_harvard_birch_canoe.wav'))), 16_000);
});

after(async () => {
  await Promise.all(servers.map((server) => server.close()));
});

async function serverWith(
  options: { streaming?: boolean; dataInHeader?: boolean; infoDelayMs?: number; tts?: boolean; asr?: boolean } = {},
): Promise<WyomingServer> {
  const server = await startWyomingServer({
    ...(options.asr !== false && {
      asr: {
        streaming: options.streaming,
        expectFormat: { rate: 16_000, width: 2, channels: 1 },
        msPerWord: 250,
        transcript: (request) => {
          requests.push(request);
          return request.samples.length > 0 ? CANOE : '';
        },
      },
    }),
    ...(options.tts && { tts: { speak: async () => new Int16Array(100), speakRate: 22_050 } }),
    dataInHeader: options.dataInHeader,
    infoDelayMs: options.infoDelayMs,
    fault: (index) => faults.get(index),
  });
  servers.push(server);
  return server;
}

function address(server: WyomingServer): WyomingAddress {
  return parseWyomingUri(server.uri, 10300) as WyomingAddress;
}

async function transcriberFor(server: WyomingServer): Promise<WyomingTranscriber> {
  return WyomingTranscriber.create({ address: address(server), timeoutMs: TIMEOUT_MS });
}

/** 20 ms frames of `audio`, one every `paceMs` (0: as fast as they are read), with a hook after each. */
async function* frames(audio: PcmAudio, paceMs = 0, afterFrame?: (index: number) => Promise<void> | void): AsyncIterable<PcmAudio> {
  const size = Math.round(audio.sampleRate / 50);
  let index = 0;
  for (let offset = 0; offset < audio.samples.length; offset += size) {
    if (paceMs > 0) await new Promise((resolve) => setTimeout(resolve, paceMs));
    yield { samples: audio.samples.subarray(offset, offset + size), sampleRate: audio.sampleRate };
    await afterFrame?.(index++);
  }
}

async function until(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function failure(promise: Promise<unknown>): Promise<{ error: SpeechbridgeError; ms: number }> {
  const started = performance.now();
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof SpeechbridgeError, `expected a SpeechbridgeError, got ${String(error)}`);
    return { error, ms: performance.now() - started };
  }
  assert.fail('expected a failure');
}

describe('a server that answers at the end (as wyoming-faster-whisper does)', () => {
  let server: WyomingServer;
  let transcriber: WyomingTranscriber;

  before(async () => {
    server = await serverWith();
    transcriber = await transcriberFor(server);
  });

  test('start-up reads the program, its model and languages from info', () => {
    assert.equal(transcriber.program.name, 'faster-whisper');
    assert.equal(transcriber.model?.name, 'base-int8');
    assert.equal(transcriber.upstream, server.uri);
    assert.deepEqual(transcriber.capabilities, {
      streaming: true,
      languageDetection: true,
      segments: false,
      sampleRate: 16_000,
      languages: ['en', 'fr', 'de'],
    });
    assert.equal(server.connections[0].events.map((event) => event.type).join(), 'describe');
  });

  test('transcribe: a real recording goes up as transcribe, audio-start, audio-chunks, audio-stop, and the transcript comes back', async () => {
    const from = server.connections.length;
    const transcription = await transcriber.transcribe(speech, { language: 'en', model: 'whisper-1' });
    assert.equal(transcription.text, CANOE);
    assert.equal(transcription.language, 'en');
    assert.ok(Math.abs(transcription.durationMs - (speech.samples.length * 1000) / 16_000) < 1);
    const [connection] = server.connections.slice(from);
    const types = connection.events.map((event) => event.type);
    assert.deepEqual(types.slice(0, 2), ['transcribe', 'audio-start']);
    assert.equal(types.at(-1), 'audio-stop');
    assert.ok(types.slice(2, -1).every((type) => type === 'audio-chunk') && types.length > 10);
    // The language is passed on; "whisper-1" is not a model this server lists, so no name is sent.
    assert.deepEqual(connection.events[0].data, { language: 'en' });
    assert.deepEqual(connection.events[1].data, { rate: 16_000, width: 2, channels: 1, timestamp: 0 });
    // Every sample arrived, unchanged.
    const received = requests.at(-1)!;
    assert.deepEqual(received.format, { rate: 16_000, width: 2, channels: 1 });
    assert.deepEqual(received.samples, speech.samples);
    await connection.closed;
  });

  test("a model the server lists is sent as the transcribe event's name", async () => {
    const from = server.connections.length;
    await transcriber.transcribe(speech, { model: 'base-int8' });
    assert.deepEqual(server.connections[from].events[0].data, { name: 'base-int8' });
  });

  test('transcribeStream sends each frame as it arrives; the one final comes after the audio ends, no deltas', async () => {
    const from = server.connections.length;
    let audioEnded = false;
    const sentBeforeEnd: number[] = [];
    const audio = frames(speech, 0, async (index) => {
      // Frame 10 is not handed over until the server has received the first ten: audio
      // streams as it is spoken, it is not held until the end.
      if (index === 9) {
        await until(
          () => (server.connections[from]?.events.filter((event) => event.type === 'audio-chunk').length ?? 0) >= 10,
          'the first ten chunks at the server',
        );
        sentBeforeEnd.push(server.connections[from].events.length);
      }
    });
    const events: TranscriptStreamEvent[] = [];
    for await (const event of transcriber.transcribeStream(
      (async function* () {
        yield* audio;
        audioEnded = true;
      })(),
    )) {
      assert.ok(audioEnded, 'nothing comes back before the audio ends');
      events.push(event);
    }
    assert.equal(events.length, 1);
    assert.equal(events[0].type, 'completed');
    assert.equal(events[0].type === 'completed' && events[0].transcription.text, CANOE);
    assert.ok(sentBeforeEnd[0] >= 12, 'transcribe, audio-start and ten chunks before the audio ended');
  });

  test('audio in another format than the server takes is refused by it, and the error names the server', async () => {
    const narrow = await resample(speech, 8000);
    const { error } = await failure(transcriber.transcribe(narrow));
    assert.equal(error.code, 'upstream_error');
    assert.match(
      error.message,
      new RegExp(
        `^the Wyoming speech recognition server at ${server.uri} reported an error during transcription: expected .*"rate":16000.*got .*"rate":8000.* \\(ValueError\\)$`,
      ),
    );
  });

  test('a turn without audio gives empty text without troubling the server', async () => {
    const from = server.connections.length;
    const none = await transcriber.transcribe({ samples: new Int16Array(0), sampleRate: 16_000 });
    assert.equal(none.text, '');
    const events: TranscriptStreamEvent[] = [];
    for await (const event of transcriber.transcribeStream((async function* () {})())) events.push(event);
    assert.deepEqual(
      events.map((event) => event.type),
      ['completed'],
    );
    assert.equal(events[0].type === 'completed' && events[0].transcription.text, '');
    // transcribe() did not connect; the stream connected (before it knew) and sent nothing.
    await until(() => server.connections.length > from && server.open() === 0, "the stream's connection to close");
    assert.deepEqual(
      server.connections.slice(from).map((connection) => connection.events.length),
      [0],
    );
  });
});

describe('a server that announces supports_transcript_streaming', () => {
  let server: WyomingServer;
  let transcriber: WyomingTranscriber;

  before(async () => {
    server = await serverWith({ streaming: true, dataInHeader: true });
    transcriber = await transcriberFor(server);
  });

  test('partial text comes while the audio is still being spoken; the deltas add up to the one final', async () => {
    let audioEnded = false;
    let deltasWhileSpeaking = 0;
    const events: TranscriptStreamEvent[] = [];
    const audio = (async function* () {
      yield* frames(speech, 10);
      audioEnded = true;
    })();
    for await (const event of transcriber.transcribeStream(audio, { language: 'en' })) {
      if (event.type === 'delta' && !audioEnded) deltasWhileSpeaking += 1;
      events.push(event);
    }
    assert.ok(deltasWhileSpeaking >= 2, `${deltasWhileSpeaking} deltas came while speaking`);
    const completed = events.filter((event) => event.type === 'completed');
    assert.equal(completed.length, 1);
    assert.equal(events.at(-1)?.type, 'completed');
    const deltas = events.flatMap((event) => (event.type === 'delta' ? [event.text] : []));
    assert.equal(deltas.join(''), CANOE, 'append-only pieces of the final text');
    assert.equal(completed[0].type === 'completed' && completed[0].transcription.text, CANOE);
    assert.equal(completed[0].type === 'completed' && completed[0].transcription.language, 'en');
  });

  test('transcribe() on a streaming server returns the final text', async () => {
    assert.equal((await transcriber.transcribe(speech)).text, CANOE);
  });
});

describe('faults', () => {
  let server: WyomingServer;
  let transcriber: WyomingTranscriber;

  before(async () => {
    faults = new Map();
    server = await serverWith({ streaming: true });
    transcriber = await transcriberFor(server);
  });

  async function withFault(fault: WyomingFault, run: () => Promise<void>): Promise<void> {
    faults.set(server.connections.length, fault);
    await run();
    await server.drained(SLACK_MS);
    // The next request, on a new connection, works.
    assert.equal((await transcriber.transcribe(speech)).text, CANOE);
  }

  test('the connection closed mid-stream: upstream_bad_response naming the server', async () => {
    await withFault('close-mid-stream', async () => {
      const { error } = await failure(transcriber.transcribe(speech));
      assert.equal(error.code, 'upstream_bad_response');
      assert.match(error.message, new RegExp(`^the Wyoming speech recognition server at ${server.uri} (closed|broke) the connection`));
    });
  });

  test('garbage instead of events: upstream_bad_response quoting what came', async () => {
    await withFault('garbage', async () => {
      const { error } = await failure(transcriber.transcribe(speech));
      assert.equal(error.code, 'upstream_bad_response');
      assert.match(
        error.message,
        /sent a header line that is not (JSON|UTF-8 text): ".*HTTP\/1\.1 400 Bad Request, not Wyoming.*"; it does not speak the Wyoming protocol here$/,
      );
    });
  });

  test('a header line that never ends: refused at the 1 MB limit, the server cut off', async () => {
    await withFault('oversize-header', async () => {
      const { error } = await failure(transcriber.transcribe(speech));
      assert.equal(error.code, 'upstream_bad_response');
      assert.match(error.message, /a header line longer than 1048576 bytes \(no newline yet\), starting "\{"type": "info", "data": \{"padding": "aaa/);
      const record = server.connections.at(-1)!;
      await record.closed;
      assert.equal(record.closedByClient, true);
      assert.ok(record.bytesWritten < 32 * 1024 * 1024, `${record.bytesWritten} bytes went out before the gateway hung up`);
    });
  });

  test('a server that never answers: upstream_timeout once REQUEST_TIMEOUT passes after the audio ended', async () => {
    await withFault('never-answer', async () => {
      const { error, ms } = await failure(transcriber.transcribe(speech));
      assert.equal(error.code, 'upstream_timeout');
      assert.match(error.message, new RegExp(`${TIMEOUT_MS} ms`));
      assert.match(error.message, /REQUEST_TIMEOUT/);
      assert.ok(ms >= TIMEOUT_MS - 50 && ms < TIMEOUT_MS + SLACK_MS, `failed after ${Math.round(ms)} ms`);
    });
  });

  test('a stream the server stops answering: upstream_timeout after the audio ended, naming what was awaited', async () => {
    await withFault('stall', async () => {
      const started = performance.now();
      let endedAt = 0;
      const events: string[] = [];
      const { error } = await failure(
        (async () => {
          for await (const event of transcriber.transcribeStream(
            (async function* () {
              yield* frames(speech);
              endedAt = performance.now();
            })(),
          ))
            events.push(event.type);
        })(),
      );
      assert.equal(error.code, 'upstream_timeout');
      assert.equal(
        error.message,
        `the Wyoming speech recognition server at ${server.uri} sent nothing for ${TIMEOUT_MS} ms while the gateway waited for the transcript (REQUEST_TIMEOUT)`,
      );
      const waited = performance.now() - endedAt;
      assert.ok(endedAt > started && waited >= TIMEOUT_MS - 50 && waited < TIMEOUT_MS + SLACK_MS, `failed ${Math.round(waited)} ms after the audio ended`);
      assert.deepEqual(events, []);
    });
  });

  test("an error event: upstream_error with the server's words", async () => {
    await withFault('error-event', async () => {
      const { error } = await failure(transcriber.transcribe(speech));
      assert.equal(error.code, 'upstream_error');
      assert.equal(
        error.message,
        `the Wyoming speech recognition server at ${server.uri} reported an error during transcription: the model could not be loaded (RuntimeError)`,
      );
    });
  });

  test('an abort mid-stream (barge-in) ends the stream with an AbortError and closes the connection at once', async () => {
    const controller = new AbortController();
    const from = server.connections.length;
    let thrown: unknown;
    try {
      for await (const event of transcriber.transcribeStream(
        frames(speech, 5, (index) => (index === 20 ? controller.abort() : undefined)),
        { signal: controller.signal },
      )) {
        assert.notEqual(event.type, 'completed');
      }
    } catch (error) {
      thrown = error;
    }
    assert.ok(isAbortError(thrown), `expected an AbortError, got ${String(thrown)}`);
    const record = server.connections[from];
    await Promise.race([record.closed, new Promise((_, reject) => setTimeout(() => reject(new Error('the connection stayed open')), SLACK_MS))]);
    assert.equal(record.closedByClient, true);
    assert.ok(record.events.filter((event) => event.type === 'audio-chunk').length < speech.samples.length / 320, 'it stopped sending');
  });
});

describe('start-up checks', () => {
  test('a dead host: upstream_unreachable saying what to fix', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as { port: number }).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const { error } = await failure(
      WyomingTranscriber.create({ address: parseWyomingUri(`tcp://127.0.0.1:${port}`, 10300) as WyomingAddress, timeoutMs: TIMEOUT_MS }),
    );
    assert.equal(error.code, 'upstream_unreachable');
    assert.equal(
      error.message,
      `WYOMING_ASR_URI: could not reach the Wyoming speech recognition server at tcp://127.0.0.1:${port}: connection refused: nothing listens there (ECONNREFUSED); start the server, or fix WYOMING_ASR_URI`,
    );
  });

  test('a server that answers describe with garbage: upstream_bad_response, check the address', async () => {
    const server = await serverWith();
    faults.set(0, 'garbage');
    const { error } = await failure(transcriberFor(server));
    faults = new Map();
    assert.equal(error.code, 'upstream_bad_response');
    assert.match(
      error.message,
      /^WYOMING_ASR_URI: the Wyoming speech recognition server at tcp:\/\/127\.0\.0\.1:\d+ sent a header line that is not .*; check that WYOMING_ASR_URI names a Wyoming speech recognition server \(wyoming-faster-whisper, port 10300\), not another service$/,
    );
  });

  test('a server that answers describe with an error event: upstream_error with its words', async () => {
    const server = await serverWith();
    faults.set(0, 'error-event');
    const { error } = await failure(transcriberFor(server));
    faults = new Map();
    assert.equal(error.code, 'upstream_error');
    assert.equal(
      error.message,
      `WYOMING_ASR_URI: the Wyoming speech recognition server at ${server.uri} reported an error during "describe": the model could not be loaded (RuntimeError); the server itself failed: its log says why`,
    );
  });

  test('a server with only speech synthesis: engine_unavailable naming what it offers', async () => {
    const server = await serverWith({ asr: false, tts: true });
    const { error } = await failure(transcriberFor(server));
    assert.equal(error.code, 'engine_unavailable');
    assert.equal(
      error.message,
      `the Wyoming server at ${server.uri} (WYOMING_ASR_URI) offers only speech synthesis (piper); point WYOMING_ASR_URI at a Wyoming speech-to-text server such as wyoming-faster-whisper (port 10300)`,
    );
  });

  test('an info slower than REQUEST_TIMEOUT: upstream_timeout within the deadline; a slow one inside it is fine', async () => {
    const slow = await serverWith({ infoDelayMs: TIMEOUT_MS + 1500 });
    const { error, ms } = await failure(transcriberFor(slow));
    assert.equal(error.code, 'upstream_timeout');
    assert.match(
      error.message,
      /^WYOMING_ASR_URI: the Wyoming speech recognition server at .* sent nothing for 1500 ms while the gateway waited for its answer to "describe" .*or raise REQUEST_TIMEOUT$/,
    );
    assert.ok(ms < TIMEOUT_MS + SLACK_MS, `failed after ${Math.round(ms)} ms`);
    const late = await serverWith({ infoDelayMs: TIMEOUT_MS / 3 });
    assert.equal((await transcriberFor(late)).program.name, 'faster-whisper');
  });
});
