/**
 * An audio file of any container ffmpeg reads, decoded as it is sent: ffmpeg reads the file
 * itself (so MP4/M4A with its index at the end works) and writes mono PCM16 at the client's
 * rate to a pipe that is read only as fast as the audio is sent. A file of hours holds a pipe's
 * worth of PCM in memory, not the whole recording.
 */
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import path from 'node:path';
import { SpeechbridgeError } from '../../errors/registry.ts';
import { QUIET_ARGS, readStdout, spawnFfmpeg } from '../../audio/ffmpeg-process.ts';
import { PcmChunker } from './pcm-chunker.ts';

/** Fails with a message naming the problem when `file` (a file or a named pipe) is missing, a folder, unreadable or empty. */
export async function checkAudioFile(file: string): Promise<void> {
  const problem = (text: string) => new SpeechbridgeError('invalid_value', `cannot read ${file}: ${text}`, { param: 'file' });
  const info = await stat(file).catch((error: NodeJS.ErrnoException) => {
    throw problem(error.code === 'ENOENT' ? 'no such file' : error.code === 'EACCES' ? 'permission denied' : error.message);
  });
  if (info.isDirectory()) throw problem('it is a directory, not an audio file');
  // access(), not open(): opening a named pipe would wait for its writer.
  await access(file, constants.R_OK).catch((error: NodeJS.ErrnoException) => {
    throw problem(error.code === 'EACCES' ? 'permission denied' : error.message);
  });
  if (info.isFile() && info.size === 0) throw new SpeechbridgeError('empty_input', `${file} is empty (0 bytes)`, { param: 'file' });
}

/** Mono PCM16 at `sampleRate` from `file`; aborting `signal` stops ffmpeg and ends the stream. */
export async function* decodeAudioFile(file: string, sampleRate: number, signal: AbortSignal): AsyncGenerator<Int16Array> {
  if (signal.aborted) return;
  // `file:` keeps a name with a colon in it from being read as an ffmpeg protocol.
  const input = `file:${path.resolve(file)}`;
  const ffmpeg = spawnFfmpeg([...QUIET_ARGS, '-i', input, '-map', '0:a:0', '-ac', '1', '-ar', String(sampleRate), '-f', 's16le', 'pipe:1']);
  ffmpeg.child.stdin.end();
  const onAbort = () => ffmpeg.kill();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    const chunker = new PcmChunker();
    for await (const chunk of readStdout(ffmpeg)) {
      if (signal.aborted) return;
      const samples = chunker.push(chunk);
      if (samples.length > 0) yield samples;
    }
    const exit = await ffmpeg.exited;
    if (signal.aborted) return;
    if (exit.type === 'spawn_failed') throw exit.error;
    if (exit.code !== 0) {
      throw new SpeechbridgeError(
        'unreadable_audio',
        `${file} could not be decoded: ${ffmpeg.lastStderrLine().replace(`${input}: `, '') || `ffmpeg exited with ${exit.code ?? exit.signal}`}`,
        { param: 'file' },
      );
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
    ffmpeg.kill();
  }
}
