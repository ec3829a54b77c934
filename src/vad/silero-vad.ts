/**
 * Silero VAD v5, the ONNX model the @ricky0123/vad-web package ships, run on ONNX Runtime's
 * WebAssembly build (onnxruntime-web): plain JavaScript and wasm, so it installs with no
 * install script, no download and no native binary (onnxruntime-node's postinstall fetched
 * GPU libraries and took 288 MB).
 *
 * The model runs through the Emscripten module's C API (_OrtCreateSession, _OrtRun…) rather
 * than onnxruntime-web's InferenceSession: InferenceSession.run is async (it awaits a promise
 * per tensor), the VoiceDetector contract is synchronous per frame, and under those promises
 * the wasm call is synchronous anyway. Driving the C API also lets every input and output
 * tensor wrap a fixed buffer in the wasm heap, so a frame costs one 576-float copy in and one
 * float out, with no allocation: 190 µs per 20 ms of audio on one core (bench/vad.ts), against
 * 380–470 µs through InferenceSession and 72 µs for onnxruntime-node's native build, which is
 * no longer used. That API is internal to onnxruntime-web, so package.json pins its exact
 * version.
 *
 * One wasm module and one ONNX session per model file serve every detector in the process.
 * The recurrent state is an input and an output of the model, not held in the session, so
 * each detector keeps its own state buffers and a new voice session does not pay the 200 ms
 * session creation again.
 *
 * Silero v5 at 16 kHz expects each 512-sample frame preceded by the last 64 samples of the
 * previous frame (silero-vad's OnnxWrapper concatenates this context).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { OrtWasmModule } from 'onnxruntime-web/ort-wasm-simd-threaded.mjs';
import { SpeechbridgeError } from '../errors/registry.ts';
import type { VoiceDetector } from './voice-detector.ts';

const SAMPLE_RATE = 16000;
/** 512 samples = 32 ms: the only frame length Silero v5 accepts at 16 kHz. */
const FRAME_SAMPLES = 512;
/** 64 samples of the previous frame, as silero-vad's OnnxWrapper prepends at 16 kHz. */
const CONTEXT_SAMPLES = 64;
const INPUT_SAMPLES = CONTEXT_SAMPLES + FRAME_SAMPLES;
/** The recurrent state: [2, batch 1, 128] floats. */
const STATE_DIMS = [2, 1, 128];
const STATE_SIZE = 2 * 128;

/** ONNX Runtime's enums as onnxruntime-web passes them to its wasm build. */
const ORT_FLOAT32 = 1;
const ORT_INT64 = 7;
const ORT_LOCATION_CPU = 1;
const ORT_LOG_ERROR = 3;
const ORT_OPTIMIZE_ALL = 99;
const ORT_SEQUENTIAL = 0;

/** The model's inputs and outputs, in the order _OrtRun receives them. */
const INPUT_NAMES = ['input', 'state', 'sr'] as const;
const OUTPUT_NAMES = ['output', 'stateN'] as const;

export interface SileroVadOptions {
  /** An ONNX Silero v5 model; default is @ricky0123/vad-web's silero_vad_v5.onnx. */
  modelPath?: string;
}

interface SharedSession {
  ort: OrtWasmModule;
  handle: number;
  /** Heap pointers to the UTF-8 names, in INPUT_NAMES / OUTPUT_NAMES order. */
  inputNames: number[];
  outputNames: number[];
}

let modulePromise: Promise<OrtWasmModule> | undefined;
const sessions = new Map<string, Promise<SharedSession>>();

function defaultModelPath(): string {
  const vadWebRoot = path.dirname(createRequire(import.meta.url).resolve('@ricky0123/vad-web/package.json'));
  return path.join(vadWebRoot, 'dist', 'silero_vad_v5.onnx');
}

