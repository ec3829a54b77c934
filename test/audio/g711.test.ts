import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { aLawDecode, aLawEncode, muLawDecode, muLawEncode } from '../../src/audio/g711.ts';
import { checkFfmpeg } from '../../src/audio/ffmpeg-probe.ts';
import { ffmpegPath } from '../../src/audio/ffmpeg-process.ts';
import { loadSharedRecording, snrDb } from './signal-metrics.ts';

const run = promisify(execFile);

const ALL_CODES = Uint8Array.from({ length: 256 }, (_, code) => code);
const ALL_SAMPLES = Int16Array.from({ length: 65536 }, (_, index) => index - 32768);

const LAWS = [
  { name: 'μ-law', ffmpegFormat: 'mulaw', encode: muLawEncode, decode: muLawDecode },
  { name: 'A-law', ffmpegFormat: 'alaw', encode: aLawEncode, decode: aLawDecode },
] as const;

/** ffmpeg's pcm_mulaw / pcm_alaw codecs: an independent implementation to check against. */
async function ffmpegConvert(input: Uint8Array, inputFormat: string, outputFormat: string): Promise<Buffer> {
  await checkFfmpeg();
  const child = run(ffmpegPath(), ['-v', 'error', '-f', inputFormat, '-ar', '8000', '-ac', '1', '-i', 'pipe:0', '-f', outputFormat, 'pipe:1'], {
    encoding: 'buffer',
    maxBuffer: 1 << 20,
  });
  child.child.stdin?.end(input);
  return (await child).stdout;
}

describe('G.711', () => {
  test('known code points: silence is 0xFF in μ-law and 0xD5 in A-law, full scale maps to the end codes', () => {
    assert.deepEqual([...muLawEncode(new Int16Array([0, 32767, -32768]))], [0xff, 0x80, 0x00]);
    assert.deepEqual([...aLawEncode(new Int16Array([0, 32767, -32768]))], [0xd5, 0xaa, 0x2a]);
    assert.deepEqual([...muLawDecode(new Uint8Array([0xff, 0x7f, 0x80, 0x00]))], [0, 0, 32124, -32124]);
    assert.deepEqual([...aLawDecode(new Uint8Array([0xd5, 0x55, 0xaa, 0x2a]))], [8, -8, 32256, -32256]);
  });

  for (const law of LAWS) {
    test(`${law.name}: decoding all 256 codes agrees with ffmpeg's ${law.ffmpegFormat} decoder`, async () => {
      const reference = await ffmpegConvert(ALL_CODES, law.ffmpegFormat, 's16le');
      const expected = new Int16Array(reference.buffer.slice(reference.byteOffset, reference.byteOffset + reference.byteLength));
      assert.deepEqual(law.decode(ALL_CODES), expected);
    });

    test(`${law.name}: the encoder picks one of the two levels around every 16-bit sample, within 1/16 of its size`, () => {
      const levels = [...new Set(law.decode(ALL_CODES))].sort((a, b) => a - b);
      const decoded = law.decode(law.encode(ALL_SAMPLES));
      let worstRelative = 0;
      for (let i = 0; i < ALL_SAMPLES.length; i++) {
        const sample = ALL_SAMPLES[i];
        const level = decoded[i];
        const below = levels.findLast((candidate) => candidate <= sample);
        const above = levels.find((candidate) => candidate >= sample);
        assert.ok(level === below || level === above, `sample ${sample} coded as ${level}, outside [${below}, ${above}]`);
        if (Math.abs(sample) > 256) worstRelative = Math.max(worstRelative, Math.abs(sample - level) / Math.abs(sample));
      }
      assert.ok(worstRelative < 1 / 16, `worst relative error ${worstRelative.toFixed(4)}`);
    });

    test(`${law.name}: encoding every code's level gives the code back`, () => {
      const back = law.encode(law.decode(ALL_CODES));
      for (let code = 0; code < 256; code++) {
        // μ-law has two zeros (0x7F is −0, 0xFF is +0); a 0 sample encodes as +0.
        const expected = law.ffmpegFormat === 'mulaw' && code === 0x7f ? 0xff : code;
        assert.equal(back[code], expected, `code 0x${code.toString(16)}`);
      }
    });

    test(`${law.name}: the encoder agrees with ffmpeg's except at decision ties, by one step at most`, async () => {
      const ours = law.encode(ALL_SAMPLES);
      const reference = await ffmpegConvert(new Uint8Array(ALL_SAMPLES.buffer), 's16le', law.ffmpegFormat);
      assert.equal(reference.length, ALL_SAMPLES.length);
      const oursDecoded = law.decode(ours);
      const referenceDecoded = law.decode(new Uint8Array(reference));
      const levels = [...new Set(law.decode(ALL_CODES))].sort((a, b) => a - b);
      let differing = 0;
      for (let i = 0; i < ALL_SAMPLES.length; i++) {
        if (ours[i] === reference[i]) continue;
        differing++;
        const stepApart = Math.abs(levels.indexOf(oursDecoded[i]) - levels.indexOf(referenceDecoded[i]));
        assert.equal(stepApart, 1, `sample ${ALL_SAMPLES[i]}: ours ${oursDecoded[i]}, ffmpeg ${referenceDecoded[i]}`);
      }
      // G.191 truncates to 14 (μ) or 13 (A) bits before comparing; ffmpeg rounds. They part only
      // on the few samples next to each decision threshold.
      assert.ok(differing / ALL_SAMPLES.length < 0.02, `${differing} of 65536 samples code differently`);
    });

    test(`${law.name}: a speech round trip keeps an SNR above 35 dB`, () => {
      const speech = loadSharedRecording('en_jfk_inaugural.wav');
      const codes = law.encode(speech.samples);
      assert.equal(codes.length, speech.samples.length);
      const snr = snrDb(speech.samples, law.decode(codes));
      assert.ok(snr > 35, `SNR ${snr.toFixed(1)} dB`);
    });
  }
});
