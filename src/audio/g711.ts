/**
 * G.711 μ-law and A-law (PCM16 ⇄ 8-bit), as telephone bridges send them at 8 kHz.
 * The per-sample arithmetic follows the ITU-T G.191 reference code (g711.c: ulaw_compress,
 * ulaw_expand, alaw_compress, alaw_expand), which takes and yields 16-bit-scaled samples.
 * It runs once at load to fill the tables: 64 K entries per encoder (one byte per possible
 * sample, 128 KB for both) and 256 per decoder, so coding a 20 ms frame is 160 lookups.
 */

/** The two G.711 companding laws, by the names the realtime protocol gives them. */
export type G711Encoding = 'g711_ulaw' | 'g711_alaw';

/** G.711 bytes as a client sent them (8 kHz, one byte per sample). */
export interface G711Audio {
  encoding: G711Encoding;
  bytes: Uint8Array;
}

/** G.711 bytes → PCM16 samples at 8 kHz. */
export function g711Decode(audio: G711Audio): Int16Array {
  return audio.encoding === 'g711_ulaw' ? muLawDecode(audio.bytes) : aLawDecode(audio.bytes);
}

const muLawEncodeTable = new Uint8Array(65536);
const aLawEncodeTable = new Uint8Array(65536);
const muLawDecodeTable = new Int16Array(256);
const aLawDecodeTable = new Int16Array(256);

for (let sample = -32768; sample <= 32767; sample++) {
  muLawEncodeTable[sample & 0xffff] = muLawCompress(sample);
  aLawEncodeTable[sample & 0xffff] = aLawCompress(sample);
}
for (let code = 0; code < 256; code++) {
  muLawDecodeTable[code] = muLawExpand(code);
  aLawDecodeTable[code] = aLawExpand(code);
}

export function muLawEncode(samples: Int16Array): Uint8Array {
  const out = new Uint8Array(samples.length);
  for (let i = 0; i < samples.length; i++) out[i] = muLawEncodeTable[samples[i] & 0xffff];
  return out;
}

export function muLawDecode(codes: Uint8Array): Int16Array {
  const out = new Int16Array(codes.length);
  for (let i = 0; i < codes.length; i++) out[i] = muLawDecodeTable[codes[i]];
  return out;
}

export function aLawEncode(samples: Int16Array): Uint8Array {
  const out = new Uint8Array(samples.length);
  for (let i = 0; i < samples.length; i++) out[i] = aLawEncodeTable[samples[i] & 0xffff];
  return out;
}

export function aLawDecode(codes: Uint8Array): Int16Array {
  const out = new Int16Array(codes.length);
  for (let i = 0; i < codes.length; i++) out[i] = aLawDecodeTable[codes[i]];
  return out;
}

/** μ-law works on 14-bit magnitudes (the 2 low bits dropped) with a bias of 33 so each segment starts on a power of two. */
function muLawCompress(sample: number): number {
  let magnitude = sample < 0 ? (~sample >> 2) + 33 : (sample >> 2) + 33;
  if (magnitude > 0x1fff) magnitude = 0x1fff;
  let segment = 1;
  for (let rest = magnitude >> 6; rest !== 0; rest >>= 1) segment++;
  const highNibble = 0x08 - segment;
  const lowNibble = 0x0f - ((magnitude >> segment) & 0x0f);
  let code = (highNibble << 4) | lowNibble;
  if (sample >= 0) code |= 0x80;
  return code;
}

function muLawExpand(code: number): number {
  const sign = code < 0x80 ? -1 : 1;
  const inverted = ~code;
  const exponent = (inverted >> 4) & 0x07;
  const mantissa = inverted & 0x0f;
  const step = 4 << (exponent + 1);
  return sign * ((0x80 << exponent) + step * mantissa + step / 2 - 4 * 33);
}

/** A-law works on 13-bit magnitudes (the 4 low bits dropped, one's complement for negatives); even bits are inverted on the line (XOR 0x55). */
function aLawCompress(sample: number): number {
  let magnitude = sample < 0 ? ~sample >> 4 : sample >> 4;
  if (magnitude > 15) {
    let exponent = 1;
    while (magnitude > 16 + 15) {
      magnitude >>= 1;
      exponent++;
    }
    magnitude -= 16;
    magnitude += exponent << 4;
  }
  if (sample >= 0) magnitude |= 0x80;
  return magnitude ^ 0x55;
}

function aLawExpand(code: number): number {
  const value = (code ^ 0x55) & 0x7f;
  const exponent = value >> 4;
  let mantissa = value & 0x0f;
  if (exponent > 0) mantissa += 16;
  mantissa = (mantissa << 4) + 0x08;
  if (exponent > 1) mantissa <<= exponent - 1;
  return code > 127 ? mantissa : -mantissa;
}
