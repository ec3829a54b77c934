/**
 * Band-limited sample-rate conversion with the Speex resampler (SpeexDSP, compiled to WASM by
 * @echogarden/speex-resampler-wasm). A windowed-sinc filter, so downsampling removes what the
 * target rate cannot carry instead of folding it back as aliases (linear interpolation from
 * 24 kHz to 16 kHz folds a 10 kHz sibilant onto 6 kHz).
 *
 * The WASM module loads once (30 KB, about 30 ms) and is shared; after `initResampler()`
 * every call is synchronous, so the realtime path never awaits.
 *
 * Alignment: each stream starts with Speex's `skip_zeros`, so output sample k sits at time
 * k / toRate, like input sample k at k / fromRate; `flush` feeds the filter's half-length of
 * zeros to push the last input through and trims the output to ceil(n · toRate / fromRate).
 */
import type { SpeexResamplerModule } from '@echogarden/speex-resampler-wasm';
import { SpeechbridgeError } from '../errors/registry.ts';
import type { PcmAudio } from './pcm.ts';

/**
 * Speex quality 8: a 160-tap sinc filter with a Kaiser-10 window and about 100 dB stop band
 * (SpeexDSP's quality table). Measured by bench/resampler.ts with sine sweeps at 24 kHz → 16 kHz,
 * the way to the recognizer: the -3 dB point is at 7.63 kHz (quality 6 stopped at 7.43 kHz and
 * had a 7.6 kHz tone 10 dB down, cutting the top of fricatives such as "s" and "f"), for about
 * 10 % more CPU per 20 ms frame (12 µs against 11); quality 9 reaches 7.70 kHz but switches to a
 * Kaiser-12 window at 2.5 times the cost.
 */
export const DEFAULT_RESAMPLER_QUALITY = 8;

const MIN_RATE = 1000;
const MAX_RATE = 384_000;

/**
 * Input samples handed to WASM per call. 4096 samples is 85 ms at 48 kHz and 512 ms at 8 kHz,
 * so a realtime hop (20–100 ms) is one call and its output one copy out of the heap; longer
 * buffers are processed in blocks of this size.
 */
const BLOCK_SAMPLES = 4096;

/** Output room beyond ceil(block · ratio): Speex may emit a few samples held from the previous call. */
const OUTPUT_SLACK_SAMPLES = 64;

export interface StreamResampler {
  readonly fromRate: number;
  readonly toRate: number;
  /**
   * Resamples the next chunk (any length, including 0). Filter state carries across calls, so
   * chunk borders leave no clicks. The result is a new array the caller owns; when the rates
   * are equal it is the input itself.
   */
  push(samples: Int16Array): Int16Array;
  /**
   * push, writing the output into `target` from `offset` instead of a new array (the 20 ms input
   * path keeps its audio in one array); `target` needs room for maxOutput(samples.length).
   * Returns the number of samples written.
   */
  pushInto(samples: Int16Array, target: Int16Array, offset: number): number;
  /** The most samples one push of `inputLength` samples can return. */
  maxOutput(inputLength: number): number;
  /** Ends the stream: returns the samples still held in the filter and resets for a new stream. */
  flush(): Int16Array;
  /** Frees the WASM state. Idempotent; push and flush throw afterwards. */
  close(): void;
}

export interface ResampleOptions {
  /** Speex quality 0–10. */
  quality?: number;
}

let modulePromise: Promise<SpeexResamplerModule> | undefined;
let loadedModule: SpeexResamplerModule | undefined;

/** Loads the WASM module once; later calls return the same promise. Needed before resampleSync. */
export async function initResampler(): Promise<void> {
  await loadModule();
}

async function loadModule(): Promise<SpeexResamplerModule> {
  modulePromise ??= instantiate().then(
    (module) => {
      loadedModule = module;
      return module;
    },
    (error: unknown) => {
      // A failed load is not cached, so a later call can retry.
      modulePromise = undefined;
      throw new SpeechbridgeError('engine_unavailable', `the Speex resampler WASM module failed to load: ${String(error)}`, { cause: error });
    },
  );
  return modulePromise;
}

