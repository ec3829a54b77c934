/**
 * Types for the Emscripten module inside onnxruntime-web (its single-thread-capable SIMD
 * build, exported as `onnxruntime-web/ort-wasm-simd-threaded.mjs`), which ships no
 * declarations. Only the exports src/vad/silero-vad.ts calls are declared; the signatures
 * are those onnxruntime-web's own wasm-core-impl passes (every pointer is a 32-bit offset
 * into the wasm heap; every `number` result is 0 for success or a handle, 0 for failure).
 */
declare module 'onnxruntime-web/ort-wasm-simd-threaded.mjs' {
  export interface OrtWasmModule {
    /** Logging levels: 0 verbose, 1 info, 2 warning, 3 error, 4 fatal. */
    _OrtInit(numThreads: number, loggingLevel: number): number;
    /** Graph optimization: 0 none, 1 basic, 2 extended, 99 all; execution mode 0 sequential. */
    _OrtCreateSessionOptions(
      graphOptimizationLevel: number,
      enableCpuMemArena: boolean,
      enableMemPattern: boolean,
      executionMode: number,
      enableProfiling: boolean,
      profileFilePrefix: number,
      logId: number,
      logSeverityLevel: number,
      logVerbosityLevel: number,
      optimizedModelFilePath: number,
    ): number;
    _OrtReleaseSessionOptions(options: number): number;
    /** The model bytes are read during the call; the caller frees them afterwards. */
    _OrtCreateSession(modelData: number, modelLength: number, options: number): number;
    _OrtReleaseSession(session: number): number;
    _OrtGetInputOutputCount(session: number, inputCountOffset: number, outputCountOffset: number): number;
    /** Writes a name pointer (freed with _OrtFree) and a metadata pointer (freed with _OrtFree). */
    _OrtGetInputOutputMetadata(session: number, index: number, nameOffset: number, metadataOffset: number): number;
    /** Data types: 1 float32, 7 int64; location 1 cpu. Wraps `data` without copying it. */
    _OrtCreateTensor(dataType: number, data: number, dataLength: number, dims: number, dimsLength: number, dataLocation: number): number;
    _OrtReleaseTensor(tensor: number): number;
    /** Output slots that hold a tensor handle are written into that tensor's buffer. */
    _OrtRun(
      session: number,
      inputNames: number,
      inputs: number,
      inputCount: number,
      outputNames: number,
      outputCount: number,
      outputs: number,
      runOptions: number,
    ): number;
    _OrtGetLastError(errorCodeOffset: number, errorMessageOffset: number): number;
    _OrtFree(pointer: number): number;
    _malloc(bytes: number): number;
    _free(pointer: number): void;
    stackSave(): number;
    stackRestore(stack: number): void;
    stackAlloc(bytes: number): number;
    getValue(pointer: number, type: 'i32' | 'i64' | 'float' | '*'): number;
    setValue(pointer: number, value: number | bigint, type: 'i32' | 'i64' | 'float' | '*'): void;
    UTF8ToString(pointer: number): string;
    /** Replaced by a new view when the wasm memory grows, so read it at each use. */
    HEAPU8: Uint8Array;
    /** 4 for this wasm32 build. */
    PTR_SIZE: number;
  }
  const createOrtWasmModule: (moduleArg?: { numThreads?: number }) => Promise<OrtWasmModule>;
  export default createOrtWasmModule;
}