function loadModule(): Promise<OrtWasmModule> {
  modulePromise ??= (async () => {
    // The Emscripten glue sets globalThis.Worker for its thread pool; with one thread it never
    // starts a worker, so the global is put back as it was.
    const hadWorker = Object.hasOwn(globalThis, 'Worker');
    const previousWorker = (globalThis as { Worker?: unknown }).Worker;
    try {
      const { default: createOrtWasmModule } = await import('onnxruntime-web/ort-wasm-simd-threaded.mjs');
      // One thread: a 32 ms frame is too small to split, and a server runs many sessions side by side.
      const ort = await createOrtWasmModule({ numThreads: 1 });
      if (ort.PTR_SIZE !== 4) throw new Error(`unexpected pointer size ${ort.PTR_SIZE} (wasm32 build expected)`);
      if (ort._OrtInit(1, ORT_LOG_ERROR) !== 0) throw new Error(lastError(ort));
      return ort;
    } finally {
      if (hadWorker) (globalThis as { Worker?: unknown }).Worker = previousWorker;
      else delete (globalThis as { Worker?: unknown }).Worker;
    }
  })().catch((error: unknown) => {
    // A failed load is not cached, so a later session can try again.
    modulePromise = undefined;
    throw new SpeechbridgeError(
      'engine_unavailable',
      'Silero VAD: ONNX Runtime (onnxruntime-web) failed to load; reinstall the package or use the WebRTC VAD',
      {
        cause: error,
      },
    );
  });
  return modulePromise;
}

function lastError(ort: OrtWasmModule): string {
  const stack = ort.stackSave();
  try {
    const offsets = ort.stackAlloc(8);
    ort._OrtGetLastError(offsets, offsets + 4);
    const message = ort.getValue(offsets + 4, '*');
    return message ? ort.UTF8ToString(message) : `error code ${ort.getValue(offsets, 'i32')}`;
  } finally {
    ort.stackRestore(stack);
  }
}

function sharedSession(modelPath: string): Promise<SharedSession> {
  let session = sessions.get(modelPath);
  if (!session) {
    session = openSession(modelPath);
    sessions.set(modelPath, session);
    // A failed model is not cached: the file may be fixed before the next try.
    session.catch(() => sessions.delete(modelPath));
  }
  return session;
}

async function openSession(modelPath: string): Promise<SharedSession> {
  const model = await readFile(modelPath);
  const ort = await loadModule();
  const options = ort._OrtCreateSessionOptions(ORT_OPTIMIZE_ALL, false, false, ORT_SEQUENTIAL, false, 0, 0, ORT_LOG_ERROR, 0, 0);
  const modelData = ort._malloc(model.byteLength);
  let handle = 0;
  try {
    if (options === 0 || modelData === 0) throw new Error(lastError(ort));
    ort.HEAPU8.set(model, modelData);
    handle = ort._OrtCreateSession(modelData, model.byteLength, options);
    if (handle === 0) throw new Error(lastError(ort));
    const names = ioNames(ort, handle);
    const expected = [...INPUT_NAMES, ...OUTPUT_NAMES];
    if (names.map((name) => name.text).join() !== expected.join()) {
      for (const name of names) ort._OrtFree(name.pointer);
      throw new Error(`inputs and outputs are ${names.map((name) => name.text).join(', ')}, not Silero v5's ${expected.join(', ')}`);
    }
    const pointers = names.map((name) => name.pointer);
    return { ort, handle, inputNames: pointers.slice(0, INPUT_NAMES.length), outputNames: pointers.slice(INPUT_NAMES.length) };
  } catch (error) {
    if (handle !== 0) ort._OrtReleaseSession(handle);
    throw new SpeechbridgeError('engine_failed', `Silero VAD could not load ${modelPath}: ${error instanceof Error ? error.message : String(error)}`, {
      param: 'modelPath',
      cause: error,
    });
  } finally {
    if (modelData !== 0) ort._free(modelData);
    if (options !== 0) ort._OrtReleaseSessionOptions(options);
  }
}

