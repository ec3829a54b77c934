/**
 * The gateway's own turn-detection knobs as the doors' wires name them — `aggressiveness`
 * (0–3), `start_ms`, `end_ms`, `pad_ms`, `max_ms` — with the ranges of src/engine/ranges.ts:
 * one set of zod fields every codec spreads into its schema, and one mapping to the engine's
 * turn detection settings.
 */
import type { TurnDetectionConfig } from '../engine/events.ts';
import { SESSION_RANGES } from '../engine/ranges.ts';
import { integerIn } from './range-schemas.ts';

export const TURN_KNOB_FIELDS = {
  aggressiveness: integerIn(SESSION_RANGES.aggressiveness).optional(),
  start_ms: integerIn(SESSION_RANGES.startMs).optional(),
  end_ms: integerIn(SESSION_RANGES.endMs).optional(),
  pad_ms: integerIn(SESSION_RANGES.padMs).optional(),
  max_ms: integerIn(SESSION_RANGES.maxMs).optional(),
};

export interface TurnKnobs {
  aggressiveness?: number;
  start_ms?: number;
  end_ms?: number;
  pad_ms?: number;
  max_ms?: number;
}

/** The knobs a client set, as engine settings (absent ones stay absent). */
export function turnKnobsFromWire(knobs: TurnKnobs): Partial<TurnDetectionConfig> {
  const settings: Partial<TurnDetectionConfig> = {};
  if (knobs.aggressiveness !== undefined) settings.aggressiveness = knobs.aggressiveness;
  if (knobs.start_ms !== undefined) settings.startMs = knobs.start_ms;
  if (knobs.end_ms !== undefined) settings.endMs = knobs.end_ms;
  if (knobs.pad_ms !== undefined) settings.padMs = knobs.pad_ms;
  if (knobs.max_ms !== undefined) settings.maxMs = knobs.max_ms;
  return settings;
}
