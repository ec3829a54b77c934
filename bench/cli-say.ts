/**
 * How long `speechbridge say` takes from starting the command to its first audio on a pipe
 * (what `speechbridge say "…" | play …` waits for), and to its end; `speechbridge --help`
 * for the start-up alone. Each run is a new process, as a user's is; medians of RUNS runs
 * after one warm-up run (which fills tsx's compile cache).
 *
 *   node --import tsx bench/cli-say.ts [runs]
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const RUNS = Math.max(3, Number(process.argv[2] ?? 7));
const bin = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'speechbridge.js');

interface Timing {
  firstOutputMs: number;
  totalMs: number;
}

function run(args: string[]): Promise<Timing> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let firstOutputMs = NaN;
    const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
    child.stdout.once('data', () => {
      firstOutputMs = performance.now() - started;
    });
    child.stdout.resume();
    child.once('error', reject);
    child.once('close', (code) => {
      if (code !== 0) reject(new Error(`speechbridge ${args.join(' ')} exited with ${code}`));
      else resolve({ firstOutputMs, totalMs: performance.now() - started });
    });
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

async function measure(label: string, args: string[]): Promise<void> {
  await run(args);
  const timings: Timing[] = [];
  for (let i = 0; i < RUNS; i++) timings.push(await run(args));
  const first = median(timings.map((timing) => timing.firstOutputMs));
  const total = median(timings.map((timing) => timing.totalMs));
  console.log(`${label.padEnd(40)} ${first.toFixed(0).padStart(12)} ${total.toFixed(0).padStart(10)}`);
}

console.log(`speechbridge command line, median of ${RUNS} runs, node ${process.version}\n`);
console.log(`${'command'.padEnd(40)} ${'first out ms'.padStart(12)} ${'total ms'.padStart(10)}`);
await measure('speechbridge --help', ['--help']);
await measure('speechbridge say "hello there" | …', ['say', 'hello there']);
await measure('speechbridge say (3 sentences) | …', [
  'say',
  'The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background. It is easy to tell the depth of a well.',
]);
