/**
 * Wyoming audio as the gateway's mono PCM16: `audio-chunk` payloads are raw little-endian PCM
 * in the format their `rate`, `width` (bytes per sample) and `channels` say. Widths 2, 3 and 4
 * are signed; width 1 is unsigned (offset 128), as in the WAV files servers read their audio
 * from. Channels are averaged into one. A payload that ends inside a frame keeps its last bytes
 * for the next chunk, so chunks cut anywhere decode to the same samples.
 */
import { downmixToMono } from '../../audio/pcm.ts';
import type { WyomingAudioFormat } from './messages.ts';

export class WyomingPcmDecoder {
  readonly format: WyomingAudioFormat;
  readonly #frameBytes: number;
  #carry: Buffer = Buffer.alloc(0);

  constructor(format: WyomingAudioFormat) {
    this.format = format;
    this.#frameBytes = format.width * format.channels;
  }

  /** Bytes of a partial frame held for the next chunk. */
  get carriedBytes(): number {
    return this.#carry.byteLength;
  }

  push(payload: Uint8Array): Int16Array {
    const bytes = this.#carry.byteLength > 0 ? Buffer.concat([this.#carry, payload]) : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
    const frames = Math.floor(bytes.byteLength / this.#frameBytes);
    const whole = frames * this.#frameBytes;
    this.#carry = Buffer.from(bytes.subarray(whole));
    const interleaved = toInt16(bytes.subarray(0, whole), this.format.width);
    return downmixToMono(interleaved, this.format.channels);
  }
}

function toInt16(bytes: Buffer, width: number): Int16Array {
  const count = bytes.byteLength / width;
  const out = new Int16Array(count);
  switch (width) {
    case 1:
      for (let i = 0; i < count; i++) out[i] = (bytes[i] - 128) << 8;
      break;
    case 2:
      for (let i = 0; i < count; i++) out[i] = bytes.readInt16LE(i * 2);
      break;
    case 3:
      // The top two bytes of a 24-bit sample are its 16-bit value.
      for (let i = 0; i < count; i++) out[i] = bytes.readInt16LE(i * 3 + 1);
      break;
    case 4:
      for (let i = 0; i < count; i++) out[i] = bytes.readInt16LE(i * 4 + 2);
      break;
    default:
      throw new RangeError(`unsupported sample width ${width}`);
  }
  return out;
}
