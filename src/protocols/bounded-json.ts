/**
 * JSON from a client, within bounds, before anything else touches it. Every door parses its
 * text messages here (Socket.IO payloads, which its parser has already read, are checked with
 * checkJsonValue). The bounds hold for every message of every door:
 *
 * - nesting at most JSON_LIMITS.maxDepth (64) levels: serialising a structure a few thousand
 *   levels deep (a 20 KB message of `[[[[…`) overflows the stack, and parsing the 8 million
 *   levels a 16 MB message can hold takes 7 s and 460 MB of heap;
 * - at most JSON_LIMITS.maxValues (100,000) values in one message: no client event needs
 *   more (an audio append is one string), and 16 MB of `[0,0,…]` would be 8 million numbers;
 * - object keys at most JSON_LIMITS.maxKeyChars (256) characters.
 *
 * The text is scanned once before JSON.parse, without recursion and without building
 * anything, so a refused message costs one pass over its bytes. Strings are skipped with
 * indexOf, so a message that is mostly one base64 string is scanned at memchr speed.
 * Per-field limits (string lengths, array sizes) live in each door's schemas.
 */
import { SpeechbridgeError } from '../errors/registry.ts';

export interface JsonLimits {
  maxDepth: number;
  maxValues: number;
  maxKeyChars: number;
}

export const JSON_LIMITS: Readonly<JsonLimits> = Object.freeze({ maxDepth: 64, maxValues: 100_000, maxKeyChars: 256 });

/** Path segments kept in a refusal's `param`: enough to name the field (`session.tools[0].parameters`). */
const PARAM_KEYS = 3;

export type BoundedJson = { ok: true; value: unknown } | { ok: false; error: SpeechbridgeError };

/** Parses one client message; a message over the bounds or not JSON is refused with an error naming the field. */
export function parseBoundedJson(text: string, limits: JsonLimits = JSON_LIMITS): BoundedJson {
  const refusal = scanJsonText(text, limits);
  if (refusal) return { ok: false, error: refusal };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (error) {
    return { ok: false, error: new SpeechbridgeError('invalid_json', `the message is not valid JSON (${(error as Error).message.slice(0, 200)})`) };
  }
}

type Segment = string | number;

interface Frame {
  kind: 'object' | 'array';
  /** The member being read (object), or the element index (array). */
  at: Segment | null;
  /** In an object: the next string is a key. */
  expectKey: boolean;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;

/**
 * One pass over the text: depth, value count and key lengths, tracking the path for the
 * error. Not a validator: what it cannot follow (a stray quote, an unbalanced bracket) is
 * left to JSON.parse, which refuses it.
 */
function scanJsonText(text: string, limits: JsonLimits): SpeechbridgeError | null {
  const stack: Frame[] = [];
  let values = 1;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    switch (code) {
      case QUOTE: {
        const end = closingQuote(text, i);
        if (end < 0) return null;
        const top = stack.at(-1);
        if (top?.kind === 'object' && top.expectKey) {
          if (end - i - 1 > limits.maxKeyChars) {
            return new SpeechbridgeError('invalid_value', `an object key of ${end - i - 1} characters; keys may have at most ${limits.maxKeyChars}`, {
              param: paramOf(stack),
            });
          }
          top.at = keyText(text.slice(i + 1, end));
          top.expectKey = false;
        }
        i = end;
        break;
      }
      case 0x5b: // [
      case 0x7b: // {
        values++;
        if (stack.length >= limits.maxDepth) {
          const param = paramOf(stack);
          return new SpeechbridgeError('invalid_value', `the JSON nests deeper than ${limits.maxDepth} levels${param ? ` in ${param}` : ''}`, { param });
        }
        stack.push(code === 0x5b ? { kind: 'array', at: 0, expectKey: false } : { kind: 'object', at: null, expectKey: true });
        break;
      case 0x5d: // ]
      case 0x7d: // }
        stack.pop();
        break;
      case COMMA: {
        values++;
        if (values > limits.maxValues) {
          const param = paramOf(stack);
          return new SpeechbridgeError('invalid_value', `the message holds more than ${limits.maxValues} JSON values${param ? ` (in ${param})` : ''}`, {
            param,
          });
        }
        const top = stack.at(-1);
        if (top?.kind === 'array') top.at = (top.at as number) + 1;
        else if (top) top.expectKey = true;
        break;
      }
      default:
        break;
    }
  }
  return null;
}

