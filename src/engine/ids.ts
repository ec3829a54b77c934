/**
 * Ids the engine hands out: `item_…` (conversation items), `resp_…` (responses), `event_…`
 * (protocol events), `call_…` (tool calls the LLM sent without an id) and `seg_…` (speaker
 * segments of a turn). Injectable so tests can predict them.
 */
import { randomBytes } from 'node:crypto';

export type IdPrefix = 'item' | 'resp' | 'event' | 'call' | 'seg';

export interface IdGenerator {
  next(prefix: IdPrefix): string;
}

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
/**
 * 16 base-62 characters carry 95 bits: unique across every session a gateway will ever hold,
 * and the id stays as short as OpenAI's (a prefix and about 20 characters).
 */
const RANDOM_CHARS = 16;
/** Random bytes fetched per refill: one syscall per 256 ids instead of one per id. */
const POOL_BYTES = 4096;
/** Bytes at or above 248 (= 4 × 62) are skipped so that every character is equally likely. */
const UNBIASED_LIMIT = 248;

let pool = randomBytes(0);
let poolOffset = 0;

function randomChar(): string {
  for (;;) {
    if (poolOffset >= pool.length) {
      pool = randomBytes(POOL_BYTES);
      poolOffset = 0;
    }
    const byte = pool[poolOffset++];
    if (byte < UNBIASED_LIMIT) return ALPHABET[byte % 62];
  }
}

/** The production generator: `item_` + 16 random base-62 characters. */
export const randomIds: IdGenerator = {
  next(prefix) {
    let id = `${prefix}_`;
    for (let i = 0; i < RANDOM_CHARS; i++) id += randomChar();
    return id;
  },
};

/** Predictable ids for tests: item_1, item_2, resp_1, … (one counter per prefix). */
export function sequentialIds(): IdGenerator {
  const counters = new Map<IdPrefix, number>();
  return {
    next(prefix) {
      const next = (counters.get(prefix) ?? 0) + 1;
      counters.set(prefix, next);
      return `${prefix}_${next}`;
    },
  };
}
