/**
 * pocketsphinx per turn: a process started for each turn after it ends (how turns were decoded
 * before, reproduced here: a WAV file, `pocketsphinx_continuous -infile`), the whole turn on a
 * warm process after it ends (transcribe()), and live (transcribeStream() fed in real time while
 * the turn is spoken). Real recordings in 20 ms frames at real-time pace; for each way, the
 * median over runs of: end of audio → final text, start of audio → first text, and the CPU
 * the pocketsphinx processes used per turn. Also the start-up alone (a process that loads the
 * models and decodes 0.5 s of silence). A short run: BENCH_RUNS (default 3) per recording.
 * Run: node --import tsx bench/pocketsphinx.ts
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PcmAudio } from '../src/audio/pcm.ts';
import { readWav, writeWav } from '../src/audio/wav.ts';
import { checkPocketsphinx, createPocketsphinxTranscriber, DEFAULT_POCKETSPHINX_MODEL_DIR } from '../src/providers/local/pocketsphinx-transcriber.ts';
import { sharedAudioPath } from '../test/helpers/shared.ts';
import { median } from './median.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const RECORDINGS = ['en_ls_1089-134691-0000.wav', 'en_ls_1272-128104-0000.wav'];
const FRAME_MS = 20;

interface TurnFigures {
  finalAfterEndMs: number;
  firstTextMs: number;
  cpuMs: number;
  text: string;
}

const CLOCK_TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());

/**
 * CPU (user + system) of the exited children of this process, in ms (/proc/self/stat fields 16
 * and 17): a turn's process is counted when it exits, with its start-up, whenever that was.
 */
function childrenCpuMs(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[13]) + Number(fields[14]);
  return (ticks * 1000) / CLOCK_TICKS_PER_SECOND;
}

/** Plays the recording in real time, in 20 ms frames; resolves with the performance.now() of its end. */
async function* realTime(audio: PcmAudio, marks: { start: number; end: number }): AsyncIterable<PcmAudio> {
  const size = (audio.sampleRate * FRAME_MS) / 1000;
  marks.start = performance.now();
  for (let index = 0; index * size < audio.samples.length; index++) {
    const due = marks.start + index * FRAME_MS;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    yield { samples: audio.samples.slice(index * size, (index + 1) * size), sampleRate: audio.sampleRate };
  }
  marks.end = performance.now();
}

/** Waits as long as the recording lasts (the turn being spoken), then runs `afterEnd`. */
async function afterSpeaking<T>(audio: PcmAudio, afterEnd: () => Promise<T>): Promise<{ result: T; startedAt: number; endedAt: number; doneAt: number }> {
  const startedAt = performance.now();
  await sleep((audio.samples.length * 1000) / audio.sampleRate);
  const endedAt = performance.now();
  const result = await afterEnd();
  return { result, startedAt, endedAt, doneAt: performance.now() };
}

/** The former way: a WAV file and a new pocketsphinx_continuous per turn, after the turn ends. */
async function processPerTurn(audio: PcmAudio, binary: string): Promise<TurnFigures> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bench-pocketsphinx-'));
  try {
    const cpuBefore = childrenCpuMs();
    const { result, startedAt, endedAt, doneAt } = await afterSpeaking(audio, async () => {
      await writeFile(path.join(dir, 'audio.wav'), writeWav(audio));
      return run(binary, ['-infile', path.join(dir, 'audio.wav'), '-logfn', path.join(dir, 'log.txt'), '-time', 'yes', ...modelArgs()]);
    });
    const text = result
      .split('\n')
      .filter((line) => line && !/\d+\.\d+ \d+\.\d+/.test(line))
      .join(' ');
    return { finalAfterEndMs: doneAt - endedAt, firstTextMs: doneAt - startedAt, cpuMs: childrenCpuMs() - cpuBefore, text };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function modelArgs(): string[] {
  const dir = DEFAULT_POCKETSPHINX_MODEL_DIR;
  return ['-hmm', path.join(dir, 'en-us'), '-dict', path.join(dir, 'cmudict-en-us.dict'), '-lm', path.join(dir, 'en-us.lm.bin')];
}

function run(binary: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`pocketsphinx exited with ${code}`))));
  });
}

type Transcriber = Awaited<ReturnType<typeof createPocketsphinxTranscriber>>;

