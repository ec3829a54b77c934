/**
 * Embedded whisper's threads against other work on the machine: the median time to transcribe
 * a 3 s recording (zero-weight tiny.en, see bench/whisper.ts) with 1 thread and with one per
 * core, on a quiet machine and with one core kept busy by another process (as a gateway's
 * event loop, another worker or any other program keeps it). whisper's threads meet at every
 * step of the compute, so one that loses its core holds up all the others.
 *
 * Prints medians over RUNS runs after one warm-up run, and each case's ratio to 1 thread on a
 * quiet machine. Run it with nothing else running.
 *
 *   node --import tsx bench/whisper-threads.ts [runs]
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { durationMs } from '../src/audio/pcm.ts';
import { resample } from '../src/audio/resample.ts';
import { readWav } from '../src/audio/wav.ts';
import { createWhisperTranscriber } from '../src/providers/local/whisper-transcriber.ts';
import { sharedAudioPath, sharedModelPathIfPresent } from '../test/helpers/shared.ts';
import { zeroWhisperModel } from '../test/helpers/zero-whisper-model.ts';
import { median } from './median.ts';

if (process.argv[2] === '--spin') {
  // The busy core: a loop that never yields, until the parent kills it or is gone.
  const parent = process.ppid;
  for (let i = 1; ; i++) if (i % 10_000_000 === 0 && process.ppid !== parent) process.exit(0);
}

const RUNS = Math.max(3, Number(process.argv[2] ?? 5));
const cores = availableParallelism();
const threadCounts = [...new Set([1, cores])];

const modelPath = sharedModelPathIfPresent('zero-ggml-tiny.en.bin') ?? (await zeroWhisperModel('tiny.en'));
const audio = await resample(readWav(await readFile(sharedAudioPath('en_harvard_birch_canoe.wav'))), 16000);

async function medianMs(threads: number): Promise<number> {
  const transcriber = await createWhisperTranscriber({ modelPath, threads, timeoutMs: 600_000 });
  try {
    await transcriber.transcribe(audio);
    const runs: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const start = performance.now();
      await transcriber.transcribe(audio);
      runs.push(performance.now() - start);
    }
    return median(runs);
  } finally {
    await transcriber.close();
  }
}

const results: Array<{ load: string; threads: number; ms: number }> = [];
for (const load of ['quiet', 'one busy core']) {
  let spinner: ChildProcess | undefined;
  if (load !== 'quiet') spinner = fork(new URL(import.meta.url), ['--spin'], { execArgv: ['--import', 'tsx'] });
  try {
    for (const threads of threadCounts) results.push({ load, threads, ms: await medianMs(threads) });
  } finally {
    spinner?.kill();
  }
}

const base = results.find((result) => result.load === 'quiet' && result.threads === 1)!.ms;
console.log(`whisper tiny.en (zero weights), ${(durationMs(audio) / 1000).toFixed(2)} s of speech, ${cores} cores, median of ${RUNS} runs`);
for (const { load, threads, ms } of results) {
  console.log(
    `  ${load.padEnd(13)} | ${String(threads).padStart(2)} thread${threads === 1 ? ' ' : 's'} | ${ms.toFixed(0).padStart(6)} ms | ${(ms / base).toFixed(2)}× 1 thread quiet`,
  );
}
