/**
 * Types for @echogarden/fvad-wasm, an emscripten build of libfvad that ships no
 * declarations. Only the exports src/vad/webrtc-vad.ts calls are declared.
 */
declare module '@echogarden/fvad-wasm' {
  export interface FvadModule {
    /** Returns a pointer to a new VAD instance, or 0 when out of memory. */
    _fvad_new(): number;
    _fvad_free(instance: number): void;
    /** Clears all state and sets mode and sample rate back to their defaults (0, 8000 Hz). */
    _fvad_reset(instance: number): void;
    /** 0 on success, −1 for a mode outside 0–3. */
    _fvad_set_mode(instance: number, mode: number): number;
    /** 0 on success, −1 for a rate other than 8000, 16000, 32000 or 48000 Hz. */
    _fvad_set_sample_rate(instance: number, sampleRate: number): number;
    /** 1 voiced, 0 unvoiced, −1 for a frame length other than 10, 20 or 30 ms. */
    _fvad_process(instance: number, frame: number, length: number): number;
    _malloc(bytes: number): number;
    _free(pointer: number): void;
    /** Replaced by a new view when the wasm memory grows, so read it at each use. */
    HEAP16: Int16Array;
  }
  const createFvadModule: (moduleArg?: Record<string, unknown>) => Promise<FvadModule>;
  export default createFvadModule;
}
