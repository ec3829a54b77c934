/**
 * Resampler throughput: seconds of audio per second of CPU (x real-time) over 60 s of speech,
 * whole-buffer and streamed in 20 ms chunks (the realtime hop), median of 7 runs after a
 * warm-up. Run: node --import tsx bench/resampler.ts
 */
import { readFileSync } from 'node:fs';
import { createStreamResamplerSync, DEFAULT_RESAMPLER_QUALITY, initResampler, resampleSync } from '../src/audio/resample.ts';
import type { PcmAudio } from '../src/audio/pcm.ts';
import { readWav } from '../src/audio/wav.ts';
import { sharedAudioPath } from '../test/helpers/shared.ts';

const AUDIO_SECONDS = 60;
const RUNS = 7;
const CHUNK_MS = 20;
const PAIRS: Array<[number, number]> = [
  [24000, 16000],
  [16000, 24000],
  [48000, 16000],
  [22050, 24000],
];

function cpuSeconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Median x real-time of `work` over RUNS runs (one untimed warm-up first). */
function measure(work: () => number): { realtime: number; cpuMs: number } {
  work();
  const cpu: number[] = [];
  let sink = 0;
  for (let run = 0; run < RUNS; run++) {
    const start = cpuSeconds();
    sink += work();
    cpu.push(cpuSeconds() - start);
  }
  if (sink < 0) console.log(sink);
  const cpuMedian = median(cpu);
  return { realtime: AUDIO_SECONDS / cpuMedian, cpuMs: cpuMedian * 1000 };
}

/** 60 s of real speech at `rate`: the JFK clip repeated, converted once outside the timed part. */
function speechAt(rate: number, speech16k: PcmAudio): PcmAudio {
  const converted = resampleSync(speech16k, rate);
  const total = AUDIO_SECONDS * rate;
  const samples = new Int16Array(total);
  for (let offset = 0; offset < total; offset += converted.samples.length) {
    samples.set(converted.samples.subarray(0, Math.min(converted.samples.length, total - offset)), offset);
  }
  return { samples, sampleRate: rate };
}

function wholeBuffer(input: PcmAudio, toRate: number, quality: number): () => number {
  return () => resampleSync(input, toRate, { quality }).samples.length;
}

function streamed(input: PcmAudio, toRate: number): () => number {
  const chunk = Math.round((input.sampleRate * CHUNK_MS) / 1000);
  return () => {
    const stream = createStreamResamplerSync(input.sampleRate, toRate);
    let produced = 0;
    for (let offset = 0; offset < input.samples.length; offset += chunk) produced += stream.push(input.samples.subarray(offset, offset + chunk)).length;
    produced += stream.flush().length;
    stream.close();
    return produced;
  };
}

function format(value: number, width: number, digits = 0): string {
  return value.toFixed(digits).padStart(width);
}

await initResampler();
const speech16k = readWav(readFileSync(sharedAudioPath('en_jfk_inaugural.wav')));
const inputs = new Map<number, PcmAudio>();
for (const [from] of PAIRS) if (!inputs.has(from)) inputs.set(from, speechAt(from, speech16k));

console.log(`Speex resampler, quality ${DEFAULT_RESAMPLER_QUALITY}, ${AUDIO_SECONDS} s of speech, median of ${RUNS} runs (x real-time = audio s / CPU s)`);
console.log('');
console.log('pair               whole x RT   whole CPU ms   20 ms chunks x RT   chunks CPU ms   chunks / whole');
for (const [from, to] of PAIRS) {
  const input = inputs.get(from)!;
  const whole = measure(wholeBuffer(input, to, DEFAULT_RESAMPLER_QUALITY));
  const chunks = measure(streamed(input, to));
  const label = `${from / 1000}k → ${to / 1000}k`.padEnd(16);
  console.log(
    `${label} ${format(whole.realtime, 11)} ${format(whole.cpuMs, 14, 1)} ${format(chunks.realtime, 19)} ${format(chunks.cpuMs, 15, 1)} ${format(chunks.realtime / whole.realtime, 16, 2)}`,
  );
}

console.log('');
console.log('quality cost, 24k → 16k whole buffer');
console.log('quality   x RT   vs quality ' + DEFAULT_RESAMPLER_QUALITY);
const baseline = measure(wholeBuffer(inputs.get(24000)!, 16000, DEFAULT_RESAMPLER_QUALITY)).realtime;
for (const quality of [3, 5, 6, 7, 8, 10]) {
  const result = measure(wholeBuffer(inputs.get(24000)!, 16000, quality));
  console.log(`${String(quality).padStart(7)} ${format(result.realtime, 6)} ${format(result.realtime / baseline, 13, 2)}`);
}
