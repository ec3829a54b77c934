/**
 * The voice detector contract: one speech probability per fixed-size frame of 16 kHz PCM.
 * Per-frame calls are synchronous because both engines take microseconds per frame (see
 * bench/vad.ts): a promise per 20 ms frame would cost more than the detection itself.
 * Creation is async (loading wasm or an ONNX model), and so is picking an engine by options
 * (voice-detector-factory.ts).
 */

/** libfvad's modes: 0 is the least eager to call noise non-speech, 3 the most. */
export type Aggressiveness = 0 | 1 | 2 | 3;

export type VoiceEngine = 'webrtc' | 'silero';

export interface VoiceDetector {
  readonly name: string;
  /** Both engines run at 16 kHz; callers resample once before framing. */
  readonly sampleRate: 16000;
  /** Samples per frame: 320 (20 ms) for WebRTC VAD, 512 (32 ms) for Silero v5. */
  readonly frameSamples: number;
  /** Speech probability 0–1 for exactly one frame of `frameSamples` samples. */
  probability(frame: Int16Array): number;
  /** Forgets the engine's state (noise estimate, recurrent state) for a new stream. */
  reset(): void;
  /** Frees native or wasm memory; the detector is unusable afterwards. */
  close?(): void;
}

export type VoiceDetectorOptions =
  | {
      engine: 'webrtc';
      /** Default 2 (the VAD_AGGR default); the caller applies VAD_AGGR. */
      aggressiveness?: Aggressiveness;
      /** Default 20; libfvad accepts only 10, 20 or 30 ms frames. */
      frameMs?: 10 | 20 | 30;
    }
  | {
      engine: 'silero';
      /** An ONNX Silero v5 model; default is the one the @ricky0123/vad-web package ships. */
      modelPath?: string;
    };

export type VoiceDetectorFactory = (options: VoiceDetectorOptions) => Promise<VoiceDetector>;
