/**
 * WebRTC VAD (libfvad) compiled to wasm, via @echogarden/fvad-wasm. It answers voiced or not
 * per frame, so probability is 0 or 1. One wasm module serves every detector in the process
 * (each detector owns one libfvad instance of under 1 KB and one frame buffer in its heap),
 * so a new session costs two mallocs rather than a wasm compile.
 */
import createFvadModule, { type FvadModule } from '@echogarden/fvad-wasm';
import { SpeechbridgeError } from '../errors/registry.ts';
import type { Aggressiveness, VoiceDetector } from './voice-detector.ts';

const SAMPLE_RATE = 16000;
const DEFAULT_AGGRESSIVENESS: Aggressiveness = 2;
/** 20 ms: libfvad accepts only 10, 20 or 30 ms; 20 ms matches the wire's 20 ms hops. */
const DEFAULT_FRAME_MS = 20;

export interface WebRtcVadOptions {
  aggressiveness?: Aggressiveness;
  frameMs?: 10 | 20 | 30;
}

let modulePromise: Promise<FvadModule> | undefined;

function loadModule(): Promise<FvadModule> {
  modulePromise ??= createFvadModule().catch((error: unknown) => {
    // A failed load is not cached, so a later session can try again.
    modulePromise = undefined;
    throw new SpeechbridgeError('engine_unavailable', 'WebRTC VAD (@echogarden/fvad-wasm) failed to load; reinstall the package', {
      cause: error,
    });
  });
  return modulePromise;
}

export async function createWebRtcVad(options: WebRtcVadOptions = {}): Promise<WebRtcVad> {
  const aggressiveness = options.aggressiveness ?? DEFAULT_AGGRESSIVENESS;
  if (!Number.isInteger(aggressiveness) || aggressiveness < 0 || aggressiveness > 3) {
    throw new SpeechbridgeError('invalid_value', `aggressiveness must be 0, 1, 2 or 3, got ${aggressiveness}`, { param: 'aggressiveness' });
  }
  const frameMs = options.frameMs ?? DEFAULT_FRAME_MS;
  if (frameMs !== 10 && frameMs !== 20 && frameMs !== 30) {
    throw new SpeechbridgeError('invalid_value', `frameMs must be 10, 20 or 30 (libfvad's frame lengths), got ${frameMs}`, { param: 'frameMs' });
  }
  return new WebRtcVad(await loadModule(), aggressiveness, frameMs);
}

type Handle = { state: 'open'; instance: number; buffer: number } | { state: 'closed' };

export class WebRtcVad implements VoiceDetector {
  readonly name: string;
  readonly sampleRate = SAMPLE_RATE;
  readonly frameSamples: number;
  readonly aggressiveness: Aggressiveness;
  readonly #module: FvadModule;
  #handle: Handle;

  constructor(module: FvadModule, aggressiveness: Aggressiveness, frameMs: 10 | 20 | 30) {
    this.#module = module;
    this.aggressiveness = aggressiveness;
    this.frameSamples = (SAMPLE_RATE * frameMs) / 1000;
    this.name = `webrtc-vad-${aggressiveness}`;
    const instance = module._fvad_new();
    const buffer = instance === 0 ? 0 : module._malloc(this.frameSamples * 2);
    if (instance === 0 || buffer === 0) {
      if (instance !== 0) module._fvad_free(instance);
      throw new SpeechbridgeError('engine_failed', 'WebRTC VAD could not allocate its state in wasm memory');
    }
    this.#handle = { state: 'open', instance, buffer };
    this.#configure(instance);
  }

  probability(frame: Int16Array): number {
    const handle = this.#open();
    if (frame.length !== this.frameSamples) {
      throw new SpeechbridgeError('invalid_value', `a WebRTC VAD frame has ${this.frameSamples} samples, got ${frame.length}`, { param: 'frame' });
    }
    // HEAP16 is read at each call: a malloc elsewhere in the shared module may grow the memory
    // and replace the view. The buffer is 2-byte aligned (malloc aligns to 8), hence >> 1.
    this.#module.HEAP16.set(frame, handle.buffer >> 1);
    const voiced = this.#module._fvad_process(handle.instance, handle.buffer, this.frameSamples);
    if (voiced < 0) throw new SpeechbridgeError('engine_failed', 'WebRTC VAD rejected a frame');
    return voiced;
  }

  reset(): void {
    const handle = this.#open();
    // fvad_reset also puts mode and sample rate back to their defaults, so set them again.
    this.#module._fvad_reset(handle.instance);
    this.#configure(handle.instance);
  }

  close(): void {
    const handle = this.#handle;
    if (handle.state === 'closed') return;
    this.#module._free(handle.buffer);
    this.#module._fvad_free(handle.instance);
    this.#handle = { state: 'closed' };
  }

  #configure(instance: number): void {
    if (this.#module._fvad_set_sample_rate(instance, SAMPLE_RATE) !== 0 || this.#module._fvad_set_mode(instance, this.aggressiveness) !== 0) {
      throw new SpeechbridgeError('engine_failed', 'WebRTC VAD refused its sample rate or mode');
    }
  }

  #open(): { instance: number; buffer: number } {
    if (this.#handle.state === 'closed') throw new SpeechbridgeError('engine_unavailable', `${this.name} is closed`);
    return this.#handle;
  }
}
