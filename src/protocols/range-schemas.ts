/**
 * zod schemas for a number in one of the session ranges (src/engine/ranges.ts), so every
 * door's wire accepts exactly what the engine accepts.
 */
import { z } from 'zod';
import type { Range } from '../engine/ranges.ts';

export const numberIn = ([min, max]: Range) => z.number().min(min).max(max);

export const integerIn = ([min, max]: Range) => z.number().int().min(min).max(max);
