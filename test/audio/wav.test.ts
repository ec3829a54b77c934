import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { SpeechbridgeError } from '../../src/errors/registry.ts';
import { isWav, readWav, wavHeader, writeWav } from '../../src/audio/wav.ts';
import { int16ToBytes } from '../../src/audio/pcm.ts';
import { sharedAudioPath } from '../helpers/shared.ts';
import { sineTone } from './signal-metrics.ts';

/** A RIFF/WAVE file with any format tag, channel count and bit depth, built by hand. */
function buildWav(options: { format: number; channels: number; sampleRate: number; bitsPerSample: number; data: Uint8Array }): Buffer {
  const { format, channels, sampleRate, bitsPerSample, data } = options;
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'ascii');
  header.writeUInt32LE(36 + data.length, 4);
  header.write('WAVE', 8, 'ascii');
  header.write('fmt ', 12, 'ascii');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(format, 20);
  header.writeUInt16LE(channels, 22);
  header.writeUInt32LE(sampleRate, 24);
  header.writeUInt32LE((sampleRate * channels * bitsPerSample) / 8, 28);
  header.writeUInt16LE((channels * bitsPerSample) / 8, 32);
  header.writeUInt16LE(bitsPerSample, 34);
  header.write('data', 36, 'ascii');
  header.writeUInt32LE(data.length, 40);
  return Buffer.concat([header, data]);
}

describe('WAV', () => {
  test('write → read gives back the same samples and rate', () => {
    const samples = sineTone(24000, 0.25, [{ hz: 523, amplitude: 20000 }]);
    samples[0] = -32768;
    samples[1] = 32767;
    const bytes = writeWav({ samples, sampleRate: 24000 });
    assert.equal(bytes.length, 44 + samples.length * 2);
    assert.ok(isWav(bytes));
    const back = readWav(bytes);
    assert.equal(back.sampleRate, 24000);
    assert.deepEqual(back.samples, samples);
  });

  test('a fixture recording reads as 16 kHz mono with the manifest duration', () => {
    const audio = readWav(readFileSync(sharedAudioPath('en_harvard_birch_canoe.wav')));
    assert.equal(audio.sampleRate, 16000);
    const seconds = audio.samples.length / audio.sampleRate;
    assert.ok(Math.abs(seconds - 3.261) < 0.01, `duration ${seconds} s (manifest: 3.261 s)`);
  });

  test('a streaming header (sizes 0xFFFFFFFF) reads up to the end of the bytes', () => {
    const samples = new Int16Array([1, -2, 3, -4, 5]);
    const bytes = Buffer.concat([wavHeader(8000), int16ToBytes(samples)]);
    assert.equal(bytes.readUInt32LE(40), 0xffffffff);
    assert.deepEqual(readWav(bytes).samples, samples);
  });

  test('stereo 16-bit is averaged to mono; 8-bit, 24-bit and float 32-bit scale to PCM16', () => {
    const stereo = buildWav({ format: 1, channels: 2, sampleRate: 16000, bitsPerSample: 16, data: int16ToBytes(new Int16Array([1000, 3000, -400, -600])) });
    assert.deepEqual([...readWav(stereo).samples], [2000, -500]);

    const eightBit = buildWav({ format: 1, channels: 1, sampleRate: 8000, bitsPerSample: 8, data: new Uint8Array([128, 255, 0]) });
    assert.deepEqual([...readWav(eightBit).samples], [0, 127 << 8, -32768]);

    const twentyFour = Buffer.alloc(6);
    twentyFour.writeIntLE(0x123456, 0, 3);
    twentyFour.writeIntLE(-0x400000, 3, 3);
    const wav24 = buildWav({ format: 1, channels: 1, sampleRate: 48000, bitsPerSample: 24, data: twentyFour });
    assert.deepEqual([...readWav(wav24).samples], [0x1234, -0x4000]);

    const floats = Buffer.alloc(12);
    floats.writeFloatLE(0.5, 0);
    floats.writeFloatLE(-1, 4);
    floats.writeFloatLE(2, 8);
    const wavFloat = buildWav({ format: 3, channels: 1, sampleRate: 22050, bitsPerSample: 32, data: floats });
    assert.deepEqual([...readWav(wavFloat).samples], [16384, -32768, 32767]);
  });

  test('non-WAV bytes are unreadable_audio; an unsupported encoding is unsupported_format', () => {
    assert.throws(
      () => readWav(Buffer.from('OggS not a wav file')),
      (error: unknown) => error instanceof SpeechbridgeError && error.code === 'unreadable_audio',
    );
    const muLawWav = buildWav({ format: 7, channels: 1, sampleRate: 8000, bitsPerSample: 8, data: new Uint8Array([0xff, 0x80]) });
    assert.throws(
      () => readWav(muLawWav),
      (error: unknown) => error instanceof SpeechbridgeError && error.code === 'unsupported_format',
    );
  });
});
