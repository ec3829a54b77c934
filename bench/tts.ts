/**
 * espeak-ng synthesis speed: time to first audio (TTFA), total synthesis time and real-time
 * factor (synthesis time / audio duration; below 1 is faster than real time) for a short and
 * a long text. Medians over RUNS runs after one warm-up run per text.
 *
 *   node --import tsx bench/tts.ts [runs]
 */
import { durationMs } from '../src/audio/pcm.ts';
import { EspeakSynthesizer } from '../src/providers/local/espeak-synthesizer.ts';
import { median } from './median.ts';

const RUNS = Math.max(5, Number(process.argv[2] ?? 7));

const TEXTS = {
  short: 'Hello, how are you today?',
  long:
    'The weather service expects light rain in the morning, clearing by noon. ' +
    'Temperatures will climb to about twenty degrees in the afternoon, with a gentle breeze from the west. ' +
    'Tomorrow looks sunny and warmer, so it is a good day to plan something outside.',
};

interface Run {
  firstAudioMs: number;
  totalMs: number;
  audioMs: number;
  chunks: number;
}

async function measure(synthesizer: EspeakSynthesizer, text: string): Promise<Run> {
  const start = performance.now();
  let firstAudioMs = Number.NaN;
  let audioMs = 0;
  let chunks = 0;
  for await (const chunk of synthesizer.synthesize({ text })) {
    if (chunks === 0) firstAudioMs = performance.now() - start;
    audioMs += durationMs(chunk);
    chunks++;
  }
  return { firstAudioMs, totalMs: performance.now() - start, audioMs, chunks };
}

const startupStart = performance.now();
const synthesizer = await EspeakSynthesizer.create({ workers: 1 });
const startupMs = performance.now() - startupStart;

const rows: string[][] = [];
const medians: Record<string, { firstAudioMs: number; totalMs: number }> = {};
for (const [name, text] of Object.entries(TEXTS)) {
  await measure(synthesizer, text);
  const runs: Run[] = [];
  for (let i = 0; i < RUNS; i++) runs.push(await measure(synthesizer, text));
  const firstAudioMs = median(runs.map((run) => run.firstAudioMs));
  const totalMs = median(runs.map((run) => run.totalMs));
  const audioMs = median(runs.map((run) => run.audioMs));
  const realTimeFactor = median(runs.map((run) => run.totalMs / run.audioMs));
  medians[name] = { firstAudioMs, totalMs };
  rows.push([
    name,
    String(text.split(/\s+/).length),
    String(runs[0].chunks),
    firstAudioMs.toFixed(1),
    totalMs.toFixed(1),
    (audioMs / 1000).toFixed(2),
    realTimeFactor.toFixed(4),
    (totalMs / firstAudioMs).toFixed(2),
  ]);
}
await synthesizer.close();

const header = ['text', 'words', 'chunks', 'first audio ms', 'total ms', 'audio s', 'RTF', 'total/first'];
const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column].length)));
const line = (cells: string[]) => cells.map((cell, column) => cell.padStart(widths[column])).join('  ');
console.log(`espeak-ng synthesis, median of ${RUNS} runs (1 worker; engine start-up ${startupMs.toFixed(0)} ms)`);
console.log(line(header));
for (const row of rows) console.log(line(row));
console.log(
  `long/short first audio: ${(medians.long.firstAudioMs / medians.short.firstAudioMs).toFixed(2)}x ` +
    `(streaming by sentence keeps first audio near one short sentence; total/first shows what streaming saves)`,
);
