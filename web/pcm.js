// @ts-check
/**
 * PCM16 ⇄ base64, as the realtime wire carries audio (`input_audio_buffer.append`,
 * `response.output_audio.delta`). Little-endian, which every browser platform is.
 */

/** 32 K characters per String.fromCharCode call: well under the engines' argument limits. */
const CHUNK_BYTES = 0x8000;

/** @param {Int16Array} samples */
export function int16ToBase64(samples) {
  const bytes = new Uint8Array(samples.buffer, samples.byteOffset, samples.byteLength);
  let binary = '';
  for (let offset = 0; offset < bytes.length; offset += CHUNK_BYTES) {
    binary += String.fromCharCode(...bytes.subarray(offset, offset + CHUNK_BYTES));
  }
  return btoa(binary);
}

/**
 * A trailing odd byte (never sent by the gateway) is dropped rather than read past.
 * @param {string} text
 */
export function base64ToInt16(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length - (binary.length % 2));
  for (let index = 0; index < bytes.length; index++) bytes[index] = binary.charCodeAt(index);
  return new Int16Array(bytes.buffer);
}
