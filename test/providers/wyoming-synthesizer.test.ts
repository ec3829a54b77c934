/**
 * The Wyoming synthesizer against a local Wyoming server (test/helpers/wyoming-server.ts) that
 * speaks real audio with espeak-ng, over real TCP: the audio comes back sample for sample, or
 * converted from another rate, width and channel count; voices resolve as documented; text
 * streams to a server that announces it, with audio back before the text has ended; and faults
 * end in errors naming the server, within the deadline, with the connection closed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { concatPcm, durationMs, rmsDbfs, type PcmAudio } from '../../src/audio/pcm.ts';
import { SpeechbridgeError } from '../../src/errors/registry.ts';
import { isAbortError } from '../../src/errors/abort.ts';
import { EspeakSynthesizer } from '../../src/providers/local/espeak-synthesizer.ts';
import { parseWyomingUri, type WyomingAddress } from '../../src/providers/wyoming/address.ts';
import { WYOMING_TTS_SAMPLE_RATE, WyomingSynthesizer } from '../../src/providers/wyoming/wyoming-synthesizer.ts';
import { startWyomingServer, type AudioFormat, type WyomingFault, type WyomingServer } from '../helpers/wyoming-server.ts';

const TIMEOUT_MS = 1500;
const SLACK_MS = 2500;
const VOICES = [
  { name: 'en_US-lessac-medium', languages: ['en_US'] },
  { name: 'en_GB-alan-medium', languages: ['en_GB'] },
  { name: 'de_DE-thorsten-medium', languages: ['de_DE'] },
  { name: 'en_US-libritts_r-medium', languages: ['en_US'], speakers: ['p3922', 'p8699'] },
  { name: 'fr_FR-siwis-medium', languages: ['fr_FR'], installed: false },
];

let espeak: EspeakSynthesizer;
const servers: WyomingServer[] = [];
let faults = new Map<number, WyomingFault>();
/** Texts the server spoke, with the voice it was asked for. */
const spoken: Array<{ text: string; voice: string | undefined }> = [];

before(async () => {
  espeak = await EspeakSynthesizer.create({ workers: 1, warmUp: false });
});

after(async () => {
  await Promise.all(servers.map((server) => server.close()));
  await espeak?.close();
});

/** What espeak-ng says for `text` (the server's voice: German for a de_ voice, else American English). */
async function speak(text: string, voice?: string): Promise<Int16Array> {
  const parts: Int16Array[] = [];
  for await (const chunk of espeak.synthesize({ text, voice: voice?.startsWith('de_') ? 'de' : 'en-us' })) parts.push(chunk.samples);
  return concatPcm(parts);
}

async function serverWith(options: { streaming?: boolean; output?: Partial<AudioFormat>; asrOnly?: boolean } = {}): Promise<WyomingServer> {
  const server = await startWyomingServer({
    ...(options.asrOnly
      ? { asr: { transcript: () => '' } }
      : {
          tts: {
            voices: VOICES,
            streaming: options.streaming,
            output: options.output,
            speakRate: 22_050,
            speak: async (text, voice) => {
              spoken.push({ text, voice });
              return speak(text, voice);
            },
          },
        }),
    fault: (index) => faults.get(index),
  });
  servers.push(server);
  return server;
}

function create(server: WyomingServer, defaultVoice?: string): Promise<WyomingSynthesizer> {
  return WyomingSynthesizer.create({ address: parseWyomingUri(server.uri, 10200) as WyomingAddress, timeoutMs: TIMEOUT_MS, defaultVoice });
}

