/**
 * The JSON bounds every door parses client messages with: refusals name the field, the scan
 * follows strings (escaped quotes, brackets inside strings) and never recurses, and values a
 * door's parser already read are checked the same way without overflowing the stack.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkJsonValue, JSON_LIMITS, parseBoundedJson } from '../../src/protocols/bounded-json.ts';
import { describeValue, quote } from '../../src/protocols/client-values.ts';
import { boundForLog, LOG_BOUNDS } from '../../src/server/logging.ts';

function refusal(text: string): { code: string; param: string | null; message: string } {
  const parsed = parseBoundedJson(text);
  assert.equal(parsed.ok, false, `refused: ${text.slice(0, 60)}`);
  if (parsed.ok) throw new Error('unreachable');
  return { code: parsed.error.code, param: parsed.error.param, message: parsed.error.message };
}

test('nesting past 64 levels is refused with the field it happened in; 64 levels parse', () => {
  const deep = (levels: number) => `{"type":${'['.repeat(levels)}${']'.repeat(levels)}}`;
  assert.equal(parseBoundedJson(deep(JSON_LIMITS.maxDepth - 1)).ok, true);
  const refused = refusal(deep(5000));
  assert.equal(refused.code, 'invalid_value');
  assert.equal(refused.param, 'type');
  assert.match(refused.message, /deeper than 64 levels in type/);

  const session = refusal(`{"type":"session.update","session":{"truncation":${'{"a":'.repeat(100)}1${'}'.repeat(100)}}}`);
  assert.equal(session.param, 'session.truncation.a');
  const tool = refusal(`{"session":{"tools":[{"name":"f","parameters":${'['.repeat(100)}${']'.repeat(100)}}]}}`);
  assert.equal(tool.param, 'session.tools[0].parameters');
});

test('a 16 MB message nesting 8 million levels is refused from the text, before anything is built', () => {
  const levels = 8 * 1024 * 1024;
  const before = process.memoryUsage().heapUsed;
  const refused = refusal('['.repeat(levels) + ']'.repeat(levels));
  assert.equal(refused.param, null);
  // Parsing it would take about 460 MB of heap; the scan holds a 64-frame stack.
  assert.ok(process.memoryUsage().heapUsed - before < 64 * 1024 * 1024);
});

test('more than 100,000 values, or a key over 256 characters, are refused', () => {
  assert.match(refusal(`{"audio":[${'0,'.repeat(JSON_LIMITS.maxValues)}0]}`).message, /more than 100000 JSON values \(in audio\)/);
  const key = refusal(`{"session":{"${'k'.repeat(300)}":1}}`);
  assert.equal(key.param, 'session');
  assert.match(key.message, /key of 300 characters/);
});

test('strings are skipped whole: brackets and escaped quotes inside them do not count', () => {
  const text = JSON.stringify({ type: 'x', text: `${'['.repeat(200)}\\"${'{'.repeat(200)}"`, audio: 'A'.repeat(1_000_000) });
  const parsed = parseBoundedJson(text);
  assert.equal(parsed.ok, true);
  assert.deepEqual(parsed.ok && (parsed.value as { type: string }).type, 'x');
  const escapedKey = parseBoundedJson('{"a\\"b":{"c":1}}');
  assert.deepEqual(escapedKey.ok && escapedKey.value, { 'a"b': { c: 1 } });
});

test("what is not JSON is invalid_json, with the parser's reason", () => {
  const refused = refusal('{"type": "start", oops');
  assert.equal(refused.code, 'invalid_json');
  assert.match(refused.message, /not valid JSON/);
  assert.equal(refusal('{"type":"unterminated').code, 'invalid_json');
  assert.equal(refusal(']]]]').code, 'invalid_json');
});

test('checkJsonValue walks a value deeper than the stack without recursion and names the field', () => {
  let deep: unknown = 1;
  for (let i = 0; i < 200_000; i++) deep = [deep];
  const refused = checkJsonValue({ session: { prompt: deep } });
  assert.equal(refused?.param, 'session.prompt');
  assert.match(refused?.message ?? '', /deeper than 64 levels/);
  assert.equal(checkJsonValue({ audio: new Uint8Array(1_000_000), commit: true }), null);
  assert.match(checkJsonValue(new Array(200_000).fill(0))?.message ?? '', /array of 200000 items/);
});

test('client values in messages are quoted short, whatever their size', () => {
  assert.equal(quote('start'), '"start"');
  assert.match(quote('x'.repeat(1_000_000)), /^"x{64}"… \(1000000 characters\)$/);
  assert.equal(describeValue(new Array(5000).fill(0)), 'an array of 5000 items');
  assert.equal(describeValue('y'.repeat(100)), 'a string of 100 characters');
});

test('log lines are bounded: depth, string length, array items, and values that throw when read', () => {
  let deep: unknown = 'bottom';
  for (let i = 0; i < 10_000; i++) deep = { next: deep };
  const unreadable = new Proxy(
    {},
    {
      ownKeys: () => {
        throw new Error('no');
      },
    },
  );
  const bounded = boundForLog({ deep, big: 'x'.repeat(100_000), many: new Array(1000).fill(1), unreadable }) as Record<string, unknown>;
  const serialised = JSON.stringify(bounded);
  assert.ok(serialised.length < 5000, `${serialised.length} characters`);
  assert.match(serialised, /\[depth limit\]/);
  assert.match(String(bounded.big), /… \(100000 characters\)$/);
  assert.equal((bounded.many as unknown[]).length, LOG_BOUNDS.arrayItems + 1);
  assert.equal(bounded.unreadable, '[unreadable]');
});
