/**
 * Resampler throughput: seconds of audio per second of CPU (x real-time) over 60 s of speech,
 * whole-buffer and streamed in 20 ms chunks (the realtime hop), median of 7 runs after a
 * warm-up; then, per Speex quality, the cost of one 20 ms frame streamed 24k → 16k (the way
 * to the recognizer) and the pass band measured with sine sweeps: the -3 dB point and the
 * gain at 7.6 kHz, and the rejection of a tone above the 8 kHz Nyquist.
 * Run: node --import tsx bench/resampler.ts
 */
import { readFileSync } from 'node:fs';
import { createStreamResamplerSync, DEFAULT_RESAMPLER_QUALITY, initResampler, resampleSync } from '../src/audio/resample.ts';
import type { PcmAudio } from '../src/audio/pcm.ts';
import { readWav } from '../src/audio/wav.ts';
import { sharedAudioPath } from '../test/helpers/shared.ts';
import { median } from './median.ts';

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

function streamed(input: PcmAudio, toRate: number, quality = DEFAULT_RESAMPLER_QUALITY): () => number {
  const chunk = Math.round((input.sampleRate * CHUNK_MS) / 1000);
  return () => {
    const stream = createStreamResamplerSync(input.sampleRate, toRate, { quality });
    let produced = 0;
    for (let offset = 0; offset < input.samples.length; offset += chunk) produced += stream.push(input.samples.subarray(offset, offset + chunk)).length;
    produced += stream.flush().length;
    stream.close();
    return produced;
  };
}

const SWEEP_STEP_HZ = 10;

/** Output/input power of a 1 s sine at `hz` through fromRate → toRate, in dB, away from the edges. */
function toneGainDb(hz: number, fromRate: number, toRate: number, quality: number): number {
  const input = new Int16Array(fromRate);
  for (let i = 0; i < input.length; i++) input[i] = Math.round(16000 * Math.sin((2 * Math.PI * hz * i) / fromRate));
  const output = resampleSync({ samples: input, sampleRate: fromRate }, toRate, { quality }).samples;
  const power = (samples: Int16Array, rate: number) => {
    const margin = Math.round(rate * 0.05);
    let sum = 0;
    for (let i = margin; i < samples.length - margin; i++) sum += samples[i] * samples[i];
    return sum / (samples.length - 2 * margin);
  };
  return 10 * Math.log10(power(output, toRate) / power(input, fromRate));
}

/** The first sweep frequency (from 6 kHz up) more than 3 dB down, the gain at 7.6 kHz, and at 8.5 kHz (above Nyquist). */
function passBand(fromRate: number, toRate: number, quality: number): { minus3dbHz: number; gainAt7600Db: number; stopGainDb: number } {
  let minus3dbHz = toRate / 2;
  for (let hz = 6000; hz < toRate / 2; hz += SWEEP_STEP_HZ) {
    if (toneGainDb(hz, fromRate, toRate, quality) < -3) {
      minus3dbHz = hz;
      break;
    }
  }
  return { minus3dbHz, gainAt7600Db: toneGainDb(7600, fromRate, toRate, quality), stopGainDb: toneGainDb(8500, fromRate, toRate, quality) };
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
console.log(`Speex quality, 24k → 16k: cost of a 20 ms frame streamed, and the pass band from sine sweeps (${SWEEP_STEP_HZ} Hz steps)`);
console.log('quality   µs / 20 ms frame   vs quality 6   -3 dB point   gain at 7.6 kHz   gain at 8.5 kHz');
const speech24k = inputs.get(24000)!;
const frames = (AUDIO_SECONDS * 1000) / CHUNK_MS;
const rows = [3, 5, 6, 7, 8, 9, 10].map((quality) => ({
  quality,
  cpuMs: measure(streamed(speech24k, 16000, quality)).cpuMs,
  band: passBand(24000, 16000, quality),
}));
const quality6CpuMs = rows.find((row) => row.quality === 6)!.cpuMs;
for (const { quality, cpuMs, band } of rows) {
  const stop = band.stopGainDb === -Infinity ? '< -96 dB' : `${band.stopGainDb.toFixed(1)} dB`;
  console.log(
    `${String(quality).padStart(7)} ${format((cpuMs * 1000) / frames, 18, 2)} ${format(cpuMs / quality6CpuMs, 14, 2)} ${format(band.minus3dbHz, 10)} Hz ${format(band.gainAt7600Db, 14, 2)} dB ${stop.padStart(17)}`,
  );
}
