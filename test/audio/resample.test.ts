import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SpeechbridgeError } from '../../src/errors/registry.ts';
import { concatPcm, type PcmAudio } from '../../src/audio/pcm.ts';
import { createStreamResampler, createStreamResamplerSync, initResampler, resample, resampleSync } from '../../src/audio/resample.ts';
import { loadSharedRecording, rms, sineTone, snrDb } from './signal-metrics.ts';

/** Two in-band tones, well inside the pass band of every rate pair below (lowest Nyquist 4 kHz). */
const IN_BAND = [
  { hz: 440, amplitude: 9000 },
  { hz: 1870, amplitude: 6000 },
];

/** The first and last 20 ms hold the filter's run-in against the implicit silence outside the buffer. */
function interior(sampleRate: number, length: number): [number, number] {
  const margin = Math.round(sampleRate * 0.02);
  return [margin, length - margin];
}

async function roundTrip(audio: PcmAudio, viaRate: number): Promise<PcmAudio> {
  return resample(await resample(audio, viaRate), audio.sampleRate);
}

describe('resample: whole buffer', () => {
  const pairs: Array<[number, number]> = [
    [16000, 48000],
    [24000, 16000],
    [8000, 16000],
    [16000, 24000],
    [22050, 24000],
    [44100, 48000],
    [48000, 16000],
  ];

  for (const [rate, viaRate] of pairs) {
    test(`a two-tone sine survives ${rate} → ${viaRate} → ${rate} Hz with SNR above 50 dB`, async () => {
      const samples = sineTone(rate, 0.5, IN_BAND);
      const back = await roundTrip({ samples, sampleRate: rate }, viaRate);
      assert.equal(back.sampleRate, rate);
      assert.equal(back.samples.length, samples.length, 'a round trip keeps the length exactly');
      const [from, to] = interior(rate, samples.length);
      const snr = snrDb(samples, back.samples, from, to);
      assert.ok(snr > 50, `SNR ${snr.toFixed(1)} dB`);
    });
  }

  test('output length is ceil(n · to / from) and output time k/to lines up with input time (no delay)', async () => {
    const samples = sineTone(24000, 0.3, IN_BAND);
    const out = await resample({ samples, sampleRate: 24000 }, 16000);
    assert.equal(out.samples.length, Math.ceil((samples.length * 16000) / 24000));
    // The same tones sampled directly at 16 kHz: a one-sample shift would cap the SNR near 10 dB.
    const direct = sineTone(16000, 0.3, IN_BAND);
    const [from, to] = interior(16000, direct.length);
    const snr = snrDb(direct, out.samples, from, to);
    assert.ok(snr > 50, `SNR against the analytic 16 kHz signal ${snr.toFixed(1)} dB`);
  });

  test('real speech survives 16k → 48k → 16k, 24k → 16k → 24k and 8k → 16k → 8k above 30 dB', async () => {
    const speech = loadSharedRecording('en_ls_1089-134691-0000.wav');
    assert.equal(speech.sampleRate, 16000);
    const speech24 = await resample(speech, 24000);
    const speech8 = await resample(speech, 8000);
    const cases: Array<[string, PcmAudio, number]> = [
      ['16k → 48k → 16k', speech, 48000],
      ['24k → 16k → 24k', speech24, 16000],
      ['8k → 16k → 8k', speech8, 16000],
    ];
    for (const [label, audio, viaRate] of cases) {
      const back = await roundTrip(audio, viaRate);
      assert.equal(back.samples.length, audio.samples.length, label);
      const snr = snrDb(audio.samples, back.samples);
      assert.ok(snr > 30, `${label}: SNR ${snr.toFixed(1)} dB`);
    }
  });

  const aliasCases: Array<[number, number, number]> = [
    [48000, 16000, 10000],
    [24000, 16000, 9000],
    [44100, 8000, 5000],
    [22050, 16000, 8800],
  ];
  for (const [from, to, hz] of aliasCases) {
    test(`downsampling ${from} → ${to} Hz attenuates a ${hz} Hz tone (above the ${to / 2} Hz Nyquist) by at least 60 dB`, async () => {
      const tone = sineTone(from, 0.5, [{ hz, amplitude: 16000 }]);
      const out = await resample({ samples: tone, sampleRate: from }, to);
      const [start, end] = interior(to, out.samples.length);
      const attenuationDb = 20 * Math.log10(rms(tone) / Math.max(rms(out.samples, start, end), 1e-9));
      assert.ok(attenuationDb >= 60, `attenuation ${attenuationDb.toFixed(1)} dB`);
    });
  }

  test('the aliasing measurement detects aliasing: plain decimation keeps the folded tone', () => {
    const tone = sineTone(48000, 0.5, [{ hz: 10000, amplitude: 16000 }]);
    const decimated = tone.filter((_, index) => index % 3 === 0);
    const attenuationDb = 20 * Math.log10(rms(tone) / rms(decimated));
    assert.ok(attenuationDb < 3, `decimation attenuation ${attenuationDb.toFixed(1)} dB`);
  });

  test('a tone at 87% of the target Nyquist passes within 0.5 dB', async () => {
    const tone = sineTone(48000, 0.5, [{ hz: 7000, amplitude: 16000 }]);
    const out = await resample({ samples: tone, sampleRate: 48000 }, 16000);
    const [start, end] = interior(16000, out.samples.length);
    const gainDb = 20 * Math.log10(rms(out.samples, start, end) / rms(tone));
    assert.ok(Math.abs(gainDb) < 0.5, `gain ${gainDb.toFixed(2)} dB`);
  });

  test('24 → 16 kHz, the way to the recognizer, keeps the band to 7.6 kHz (within 3 dB) and rejects what lies above 8 kHz', async () => {
    const gainDb = (input: Int16Array, output: Int16Array) => {
      const [start, end] = interior(16000, output.length);
      return 20 * Math.log10(rms(output, start, end) / rms(input));
    };
    const high = sineTone(24000, 0.5, [{ hz: 7600, amplitude: 16000 }]);
    const whole = await resample({ samples: high, sampleRate: 24000 }, 16000);
    assert.ok(gainDb(high, whole.samples) > -3, `7.6 kHz gain ${gainDb(high, whole.samples).toFixed(2)} dB`);
    // The realtime path: the session's input is streamed through in 20 ms hops at the default quality.
    const stream = createStreamResamplerSync(24000, 16000);
    const parts: Int16Array[] = [];
    for (let offset = 0; offset < high.length; offset += 480) parts.push(stream.push(high.subarray(offset, offset + 480)));
    parts.push(stream.flush());
    stream.close();
    const streamed = concatPcm(parts);
    assert.ok(gainDb(high, streamed) > -3, `7.6 kHz gain, streamed, ${gainDb(high, streamed).toFixed(2)} dB`);

    const aboveNyquist = sineTone(24000, 0.5, [{ hz: 8600, amplitude: 16000 }]);
    const rejected = await resample({ samples: aboveNyquist, sampleRate: 24000 }, 16000);
    const [start, end] = interior(16000, rejected.samples.length);
    const attenuationDb = 20 * Math.log10(rms(aboveNyquist) / Math.max(rms(rejected.samples, start, end), 1e-9));
    assert.ok(attenuationDb >= 60, `8.6 kHz attenuation ${attenuationDb.toFixed(1)} dB`);
  });

  test('equal rates return the same object; empty input gives empty output', async () => {
    const audio = { samples: new Int16Array([1, 2, 3]), sampleRate: 16000 };
    assert.equal(await resample(audio, 16000), audio);
    const empty = await resample({ samples: new Int16Array(0), sampleRate: 16000 }, 24000);
    assert.equal(empty.samples.length, 0);
    assert.equal(empty.sampleRate, 24000);
  });

  test('rates outside 1000–384000 Hz or not integers are refused with invalid_value', async () => {
    const audio = { samples: new Int16Array(10), sampleRate: 16000 };
    for (const bad of [0, -8000, 16000.5, Number.NaN, 1_000_000]) {
      await assert.rejects(resample(audio, bad), (error: unknown) => error instanceof SpeechbridgeError && error.code === 'invalid_value');
    }
    await assert.rejects(createStreamResampler(16000, 0), (error: unknown) => error instanceof SpeechbridgeError && error.param === 'toRate');
  });

  test('resampleSync after initResampler gives the same samples as resample', async () => {
    await initResampler();
    const speech = loadSharedRecording('en_one_two_three.wav');
    const viaAsync = await resample(speech, 24000);
    const viaSync = resampleSync(speech, 24000);
    assert.deepEqual(viaSync.samples, viaAsync.samples);
  });
});

