/**
 * A `ws` message as one Buffer: ws hands over a Buffer, an array of fragments, or an
 * ArrayBuffer depending on the socket's binaryType and how the frame arrived.
 */
import type { RawData } from 'ws';

export function rawDataToBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}