async function collect(stream: AsyncIterable<PcmAudio>): Promise<PcmAudio> {
  const parts: Int16Array[] = [];
  for await (const chunk of stream) {
    assert.equal(chunk.sampleRate, WYOMING_TTS_SAMPLE_RATE);
    parts.push(chunk.samples);
  }
  return { samples: concatPcm(parts), sampleRate: WYOMING_TTS_SAMPLE_RATE };
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

describe('a server that takes whole texts (as wyoming-piper without streaming)', () => {
  let server: WyomingServer;
  let synthesizer: WyomingSynthesizer;

  before(async () => {
    server = await serverWith();
    synthesizer = await create(server);
  });

  test("start-up reads the program and voices; OpenAI names and the server's are offered", () => {
    assert.equal(synthesizer.program.name, 'piper');
    assert.equal(synthesizer.capabilities.textStreaming, false);
    assert.equal(synthesizer.capabilities.sampleRate, 22_050);
    assert.equal(synthesizer.capabilities.defaultVoice, 'alloy');
    assert.ok(synthesizer.capabilities.voices.includes('alloy') && synthesizer.capabilities.voices.includes('de_DE-thorsten-medium'));
  });

  test("synthesize: the server's audio comes back sample for sample (22050 Hz 16-bit mono passes through)", async () => {
    const from = server.connections.length;
    const audio = await collect(synthesizer.synthesize({ text: 'The birch canoe slid on the smooth planks.' }));
    assert.ok(durationMs(audio) > 1500, `${durationMs(audio)} ms of audio`);
    assert.ok(rmsDbfs(audio.samples) > -40, 'not silence');
    // espeak-ng varies its timing a little from one call to the next: compared with what the server said.
    assert.deepEqual(audio.samples, concatPcm(server.connections[from].spoken));
    // alloy (an OpenAI name) is the server's first installed voice.
    assert.deepEqual(server.connections[from].events[0], {
      type: 'synthesize',
      data: { text: 'The birch canoe slid on the smooth planks.', voice: { name: 'en_US-lessac-medium' } },
      payloadBytes: 0,
    });
  });

  test('voices: a server voice by name, voice:speaker, a language code; an unknown name is refused before connecting', async () => {
    const sentVoice = async (voice: string) => {
      const from = server.connections.length;
      await collect(synthesizer.synthesize({ text: 'Hallo.', voice }));
      return server.connections[from].events[0].data.voice;
    };
    assert.deepEqual(await sentVoice('EN_GB-alan-medium'), { name: 'en_GB-alan-medium' });
    assert.deepEqual(await sentVoice('en_US-libritts_r-medium:p8699'), { name: 'en_US-libritts_r-medium', speaker: 'p8699' });
    assert.deepEqual(await sentVoice('de'), { name: 'de_DE-thorsten-medium' });
    assert.deepEqual(await sentVoice('en-GB'), { name: 'en_GB-alan-medium' });
    assert.deepEqual(await sentVoice('fr'), { name: 'fr_FR-siwis-medium' }, 'a listed voice not yet installed, when no installed one speaks the language');
    assert.deepEqual(await sentVoice('coral'), { name: 'en_US-lessac-medium' });
    const connections = server.connections.length;
    const { error } = await failure(collect(synthesizer.synthesize({ text: 'Hello.', voice: 'nosuchvoice' })));
    assert.equal(error.code, 'unknown_voice');
    assert.equal(error.param, 'voice');
    assert.match(
      error.message,
      new RegExp(
        `^the Wyoming speech synthesis server at ${server.uri} \\(piper\\) has no voice "nosuchvoice"; its voices: en_US-lessac-medium, en_GB-alan-medium, `,
      ),
    );
    assert.equal(server.connections.length, connections, 'no connection for a voice that cannot be');
  });

  test('a text with nothing to say gives no audio and no connection', async () => {
    const connections = server.connections.length;
    assert.equal((await collect(synthesizer.synthesize({ text: ' ... — ' }))).samples.length, 0);
    assert.equal(server.connections.length, connections);
  });

  test('synthesizeStream on a server without text streaming speaks the whole text once it is written', async () => {
    const from = server.connections.length;
    const audio = await collect(
      synthesizer.synthesizeStream(
        (async function* () {
          yield 'Hello';
          yield 'there.';
        })(),
        {},
      ),
    );
    assert.equal(spoken.at(-1)?.text, 'Hello there.');
    assert.deepEqual(
      server.connections[from].events.map((event) => event.type),
      ['synthesize'],
    );
    assert.deepEqual(audio.samples, concatPcm(server.connections[from].spoken));
  });
});

test('audio in another format (16 kHz, 32-bit, stereo) is converted to mono PCM16 at 22050 Hz', async () => {
  const server = await serverWith({ output: { rate: 16_000, width: 4, channels: 2 } });
  const synthesizer = await create(server);
  const text = 'Four hours of steady work faced us.';
  const audio = await collect(synthesizer.synthesize({ text }));
  const reference = { samples: await speak(text), sampleRate: 22_050 };
  assert.ok(Math.abs(durationMs(audio) - durationMs(reference)) < 20, `${durationMs(audio)} ms for ${durationMs(reference)} ms`);
  assert.ok(Math.abs(rmsDbfs(audio.samples) - rmsDbfs(reference.samples)) < 1.5, `level ${rmsDbfs(audio.samples)} dBFS for ${rmsDbfs(reference.samples)}`);
});

describe('a server that announces supports_synthesize_streaming', () => {
  let server: WyomingServer;
  let synthesizer: WyomingSynthesizer;

  before(async () => {
    server = await serverWith({ streaming: true });
    synthesizer = await create(server, 'en_GB-alan-medium');
  });

  test("text goes out as it is written; the first sentence's audio comes back before the text ends", async () => {
    const from = server.connections.length;
    let firstAudio!: () => void;
    const heardFirst = new Promise<void>((resolve) => (firstAudio = resolve));
    let textEnded = false;
    let audioBeforeTextEnded = 0;
    const text = (async function* () {
      yield 'Hello';
      yield 'there.';
      yield ' How';
      // The rest waits until the first sentence is heard: it must come without them.
      await heardFirst;
      yield 'are';
      yield 'you today?';
      textEnded = true;
    })();
    const parts: Int16Array[] = [];
    for await (const chunk of synthesizer.synthesizeStream(text, {})) {
      if (!textEnded) audioBeforeTextEnded += chunk.samples.length;
      parts.push(chunk.samples);
      firstAudio();
    }
    assert.ok(audioBeforeTextEnded > 0, 'audio came before the text ended');
    assert.deepEqual(
      spoken.slice(-2).map((entry) => entry.text),
      ['Hello there.', 'How are you today?'],
      'each sentence spoken as the server cut it',
    );
    assert.equal(server.connections[from].spoken.length, 2);
    assert.deepEqual(concatPcm(parts), concatPcm(server.connections[from].spoken));
    const events = server.connections[from].events;
    assert.deepEqual(
      events.map((event) => [event.type, event.data.text ?? null]),
      [
        ['synthesize-start', null],
        ['synthesize-chunk', 'Hello'],
        ['synthesize-chunk', ' there.'],
        ['synthesize-chunk', ' How'],
        ['synthesize-chunk', ' are'],
        ['synthesize-chunk', ' you today?'],
        ['synthesize', 'Hello there. How are you today?'],
        ['synthesize-stop', null],
      ],
    );
    assert.deepEqual(events[0].data, { voice: { name: 'en_GB-alan-medium' } });
    assert.deepEqual(events[6].data.voice, { name: 'en_GB-alan-medium' });
  });

  test('a text stream with nothing in it opens no connection', async () => {
    const connections = server.connections.length;
    const audio = await collect(
      synthesizer.synthesizeStream(
        (async function* () {
          yield '';
          yield '  ';
        })(),
        {},
      ),
    );
    assert.equal(audio.samples.length, 0);
    assert.equal(server.connections.length, connections);
  });

  test('barge-in: aborting mid-stream ends it with an AbortError and closes the connection at once', async () => {
    const controller = new AbortController();
    const from = server.connections.length;
    let thrown: unknown;
    try {
      for await (const chunk of synthesizer.synthesizeStream(
        (async function* () {
          yield 'This is a long first sentence that takes a while to say.';
          yield ' And another one follows it.';
          await new Promise((resolve) => setTimeout(resolve, 10_000));
        })(),
        { signal: controller.signal },
      )) {
        assert.ok(chunk.samples.length > 0);
        controller.abort();
      }
    } catch (error) {
      thrown = error;
    }
    assert.ok(isAbortError(thrown), `expected an AbortError, got ${String(thrown)}`);
    const record = server.connections[from];
    await Promise.race([record.closed, new Promise((_, reject) => setTimeout(() => reject(new Error('the connection stayed open')), SLACK_MS))]);
    assert.equal(record.closedByClient, true);
  });
});

describe('faults', () => {
  let server: WyomingServer;
  let synthesizer: WyomingSynthesizer;
  const TEXT = 'The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background.';

  before(async () => {
    faults = new Map();
    server = await serverWith();
    synthesizer = await create(server);
  });

  async function withFault(fault: WyomingFault, run: () => Promise<void>): Promise<void> {
    faults.set(server.connections.length, fault);
    await run();
    await server.drained(SLACK_MS);
    assert.ok((await collect(synthesizer.synthesize({ text: 'Still here.' }))).samples.length > 0, 'the next request works');
  }

  test('the connection closed mid-audio: upstream_bad_response after the audio that came', async () => {
    await withFault('close-mid-stream', async () => {
      let received = 0;
      const { error } = await failure(
        (async () => {
          for await (const chunk of synthesizer.synthesize({ text: TEXT })) received += chunk.samples.length;
        })(),
      );
      assert.equal(error.code, 'upstream_bad_response');
      assert.match(error.message, new RegExp(`^the Wyoming speech synthesis server at ${server.uri} (closed|broke) the connection`));
      assert.ok(received > 0 && received <= 3 * 1024, `${received} samples before the close`);
    });
  });

  test('a server that stalls mid-audio: upstream_timeout after REQUEST_TIMEOUT of silence', async () => {
    await withFault('stall', async () => {
      const { error, ms } = await failure(collect(synthesizer.synthesize({ text: TEXT })));
      assert.equal(error.code, 'upstream_timeout');
      assert.equal(
        error.message,
        `the Wyoming speech synthesis server at ${server.uri} sent nothing for ${TIMEOUT_MS} ms while the gateway waited for audio (REQUEST_TIMEOUT)`,
      );
      assert.ok(ms >= TIMEOUT_MS - 50 && ms < TIMEOUT_MS + SLACK_MS, `failed after ${Math.round(ms)} ms`);
    });
  });

  test('a server that never answers: upstream_timeout', async () => {
    await withFault('never-answer', async () => {
      const { error, ms } = await failure(collect(synthesizer.synthesize({ text: TEXT })));
      assert.equal(error.code, 'upstream_timeout');
      assert.ok(ms < TIMEOUT_MS + SLACK_MS);
    });
  });

  test('garbage and an endless header line: upstream_bad_response, the server cut off', async () => {
    await withFault('garbage', async () => {
      const { error } = await failure(collect(synthesizer.synthesize({ text: TEXT })));
      assert.equal(error.code, 'upstream_bad_response');
      assert.match(error.message, /that is not (JSON|UTF-8 text)/);
    });
    await withFault('oversize-header', async () => {
      const { error } = await failure(collect(synthesizer.synthesize({ text: TEXT })));
      assert.equal(error.code, 'upstream_bad_response');
      assert.match(error.message, /a header line longer than 1048576 bytes/);
    });
  });

  test("an error event: upstream_error with the server's words", async () => {
    await withFault('error-event', async () => {
      const { error } = await failure(collect(synthesizer.synthesize({ text: TEXT })));
      assert.equal(error.code, 'upstream_error');
      assert.equal(
        error.message,
        `the Wyoming speech synthesis server at ${server.uri} reported an error during speech synthesis: the model could not be loaded (RuntimeError)`,
      );
    });
  });

  test('leaving the stream early (barge-in) closes the connection', async () => {
    const from = server.connections.length;
    for await (const chunk of synthesizer.synthesize({ text: TEXT })) {
      assert.ok(chunk.samples.length > 0);
      break;
    }
    const record = server.connections[from];
    await Promise.race([record.closed, new Promise((_, reject) => setTimeout(() => reject(new Error('the connection stayed open')), SLACK_MS))]);
    assert.equal(server.open(), 0);
  });
});

describe('start-up checks', () => {
  test('a server without speech synthesis: engine_unavailable naming what it offers', async () => {
    const server = await serverWith({ asrOnly: true });
    const { error } = await failure(create(server));
    assert.equal(error.code, 'engine_unavailable');
    assert.equal(
      error.message,
      `the Wyoming server at ${server.uri} (WYOMING_TTS_URI) offers only speech recognition (faster-whisper); point WYOMING_TTS_URI at a Wyoming text-to-speech server such as wyoming-piper (port 10200)`,
    );
  });

  test('a default voice the server does not have: invalid_config naming DEFAULT_TTS_VOICE', async () => {
    const server = await serverWith();
    const { error } = await failure(create(server, 'nl_NL-mls-medium'));
    assert.equal(error.code, 'invalid_config');
    assert.match(error.message, /^DEFAULT_TTS_VOICE: the Wyoming speech synthesis server at .* \(piper\) has no voice "nl_NL-mls-medium"/);
  });
});