/** The index of the quote closing the string opened at `open`, or -1. */
function closingQuote(text: string, open: number): number {
  let at = open;
  for (;;) {
    at = text.indexOf('"', at + 1);
    if (at < 0) return -1;
    let backslashes = 0;
    while (text.charCodeAt(at - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return at;
  }
}

/** A key as the client wrote it, unescaped when it holds escapes (and is valid). */
function keyText(raw: string): string {
  if (!raw.includes('\\')) return raw;
  try {
    return JSON.parse(`"${raw}"`) as string;
  } catch {
    return raw;
  }
}

/** `session.tools[0].parameters`: the path down to the third key, without trailing indices. */
function paramOf(stack: readonly Frame[]): string | null {
  const path: Segment[] = [];
  let keys = 0;
  for (const frame of stack) {
    if (frame.at === null) break;
    path.push(frame.at);
    if (typeof frame.at === 'string' && ++keys === PARAM_KEYS) break;
  }
  while (typeof path.at(-1) === 'number') path.pop();
  return formatPath(path);
}

/** `a.b[0].c`, or null for the top level. */
export function formatPath(path: readonly Segment[]): string | null {
  let param = '';
  for (const segment of path) {
    if (typeof segment === 'number') param += `[${segment}]`;
    else param += param === '' ? segment : `.${segment}`;
  }
  return param === '' ? null : param;
}

/**
 * The same bounds for a value another parser has already read (Socket.IO event payloads):
 * an iterative walk, so a structure deeper than the stack is refused rather than overflowing.
 * Binary attachments (Uint8Array) count as one value.
 */
export function checkJsonValue(root: unknown, limits: JsonLimits = JSON_LIMITS): SpeechbridgeError | null {
  const pending: Array<{ value: unknown; path: Segment[] }> = [{ value: root, path: [] }];
  let values = 0;
  while (pending.length > 0) {
    const { value, path } = pending.pop()!;
    if (++values > limits.maxValues) {
      const param = formatPath(truncatePath(path));
      return new SpeechbridgeError('invalid_value', `the message holds more than ${limits.maxValues} JSON values${param ? ` (in ${param})` : ''}`, { param });
    }
    if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value) || value instanceof ArrayBuffer) continue;
    if (path.length >= limits.maxDepth) {
      const param = formatPath(truncatePath(path));
      return new SpeechbridgeError('invalid_value', `the JSON nests deeper than ${limits.maxDepth} levels${param ? ` in ${param}` : ''}`, { param });
    }
    if (Array.isArray(value)) {
      if (value.length > limits.maxValues) {
        const param = formatPath(truncatePath(path));
        return new SpeechbridgeError('invalid_value', `an array of ${value.length} items; a message holds at most ${limits.maxValues} values`, { param });
      }
      for (let index = 0; index < value.length; index++) pending.push({ value: value[index], path: [...path, index] });
      continue;
    }
    for (const key of Object.keys(value)) {
      if (key.length > limits.maxKeyChars) {
        return new SpeechbridgeError('invalid_value', `an object key of ${key.length} characters; keys may have at most ${limits.maxKeyChars}`, {
          param: formatPath(truncatePath(path)),
        });
      }
      pending.push({ value: (value as Record<string, unknown>)[key], path: [...path, key] });
    }
  }
  return null;
}

function truncatePath(path: readonly Segment[]): Segment[] {
  const kept: Segment[] = [];
  let keys = 0;
  for (const segment of path) {
    kept.push(segment);
    if (typeof segment === 'string' && ++keys === PARAM_KEYS) break;
  }
  while (typeof kept.at(-1) === 'number') kept.pop();
  return kept;
}