/** Lets the replacement process of the previous turn finish loading, as it would between two turns. */
async function settle(transcriber: Transcriber): Promise<void> {
  while (transcriber.idleProcesses < 1) await sleep(50);
  await sleep(2000);
}

async function warmAfterTurn(audio: PcmAudio, transcriber: Transcriber): Promise<TurnFigures> {
  await settle(transcriber);
  const cpuBefore = childrenCpuMs();
  const { result, startedAt, endedAt, doneAt } = await afterSpeaking(audio, () => transcriber.transcribe(audio));
  await settle(transcriber);
  // Includes the replacement process's start-up: each turn costs one.
  return { finalAfterEndMs: doneAt - endedAt, firstTextMs: doneAt - startedAt, cpuMs: childrenCpuMs() - cpuBefore, text: result.text };
}

async function live(audio: PcmAudio, transcriber: Transcriber): Promise<TurnFigures> {
  await settle(transcriber);
  const cpuBefore = childrenCpuMs();
  const marks = { start: 0, end: 0 };
  let firstTextAt: number | undefined;
  let text = '';
  for await (const event of transcriber.transcribeStream(realTime(audio, marks))) {
    firstTextAt ??= performance.now();
    if (event.type === 'completed') text = event.transcription.text;
  }
  const doneAt = performance.now();
  await settle(transcriber);
  return { finalAfterEndMs: doneAt - marks.end, firstTextMs: firstTextAt! - marks.start, cpuMs: childrenCpuMs() - cpuBefore, text };
}

async function startUp(binary: string): Promise<{ wallMs: number; cpuMs: number }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bench-pocketsphinx-'));
  try {
    await writeFile(path.join(dir, 'silence.raw'), Buffer.alloc(16_000));
    const cpuBefore = childrenCpuMs();
    const start = performance.now();
    await run(binary, ['-infile', path.join(dir, 'silence.raw'), '-logfn', '/dev/null', ...modelArgs()]);
    return { wallMs: performance.now() - start, cpuMs: childrenCpuMs() - cpuBefore };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const { binary } = await checkPocketsphinx();
const transcriber = await createPocketsphinxTranscriber({ timeoutMs: 120_000 });
const loadAverage = os
  .loadavg()
  .map((value) => value.toFixed(1))
  .join(' / ');
console.log(`pocketsphinx per turn: ${os.cpus().length} cores, load average ${loadAverage} (1 / 5 / 15 min) at the start; ${RUNS} runs per recording, medians`);

const startUps = [];
for (let index = 0; index < RUNS; index++) startUps.push(await startUp(binary));
console.log(
  `start-up alone (load the models, decode 0.5 s of silence): ${median(startUps.map((s) => s.wallMs)).toFixed(0)} ms wall, ${median(startUps.map((s) => s.cpuMs)).toFixed(0)} ms CPU`,
);
console.log('');
console.log('recording                      audio    way                       final after end   first text from start   CPU / turn   text');
for (const name of RECORDINGS) {
  const audio = readWav(readFileSync(sharedAudioPath(name)));
  const audioMs = (audio.samples.length * 1000) / audio.sampleRate;
  const ways: Array<[string, () => Promise<TurnFigures>]> = [
    ['process per turn, after it', () => processPerTurn(audio, binary)],
    ['warm process, after it', () => warmAfterTurn(audio, transcriber)],
    ['live (streamed)', () => live(audio, transcriber)],
  ];
  for (const [way, measure] of ways) {
    const runs: TurnFigures[] = [];
    for (let index = 0; index < RUNS; index++) runs.push(await measure());
    const ms = (pick: (figures: TurnFigures) => number) => `${median(runs.map(pick)).toFixed(0)} ms`;
    console.log(
      `${name.padEnd(30)} ${(audioMs / 1000).toFixed(1).padStart(4)} s   ${way.padEnd(25)} ${ms((f) => f.finalAfterEndMs).padStart(15)}   ${ms((f) => f.firstTextMs).padStart(21)}   ${ms((f) => f.cpuMs).padStart(10)}   ${runs[0].text}`,
    );
  }
}
console.log('');
console.log(
  `load average at the end: ${os
    .loadavg()
    .map((value) => value.toFixed(1))
    .join(' / ')}`,
);
await transcriber.close();
