/**
 * Spoken command phrases made at test time with Debian's espeak-ng command line (a different
 * synthesizer build from the gateway's own), and the pocketsphinx grammar that recognizes
 * them exactly.
 */
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const COMMAND_GRAMMAR = 'public <cmd> = (turn on | turn off) the (light | radio | heater);';

export async function requireTool(name: string, install: string): Promise<void> {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const found = await access(path.join(dir, name), constants.X_OK).then(
      () => true,
      () => false,
    );
    if (found) return;
  }
  throw new Error(`${name} is not installed; this test needs it: ${install}`);
}

/**
 * Speaks `phrase` into a 16 kHz mono file and returns its path and bytes. `wordsPerMinute`
 * slows it down (espeak-ng's default is 175), for a turn long enough to have partial text.
 */
export async function speakPhrase(phrase: string, format: 'wav' | 'mp3' | 'webm' = 'wav', wordsPerMinute?: number): Promise<{ file: string; bytes: Buffer }> {
  await requireTool('espeak-ng', 'apt-get install espeak-ng');
  await requireTool('ffmpeg', 'apt-get install ffmpeg');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'speechbridge-phrase-'));
  const native = path.join(dir, 'native.wav');
  await run('espeak-ng', [...(wordsPerMinute ? ['-s', String(wordsPerMinute)] : []), '-w', native, phrase]);
  const file = path.join(dir, `phrase.${format}`);
  const codec = format === 'mp3' ? ['-c:a', 'libmp3lame', '-b:a', '64k'] : format === 'webm' ? ['-c:a', 'libopus', '-b:a', '32k'] : ['-c:a', 'pcm_s16le'];
  await run('ffmpeg', ['-v', 'error', '-y', '-i', native, '-ar', '16000', '-ac', '1', ...codec, file]);
  return { file, bytes: await readFile(file) };
}
