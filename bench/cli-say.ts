/**
 * How long `speechbridge say` takes from starting the command to its first audio on a pipe
 * (what `speechbridge say "…" | play …` waits for), and to its end; `speechbridge --help`
 * for the start-up alone. Each run is a new process, as a user's is; medians of RUNS runs
 * after one warm-up run (which fills the page cache, and tsx's compile cache for the sources).
 *
 * Two ways the command runs: from the JavaScript build in dist/ (what bin/speechbridge.js runs
 * after `npm run build`; built here first when it is absent or stale) and from the TypeScript
 * sources through tsx (what it runs without a current build), runs of the two interleaved so
 * that a change in the machine's load falls on both. The load average is printed with them.
 *
 *   node --import tsx bench/cli-say.ts [runs]
 */
import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { freshBuiltEntry } from '../bin/build-freshness.js';
import { buildDist } from '../scripts/build.ts';
import { median } from './median.ts';

const RUNS = Math.max(3, Number(process.argv[2] ?? 7));
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

interface Timing {
  firstOutputMs: number;
  totalMs: number;
}

const WAYS = {
  build: [path.join(root, 'bin', 'speechbridge.js')],
  sources: ['--import', 'tsx', path.join(root, 'src', 'cli', 'main.ts')],
};

function run(way: keyof typeof WAYS, args: string[]): Promise<Timing> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let firstOutputMs = NaN;
    const child = spawn(process.execPath, [...WAYS[way], ...args], { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] });
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

const seconds = (ms: number) => (ms / 1000).toFixed(2).padStart(6);

async function measure(label: string, args: string[]): Promise<void> {
  const timings: Record<keyof typeof WAYS, Timing[]> = { build: [], sources: [] };
  await run('build', args);
  await run('sources', args);
  for (let i = 0; i < RUNS; i++) {
    timings.build.push(await run('build', args));
    timings.sources.push(await run('sources', args));
  }
  const cells = (['build', 'sources'] as const).map((way) => {
    const list = timings[way];
    return `${seconds(median(list.map((timing) => timing.firstOutputMs)))} ${seconds(median(list.map((timing) => timing.totalMs)))}`;
  });
  console.log(`${label.padEnd(38)} ${cells.join('   ')}   ${os.loadavg()[0].toFixed(1).padStart(5)}`);
}

if (!freshBuiltEntry(root)) {
  const result = await buildDist(root);
  console.log(`(built ${path.relative(root, result.outDir)}/ first: it was absent or stale)`);
}
console.log(`speechbridge command line, median of ${RUNS} runs each, node ${process.version}, ${os.availableParallelism()} cores`);
console.log(`load average (1 min) before: ${os.loadavg()[0].toFixed(1)}\n`);
console.log(`${''.padEnd(38)} ${'from dist/ (s)'.padEnd(16)} ${'from sources (s)'.padEnd(16)} load`);
console.log(`${'command'.padEnd(38)} ${'first'.padStart(6)} ${'total'.padStart(6)}   ${'first'.padStart(6)} ${'total'.padStart(6)}   after`);
await measure('speechbridge --help', ['--help']);
await measure('speechbridge say "hello there" | …', ['say', 'hello there']);
await measure('speechbridge say (3 sentences) | …', [
  'say',
  'The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background. It is easy to tell the depth of a well.',
]);
