/**
 * espeak-ng (WebAssembly) on a worker thread. One sentence costs 5–60 ms of CPU once warm,
 * long enough to stall every session's audio if it ran on the event loop.
 *
 * Plain JavaScript on purpose: the pool loads it with `new Worker(new URL(...))`, and a .ts
 * worker would need tsx's loader registered inside the worker thread, which plain `node` (a
 * compiled or bundled build) does not have.
 *
 * workerData: { cancelBuffer, warmUp (false skips the throw-away sentences, for one-shot commands) }
 * Protocol (tagged messages):
 *   in:  { type: 'synthesize', jobId, text, voice, rate }
 *   out: { type: 'ready', catalogue } | { type: 'init_failed', message }
 *        { type: 'audio', jobId, samples } | { type: 'cancelled', jobId } | { type: 'failed', jobId, message }
 * Cancellation: the pool writes a job id into the shared `cancelBuffer`; the synthesis callback
 * reads it between audio blocks (about every 90 ms of audio) and stops that job.
 */
import { parentPort, workerData } from 'node:worker_threads';

const VARIANTS_DIR = '/usr/share/espeak-ng-data/voices/!v';
// 120 s of 22050 Hz audio: far beyond one chunked sentence (200 characters at the slowest rate
// is under 40 s), so reaching it means runaway input, not speech.
const MAX_SAMPLES_PER_JOB = 120 * 22050;

const WARM_UP_TEXT = 'The quick brown fox jumps over the lazy dog, then it runs away; would you believe it? Numbers like 42 and 3.5 are read too.';

const WARM_UP_VOICE = 'gmw/en-US';

const cancelled = new Int32Array(workerData.cancelBuffer);

let engine;
let currentVoice = '';

try {
  const { default: createEspeak } = await import('@echogarden/espeak-ng-emscripten');
  const module = await createEspeak();
  engine = new module.eSpeakNGWorker();
  let variants = [];
  try {
    variants = module.FS.readdir(VARIANTS_DIR).filter((name) => name !== '.' && name !== '..');
  } catch {
    // Without the variants folder, plain voices still work and "+variant" names are refused.
  }
  const voices = engine.list_voices().map((voice) => ({ identifier: voice.identifier, languages: voice.languages }));
  // Two throw-away sentences at start-up (about 350 ms): until V8 has optimized the hot
  // WebAssembly code, a short sentence takes 60–100 ms instead of 5–10 ms, which would
  // otherwise land on the first requests. The voice is the one the default (alloy, en-us) resolves to, so the first request does not
  // pay the 40 ms a voice switch costs either.
  engine.set_voice(WARM_UP_VOICE);
  currentVoice = WARM_UP_VOICE;
  if (workerData.warmUp !== false) for (let run = 0; run < 2; run++) engine.synthesize(WARM_UP_TEXT, () => 0);
  parentPort.postMessage({ type: 'ready', catalogue: { voices, variants } });
} catch (error) {
  parentPort.postMessage({ type: 'init_failed', message: String(error?.message ?? error) });
}

if (engine) parentPort.on('message', onMessage);

function onMessage(message) {
  if (message?.type !== 'synthesize') return;
  const { jobId, text, voice, rate } = message;
  try {
    if (voice !== currentVoice) {
      const status = engine.set_voice(voice);
      if (status !== 0) throw new Error(`espeak-ng could not load voice ${voice} (status ${status})`);
      currentVoice = voice;
    }
    engine.set_rate(rate);
    const blocks = [];
    let length = 0;
    let stopped = false;
    let overflow = false;
    engine.synthesize(text, (samples) => {
      if (Atomics.load(cancelled, 0) === jobId) {
        stopped = true;
        return 1;
      }
      if (samples && samples.length > 0) {
        blocks.push(samples);
        length += samples.length;
      }
      if (length > MAX_SAMPLES_PER_JOB) {
        overflow = true;
        return 1;
      }
      return 0;
    });
    if (stopped) {
      parentPort.postMessage({ type: 'cancelled', jobId });
      return;
    }
    if (overflow) throw new Error(`synthesis of ${text.length} characters passed ${MAX_SAMPLES_PER_JOB / 22050} s of audio`);
    const samples = new Int16Array(length);
    let offset = 0;
    for (const block of blocks) {
      samples.set(block, offset);
      offset += block.length;
    }
    parentPort.postMessage({ type: 'audio', jobId, samples }, [samples.buffer]);
  } catch (error) {
    // A failed set_voice can leave the engine on another voice: force a reload next time.
    currentVoice = '';
    parentPort.postMessage({ type: 'failed', jobId, message: String(error?.message ?? error) });
  }
}