describe('resample: stream', () => {
  const chunkPatterns: Array<[string, number[]]> = [
    ['odd sizes', [1, 7, 333, 4097, 9001, 160, 2]],
    ['20 ms hops', [480]],
    ['one huge chunk', [1_000_000]],
  ];

  for (const [label, pattern] of chunkPatterns) {
    test(`stream output equals the whole-buffer result (${label}, 24k → 16k and 16k → 48k)`, async () => {
      const speech = loadSharedRecording('en_ls_1089-134691-0000.wav');
      for (const [input, toRate] of [
        [await resample(speech, 24000), 16000],
        [speech, 48000],
      ] as const) {
        const whole = await resample(input, toRate);
        const stream = await createStreamResampler(input.sampleRate, toRate);
        const parts: Int16Array[] = [];
        let offset = 0;
        for (let i = 0; offset < input.samples.length; i++) {
          const size = pattern[i % pattern.length];
          parts.push(stream.push(input.samples.subarray(offset, offset + size)));
          offset += size;
        }
        parts.push(stream.flush());
        stream.close();
        const streamed = concatPcm(parts);
        assert.equal(streamed.length, whole.samples.length, `length ${input.sampleRate} → ${toRate}`);
        let maxDifference = 0;
        for (let i = 0; i < streamed.length; i++) maxDifference = Math.max(maxDifference, Math.abs(streamed[i] - whole.samples[i]));
        assert.ok(maxDifference <= 1, `largest sample difference ${maxDifference}`);
      }
    });
  }

  test('chunk borders leave no click: a sine streamed in 7-sample chunks matches the analytic sine', async () => {
    const stream = await createStreamResampler(16000, 24000);
    const input = sineTone(16000, 0.3, IN_BAND);
    const parts: Int16Array[] = [];
    for (let offset = 0; offset < input.length; offset += 7) parts.push(stream.push(input.subarray(offset, offset + 7)));
    parts.push(stream.flush());
    stream.close();
    const out = concatPcm(parts);
    const direct = sineTone(24000, 0.3, IN_BAND);
    const [from, to] = interior(24000, direct.length);
    let worst = 0;
    for (let i = from; i < to; i++) worst = Math.max(worst, Math.abs(out[i] - direct[i]));
    // A click (a dropped or repeated sample at a border) would show as an error of thousands on a 15000-peak sine.
    assert.ok(worst < 20, `largest deviation from the analytic sine ${worst}`);
  });

  test('flush resets the stream: the same input gives the same output again', async () => {
    const stream = await createStreamResampler(24000, 16000);
    const input = sineTone(24000, 0.1, IN_BAND);
    const first = concatPcm([stream.push(input), stream.flush()]);
    const second = concatPcm([stream.push(input), stream.flush()]);
    stream.close();
    assert.equal(first.length, Math.ceil((input.length * 16000) / 24000));
    assert.deepEqual(second, first);
  });

  test("pushInto writes what push returns into the caller's array, within maxOutput, for realtime hops and for blocks longer than one call", async () => {
    const input = sineTone(24000, 0.5, IN_BAND);
    for (const chunkSamples of [480, 10_000]) {
      const byPush = createStreamResamplerSync(24000, 16000);
      const byPushInto = createStreamResamplerSync(24000, 16000);
      const target = new Int16Array(input.length);
      let written = 0;
      const pushed: Int16Array[] = [];
      for (let start = 0; start < input.length; start += chunkSamples) {
        const chunk = input.subarray(start, start + chunkSamples);
        const count = byPushInto.pushInto(chunk, target, written);
        assert.ok(count <= byPushInto.maxOutput(chunk.length), `${count} samples written, maxOutput ${byPushInto.maxOutput(chunk.length)}`);
        written += count;
        pushed.push(byPush.push(chunk));
      }
      assert.deepEqual(target.subarray(0, written), concatPcm(pushed));
      assert.deepEqual(byPushInto.flush(), byPush.flush());
      byPush.close();
      byPushInto.close();
    }
    const passThrough = createStreamResamplerSync(16000, 16000);
    const target = new Int16Array(4);
    assert.equal(passThrough.pushInto(new Int16Array([5, 6, 7]), target, 1), 3);
    assert.deepEqual([...target], [0, 5, 6, 7]);
  });

  test('equal rates pass chunks through; a closed stream refuses further use', async () => {
    const passThrough = createStreamResamplerSync(16000, 16000);
    const chunk = new Int16Array([5, 6, 7]);
    assert.equal(passThrough.push(chunk), chunk);
    assert.equal(passThrough.flush().length, 0);
    const stream = await createStreamResampler(16000, 8000);
    stream.close();
    stream.close();
    assert.throws(
      () => stream.push(chunk),
      (error: unknown) => error instanceof SpeechbridgeError && /after close/.test(error.message),
    );
  });
});
