import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { isAbortError } from '../../src/errors/abort.ts';
import { SpeechbridgeError } from '../../src/errors/registry.ts';
import { writeWav } from '../../src/audio/wav.ts';
import { decodeAudio } from '../../src/audio/decode.ts';
import { encodeAudio, type EncodeFormat } from '../../src/audio/encode.ts';
import { checkFfmpeg } from '../../src/audio/ffmpeg-probe.ts';
import { ffmpegPath } from '../../src/audio/ffmpeg-process.ts';
import { createStreamDecoder, type StreamDecoder } from '../../src/audio/stream-decoder.ts';
import { concatPcm, int16ToBytes, rmsDbfs, type PcmAudio } from '../../src/audio/pcm.ts';
import { resample } from '../../src/audio/resample.ts';
import { wavHeader } from '../../src/audio/wav.ts';
import { makeFixtures, type FixtureName, type Fixtures } from './encoded-fixtures.ts';
import { bestCorrelation, loadSharedRecording } from './signal-metrics.ts';

const run = promisify(execFile);

const RECORDING = 'en_ls_1272-128104-0000.wav';

let fixtures: Promise<Fixtures> | undefined;
/** Made on first use, so every test fails with ffmpeg's install hint when it is missing. */
function getFixtures(): Promise<Fixtures> {
  fixtures ??= makeFixtures(RECORDING);
  return fixtures;
}

after(async () => {
  if (fixtures) await (await fixtures).remove();
});

function original(): PcmAudio {
  return loadSharedRecording(RECORDING);
}

function assertDurationClose(actualSamples: number, sampleRate: number, expectedSeconds: number, label: string): void {
  const seconds = actualSamples / sampleRate;
  assert.ok(Math.abs(seconds - expectedSeconds) <= expectedSeconds * 0.05, `${label}: ${seconds.toFixed(3)} s, expected ${expectedSeconds.toFixed(3)} s ± 5%`);
}

/** Correlation on 0.5 s of speech (1 s in); `maxLagMs` bounds the codec delay searched. */
function assertSameWaveform(reference: Int16Array, decoded: Int16Array, sampleRate: number, minimum: number, maxLagMs: number, label: string) {
  const result = bestCorrelation(reference, decoded, Math.round((sampleRate * maxLagMs) / 1000), sampleRate, sampleRate >> 1);
  assert.ok(result.correlation > minimum, `${label}: correlation ${result.correlation.toFixed(3)} at lag ${result.lag}`);
  return result;
}

async function collect(decoder: StreamDecoder): Promise<Int16Array> {
  const parts: Int16Array[] = [];
  for await (const chunk of decoder.output) parts.push(chunk);
  return concatPcm(parts);
}

/** Writes `bytes` in `chunkSize` pieces, waiting for drain when write() asks to. */
async function feed(decoder: StreamDecoder, bytes: Uint8Array, chunkSize: number): Promise<void> {
  for (let offset = 0; offset < bytes.length; offset += chunkSize) {
    if (!decoder.write(bytes.subarray(offset, offset + chunkSize))) await decoder.drain();
  }
  decoder.end();
}

