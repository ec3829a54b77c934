/**
 * WAV (RIFF) read and write. Hand-written because it is a few dozen lines and the npm WAV
 * packages either pull in large codec sets or do not stream a header of unknown length.
 * Reads PCM 8/16/24/32-bit and IEEE float 32-bit, any channel count (downmixed to mono).
 */
import { SpeechbridgeError } from '../errors/registry.ts';
import { downmixToMono, float32ToInt16, type PcmAudio } from './pcm.ts';

const FORMAT_PCM = 1;
const FORMAT_FLOAT = 3;
const FORMAT_EXTENSIBLE = 0xfffe;

export function isWav(bytes: Uint8Array): boolean {
  return bytes.length >= 12 && ascii(bytes, 0, 4) === 'RIFF' && ascii(bytes, 8, 4) === 'WAVE';
}

export function readWav(bytes: Uint8Array): PcmAudio {
  if (!isWav(bytes)) throw new SpeechbridgeError('unreadable_audio', 'not a RIFF/WAVE file');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = 12;
  let format = 0;
  let channels = 0;
  let sampleRate = 0;
  let bitsPerSample = 0;
  let data: Uint8Array | undefined;
  while (offset + 8 <= bytes.length) {
    const id = ascii(bytes, offset, 4);
    let size = view.getUint32(offset + 4, true);
    const body = offset + 8;
    // Streamed WAVs carry 0 or 0xFFFFFFFF as the data size: take what is there.
    if (id === 'data' && (size === 0 || size === 0xffffffff || body + size > bytes.length)) size = bytes.length - body;
    if (id === 'fmt ') {
      format = view.getUint16(body, true);
      channels = view.getUint16(body + 2, true);
      sampleRate = view.getUint32(body + 4, true);
      bitsPerSample = view.getUint16(body + 14, true);
      if (format === FORMAT_EXTENSIBLE && size >= 26) format = view.getUint16(body + 24, true);
    } else if (id === 'data') {
      data = bytes.subarray(body, body + size);
      break;
    }
    offset = body + size + (size % 2);
  }
  if (!format || !data) throw new SpeechbridgeError('unreadable_audio', 'WAV file has no fmt or data chunk');
  if (channels < 1 || sampleRate < 1) throw new SpeechbridgeError('unreadable_audio', 'WAV header has no channels or sample rate');
  const interleaved = decodeSamples(data, format, bitsPerSample);
  return { samples: downmixToMono(interleaved, channels), sampleRate };
}

function decodeSamples(data: Uint8Array, format: number, bits: number): Int16Array {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (format === FORMAT_PCM && bits === 16) {
    const out = new Int16Array(Math.floor(data.length / 2));
    for (let i = 0; i < out.length; i++) out[i] = view.getInt16(i * 2, true);
    return out;
  }
  if (format === FORMAT_PCM && bits === 8) {
    const out = new Int16Array(data.length);
    for (let i = 0; i < out.length; i++) out[i] = (data[i] - 128) << 8;
    return out;
  }
  if (format === FORMAT_PCM && bits === 24) {
    const out = new Int16Array(Math.floor(data.length / 3));
    for (let i = 0; i < out.length; i++) out[i] = view.getInt16(i * 3 + 1, true);
    return out;
  }
  if (format === FORMAT_PCM && bits === 32) {
    const out = new Int16Array(Math.floor(data.length / 4));
    for (let i = 0; i < out.length; i++) out[i] = view.getInt32(i * 4, true) >> 16;
    return out;
  }
  if (format === FORMAT_FLOAT && bits === 32) {
    const floats = new Float32Array(Math.floor(data.length / 4));
    for (let i = 0; i < floats.length; i++) floats[i] = view.getFloat32(i * 4, true);
    return float32ToInt16(floats);
  }
  throw new SpeechbridgeError('unsupported_format', `WAV encoding ${format} with ${bits} bits per sample is not supported`);
}

/**
 * A 44-byte header for mono PCM16. With `dataBytes` unknown (streaming), the sizes are set
 * to 0xFFFFFFFF, which ffmpeg, browsers and readWav accept as "until the end".
 */
export function wavHeader(sampleRate: number, dataBytes?: number): Buffer {
  const header = Buffer.alloc(44);
  const streaming = dataBytes === undefined;
  header.write('RIFF', 0, 'ascii');
  header.writeUInt32LE(streaming ? 0xffffffff : 36 + dataBytes, 4);
  header.write('WAVE', 8, 'ascii');
  header.write('fmt ', 12, 'ascii');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(FORMAT_PCM, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(sampleRate, 24);
  header.writeUInt32LE(sampleRate * 2, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36, 'ascii');
  header.writeUInt32LE(streaming ? 0xffffffff : dataBytes, 40);
  return header;
}

export function writeWav(audio: PcmAudio): Buffer {
  const body = Buffer.alloc(audio.samples.length * 2);
  for (let i = 0; i < audio.samples.length; i++) body.writeInt16LE(audio.samples[i], i * 2);
  return Buffer.concat([wavHeader(audio.sampleRate, body.length), body]);
}

function ascii(bytes: Uint8Array, start: number, length: number): string {
  return String.fromCharCode(...bytes.subarray(start, start + length));
}
