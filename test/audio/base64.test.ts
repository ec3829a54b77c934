import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SpeechbridgeError } from '../../src/errors/registry.ts';
import { decodeBase64Audio, encodeBase64Audio, type AudioWireFormat } from '../../src/audio/base64.ts';
import { aLawDecode, aLawEncode, muLawDecode, muLawEncode } from '../../src/audio/g711.ts';
import { sineTone } from './signal-metrics.ts';

function isInvalidAudio(pattern: RegExp, param = 'audio') {
  return (error: unknown): boolean => {
    assert.ok(error instanceof SpeechbridgeError, `expected a SpeechbridgeError, got ${String(error)}`);
    assert.equal(error.code, 'invalid_audio');
    assert.equal(error.param, param);
    assert.match(error.message, pattern);
    return true;
  };
}

describe('base64 audio framing', () => {
  const samples = sineTone(24000, 0.02, [{ hz: 700, amplitude: 12000 }]);

  test('pcm16 round trip is exact and little-endian, 2 bytes per sample', () => {
    const text = encodeBase64Audio(samples, 'pcm16');
    const bytes = Buffer.from(text, 'base64');
    assert.equal(bytes.length, samples.length * 2);
    assert.equal(bytes.readInt16LE(2), samples[1]);
    assert.deepEqual(decodeBase64Audio(text, 'pcm16'), samples);
  });

  test('G.711 formats carry one byte per sample and decode to the codec levels', () => {
    const cases: Array<[AudioWireFormat, (s: Int16Array) => Uint8Array, (c: Uint8Array) => Int16Array]> = [
      ['g711_ulaw', muLawEncode, muLawDecode],
      ['g711_alaw', aLawEncode, aLawDecode],
    ];
    for (const [format, encode, decode] of cases) {
      const text = encodeBase64Audio(samples, format);
      const bytes = Buffer.from(text, 'base64');
      assert.deepEqual(new Uint8Array(bytes), encode(samples), format);
      assert.deepEqual(decodeBase64Audio(text, format), decode(encode(samples)), format);
    }
  });

  test('an empty payload is zero samples', () => {
    assert.equal(decodeBase64Audio('', 'pcm16').length, 0);
    assert.equal(encodeBase64Audio(new Int16Array(0), 'g711_ulaw'), '');
  });

  test('garbage that Buffer.from would silently skip is refused with invalid_audio', () => {
    const valid = encodeBase64Audio(samples.subarray(0, 6), 'pcm16');
    assert.equal(valid.length, 16);
    // Buffer.from drops these characters and returns shorter audio without a word.
    assert.ok(Buffer.from(`${valid.slice(0, 4)}!!!!${valid.slice(4)}`, 'base64').length > 0);
    assert.throws(() => decodeBase64Audio(`${valid.slice(0, 4)}!!!!${valid.slice(4)}`, 'pcm16'), isInvalidAudio(/character "!" at offset 4/));
    assert.throws(() => decodeBase64Audio(`${valid.slice(0, 8)}    ${valid.slice(8, 12)}`, 'pcm16'), isInvalidAudio(/character " " at offset 8/));
    assert.throws(() => decodeBase64Audio('ab-_cd==', 'pcm16'), isInvalidAudio(/character "-" at offset 2/));
  });

  test('bad padding and truncated text are refused', () => {
    assert.throws(() => decodeBase64Audio('AAAAA', 'pcm16'), isInvalidAudio(/length 5 is not a multiple of 4/));
    assert.throws(() => decodeBase64Audio('AA==AAAA', 'pcm16'), isInvalidAudio(/padding at offset 2 is followed by more data/));
    assert.throws(() => decodeBase64Audio('A===', 'pcm16'), isInvalidAudio(/more than two '=' padding/));
  });

  test('an odd byte count is refused for pcm16 but fine for G.711', () => {
    const threeBytes = Buffer.from([1, 2, 3]).toString('base64');
    assert.throws(() => decodeBase64Audio(threeBytes, 'pcm16', 'delta'), isInvalidAudio(/3 bytes, but pcm16 needs an even count/, 'delta'));
    assert.equal(decodeBase64Audio(threeBytes, 'g711_ulaw').length, 3);
  });

  test('a non-string payload is refused', () => {
    assert.throws(() => decodeBase64Audio(42 as unknown as string, 'pcm16'), isInvalidAudio(/must be a base64 string, got number/));
  });

  test('an unknown format is unsupported_format', () => {
    assert.throws(
      () => decodeBase64Audio('AAAA', 'opus' as AudioWireFormat),
      (error: unknown) => error instanceof SpeechbridgeError && error.code === 'unsupported_format' && /pcm16, g711_ulaw, g711_alaw/.test(error.message),
    );
  });
});
