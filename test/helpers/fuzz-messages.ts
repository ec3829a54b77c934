/**
 * Fuzzed client messages for the doors (test/protocols/fuzz.test.ts, bench/fuzz-memory.ts): a
 * seeded generator, every field of a zod schema given values the schema refuses, JSON nesting
 * past the bounds at every field, and text that is not a message at all.
 */
import type { z } from 'zod';
import { badValuesOf, fieldsOf, type PathSegment, withValueAt } from './zod-fields.ts';

/** mulberry32: a small seeded generator, the same sequence on every machine. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Fuzz {
  readonly random: () => number;
  constructor(seed: number) {
    this.random = seeded(seed);
  }
  int(min: number, max: number): number {
    return min + Math.floor(this.random() * (max - min + 1));
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)];
  }
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      [items[i], items[j]] = [items[j], items[i]];
    }
    return items;
  }
  bytes(length: number): Buffer {
    const bytes = Buffer.alloc(length);
    for (let i = 0; i < length; i++) bytes[i] = this.int(0, 255);
    // Never the start of a JSON object or array, so garbage cannot parse as a message by chance.
    if (bytes[0] === 0x7b || bytes[0] === 0x5b) bytes[0] = 0xff;
    return bytes;
  }
  /** JSON text nesting `depth` levels: arrays, objects or both. */
  deep(depth: number): string {
    switch (this.int(0, 2)) {
      case 0:
        return '['.repeat(depth) + ']'.repeat(depth);
      case 1:
        return '{"k":'.repeat(depth) + '0' + '}'.repeat(depth);
      default:
        return '[{"k":'.repeat(Math.ceil(depth / 2)) + 'null' + '}]'.repeat(Math.ceil(depth / 2));
    }
  }
  deepDepth(): number {
    return this.pick([65, 100, 1000, this.int(65, 20_000)]);
  }
}

const DEEP_MARKER = '__fuzz_deep_value__';

/** `base` with `path` replaced by JSON text nesting `depth` levels, built without recursion. */
export function withDeepAt(fuzz: Fuzz, base: unknown, path: readonly PathSegment[], depth: number): string {
  return JSON.stringify(withValueAt(base, path, DEEP_MARKER)).replace(JSON.stringify(DEEP_MARKER), fuzz.deep(depth));
}

export interface TextCase {
  label: string;
  frame: string | Buffer;
}

/** Every field of `schema` given each value it must refuse, and deep nesting, on top of `base`. */
export function fieldCases(
  fuzz: Fuzz,
  name: string,
  schema: z.ZodType,
  base: Record<string, unknown>,
  extra: (message: unknown) => unknown = (message) => message,
): TextCase[] {
  const cases: TextCase[] = [];
  for (const field of fieldsOf(schema)) {
    const at = field.path.join('.') || '(message)';
    for (const bad of badValuesOf(field)) {
      const message = extra(withValueAt(base, field.path, bad));
      // A field of another union branch, or of an object that drops unknown keys, may leave the message valid.
      if (schema.safeParse(message).success) continue;
      cases.push({ label: `${name} ${at} = ${JSON.stringify(bad).slice(0, 40)}`, frame: JSON.stringify(message) });
    }
    cases.push({ label: `${name} ${at} nested deep`, frame: withDeepAt(fuzz, extra(base), field.path, fuzz.deepDepth()) });
  }
  return cases;
}

/** Text that is not a message: truncated JSON, not JSON, unknown types, oversize, deep at the top. */
export function garbageCases(
  fuzz: Fuzz,
  typeField: 'type' | 'action',
  valid: Array<Record<string, unknown>>,
  count: number,
  maxMessageBytes: number,
): TextCase[] {
  const cases: TextCase[] = [];
  for (let i = 0; i < count; i++) {
    const kind = fuzz.int(0, 5);
    if (kind === 0) {
      const text = JSON.stringify(fuzz.pick(valid));
      cases.push({ label: 'truncated JSON', frame: text.slice(0, fuzz.int(1, text.length - 1)) });
    } else if (kind === 1) {
      cases.push({
        label: 'not JSON',
        frame:
          fuzz.pick(['hello', '{{}', '{"type":', 'undefined', '{type:"x"}', "{'a':1}", '\u0000\u0001', '']) + fuzz.bytes(fuzz.int(0, 20)).toString('latin1'),
      });
    } else if (kind === 2) {
      const name = fuzz.pick(['', 'START', 'session.updat', 'x'.repeat(fuzz.int(1, 100_000)), '\u202e', 'constructor', '__proto__', 'toString']);
      cases.push({ label: 'unknown message type', frame: JSON.stringify({ [typeField]: name }) });
    } else if (kind === 3) {
      cases.push({ label: 'wrong-typed message type', frame: `{"${typeField}":${fuzz.pick(['1', 'true', 'null', '[]', '{}', '"\\u0000"'])}}` });
    } else if (kind === 4) {
      cases.push({ label: 'nested deep at the top', frame: fuzz.deep(fuzz.deepDepth()) });
    } else if (fuzz.int(0, 9) === 0) {
      // Rarely: each oversize message is 0.3 MB on the wire.
      cases.push({
        label: 'over REALTIME_MAX_MESSAGE_MB',
        frame: JSON.stringify({ [typeField]: 'x', pad: 'p'.repeat(maxMessageBytes + fuzz.int(1, 50_000)) }),
      });
    } else {
      cases.push({ label: 'a JSON value that is not an object', frame: fuzz.pick(['1', '"start"', 'null', 'true', '[{"type":"start"}]', '[]']) });
    }
  }
  return cases;
}

/** `cases` shuffled, topped up with garbage to `total`. */
export function planOf(fuzz: Fuzz, cases: TextCase[], garbage: (count: number) => TextCase[], total: number): TextCase[] {
  const plan = fuzz.shuffle([...cases]);
  return plan.length >= total ? plan : fuzz.shuffle([...plan, ...garbage(total - plan.length)]);
}
