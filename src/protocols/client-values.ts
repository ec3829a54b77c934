/**
 * Client values quoted in error messages and logs, bounded: a message never repeats more
 * than a short excerpt of what a client sent, whatever its size or shape (JSON.stringify of
 * a deep structure overflows the stack, and of a 16 MB string copies it into every reply).
 */

/** Characters of a client string quoted in a message. */
export const QUOTED_CHARS = 64;

/** `"abc"`, or the first QUOTED_CHARS characters and how many there were. */
export function quote(text: string, maxChars = QUOTED_CHARS): string {
  if (text.length <= maxChars) return JSON.stringify(text);
  return `${JSON.stringify(text.slice(0, maxChars))}… (${text.length} characters)`;
}

/** What a value is, for "got …" in an error message: short strings and primitives as written, the rest by kind. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') return value.length > 40 ? `a string of ${value.length} characters` : JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `an array of ${value.length} items`;
  if (value instanceof Uint8Array) return `${value.byteLength} bytes`;
  return typeof value === 'object' ? 'an object' : typeof value;
}