async function instantiate(): Promise<SpeexResamplerModule> {
  // The SIMD build runs the filter's dot products 4 floats at a time; Node 20 supports WASM SIMD,
  // the plain build is the fallback for runtimes that do not.
  try {
    const { default: create } = await import('@echogarden/speex-resampler-wasm/simd');
    return await create();
  } catch {
    const { default: create } = await import('@echogarden/speex-resampler-wasm');
    return await create();
  }
}

/** Resamples a whole buffer. Returns the same object when the rates are equal. */
export async function resample(audio: PcmAudio, targetRate: number, options: ResampleOptions = {}): Promise<PcmAudio> {
  if (audio.sampleRate === targetRate) return audio;
  const module = await loadModule();
  return resampleWith(module, audio, targetRate, options);
}

/** Synchronous resample; throws engine_unavailable unless `await initResampler()` ran first. */
export function resampleSync(audio: PcmAudio, targetRate: number, options: ResampleOptions = {}): PcmAudio {
  if (audio.sampleRate === targetRate) return audio;
  return resampleWith(requireLoadedModule(), audio, targetRate, options);
}

export async function createStreamResampler(fromRate: number, toRate: number, options: ResampleOptions = {}): Promise<StreamResampler> {
  checkRate(fromRate, 'fromRate');
  checkRate(toRate, 'toRate');
  if (fromRate === toRate) return new PassThroughResampler(fromRate);
  return new SpeexStreamResampler(await loadModule(), fromRate, toRate, options.quality ?? DEFAULT_RESAMPLER_QUALITY);
}

/** Synchronous form of createStreamResampler, for code that ran `await initResampler()` at start-up. */
export function createStreamResamplerSync(fromRate: number, toRate: number, options: ResampleOptions = {}): StreamResampler {
  checkRate(fromRate, 'fromRate');
  checkRate(toRate, 'toRate');
  if (fromRate === toRate) return new PassThroughResampler(fromRate);
  return new SpeexStreamResampler(requireLoadedModule(), fromRate, toRate, options.quality ?? DEFAULT_RESAMPLER_QUALITY);
}

function resampleWith(module: SpeexResamplerModule, audio: PcmAudio, targetRate: number, options: ResampleOptions): PcmAudio {
  checkRate(audio.sampleRate, 'sampleRate');
  checkRate(targetRate, 'targetRate');
  const expected = Math.ceil((audio.samples.length * targetRate) / audio.sampleRate);
  const stream = new SpeexStreamResampler(module, audio.sampleRate, targetRate, options.quality ?? DEFAULT_RESAMPLER_QUALITY, expected);
  try {
    const body = stream.push(audio.samples);
    const tail = stream.flush();
    const samples = new Int16Array(body.length + tail.length);
    samples.set(body, 0);
    samples.set(tail, body.length);
    return { samples, sampleRate: targetRate };
  } finally {
    stream.close();
  }
}

function requireLoadedModule(): SpeexResamplerModule {
  if (!loadedModule) {
    throw new SpeechbridgeError('engine_unavailable', 'the resampler is not loaded: await initResampler() once at start-up before the synchronous calls');
  }
  return loadedModule;
}

function checkRate(rate: number, param: string): void {
  if (!Number.isInteger(rate) || rate < MIN_RATE || rate > MAX_RATE) {
    throw new SpeechbridgeError('invalid_value', `${param} must be an integer between ${MIN_RATE} and ${MAX_RATE} Hz, got ${rate}`, { param });
  }
}

class PassThroughResampler implements StreamResampler {
  readonly fromRate: number;
  readonly toRate: number;
  #closed = false;

  constructor(rate: number) {
    this.fromRate = rate;
    this.toRate = rate;
  }

