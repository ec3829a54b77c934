/**
 * Checks of one client or configuration field, shared by the session configuration
 * (src/engine/session-config.ts) and the turn options (src/vad/turn-options.ts): each returns
 * the value when it is valid and throws invalid_value naming the field otherwise, with the
 * allowed values in the message.
 */
import { SpeechbridgeError } from './registry.ts';

/** An inclusive [min, max] range. */
export type Range = readonly [min: number, max: number];

export function checkNumber(value: unknown, min: number, max: number, param: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value))
    throw invalidField(param, `${param} must be a number from ${min} to ${max}, got ${describeValue(value)}`);
  if (value < min || value > max) throw invalidField(param, `${param} must be from ${min} to ${max}, got ${value}`);
  return value;
}

export function checkInteger(value: unknown, min: number, max: number, param: string): number {
  const number = checkNumber(value, min, max, param);
  if (!Number.isInteger(number)) throw invalidField(param, `${param} must be an integer from ${min} to ${max}, got ${number}`);
  return number;
}

export function checkString(value: unknown, param: string, maxLength: number, allowEmpty = false): string {
  if (typeof value !== 'string') throw invalidField(param, `${param} must be a string, got ${describeValue(value)}`);
  if (!allowEmpty && value.trim() === '') throw invalidField(param, `${param} must not be empty`);
  if (value.length > maxLength) throw invalidField(param, `${param} must be at most ${maxLength} characters, got ${value.length}`);
  return value;
}

export function checkBoolean(value: unknown, param: string): boolean {
  if (typeof value !== 'boolean') throw invalidField(param, `${param} must be true or false, got ${describeValue(value)}`);
  return value;
}

export function checkEnum<T extends string>(value: unknown, allowed: readonly T[], param: string): T {
  if (typeof value !== 'string' || !allowed.includes(value as T)) {
    throw invalidField(param, `${param} must be one of ${allowed.map((entry) => `"${entry}"`).join(', ')}, got ${describeValue(value)}`);
  }
  return value as T;
}

export function invalidField(param: string, message: string): SpeechbridgeError {
  return new SpeechbridgeError('invalid_value', message, { param });
}

/** A value as a message shows it: strings quoted, arrays and objects by their kind. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'number' || typeof value === 'boolean' ? String(value) : typeof value;
}