function ioNames(ort: OrtWasmModule, session: number): { pointer: number; text: string }[] {
  const stack = ort.stackSave();
  try {
    const offsets = ort.stackAlloc(8);
    if (ort._OrtGetInputOutputCount(session, offsets, offsets + 4) !== 0) throw new Error(lastError(ort));
    const count = ort.getValue(offsets, 'i32') + ort.getValue(offsets + 4, 'i32');
    const names: { pointer: number; text: string }[] = [];
    for (let index = 0; index < count; index++) {
      if (ort._OrtGetInputOutputMetadata(session, index, offsets, offsets + 4) !== 0) throw new Error(lastError(ort));
      const pointer = ort.getValue(offsets, '*');
      const metadata = ort.getValue(offsets + 4, '*');
      if (metadata !== 0) ort._OrtFree(metadata);
      names.push({ pointer, text: ort.UTF8ToString(pointer) });
    }
    return names;
  } finally {
    ort.stackRestore(stack);
  }
}

export async function createSileroVad(options: SileroVadOptions = {}): Promise<SileroVad> {
  const modelPath = path.resolve(options.modelPath ?? defaultModelPath());
  if (!existsSync(modelPath)) {
    throw new SpeechbridgeError('engine_unavailable', `Silero VAD model not found at ${modelPath}; reinstall @ricky0123/vad-web or pass modelPath`, {
      param: 'modelPath',
    });
  }
  return new SileroVad(await sharedSession(modelPath));
}

/**
 * The 4-byte slots _OrtRun reads, in one block per detector: the input and output name
 * pointers, then for each order of the two state buffers its input and output tensor
 * handles (the state read this frame, and the one that receives the next state), then
 * scratch for tensor dimensions.
 */
const SLOT_INPUT_NAMES = 0;
const SLOT_OUTPUT_NAMES = 12;
const SLOT_ORDERS = 20;
const SLOT_ORDER_SIZE = 20;
const SLOT_ORDER_OUTPUTS = 12;
const SLOT_DIMS = 60;
const SLOTS_BYTES = 72;

/** Heap buffers and tensor handles one detector owns; freed by close(). */
interface Buffers {
  input: number;
  states: [number, number];
  sampleRate: number;
  output: number;
  slots: number;
  tensors: number[];
}

