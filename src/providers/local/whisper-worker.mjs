/**
 * whisper.cpp (through @napi-rs/whisper) on a worker thread. The binding's `full()` is
 * synchronous and takes about 1 s for a 3 s utterance on tiny.en with 2 threads; on the main
 * thread that would freeze every session's audio for that long.
 *
 * Plain JavaScript on purpose: the transcriber loads it with `new Worker(new URL(...))`, and a
 * .ts worker would need tsx's loader registered inside the worker thread, which a program
 * started through tsx's register API, or plain `node`, does not give it. It stays a thin shim:
 * the rules (padding, audio context, languages, queueing) live in whisper-transcriber.ts.
 *
 * Protocol (tagged messages):
 *   workerData: { modelPath, threads }
 *   in:  { type: 'transcribe', jobId, samples (Int16Array, 16 kHz), language ('auto' or a code),
 *          audioContext (0 = the model's), prompt?, temperature? }
 *   out: { type: 'ready', multilingual, languages, loadMs } | { type: 'load_failed', message }
 *        { type: 'result', jobId, text, language, segments: [{ text, start, end }] (10 ms units) }
 *        { type: 'failed', jobId, message }
 * One job at a time: the transcriber sends the next job only after the previous one answered.
 */
import { parentPort, workerData } from 'node:worker_threads';

/**
 * The binding hands segments to JavaScript through a thread-safe function queued while
 * `full()` runs, so they arrive on later event-loop turns. 200 turns is far more than the
 * 1–2 it takes (measured); past that the result goes out with the text as one segment.
 */
const MAX_SEGMENT_TURNS = 200;

async function main() {
  let binding;
  let whisper;
  const started = performance.now();
  try {
    binding = await import('@napi-rs/whisper');
  } catch (error) {
    parentPort.postMessage({
      type: 'load_failed',
      message: `the @napi-rs/whisper binding could not be loaded (${describe(error)}); reinstall dependencies with npm ci`,
    });
    return;
  }
  try {
    whisper = new binding.Whisper(workerData.modelPath);
  } catch (error) {
    parentPort.postMessage({ type: 'load_failed', message: `${describe(error)}; is it a whisper.cpp ggml model, and complete?` });
    return;
  }
  const multilingual = whisper.isMultilingual !== 0;
  const languages = [];
  if (multilingual) {
    for (let id = 0; id <= binding.Whisper.maxLangId(); id++) {
      const code = binding.Whisper.lang(id);
      if (code) languages.push(code);
    }
  }
  parentPort.postMessage({ type: 'ready', multilingual, languages, loadMs: performance.now() - started });

  parentPort.on('message', (message) => {
    if (message.type !== 'transcribe') return;
    transcribe(binding, whisper, message).then(
      (result) => parentPort.postMessage(result),
      (error) => parentPort.postMessage({ type: 'failed', jobId: message.jobId, message: describe(error) }),
    );
  });
}

async function transcribe(binding, whisper, job) {
  const samples = new Float32Array(job.samples.length);
  for (let i = 0; i < samples.length; i++) samples[i] = job.samples[i] / 32768;

  const params = new binding.WhisperFullParams(binding.WhisperSamplingStrategy.Greedy);
  params.nThreads = workerData.threads;
  params.language = job.language;
  params.audioCtx = job.audioContext;
  params.printProgress = false;
  params.printRealtime = false;
  params.printTimestamps = false;
  params.printSpecial = false;
  if (job.prompt) params.initialPrompt = job.prompt;
  if (job.temperature !== undefined) params.temperature = job.temperature;
  const segments = [];
  params.onNewSegment = (segment) => segments.push({ text: segment.text, start: segment.start, end: segment.end });

  const text = whisper.full(params, samples);
  const wanted = squash(text);
  for (let turn = 0; turn < MAX_SEGMENT_TURNS && squash(segments.map((segment) => segment.text).join('')) !== wanted; turn++) {
    await new Promise((resolve) => setImmediate(resolve));
  }
  const complete = squash(segments.map((segment) => segment.text).join('')) === wanted;
  const language = job.language === 'auto' ? binding.Whisper.lang(whisper.fullLangId) : job.language;
  return {
    type: 'result',
    jobId: job.jobId,
    text,
    language: language ?? undefined,
    segments: complete ? segments : [{ text: text.trim(), start: 0, end: Math.ceil(job.samples.length / 160) }],
  };
}

function squash(text) {
  return text.replace(/\s+/g, '');
}

function describe(error) {
  return error instanceof Error ? error.message : String(error);
}

await main();
