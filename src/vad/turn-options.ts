/**
 * The turn detector's knobs, their defaults and ranges, and how OpenAI's server_vad
 * threshold picks a WebRTC VAD mode.
 */
import { checkNumber, type Range } from '../errors/field-checks.ts';
import { SpeechbridgeError } from '../errors/registry.ts';
import type { Aggressiveness } from './voice-detector.ts';

export interface TurnOptions {
  /** Speech must last this long (ms) before a turn starts; shorter blips are ignored. */
  startMs: number;
  /** Silence (ms) after the last voiced frame that ends a turn. */
  endMs: number;
  /**
   * Audio (ms) the caller keeps before the detected start when it cuts the turn (OpenAI's
   * prefix_padding_ms). The detector only carries it; its events never include it.
   */
  padMs: number;
  /** A turn is force-cut at this length (ms) so one turn cannot hold the buffer forever. */
  maxMs: number;
  /** A frame whose speech probability is at least this is voiced. */
  threshold: number;
  /**
   * A turn starts only when a frame of its voiced run stands this many dB above the
   * background (src/vad/noise-floor.ts), and inside a turn a frame counts as voiced only at
   * half of it; 0 turns both checks off. It keeps steady noise that the engine calls speech
   * (fans, hum, a noise before the engine adapts to it) from opening turns, and room tone
   * from stretching them. The price: speech that peaks less than 12 dB over a steady noise
   * opens no turn.
   */
  minSnrDb: number;
}

/**
 * The seeds' values; endMs 450 and padMs 180 are close to OpenAI's 500 and 300 but answer
 * sooner. minSnrDb 12: steady noise reads under 9 dB over its floor even when it steps by
 * 6 dB (noise_stationary_leopard_empty.wav), while word onsets in the shared recordings stand
 * 20–60 dB over theirs.
 */
export const DEFAULT_TURN_OPTIONS: Readonly<TurnOptions> = Object.freeze({
  startMs: 120,
  endMs: 450,
  padMs: 180,
  maxMs: 5000,
  threshold: 0.5,
  minSnrDb: 12,
});

/** Inclusive ranges; outside them a detector either never starts, never ends or splits every word. */
export const TURN_OPTION_RANGES: Readonly<Record<keyof TurnOptions, Range>> = Object.freeze({
  startMs: [0, 2000],
  endMs: [100, 10000],
  padMs: [0, 2000],
  maxMs: [500, 600000],
  threshold: [0, 1],
  minSnrDb: [0, 40],
});

/** libfvad's modes. */
export const AGGRESSIVENESS_RANGE: Range = [0, 3];

/** Fills defaults and validates every field; throws invalid_value naming the field. */
export function resolveTurnOptions(options: Partial<TurnOptions> = {}): TurnOptions {
  const resolved: TurnOptions = { ...DEFAULT_TURN_OPTIONS };
  for (const key of Object.keys(TURN_OPTION_RANGES) as (keyof TurnOptions)[]) {
    const value = options[key];
    if (value === undefined) continue;
    const [min, max] = TURN_OPTION_RANGES[key];
    resolved[key] = checkNumber(value, min, max, key);
  }
  return resolved;
}

export function validateAggressiveness(value: unknown, param = 'aggressiveness'): Aggressiveness {
  const [min, max] = AGGRESSIVENESS_RANGE;
  const checked = checkNumber(value, min, max, param);
  if (!Number.isInteger(checked)) throw new SpeechbridgeError('invalid_value', `${param} must be an integer 0–3, got ${checked}`, { param });
  return checked as Aggressiveness;
}

/**
 * OpenAI's server_vad threshold as a WebRTC VAD mode (src/engine/session-config.ts applies it).
 * Silero's output is a probability like OpenAI's, so there the threshold is used as it is.
 * WebRTC VAD answers only 0 or 1, so a threshold between them would change nothing; there the
 * threshold picks libfvad's mode instead, and the detector threshold stays 0.5. Both scales mean
 * "how sure before calling it speech" (OpenAI: a higher threshold needs louder audio and suits
 * noisy rooms; libfvad: a higher mode rejects more non-speech), so higher maps to more aggressive:
 *   < 0.15 → 0 ("quality": calls almost any sound speech, for very quiet talkers),
 *   < 0.3  → 1,
 *   < 0.8  → 2 (OpenAI's default 0.5 lands on VAD_AGGR's default 2, and the band is wide so
 *               the usual 0.4–0.7 tweaks keep it; four modes cannot follow every 0.1 step),
 *   ≥ 0.8  → 3 ("very aggressive", for noisy rooms).
 */
export function thresholdToAggressiveness(threshold: number): Aggressiveness {
  if (threshold < 0.15) return 0;
  if (threshold < 0.3) return 1;
  if (threshold < 0.8) return 2;
  return 3;
}
