/**
 * VAD cost per 20 ms of audio: WebRTC VAD at each aggressiveness, Silero v5, and the turn
 * detector's own work (framing, background level, state machine) on top of an engine.
 * Runs over the English speech recordings in the shared folder (60.3 s) and prints the
 * median of 7 timed runs after one warm-up run. Run with `node --import tsx bench/vad.ts`.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { concatPcm } from '../src/audio/pcm.ts';
import { readWav } from '../src/audio/wav.ts';
import { TurnDetector } from '../src/vad/turn-detector.ts';
import { createVoiceDetector } from '../src/vad/voice-detector-factory.ts';
import type { VoiceDetector } from '../src/vad/voice-detector.ts';
import { sharedAudioPath } from '../test/helpers/shared.ts';
import { median } from './median.ts';

const RUNS = 7;
const CLIPS = [
  'en_ls_1089-134686-0000.wav',
  'en_ls_1089-134691-0000.wav',
  'en_ls_1272-128104-0000.wav',
  'en_jfk_inaugural.wav',
  'en_lj_LJ001-0004.wav',
  'en_harvard_birch_canoe.wav',
  'en_one_two_three.wav',
  'multi_en_3spk_leopard_diarization.wav',
];

const samples = concatPcm(CLIPS.map((name) => readWav(readFileSync(sharedAudioPath(name))).samples));
const audioMs = (samples.length * 1000) / 16000;
const hops20ms = audioMs / 20;
if (audioMs < 60_000) throw new Error(`only ${audioMs} ms of speech; the benchmark needs at least 60 s`);

/** Median wall time in ms of `run` over RUNS runs, after one warm-up run. */
function time(run: () => void): number {
  run();
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const start = performance.now();
    run();
    times.push(performance.now() - start);
  }
  return median(times);
}

function runEngine(detector: VoiceDetector): () => void {
  return () => {
    detector.reset();
    const size = detector.frameSamples;
    for (let offset = 0; offset + size <= samples.length; offset += size) detector.probability(samples.subarray(offset, offset + size));
  };
}

interface Row {
  what: string;
  medianMs: number;
}

const rows: Row[] = [];
const detectors: VoiceDetector[] = [];

for (const aggressiveness of [0, 1, 2, 3] as const) {
  const detector = await createVoiceDetector({ engine: 'webrtc', aggressiveness });
  detectors.push(detector);
  rows.push({ what: `WebRTC VAD, aggressiveness ${aggressiveness}`, medianMs: time(runEngine(detector)) });
}
const silero = await createVoiceDetector({ engine: 'silero' });
detectors.push(silero);
rows.push({ what: 'Silero v5 (32 ms frames)', medianMs: time(runEngine(silero)) });

// The turn detector's own share: an engine that answers from a table costs next to nothing.
const webrtc = detectors[2];
const table: number[] = [];
runEngine({ ...webrtc, probability: (frame) => (table.push(webrtc.probability(frame)), 0), reset: () => webrtc.reset() })();
let cursor = 0;
const replay: VoiceDetector = {
  name: 'replay',
  sampleRate: 16000,
  frameSamples: 320,
  probability: () => table[cursor++ % table.length],
  reset: () => (cursor = 0),
};
for (const chunkSamples of [samples.length, 320, 7]) {
  const label = chunkSamples === samples.length ? 'whole-file push' : `${chunkSamples}-sample pushes`;
  rows.push({
    what: `TurnDetector alone, ${label}`,
    medianMs: time(() => {
      const turns = new TurnDetector(replay);
      for (let offset = 0; offset < samples.length; offset += chunkSamples) turns.push(samples.subarray(offset, offset + chunkSamples));
      turns.flush();
    }),
  });
}
rows.push({
  what: 'TurnDetector + WebRTC VAD 2, 320-sample pushes',
  medianMs: time(() => {
    const turns = new TurnDetector(webrtc);
    for (let offset = 0; offset < samples.length; offset += 320) turns.push(samples.subarray(offset, offset + 320));
    turns.flush();
  }),
});

const base = rows[2].medianMs;
console.log(`VAD cost over ${(audioMs / 1000).toFixed(1)} s of speech (${CLIPS.length} recordings), median of ${RUNS} runs, node ${process.version}\n`);
console.log(`${'what'.padEnd(48)} ${'µs / 20 ms'.padStart(11)} ${'× realtime'.padStart(11)} ${'vs WebRTC 2'.padStart(12)}`);
for (const row of rows) {
  const microsPer20ms = (row.medianMs * 1000) / hops20ms;
  const realtime = audioMs / row.medianMs;
  console.log(
    `${row.what.padEnd(48)} ${microsPer20ms.toFixed(2).padStart(11)} ${realtime.toFixed(0).padStart(11)} ${(row.medianMs / base).toFixed(2).padStart(11)}x`,
  );
}
for (const detector of detectors) detector.close?.();