function isCode(code: string, pattern?: RegExp) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof SpeechbridgeError, `expected a SpeechbridgeError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (pattern) assert.match(error.message, pattern);
    return true;
  };
}

async function withFfmpegPath<T>(value: string, body: () => Promise<T>): Promise<T> {
  const saved = process.env.FFMPEG_PATH;
  process.env.FFMPEG_PATH = value;
  try {
    return await body();
  } finally {
    if (saved === undefined) delete process.env.FFMPEG_PATH;
    else process.env.FFMPEG_PATH = saved;
  }
}

describe('checkFfmpeg', () => {
  test('reports the version ffmpeg -version prints', async () => {
    const info = await checkFfmpeg();
    assert.ok(info.version.length > 0);
    const { stdout } = await run(info.path, ['-version']);
    assert.ok(stdout.split('\n')[0].includes(`ffmpeg version ${info.version}`), stdout.split('\n')[0]);
  });

  test('a missing binary is engine_unavailable with the install command, for the check and for decoding', async () => {
    const ogg = await (await getFixtures()).bytes('ogg-opus');
    await withFfmpegPath('/nonexistent/bin/ffmpeg', async () => {
      await assert.rejects(checkFfmpeg(), isCode('engine_unavailable', /apt-get install ffmpeg/));
      await assert.rejects(decodeAudio(ogg, { sampleRate: 16000 }), isCode('engine_unavailable', /FFMPEG_PATH=\/nonexistent\/bin\/ffmpeg/));
      const decoder = createStreamDecoder({ sampleRate: 16000, inputFormat: 'ogg' });
      decoder.write(ogg);
      decoder.end();
      await assert.rejects(collect(decoder), isCode('engine_unavailable', /brew install ffmpeg/));
    });
  });

  test('a binary that is not ffmpeg is refused', async () => {
    await withFfmpegPath(process.execPath, async () => {
      await assert.rejects(checkFfmpeg(), isCode('engine_unavailable', /did not identify ffmpeg/));
    });
  });
});

describe('decodeAudio', () => {
  const cases: Array<{ fixture: FixtureName; correlation: number; maxLagMs: number; why: string }> = [
    { fixture: 'webm-opus', correlation: 0.95, maxLagMs: 10, why: 'Opus pre-skip is trimmed' },
    { fixture: 'ogg-opus', correlation: 0.95, maxLagMs: 10, why: 'Opus pre-skip is trimmed' },
    { fixture: 'mp3', correlation: 0.95, maxLagMs: 10, why: 'the LAME tag gives the encoder delay' },
    { fixture: 'flac', correlation: 0.999, maxLagMs: 10, why: 'lossless' },
    { fixture: 'm4a', correlation: 0.95, maxLagMs: 10, why: 'the edit list removes AAC priming; read through a temporary file' },
    { fixture: 'wav-24bit-stereo', correlation: 0.99, maxLagMs: 10, why: 'WAV fast path: downmix and 44.1 → 16 kHz resampling' },
    { fixture: 'wav-mulaw', correlation: 0.9, maxLagMs: 10, why: 'μ-law WAV falls back to ffmpeg; 8 kHz loses the 4–8 kHz band' },
    { fixture: 'mp3-bare', correlation: 0.95, maxLagMs: 150, why: 'no tag, so the encoder delay stays in' },
    { fixture: 'aac-adts', correlation: 0.95, maxLagMs: 150, why: 'ADTS has no edit list, so AAC priming stays in' },
  ];

  for (const { fixture, correlation, maxLagMs, why } of cases) {
    test(`${fixture} decodes to 16 kHz mono of the right length, non-silent, matching the original (${why})`, async () => {
      const bytes = await (await getFixtures()).bytes(fixture);
      const reference = original();
      const decoded = await decodeAudio(bytes, { sampleRate: 16000 });
      assert.equal(decoded.sampleRate, 16000);
      assertDurationClose(decoded.samples.length, 16000, reference.samples.length / reference.sampleRate, fixture);
      const level = rmsDbfs(decoded.samples);
      assert.ok(level > -40, `${fixture}: level ${level.toFixed(1)} dBFS`);
      const match = assertSameWaveform(reference.samples, decoded.samples, 16000, correlation, maxLagMs, fixture);
      if (maxLagMs <= 10) assert.ok(Math.abs(match.lag) <= 16, `${fixture}: delay ${match.lag} samples, expected the codec delay removed`);
    });
  }

  test('the output rate follows sampleRate (24 kHz from WebM/Opus, 8 kHz from FLAC)', async () => {
    const loaded = await getFixtures();
    const reference = original();
    const seconds = reference.samples.length / reference.sampleRate;
    const at24 = await decodeAudio(await loaded.bytes('webm-opus'), { sampleRate: 24000 });
    assert.equal(at24.sampleRate, 24000);
    assertDurationClose(at24.samples.length, 24000, seconds, 'webm at 24 kHz');
    const at8 = await decodeAudio(await loaded.bytes('flac'), { sampleRate: 8000 });
    assertDurationClose(at8.samples.length, 8000, seconds, 'flac at 8 kHz');
    const expected8 = await resample(reference, 8000);
    assertSameWaveform(expected8.samples, at8.samples, 8000, 0.99, 10, 'flac at 8 kHz');
  });

  test('garbage bytes are unreadable_audio with ffmpeg’s own explanation', async () => {
    const garbage = new Uint8Array(8192);
    for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 7919 + 13) % 251;
    await checkFfmpeg();
    await assert.rejects(decodeAudio(garbage, { sampleRate: 16000 }), isCode('unreadable_audio', /could not be decoded: .*Invalid data/));
  });

  test('a WAV cut inside its header goes past the fast path to ffmpeg, which refuses it as unreadable_audio', async () => {
    const truncated = Buffer.concat([wavHeader(16000, 1000).subarray(0, 20), Buffer.alloc(100)]);
    await checkFfmpeg();
    await assert.rejects(decodeAudio(truncated, { sampleRate: 16000 }), isCode('unreadable_audio'));
  });

  test('a truncated M4A is unreadable_audio whose reason does not show the server’s temporary path', async () => {
    const m4a = await (await getFixtures()).bytes('m4a');
    const error = await decodeAudio(m4a.subarray(0, 4000), { sampleRate: 16000 }).then(
      () => assert.fail('a cut M4A decoded'),
      (failure: unknown) => failure,
    );
    assert.ok(error instanceof SpeechbridgeError && error.code === 'unreadable_audio', String(error));
    assert.doesNotMatch(error.message, /speechbridge-decode|input\.mp4/);
    assert.match(error.message, /could not be decoded: the MP4 input: /);
  });

  test('empty input is empty_input', async () => {
    await assert.rejects(decodeAudio(new Uint8Array(0), { sampleRate: 16000 }), isCode('empty_input'));
  });

  test('audio longer than maxDurationMs is payload_too_large, through ffmpeg and through the WAV fast path', async () => {
    const loaded = await getFixtures();
    await assert.rejects(decodeAudio(await loaded.bytes('ogg-opus'), { sampleRate: 16000, maxDurationMs: 2000 }), isCode('payload_too_large', /2 s limit/));
    await assert.rejects(decodeAudio(await loaded.bytes('wav-24bit-stereo'), { sampleRate: 16000, maxDurationMs: 2000 }), isCode('payload_too_large'));
    const fits = await decodeAudio(await loaded.bytes('ogg-opus'), { sampleRate: 16000, maxDurationMs: 7000 });
    assert.ok(fits.samples.length > 0);
  });

  test('an abort ends the call with an AbortError, before and during decoding', async () => {
    const ogg = await (await getFixtures()).bytes('ogg-opus');
    await assert.rejects(decodeAudio(ogg, { sampleRate: 16000, signal: AbortSignal.abort() }), (error: unknown) => isAbortError(error));
    const controller = new AbortController();
    const pending = decodeAudio(ogg, { sampleRate: 16000, signal: controller.signal });
    controller.abort();
    await assert.rejects(pending, (error: unknown) => isAbortError(error));
  });
});

describe('createStreamDecoder', () => {
  test('WebM/Opus fed in 4 KB chunks (MediaRecorder timeslices) gives the same audio as a whole-file decode', async () => {
    const bytes = await (await getFixtures()).bytes('webm-opus');
    const whole = await decodeAudio(bytes, { sampleRate: 16000 });
    const decoder = createStreamDecoder({ sampleRate: 16000 });
    const [streamed] = await Promise.all([collect(decoder), feed(decoder, bytes, 4096)]);
    assert.ok(Math.abs(streamed.length - whole.samples.length) <= 320, `streamed ${streamed.length} samples, whole ${whole.samples.length}`);
    const match = bestCorrelation(whole.samples, streamed, 320, 16000, 16000);
    assert.ok(match.correlation > 0.999 && match.lag === 0, `correlation ${match.correlation} at lag ${match.lag}`);
  });

  test('output read only after ffmpeg has finished still holds all the audio', async () => {
    // Half a second: 16 KB of PCM out fits in the pipe, so ffmpeg exits before anyone reads.
    const bytes = writeWav({ samples: original().samples.subarray(0, 8000), sampleRate: 16000 });
    const decoder = createStreamDecoder({ sampleRate: 16000 });
    decoder.write(bytes);
    decoder.end();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const late = await collect(decoder);
    assert.equal(late.length, 8000, `read late: ${late.length} of 8000 samples`);
  });

  test('Ogg/Opus in odd-sized chunks (1 byte first, so the sniffer waits for more) decodes completely', async () => {
    const bytes = await (await getFixtures()).bytes('ogg-opus');
    const reference = original();
    const decoder = createStreamDecoder({ sampleRate: 16000 });
    const reading = collect(decoder);
    decoder.write(bytes.subarray(0, 1));
    await feed(decoder, bytes.subarray(1), 777);
    const streamed = await reading;
    assertDurationClose(streamed.length, 16000, reference.samples.length / 16000, 'ogg stream');
    assertSameWaveform(reference.samples, streamed, 16000, 0.95, 10, 'ogg stream');
  });

  test('an explicit inputFormat works, and a 24 kHz output rate too', async () => {
    const bytes = await (await getFixtures()).bytes('webm-opus');
    const decoder = createStreamDecoder({ sampleRate: 24000, inputFormat: 'webm' });
    const [streamed] = await Promise.all([collect(decoder), feed(decoder, bytes, 4096)]);
    assertDurationClose(streamed.length, 24000, original().samples.length / 16000, 'webm stream at 24 kHz');
  });

  test('backpressure: write() returns false when ffmpeg is not being read, drain() then lets everything through', async () => {
    const speech = original();
    const input = Buffer.concat([wavHeader(16000), int16ToBytes(speech.samples), int16ToBytes(speech.samples), int16ToBytes(speech.samples)]);
    const decoder = createStreamDecoder({ sampleRate: 16000, inputFormat: 'wav' });
    let refusedAt = -1;
    for (let offset = 0; offset < input.length; offset += 16384) {
      if (!decoder.write(input.subarray(offset, offset + 16384))) {
        refusedAt = offset + 16384;
        break;
      }
    }
    assert.ok(refusedAt > 0 && refusedAt < input.length, `write() never asked to wait over ${input.length} bytes`);
    const reading = collect(decoder);
    await decoder.drain();
    await feed(decoder, input.subarray(refusedAt), 16384);
    const out = await reading;
    assert.equal(out.length, speech.samples.length * 3);
    assert.deepEqual(out.subarray(0, speech.samples.length), speech.samples);
  });

  test('ignoring backpressure past maxPendingBytes is refused with payload_too_large', async () => {
    const chunk = Buffer.alloc(32768);
    const decoder = createStreamDecoder({ sampleRate: 16000, inputFormat: 's16le', maxPendingBytes: 256 * 1024 });
    await checkFfmpeg();
    let thrown: unknown;
    for (let i = 0; i < 1000 && thrown === undefined; i++) {
      try {
        decoder.write(chunk);
      } catch (error) {
        thrown = error;
      }
    }
    assert.ok(isCode('payload_too_large', /more than 262144 bytes/)(thrown));
    await assert.rejects(collect(decoder), isCode('payload_too_large'));
  });

  test('garbage in the stream ends the output with unreadable_audio', async () => {
    const garbage = new Uint8Array(16384);
    for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 7919 + 13) % 251;
    await checkFfmpeg();
    const decoder = createStreamDecoder({ sampleRate: 16000 });
    const [result] = await Promise.allSettled([collect(decoder), feed(decoder, garbage, 4096)]);
    assert.equal(result.status, 'rejected');
    assert.ok(isCode('unreadable_audio', /could not be decoded/)(result.reason));
    assert.throws(() => decoder.write(garbage), isCode('unreadable_audio'), 'later writes report the failure');
  });

  test('close() mid-stream ends the output quietly; abort ends it with an AbortError', async () => {
    const bytes = await (await getFixtures()).bytes('webm-opus');
    const closing = createStreamDecoder({ sampleRate: 16000 });
    closing.write(bytes.subarray(0, bytes.length >> 1));
    let chunks = 0;
    for await (const _chunk of closing.output) {
      chunks++;
      closing.close();
    }
    assert.equal(chunks, 1);
    assert.throws(() => closing.write(bytes), isCode('internal_error', /after close/));

    const controller = new AbortController();
    const aborting = createStreamDecoder({ sampleRate: 16000, signal: controller.signal });
    aborting.write(bytes.subarray(0, bytes.length >> 1));
    const reading = collect(aborting);
    controller.abort();
    await assert.rejects(reading, (error: unknown) => isAbortError(error));
    assert.throws(
      () => aborting.write(bytes),
      (error: unknown) => isAbortError(error),
    );
  });

  test('ending without any input gives empty output', async () => {
    const decoder = createStreamDecoder({ sampleRate: 16000 });
    decoder.end();
    assert.equal((await collect(decoder)).length, 0);
  });
});

describe('encodeAudio', () => {
  const formats: EncodeFormat[] = ['mp3', 'opus', 'webm', 'aac', 'flac', 'wav'];

  for (const format of formats) {
    test(`${format}: bytes flow out before the input ends, and ffmpeg decodes them back to the same speech`, async () => {
      await checkFfmpeg();
      const speech24 = await resample(original(), 24000);
      const hop = 2400;
      let sawOutput!: () => void;
      const firstOutput = new Promise<void>((resolve) => {
        sawOutput = resolve;
      });
      async function* source(): AsyncGenerator<Int16Array> {
        for (let offset = 0; offset < speech24.samples.length; offset += hop) {
          const last = offset + hop >= speech24.samples.length;
          if (last) {
            // A buffering encoder would hold everything until the input ends: fail instead of hanging.
            let timer: NodeJS.Timeout | undefined;
            const timeout = new Promise<never>((_, reject) => {
              timer = setTimeout(() => reject(new Error(`${format}: no encoded bytes arrived before the input ended`)), 10_000);
            });
            try {
              await Promise.race([firstOutput, timeout]);
            } finally {
              clearTimeout(timer);
            }
          }
          yield speech24.samples.slice(offset, offset + hop);
        }
      }
      const parts: Buffer[] = [];
      for await (const bytes of encodeAudio(source(), { sampleRate: 24000, format })) {
        parts.push(bytes);
        sawOutput();
      }
      assert.ok(parts.length > 1, `${format}: ${parts.length} chunk(s)`);
      const encoded = Buffer.concat(parts);
      const decoded = await decodeAudio(encoded, { sampleRate: 24000 });
      assertDurationClose(decoded.samples.length, 24000, speech24.samples.length / 24000, format);
      assertSameWaveform(speech24.samples, decoded.samples, 24000, 0.9, 150, format);
    });
  }

  test('opus at 22.05 kHz (a rate libopus lacks) still encodes', async () => {
    await checkFfmpeg();
    const speech = await resample(original(), 22050);
    async function* source(): AsyncGenerator<Int16Array> {
      yield speech.samples;
    }
    const parts: Buffer[] = [];
    for await (const bytes of encodeAudio(source(), { sampleRate: 22050, format: 'opus' })) parts.push(bytes);
    const decoded = await decodeAudio(Buffer.concat(parts), { sampleRate: 16000 });
    assertDurationClose(decoded.samples.length, 16000, speech.samples.length / 22050, 'opus from 22.05 kHz');
  });

  test('a failing source ends the output with its error; an abort with an AbortError', async () => {
    await checkFfmpeg();
    async function* failing(): AsyncGenerator<Int16Array> {
      yield new Int16Array(2400);
      throw new Error('synthesizer failed');
    }
    await assert.rejects(async () => {
      for await (const _bytes of encodeAudio(failing(), { sampleRate: 24000, format: 'mp3' })) {
        // Draining.
      }
    }, /synthesizer failed/);

    const controller = new AbortController();
    async function* endless(): AsyncGenerator<Int16Array> {
      for (;;) {
        yield new Int16Array(2400);
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    let received = 0;
    await assert.rejects(
      async () => {
        for await (const _bytes of encodeAudio(endless(), { sampleRate: 24000, format: 'flac', signal: controller.signal })) {
          received++;
          controller.abort();
        }
      },
      (error: unknown) => isAbortError(error),
    );
    assert.equal(received, 1, 'no bytes are yielded after the abort');
  });

  test('an unknown format is unsupported_format', () => {
    async function* none(): AsyncGenerator<Int16Array> {}
    assert.throws(
      () => encodeAudio(none(), { sampleRate: 24000, format: 'ogg' as EncodeFormat }),
      isCode('unsupported_format', /mp3, opus, webm, aac, flac, wav/),
    );
  });
});

test('ffmpegPath honours FFMPEG_PATH', async () => {
  await withFfmpegPath('/opt/ffmpeg/bin/ffmpeg', async () => {
    assert.equal(ffmpegPath(), '/opt/ffmpeg/bin/ffmpeg');
  });
  assert.notEqual(ffmpegPath(), '/opt/ffmpeg/bin/ffmpeg');
});
