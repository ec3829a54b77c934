/**
 * Offline speech segmentation: the realtime TurnDetector run over a whole recording, so
 * `speechbridge vad <file>` shows exactly the turns a live session would have cut.
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { PcmAudio } from '../audio/pcm.ts';
import { resample } from '../audio/resample.ts';
import { throwIfAborted } from '../errors/abort.ts';
import { TurnDetector, type TurnEvent, type TurnStopReason } from './turn-detector.ts';
import type { TurnOptions } from './turn-options.ts';
import { createVoiceDetector } from './voice-detector-factory.ts';
import type { VoiceDetector, VoiceDetectorOptions } from './voice-detector.ts';

export interface SpeechSegment {
  /** The detected onset, without padMs (as speech.started's audioStartMs). */
  startMs: number;
  /** End of the last voiced frame (as speech.stopped's audioEndMs). */
  endMs: number;
  reason: TurnStopReason;
}

export interface FindSpeechSegmentsOptions {
  /** Engine to create (and close afterwards); default WebRTC VAD at aggressiveness 2. */
  engine?: VoiceDetectorOptions;
  /** An existing detector to use instead; the caller keeps ownership, it is reset before use. */
  detector?: VoiceDetector;
  /** Turn knobs; unset ones take DEFAULT_TURN_OPTIONS (maxMs 5000 splits longer speech). */
  turn?: Partial<TurnOptions>;
  signal?: AbortSignal;
}

/**
 * 10 s of audio between yields: about 1.5 ms of WebRTC VAD and turn detection, or 25 ms
 * with Silero (bench/vad.ts), so a long file neither blocks the event loop for long nor pays
 * a yield per frame.
 */
const BLOCK_MS = 10_000;

export async function findSpeechSegments(audio: PcmAudio, options: FindSpeechSegmentsOptions = {}): Promise<SpeechSegment[]> {
  throwIfAborted(options.signal);
  const owned = options.detector === undefined;
  const detector = options.detector ?? (await createVoiceDetector(options.engine ?? { engine: 'webrtc' }));
  try {
    const turns = new TurnDetector(detector, options.turn);
    // Resampling keeps the time axis, so segment times hold for the original recording too.
    const pcm = audio.sampleRate === detector.sampleRate ? audio : await resample(audio, detector.sampleRate);
    const segments: SpeechSegment[] = [];
    let openStartMs: number | null = null;
    const collect = (events: readonly TurnEvent[]) => {
      for (const event of events) {
        if (event.type === 'speech.started') openStartMs = event.audioStartMs;
        else if (openStartMs !== null) {
          segments.push({ startMs: openStartMs, endMs: event.audioEndMs, reason: event.reason });
          openStartMs = null;
        }
      }
    };
    const blockSamples = (BLOCK_MS * detector.sampleRate) / 1000;
    for (let offset = 0; offset < pcm.samples.length; offset += blockSamples) {
      if (offset > 0) {
        await yieldToEventLoop();
        throwIfAborted(options.signal);
      }
      collect(turns.push(pcm.samples.subarray(offset, offset + blockSamples)));
    }
    collect(turns.flush());
    return segments;
  } finally {
    if (owned) detector.close?.();
  }
}
