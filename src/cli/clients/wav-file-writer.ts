/**
 * Reply audio written to a WAV file as it arrives, so a long session holds none of it in
 * memory: a streaming header first, the real sizes written over it on close. Audio at
 * another rate than the first chunk's is resampled to it. The file is created with the first
 * audio: a session that gets none leaves no file behind.
 */
import { constants } from 'node:fs';
import { access, open, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { SpeechbridgeError } from '../../errors/registry.ts';
import { int16ToBytes } from '../../audio/pcm.ts';
import { resample } from '../../audio/resample.ts';
import { wavHeader } from '../../audio/wav.ts';

/** WAV sizes are 32-bit: 4 GB less the header, 24.8 hours at 24 kHz. Audio past it is dropped. */
const MAX_DATA_BYTES = 0xffffffff - 36;

export class WavFileWriter {
  private file: FileHandle | undefined;
  private sampleRate: number | undefined;
  private dataBytes = 0;
  /** Writes run one after another; each awaits the one before it. */
  private queue: Promise<void> = Promise.resolve();
  private failure: Error | undefined;

  constructor(readonly path: string) {}

  get seconds(): number {
    return this.sampleRate ? this.dataBytes / 2 / this.sampleRate : 0;
  }

  /** Queues a chunk; a write failure is reported by close(). */
  write(samples: Int16Array, sampleRate: number): void {
    this.queue = this.queue
      .then(() => this.append(samples, sampleRate))
      .catch((error: unknown) => {
        this.failure ??= error as Error;
      });
  }

  /** Whether any audio was written (the file exists). */
  get written(): boolean {
    return this.file !== undefined;
  }

  /** Fails now, before any connection, when the file could not be created: its folder is missing or not writable, or it is a folder. */
  async check(): Promise<void> {
    const existing = await stat(this.path).catch(() => undefined);
    if (existing?.isDirectory())
      throw new SpeechbridgeError('invalid_value', `-o ${this.path} is a directory: give a file name such as reply.wav`, { param: 'output' });
    const folder = path.dirname(path.resolve(this.path));
    await access(existing ? this.path : folder, constants.W_OK).catch((error: NodeJS.ErrnoException) => {
      const problem = error.code === 'ENOENT' ? `the folder ${folder} does not exist` : `it is not writable (${error.code ?? error.message})`;
      throw new SpeechbridgeError('invalid_value', `cannot write the reply audio to ${this.path}: ${problem}`, { param: 'output' });
    });
  }

  /** Fixes the header of the file written; nothing when no audio came. */
  async close(): Promise<void> {
    await this.queue;
    if (this.failure) {
      await this.file?.close();
      throw new SpeechbridgeError('internal_error', `could not write the reply audio to ${this.path}: ${this.failure.message}`);
    }
    if (!this.file) return;
    await this.file.write(wavHeader(this.sampleRate ?? 24_000, this.dataBytes), 0, 44, 0);
    await this.file.close();
  }

  private async start(sampleRate: number): Promise<FileHandle> {
    this.sampleRate = sampleRate;
    this.file = await open(this.path, 'w');
    await this.file.write(wavHeader(sampleRate));
    return this.file;
  }

  private async append(samples: Int16Array, sampleRate: number): Promise<void> {
    const file = this.file ?? (await this.start(sampleRate));
    const converted = sampleRate === this.sampleRate ? samples : (await resample({ samples, sampleRate }, this.sampleRate ?? sampleRate)).samples;
    const bytes = int16ToBytes(converted);
    const room = MAX_DATA_BYTES - this.dataBytes;
    const take = Math.min(bytes.byteLength, room - (room % 2));
    if (take <= 0) return;
    await file.write(bytes, 0, take);
    this.dataBytes += take;
  }
}
