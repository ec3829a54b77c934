/**
 * Every field a zod schema describes, with what it accepts, and values it must refuse: the
 * fuzz test reads the doors' own schemas with this, so a field added to a schema is fuzzed
 * without the test changing. Reads zod 4's schema definitions (`_zod.def`).
 */
import type { z } from 'zod';

export type JsonKind = 'string' | 'number' | 'boolean' | 'object' | 'array' | 'null';
const KINDS: readonly JsonKind[] = ['string', 'number', 'boolean', 'object', 'array', 'null'];

export type PathSegment = string | number;

export interface Field {
  path: PathSegment[];
  accepts: Set<JsonKind>;
  /** The only strings accepted (an enum or literals), when that is the rule. */
  options?: unknown[];
  maxLength?: number;
  minValue?: number;
  maxValue?: number;
}

/** A record's value is fuzzed under this key. */
export const RECORD_KEY = 'fuzzed_key';

interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  options?: z.ZodType[];
  element?: z.ZodType;
  valueType?: z.ZodType;
  in?: z.ZodType;
  out?: z.ZodType;
  values?: unknown[];
  entries?: Record<string, unknown>;
}

const defOf = (schema: z.ZodType): Def => (schema as unknown as { _zod: { def: Def } })._zod.def;

/** The fields of `schema` (itself at path [] included), depth first. */
export function fieldsOf(schema: z.ZodType, path: PathSegment[] = []): Field[] {
  return [describeField(schema, path), ...childFields(schema, path)];
}

function childFields(schema: z.ZodType, path: PathSegment[]): Field[] {
  const def = defOf(schema);
  switch (def.type) {
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'readonly':
    case 'catch':
      return childFields(def.innerType!, path);
    case 'pipe':
      return childFields(def.out!, path);
    case 'object':
      return Object.entries(def.shape!).flatMap(([key, field]) => fieldsOf(field, [...path, key]));
    case 'array':
      return fieldsOf(def.element!, [...path, 0]);
    case 'record':
      return fieldsOf(def.valueType!, [...path, RECORD_KEY]);
    case 'union':
      return def.options!.flatMap((option) => childFields(option, path));
    default:
      return [];
  }
}

function describeField(schema: z.ZodType, path: PathSegment[]): Field {
  const field: Field = { path, accepts: new Set() };
  collect(schema, field);
  return field;
}

function collect(schema: z.ZodType, field: Field): void {
  const def = defOf(schema);
  const limits = schema as unknown as { maxLength?: number | null; minValue?: number | null; maxValue?: number | null };
  switch (def.type) {
    case 'string':
      field.accepts.add('string');
      if (typeof limits.maxLength === 'number') field.maxLength = limits.maxLength;
      return;
    case 'number':
      field.accepts.add('number');
      if (typeof limits.minValue === 'number' && Number.isFinite(limits.minValue)) field.minValue = limits.minValue;
      if (typeof limits.maxValue === 'number' && Number.isFinite(limits.maxValue)) field.maxValue = limits.maxValue;
      return;
    case 'boolean':
      field.accepts.add('boolean');
      return;
    case 'null':
      field.accepts.add('null');
      return;
    case 'enum':
      field.accepts.add('string');
      field.options = [...(field.options ?? []), ...Object.values(def.entries!)];
      return;
    case 'literal':
      for (const value of def.values!) {
        field.accepts.add(value === null ? 'null' : (typeof value as JsonKind));
        field.options = [...(field.options ?? []), value];
      }
      return;
    case 'object':
    case 'record':
    case 'custom':
      field.accepts.add('object');
      return;
    case 'array':
      field.accepts.add('array');
      return;
    case 'optional':
    case 'default':
    case 'prefault':
    case 'readonly':
    case 'catch':
      collect(def.innerType!, field);
      return;
    case 'nullable':
      field.accepts.add('null');
      collect(def.innerType!, field);
      return;
    case 'pipe':
      // A preprocess: what it accepts is decided by its output schema.
      collect(def.out!, field);
      return;
    case 'union':
      for (const option of def.options!) collect(option, field);
      return;
    default:
      // unknown, any: every kind.
      for (const kind of KINDS) field.accepts.add(kind);
  }
}

const SAMPLES: Record<JsonKind, unknown> = { string: 'fuzz', number: 7.5, boolean: true, object: { fuzz: 1 }, array: [1, 'two'], null: null };

/** Values `field` must refuse: wrong kinds, strings past its length, numbers past its range, unknown options. */
export function badValuesOf(field: Field): unknown[] {
  const values: unknown[] = [];
  for (const kind of KINDS) if (!field.accepts.has(kind)) values.push(SAMPLES[kind]);
  if (field.accepts.has('string') && field.maxLength !== undefined) values.push('x'.repeat(field.maxLength + 1));
  if (field.options && !field.accepts.has('object') && field.options.every((option) => typeof option === 'string' || option === null))
    values.push('not-one-of-the-options');
  if (field.accepts.has('number') && !field.options) {
    if (field.maxValue !== undefined) values.push(field.maxValue + 1);
    if (field.minValue !== undefined) values.push(field.minValue - 1);
  }
  return values;
}

/** A copy of `base` with the value at `path` set (objects and arrays made on the way). */
export function withValueAt(base: unknown, path: readonly PathSegment[], value: unknown): unknown {
  if (path.length === 0) return value;
  const [head, ...rest] = path;
  if (typeof head === 'number') {
    const items: unknown[] = Array.isArray(base) ? [...(base as unknown[])] : [];
    items[head] = withValueAt(items[head], rest, value);
    return items;
  }
  const container: Record<string, unknown> = typeof base === 'object' && base !== null && !Array.isArray(base) ? { ...(base as Record<string, unknown>) } : {};
  container[head] = withValueAt(container[head], rest, value);
  return container;
}
