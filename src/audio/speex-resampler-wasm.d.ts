/**
 * Typings for @echogarden/speex-resampler-wasm, which ships an Emscripten factory without
 * declarations. Only the calls resample.ts makes are listed; pointers are byte offsets into
 * the module's heap.
 */
declare module '@echogarden/speex-resampler-wasm/simd' {
  import type { SpeexResamplerModule } from '@echogarden/speex-resampler-wasm';
  const createModule: (moduleArg?: object) => Promise<SpeexResamplerModule>;
  export default createModule;
}

declare module '@echogarden/speex-resampler-wasm' {
  export interface SpeexResamplerModule {
    /** Views over the heap; Emscripten replaces them when the heap grows, so read them after any malloc. */
    HEAP16: Int16Array;
    HEAPU8: Uint8Array;
    HEAPU32: Uint32Array;
    HEAP32: Int32Array;
    _malloc(bytes: number): number;
    _free(pointer: number): void;
    _speex_resampler_init(channels: number, inRate: number, outRate: number, quality: number, errorPointer: number): number;
    _speex_resampler_process_int(
      state: number,
      channelIndex: number,
      inputPointer: number,
      inputLengthPointer: number,
      outputPointer: number,
      outputLengthPointer: number,
    ): number;
    _speex_resampler_skip_zeros(state: number): number;
    _speex_resampler_reset_mem(state: number): number;
    _speex_resampler_get_input_latency(state: number): number;
    _speex_resampler_destroy(state: number): void;
    _speex_resampler_strerror(code: number): number;
  }
  const createModule: (moduleArg?: object) => Promise<SpeexResamplerModule>;
  export default createModule;
}
