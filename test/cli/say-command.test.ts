/**
 * `speechbridge say`, run as a user runs it: the real command in its own process, espeak-ng
 * speaking, the audio read back from the pipe or the file it wrote.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { bytesToInt16, rmsDbfs } from '../../src/audio/pcm.ts';
import { readWav } from '../../src/audio/wav.ts';
import { repoRoot } from '../helpers/shared.ts';

let workDir: string;

before(async () => {
  workDir = await mkdtemp(path.join(os.tmpdir(), 'speechbridge-say-'));
});

after(async () => {
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

/** Runs `speechbridge say …args` with stdout a pipe; its bytes, stderr and exit code. */
function say(args: string[]): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const env: Record<string, string | undefined> = { ...process.env, LOG_LEVEL: 'warn' };
    for (const variable of ['TTS_ENGINE', 'TTS_API_URL', 'WYOMING_TTS_URI', 'DEFAULT_TTS_VOICE']) delete env[variable];
    const child = spawn(process.execPath, [path.join(repoRoot, 'bin/speechbridge.js'), 'say', ...args], {
      cwd: workDir,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const chunks: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout: Buffer.concat(chunks), stderr });
    });
  });
}

test('say to a pipe: raw PCM16 at 24 kHz of the spoken text, and a line on stderr saying so', async () => {
  const run = await say(['hello there']);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stderr, 'raw PCM16 little-endian mono at 24000 Hz\n');
  assert.equal(run.stdout.length % 2, 0, 'whole 16-bit samples');
  const samples = bytesToInt16(run.stdout);
  const seconds = samples.length / 24000;
  // espeak-ng says "hello there" in about 0.7 s at its default rate.
  assert.ok(seconds > 0.4 && seconds < 1.5, `${seconds.toFixed(2)} s of audio`);
  assert.ok(rmsDbfs(samples) > -35, `speech, not silence: ${rmsDbfs(samples).toFixed(1)} dBFS`);
});

test('say -o file.wav --rate 16000: a WAV at that rate, every sentence in it', async () => {
  const file = path.join(workDir, 'two.wav');
  const one = await say(['Glue the sheet to the dark blue background.', '-o', path.join(workDir, 'one.wav'), '--rate', '16000']);
  const two = await say(['Glue the sheet to the dark blue background. It is easy to tell the depth of a well.', '-o', file, '--rate', '16000']);
  assert.equal(one.code, 0, one.stderr);
  assert.equal(two.code, 0, two.stderr);
  assert.match(two.stderr, /^wrote .*two\.wav: \d+\.\d\d s at 16000 Hz\n$/);
  assert.equal(two.stdout.length, 0);
  const first = readWav(await readFile(path.join(workDir, 'one.wav')));
  const both = readWav(await readFile(file));
  assert.equal(both.sampleRate, 16000);
  assert.ok(rmsDbfs(both.samples) > -35, `speech, not silence: ${rmsDbfs(both.samples).toFixed(1)} dBFS`);
  // The second sentence is about as long as the first: the file holds both, not the first alone.
  const ratio = both.samples.length / first.samples.length;
  assert.ok(ratio > 1.6 && ratio < 2.6, `two sentences are ${ratio.toFixed(2)} × one`);
});