  push(samples: Int16Array): Int16Array {
    if (this.#closed) throw closedError();
    return samples;
  }

  pushInto(samples: Int16Array, target: Int16Array, offset: number): number {
    if (this.#closed) throw closedError();
    target.set(samples, offset);
    return samples.length;
  }

  maxOutput(inputLength: number): number {
    return inputLength;
  }

  flush(): Int16Array {
    if (this.#closed) throw closedError();
    return new Int16Array(0);
  }

  close(): void {
    this.#closed = true;
  }
}

/** What a SpeexStreamResampler holds in the WASM heap, freed on close or, if close is forgotten, on garbage collection. */
interface NativeResources {
  module: SpeexResamplerModule;
  state: number;
  pointers: number[];
}

const releaseForgotten = new FinalizationRegistry<NativeResources>((resources) => releaseNative(resources));

function releaseNative({ module, state, pointers }: NativeResources): void {
  module._speex_resampler_destroy(state);
  for (const pointer of pointers) module._free(pointer);
}

class SpeexStreamResampler implements StreamResampler {
  readonly fromRate: number;
  readonly toRate: number;
  readonly #module: SpeexResamplerModule;
  readonly #resources: NativeResources;
  readonly #state: number;
  readonly #inputPointer: number;
  readonly #outputPointer: number;
  /** Two uint32 slots: input length, then output length (in on call, consumed/produced on return). */
  readonly #lengthsPointer: number;
  readonly #outputCapacity: number;
  /** Filter half-length in input samples: the zeros flush must feed. */
  readonly #latency: number;
  /** Collects output when one push spans several blocks; grows to the largest such push. */
  #scratch = new Int16Array(0);
  #inputTotal = 0;
  #outputTotal = 0;
  /** Input samples the last #call consumed. */
  #consumed = 0;
  #closed = false;

  /** `expectedOutput` sizes the scratch once for a whole-buffer call instead of growing it by doubling. */
  constructor(module: SpeexResamplerModule, fromRate: number, toRate: number, quality: number, expectedOutput = 0) {
    if (!Number.isInteger(quality) || quality < 0 || quality > 10) {
      throw new SpeechbridgeError('invalid_value', `resampler quality must be an integer from 0 to 10, got ${quality}`, { param: 'quality' });
    }
    this.fromRate = fromRate;
    this.toRate = toRate;
    this.#module = module;
    if (expectedOutput > 0) this.#scratch = new Int16Array(expectedOutput + OUTPUT_SLACK_SAMPLES);
    this.#outputCapacity = Math.ceil((BLOCK_SAMPLES * toRate) / fromRate) + OUTPUT_SLACK_SAMPLES;
    const errorPointer = module._malloc(4);
    const state = module._speex_resampler_init(1, fromRate, toRate, quality, errorPointer);
    const errorCode = module.HEAP32[errorPointer >> 2];
    module._free(errorPointer);
    if (state === 0 || errorCode !== 0) {
      throw new SpeechbridgeError('engine_failed', `speex_resampler_init(${fromRate} → ${toRate} Hz) failed: ${speexError(module, errorCode)}`);
    }
    this.#state = state;
    this.#inputPointer = module._malloc(BLOCK_SAMPLES * 2);
    this.#outputPointer = module._malloc(this.#outputCapacity * 2);
    this.#lengthsPointer = module._malloc(8);
    this.#resources = { module, state, pointers: [this.#inputPointer, this.#outputPointer, this.#lengthsPointer] };
    releaseForgotten.register(this, this.#resources, this);
    this.#latency = module._speex_resampler_get_input_latency(state);
    module._speex_resampler_skip_zeros(state);
  }

  push(samples: Int16Array): Int16Array {
    if (this.#closed) throw closedError();
    this.#inputTotal += samples.length;
    const out = this.#process(samples, samples.length);
    this.#outputTotal += out.length;
    return out;
  }

  pushInto(samples: Int16Array, target: Int16Array, offset: number): number {
    if (this.#closed) throw closedError();
    if (offset + this.maxOutput(samples.length) > target.length) {
      throw new RangeError(`pushInto needs room for ${this.maxOutput(samples.length)} samples at ${offset}; the target holds ${target.length}`);
    }
    this.#inputTotal += samples.length;
    let written = 0;
    for (let offsetIn = 0; offsetIn < samples.length;) {
      const chunk = Math.min(samples.length - offsetIn, BLOCK_SAMPLES);
      const produced = this.#call(samples.subarray(offsetIn, offsetIn + chunk), chunk);
      const start = this.#outputPointer >> 1;
      target.set(this.#module.HEAP16.subarray(start, start + produced), offset + written);
      written += produced;
      offsetIn += this.#consumed;
      if (this.#consumed === 0 && produced === 0) throw noProgress();
    }
    this.#outputTotal += written;
    return written;
  }

  maxOutput(inputLength: number): number {
    const blocks = Math.max(1, Math.ceil(inputLength / BLOCK_SAMPLES));
    // Per block: its share rounded up, and the slack for samples the filter held from before.
    return Math.ceil((inputLength * this.toRate) / this.fromRate) + blocks * (OUTPUT_SLACK_SAMPLES + 1);
  }

  flush(): Int16Array {
    if (this.#closed) throw closedError();
    const expected = Math.ceil((this.#inputTotal * this.toRate) / this.fromRate);
    // Two zeros beyond the half-length cover the fractional phase of the last output sample.
    const tail = this.#process(null, this.#latency + 2);
    const keep = Math.max(0, Math.min(tail.length, expected - this.#outputTotal));
    this.#module._speex_resampler_reset_mem(this.#state);
    this.#module._speex_resampler_skip_zeros(this.#state);
    this.#inputTotal = 0;
    this.#outputTotal = 0;
    return keep === tail.length ? tail : tail.slice(0, keep);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    releaseForgotten.unregister(this);
    releaseNative(this.#resources);
  }

  /** Runs `length` samples of `input` (zeros when null) through the filter. */
  #process(input: Int16Array | null, length: number): Int16Array {
    const module = this.#module;
    let offset = 0;
    let total = 0;
    while (offset < length) {
      const chunk = Math.min(length - offset, BLOCK_SAMPLES);
      const produced = this.#call(input ? input.subarray(offset, offset + chunk) : null, chunk);
      offset += this.#consumed;
      const heap = module.HEAP16;
      const start = this.#outputPointer >> 1;
      // The common realtime case: one call made all the output, copy it straight out of the heap.
      if (offset >= length && total === 0) return heap.slice(start, start + produced);
      if (total + produced > this.#scratch.length) {
        const grown = new Int16Array(Math.max(total + produced, this.#scratch.length * 2));
        grown.set(this.#scratch.subarray(0, total));
        this.#scratch = grown;
      }
      this.#scratch.set(heap.subarray(start, start + produced), total);
      total += produced;
      if (this.#consumed === 0 && produced === 0) throw noProgress();
    }
    return this.#scratch.slice(0, total);
  }

  /**
   * One Speex call on one block of at most BLOCK_SAMPLES (zeros when null): returns the samples
   * produced (at #outputPointer) and leaves the input samples consumed in #consumed.
   */
  #call(block: Int16Array | null, length: number): number {
    const module = this.#module;
    // Heap views are re-read on every call: Emscripten swaps them when the heap grows.
    if (block) module.HEAP16.set(block, this.#inputPointer >> 1);
    const lengths = this.#lengthsPointer >> 2;
    module.HEAPU32[lengths] = length;
    module.HEAPU32[lengths + 1] = this.#outputCapacity;
    // A null input pointer makes Speex read zeros, which is how flush drains the filter.
    const status = module._speex_resampler_process_int(
      this.#state,
      0,
      block ? this.#inputPointer : 0,
      this.#lengthsPointer,
      this.#outputPointer,
      this.#lengthsPointer + 4,
    );
    if (status !== 0) throw new SpeechbridgeError('engine_failed', `speex_resampler_process_int failed: ${speexError(module, status)}`);
    const consumed = module.HEAPU32[lengths];
    const produced = module.HEAPU32[lengths + 1];
    this.#consumed = consumed;
    return produced;
  }
}

function noProgress(): SpeechbridgeError {
  return new SpeechbridgeError('engine_failed', 'the Speex resampler made no progress on a block');
}

function closedError(): SpeechbridgeError {
  return new SpeechbridgeError('internal_error', 'the stream resampler was used after close()');
}

function speexError(module: SpeexResamplerModule, code: number): string {
  const pointer = module._speex_resampler_strerror(code);
  if (!pointer) return `error ${code}`;
  const heap = module.HEAPU8;
  let end = pointer;
  while (heap[end] !== 0 && end - pointer < 200) end++;
  return `${new TextDecoder().decode(heap.subarray(pointer, end))} (${code})`;
}