function allocateBuffers(session: SharedSession): Buffers {
  const { ort } = session;
  const pointers: number[] = [];
  const tensors: number[] = [];
  const allocate = (bytes: number) => {
    const pointer = ort._malloc(bytes);
    if (pointer === 0) throw new Error(`out of wasm memory for ${bytes} bytes`);
    pointers.push(pointer);
    return pointer;
  };
  try {
    const buffers = {
      input: allocate(INPUT_SAMPLES * 4),
      states: [allocate(STATE_SIZE * 4), allocate(STATE_SIZE * 4)] as [number, number],
      sampleRate: allocate(8),
      output: allocate(4),
      slots: allocate(SLOTS_BYTES),
      tensors,
    };
    ort.setValue(buffers.sampleRate, BigInt(SAMPLE_RATE), 'i64');
    const tensor = (type: number, data: number, bytes: number, dims: readonly number[]) => {
      const dimsOffset = buffers.slots + SLOT_DIMS;
      dims.forEach((dim, index) => ort.setValue(dimsOffset + index * 4, dim, 'i32'));
      const handle = ort._OrtCreateTensor(type, data, bytes, dimsOffset, dims.length, ORT_LOCATION_CPU);
      if (handle === 0) throw new Error(lastError(ort));
      tensors.push(handle);
      return handle;
    };
    const input = tensor(ORT_FLOAT32, buffers.input, INPUT_SAMPLES * 4, [1, INPUT_SAMPLES]);
    const states = buffers.states.map((state) => tensor(ORT_FLOAT32, state, STATE_SIZE * 4, STATE_DIMS));
    const sampleRate = tensor(ORT_INT64, buffers.sampleRate, 8, []);
    const output = tensor(ORT_FLOAT32, buffers.output, 4, [1, 1]);
    const slot = (offset: number, values: number[]) => values.forEach((value, index) => ort.setValue(buffers.slots + offset + index * 4, value, '*'));
    slot(SLOT_INPUT_NAMES, session.inputNames);
    slot(SLOT_OUTPUT_NAMES, session.outputNames);
    for (const order of [0, 1]) {
      const inputs = SLOT_ORDERS + order * SLOT_ORDER_SIZE;
      slot(inputs, [input, states[order], sampleRate]);
      slot(inputs + SLOT_ORDER_OUTPUTS, [output, states[1 - order]]);
    }
    return buffers;
  } catch (error) {
    for (const tensor of tensors) ort._OrtReleaseTensor(tensor);
    for (const pointer of pointers) ort._free(pointer);
    throw new SpeechbridgeError('engine_failed', `Silero VAD could not set up a detector: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  }
}

type DetectorState = { state: 'open'; buffers: Buffers } | { state: 'closed' };

export class SileroVad implements VoiceDetector {
  readonly name = 'silero-vad-v5';
  readonly sampleRate = SAMPLE_RATE;
  readonly frameSamples = FRAME_SAMPLES;
  readonly #session: SharedSession;
  #detector: DetectorState;
  /** Views over this detector's heap buffers, rebuilt when the wasm memory grows. */
  #heap: ArrayBufferLike | undefined;
  #input: Float32Array<ArrayBufferLike> = new Float32Array(0);
  #output: Float32Array<ArrayBufferLike> = new Float32Array(0);
  /** Which state buffer this frame reads (the other receives the next state). */
  #order: 0 | 1 = 0;

  constructor(session: SharedSession) {
    this.#session = session;
    this.#detector = { state: 'open', buffers: allocateBuffers(session) };
    this.reset();
  }

  probability(frame: Int16Array): number {
    if (this.#detector.state === 'closed') throw new SpeechbridgeError('engine_unavailable', `${this.name} is closed`);
    if (frame.length !== FRAME_SAMPLES) {
      throw new SpeechbridgeError('invalid_value', `a Silero VAD frame has ${FRAME_SAMPLES} samples, got ${frame.length}`, { param: 'frame' });
    }
    const { slots } = this.#detector.buffers;
    const { ort, handle } = this.#session;
    const input = this.#views().input;
    // The last 64 samples of the previous frame become this frame's context.
    input.copyWithin(0, FRAME_SAMPLES);
    for (let i = 0; i < FRAME_SAMPLES; i++) input[CONTEXT_SAMPLES + i] = frame[i] / 32768;
    const inputs = slots + SLOT_ORDERS + this.#order * SLOT_ORDER_SIZE;
    const status = ort._OrtRun(
      handle,
      slots + SLOT_INPUT_NAMES,
      inputs,
      INPUT_NAMES.length,
      slots + SLOT_OUTPUT_NAMES,
      OUTPUT_NAMES.length,
      inputs + SLOT_ORDER_OUTPUTS,
      0,
    );
    if (status !== 0) throw new SpeechbridgeError('engine_failed', `Silero VAD inference failed: ${lastError(ort)}`);
    this.#order = this.#order === 0 ? 1 : 0;
    return this.#views().output[0];
  }

  reset(): void {
    if (this.#detector.state === 'closed') return;
    const { input, states } = this.#detector.buffers;
    const heap = this.#session.ort.HEAPU8;
    heap.fill(0, input, input + INPUT_SAMPLES * 4);
    for (const state of states) heap.fill(0, state, state + STATE_SIZE * 4);
    this.#order = 0;
  }

  close(): void {
    if (this.#detector.state === 'closed') return;
    const { ort } = this.#session;
    const { tensors, input, states, sampleRate, output, slots } = this.#detector.buffers;
    for (const tensor of tensors) ort._OrtReleaseTensor(tensor);
    for (const pointer of [input, ...states, sampleRate, output, slots]) ort._free(pointer);
    this.#detector = { state: 'closed' };
  }

  /** The input and output views; a grown wasm memory gets new ones (an unshared memory detaches the old). */
  #views(): { input: Float32Array<ArrayBufferLike>; output: Float32Array<ArrayBufferLike> } {
    const heap = this.#session.ort.HEAPU8.buffer;
    if (heap !== this.#heap && this.#detector.state === 'open') {
      this.#heap = heap;
      this.#input = new Float32Array(heap, this.#detector.buffers.input, INPUT_SAMPLES);
      this.#output = new Float32Array(heap, this.#detector.buffers.output, 1);
    }
    return { input: this.#input, output: this.#output };
  }
}
