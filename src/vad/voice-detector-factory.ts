/**
 * Creates a detector for the chosen engine. Each engine module is imported on demand so a
 * gateway that uses only WebRTC VAD never loads onnxruntime-web (a 14 MB wasm module); the
 * engines import only the contract (voice-detector.ts), so no module imports its importer.
 */
import type { VoiceDetectorFactory } from './voice-detector.ts';

export const createVoiceDetector: VoiceDetectorFactory = async (options) => {
  switch (options.engine) {
    case 'webrtc': {
      const { createWebRtcVad } = await import('./webrtc-vad.ts');
      return createWebRtcVad(options);
    }
    case 'silero': {
      const { createSileroVad } = await import('./silero-vad.ts');
      return createSileroVad(options);
    }
  }
};
