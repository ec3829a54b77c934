/**
 * The one table of ranges for what a client may set in a session. The engine checks updates
 * against it (session-config.ts) and every door's zod schema is built from it, so a value the
 * wire accepts is one the engine accepts: a door never lets through what the engine then
 * refuses with a second, different error.
 */
import type { Range } from '../errors/field-checks.ts';
import { AGGRESSIVENESS_RANGE, TURN_OPTION_RANGES } from '../vad/turn-options.ts';

export type { Range };

export const SESSION_RANGES = Object.freeze({
  /** 8 kHz (G.711) to 48 kHz (browser capture): the rates the wire formats use. */
  sampleRate: [8000, 48000],
  /** OpenAI's speech speed range. */
  speed: [0.25, 4],
  temperature: [0, 2],
  /** OpenAI's realtime limit on max_output_tokens. */
  maxOutputTokens: [1, 4096],
  /** 1 s (shorter would answer a breath) to 10 min. */
  idleTimeoutMs: [1000, 600_000],
  /** Output audio per audio.delta. */
  audioHopMs: [20, 100],
  /** libfvad's modes. */
  aggressiveness: AGGRESSIVENESS_RANGE,
  /** The turn detector's own ranges (src/vad/turn-options.ts). */
  ...TURN_OPTION_RANGES,
} satisfies Record<string, Range>);

export type SessionRangeName = keyof typeof SESSION_RANGES;
