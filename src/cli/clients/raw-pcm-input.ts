/**
 * Raw PCM16 little-endian mono from stdin (`-`), a file or a named pipe, resampled from its
 * declared rate to the client's. Aborting the signal ends the stream at once and destroys the
 * input stream (stdin included: a pending read would keep the process alive).
 */
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { createStreamResampler } from '../../audio/resample.ts';
import { PcmChunker } from './pcm-chunker.ts';

export interface RawPcmInputOptions {
  /** `-` for stdin, else a path. */
  input: string;
  inputSampleRate: number;
  sampleRate: number;
  signal: AbortSignal;
}

export async function* readRawPcm(options: RawPcmInputOptions): AsyncGenerator<Int16Array> {
  const { input, signal } = options;
  if (signal.aborted) return;
  const stream: Readable = input === '-' ? process.stdin : createReadStream(input);
  const resampler = await createStreamResampler(options.inputSampleRate, options.sampleRate);
  const chunker = new PcmChunker();
  // An abort must end the loop even while no data comes (a quiet pipe), so reads race it.
  const aborted = new Promise<'aborted'>((resolve) => signal.addEventListener('abort', () => resolve('aborted'), { once: true }));
  const iterator = (stream as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  try {
    for (;;) {
      const next = await Promise.race([iterator.next(), aborted]);
      if (next === 'aborted' || next.done) break;
      const samples = resampler.push(chunker.push(next.value));
      if (samples.length > 0) yield samples;
    }
    if (!signal.aborted) {
      const tail = resampler.flush();
      if (tail.length > 0) yield tail;
    }
  } finally {
    resampler.close();
    stream.destroy();
  }
}
