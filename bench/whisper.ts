/**
 * Embedded whisper speed: real-time factor (processing time / audio duration; below 1 is
 * faster than real time) of the zero-weight tiny.en and base.en models (from the shared models
 * folder when there is one, else generated: test/helpers/zero-whisper-model.ts, same shapes), on a 3 s and a 10 s real recording, with the full audio context (1500) and a reduced
 * one (512; raised per call to cover the clip, see effectiveAudioContext), 2 threads.
 * Medians over RUNS runs after one warm-up run per case; model load time is the median of
 * RUNS loads (worker start + reading the file + whisper init).
 *
 * Zero weights make whisper fall back to higher temperatures (the same input gives different
 * text from run to run, which greedy decoding at temperature 0 never does), so the decoder
 * runs several passes: real weights decode faster, the encoder costs the same.
 *
 *   node --import tsx bench/whisper.ts [runs]
 */
import { readFile } from 'node:fs/promises';
import { durationMs, type PcmAudio } from '../src/audio/pcm.ts';
import { readWav } from '../src/audio/wav.ts';
import { createWhisperTranscriber, effectiveAudioContext, type WhisperTranscriber } from '../src/providers/local/whisper-transcriber.ts';
import { sharedAudioPath, sharedModelPathIfPresent } from '../test/helpers/shared.ts';
import { zeroWhisperModel } from '../test/helpers/zero-whisper-model.ts';
import { median } from './median.ts';

const RUNS = Math.max(3, Number(process.argv[2] ?? 3));
const THREADS = 2;
const MODELS = ['tiny.en', 'base.en'] as const;
const CLIPS = { '3 s': 'en_harvard_birch_canoe.wav', '10 s': 'en_ls_1089-134686-0000.wav' };
const AUDIO_CONTEXTS = [0, 512];

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const start = performance.now();
  const value = await work();
  return { value, ms: performance.now() - start };
}

async function medianLoadMs(modelPath: string): Promise<number> {
  const loads: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const { value, ms } = await timed(() => createWhisperTranscriber({ modelPath, threads: THREADS, timeoutMs: 600_000 }));
    loads.push(ms);
    await value.close();
  }
  return median(loads);
}

async function medianTranscribeMs(transcriber: WhisperTranscriber, audio: PcmAudio): Promise<number> {
  await transcriber.transcribe(audio);
  const runs: number[] = [];
  for (let i = 0; i < RUNS; i++) runs.push((await timed(() => transcriber.transcribe(audio))).ms);
  return median(runs);
}

const clips = new Map<string, PcmAudio>();
for (const [label, file] of Object.entries(CLIPS)) clips.set(label, readWav(await readFile(sharedAudioPath(file))));

const header = ['model', 'load ms', 'clip', 'audio ctx', 'used ctx', 'median ms', 'RTF', 'full/reduced'];
const rows: string[][] = [];
const rtfByCase = new Map<string, number>();
for (const model of MODELS) {
  const modelPath = sharedModelPathIfPresent(`zero-ggml-${model}.bin`) ?? (await zeroWhisperModel(model));
  const loadMs = await medianLoadMs(modelPath);
  for (const [clipLabel, audio] of clips) {
    const medians = new Map<number, number>();
    for (const audioContext of AUDIO_CONTEXTS) {
      const transcriber = await createWhisperTranscriber({ modelPath, threads: THREADS, audioContext, timeoutMs: 600_000 });
      try {
        medians.set(audioContext, await medianTranscribeMs(transcriber, audio));
      } finally {
        await transcriber.close();
      }
    }
    const fullMs = medians.get(0)!;
    for (const audioContext of AUDIO_CONTEXTS) {
      const ms = medians.get(audioContext)!;
      const rtf = ms / durationMs(audio);
      rtfByCase.set(`${model} ${clipLabel} ${audioContext}`, rtf);
      const used = effectiveAudioContext(audioContext, durationMs(audio)) || 1500;
      rows.push([
        model,
        loadMs.toFixed(0),
        clipLabel,
        audioContext === 0 ? '1500' : String(audioContext),
        String(used),
        ms.toFixed(0),
        rtf.toFixed(3),
        audioContext === 0 ? '1.00' : (fullMs / ms).toFixed(2),
      ]);
    }
  }
}

const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column].length)));
const line = (cells: string[]) => cells.map((cell, column) => cell.padStart(widths[column])).join('  ');
console.log(`whisper (@napi-rs/whisper, zero-weight models), ${THREADS} threads, median of ${RUNS} runs after a warm-up`);
console.log(line(header));
for (const row of rows) console.log(line(row));
for (const clipLabel of Object.keys(CLIPS)) {
  for (const audioContext of AUDIO_CONTEXTS) {
    const tiny = rtfByCase.get(`${MODELS[0]} ${clipLabel} ${audioContext}`)!;
    const base = rtfByCase.get(`${MODELS[1]} ${clipLabel} ${audioContext}`)!;
    console.log(`base.en / tiny.en time, ${clipLabel}, audio ctx ${audioContext || 1500}: ${(base / tiny).toFixed(2)}x`);
  }
}
