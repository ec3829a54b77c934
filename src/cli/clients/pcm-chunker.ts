/** Bytes from a pipe → whole PCM16 little-endian samples: an odd byte at a chunk's end waits for the next chunk. */
export class PcmChunker {
  private carry: number | undefined;

  push(bytes: Uint8Array): Int16Array {
    const carried = this.carry === undefined ? 0 : 1;
    const total = bytes.byteLength + carried;
    const samples = new Int16Array(total >> 1);
    const view = new Uint8Array(samples.buffer);
    const lastByte = bytes.byteLength > 0 ? bytes[bytes.byteLength - 1] : this.carry;
    if (samples.length > 0) {
      if (this.carry !== undefined) view[0] = this.carry;
      view.set(bytes.subarray(0, samples.byteLength - carried), carried);
    }
    this.carry = total % 2 === 1 ? lastByte : undefined;
    return samples;
  }
}
