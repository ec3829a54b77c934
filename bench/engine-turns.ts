/**
 * SessionEngine cost at scale: N sessions (10, 100, 500), each fed 24 kHz PCM in 20 ms frames
 * (real speech from the shared recordings, then 1.5 s of silence, over and over) as fast as
 * the CPU allows, with scripted providers of fixed latency (transcriber 50 ms, LLM 100 ms to
 * the first token, TTS 30 ms), so every turn runs commit → transcript → response → audio.
 * Barge-in is off (interruptResponse false) and each run waits for the last response, so every
 * turn is answered whatever the session count and the work per session is the same at each N.
 *
 * Prints, per N, the median over RUNS runs of:
 *   - append µs/frame: the synchronous audio.append path (resample + VAD + buffer), per frame;
 *   - total µs/frame: all CPU the process spent (responses, hops, timers included) per frame;
 *   - real-time sessions per core: 20 000 µs of audio per frame / total µs per frame;
 *   - memory per session after the feed (JS heap and external memory, after a forced GC), KiB.
 * Run with `node --import tsx bench/engine-turns.ts`.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { setImmediate as nextTurn } from 'node:timers/promises';
import v8 from 'node:v8';
import vm from 'node:vm';
import { concatPcm } from '../src/audio/pcm.ts';
import { resample } from '../src/audio/resample.ts';
import { readWav } from '../src/audio/wav.ts';
import { SessionEngine } from '../src/engine/session-engine.ts';
import { ScriptedResponder } from '../src/providers/testing/scripted-responder.ts';
import { ScriptedSynthesizer } from '../src/providers/testing/scripted-synthesizer.ts';
import { ScriptedTranscriber } from '../src/providers/testing/scripted-transcriber.ts';
import { createVoiceDetector } from '../src/vad/voice-detector-factory.ts';
import { sharedAudioPath } from '../test/helpers/shared.ts';
import { median } from './median.ts';

const SESSION_COUNTS = [10, 100, 500];
const RUNS = 3;
/** Audio per session per run: 12 s, enough for two to three turns of each clip. */
const FEED_MS = 12_000;
const FRAME_SAMPLES = 480;
const FRAME_MS = 20;
const CLIPS = ['en_harvard_birch_canoe.wav', 'en_one_two_three.wav', 'en_ls_1089-134691-0000.wav', 'en_lj_LJ001-0004.wav'];

v8.setFlagsFromString('--expose-gc');
const collectGarbage = vm.runInNewContext('gc') as () => void;

/** No response running and the last item is the assistant's: every committed turn was answered. */
function answered(engine: SessionEngine): boolean {
  const last = engine.items.at(-1);
  return engine.activeResponseId === null && last?.type === 'message' && last.role === 'assistant';
}

/** JS heap plus memory outside it (typed arrays, and the WASM memories of the VAD and resampler). */
function memoryInUse(): number {
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.external;
}

async function loadStream(): Promise<Int16Array> {
  const parts: Int16Array[] = [];
  for (const name of CLIPS) {
    const clip = readWav(readFileSync(sharedAudioPath(name)));
    parts.push((await resample(clip, 24000)).samples, new Int16Array(36_000));
  }
  return concatPcm(parts);
}

interface RunResult {
  appendUsPerFrame: number;
  totalUsPerFrame: number;
  heapKiBPerSession: number;
  responses: number;
}

async function run(sessions: number, stream: Int16Array): Promise<RunResult> {
  const transcriber = new ScriptedTranscriber({ latencyMs: 50, texts: 'a spoken turn' });
  const responder = new ScriptedResponder({ firstTokenLatencyMs: 100, script: { text: 'A short answer. With two sentences.' } });
  const synthesizer = new ScriptedSynthesizer({ latencyMs: 30 });
  let responses = 0;
  collectGarbage();
  const heapBefore = memoryInUse();
  const engines: SessionEngine[] = [];
  for (let i = 0; i < sessions; i++) {
    const engine = new SessionEngine({
      providers: { transcriber, responder, synthesizer },
      createVoiceDetector,
      defaults: {
        voice: 'alloy',
        vad: {
          engine: 'webrtc',
          aggressiveness: 2,
          threshold: 0.5,
          startMs: 120,
          endMs: 450,
          padMs: 180,
          maxMs: 15_000,
          createResponse: true,
          interruptResponse: false,
        },
      },
      onEvent: (event) => {
        if (event.type === 'response.done') responses++;
      },
    });
    await engine.start();
    engines.push(engine);
  }
  const frames = FEED_MS / FRAME_MS;
  const frameCount = Math.floor(stream.length / FRAME_SAMPLES);
  // Each session starts at another point of the stream, so turns do not all end on the same frame.
  const offsets = engines.map((_, index) => Math.floor((index * frameCount) / sessions));
  const roundUs: number[] = [];
  const cpuStart = process.cpuUsage();
  for (let frame = 0; frame < frames; frame++) {
    const start = performance.now();
    for (let i = 0; i < sessions; i++) {
      const at = ((offsets[i] + frame) % frameCount) * FRAME_SAMPLES;
      engines[i].handle({ type: 'audio.append', audio: stream.subarray(at, at + FRAME_SAMPLES) });
    }
    roundUs.push(((performance.now() - start) * 1000) / sessions);
    // One event-loop turn per round lets transcriptions and responses progress between frames.
    await nextTurn();
  }
  // Waits for the answers still running, so their work is counted (at most 30 s).
  for (let waited = 0; waited < 30_000 && !engines.every(answered); waited += 20) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const cpu = process.cpuUsage(cpuStart);
  collectGarbage();
  const heapAfter = memoryInUse();
  for (const engine of engines) await engine.close();
  return {
    appendUsPerFrame: median(roundUs),
    totalUsPerFrame: (cpu.user + cpu.system) / (frames * sessions),
    heapKiBPerSession: (heapAfter - heapBefore) / sessions / 1024,
    responses,
  };
}

const stream = await loadStream();
console.log(`engine-turns: ${FEED_MS / 1000} s of 24 kHz audio per session in 20 ms frames, median of ${RUNS} runs`);
console.log('sessions  append µs/frame  total µs/frame  real-time sessions/core  memory KiB/session  responses/session');
const baseline: { total?: number } = {};
for (const sessions of SESSION_COUNTS) {
  await run(sessions, stream);
  const results: RunResult[] = [];
  for (let i = 0; i < RUNS; i++) results.push(await run(sessions, stream));
  const append = median(results.map((result) => result.appendUsPerFrame));
  const total = median(results.map((result) => result.totalUsPerFrame));
  const heap = median(results.map((result) => result.heapKiBPerSession));
  const responses = median(results.map((result) => result.responses)) / sessions;
  baseline.total ??= total;
  console.log(
    `${String(sessions).padStart(8)}  ${append.toFixed(1).padStart(15)}  ${total.toFixed(1).padStart(14)}  ${(20_000 / total).toFixed(0).padStart(23)}  ${heap
      .toFixed(1)
      .padStart(18)}  ${responses.toFixed(1).padStart(17)}   (total ${(total / baseline.total).toFixed(2)}x the 10-session cost)`,
  );
}
