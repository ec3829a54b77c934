/**
 * One table of ranges: a value the realtime wire accepts is one the engine accepts, at both
 * ends of every range, so a client never gets past the wire schema only to be refused by the
 * engine (before the table, `idle_timeout_ms: 500` did exactly that).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EngineInput, SessionUpdate } from '../../src/engine/events.ts';
import { SESSION_RANGES } from '../../src/engine/ranges.ts';
import { applySessionUpdate, initialSessionConfig } from '../../src/engine/session-config.ts';
import { SpeechbridgeError } from '../../src/errors/registry.ts';
import { RealtimeCodec } from '../../src/protocols/openai-realtime/codec.ts';
import { TURN_OPTION_RANGES } from '../../src/vad/turn-options.ts';
import { VAD_DEFAULTS } from './engine-harness.ts';

const initial = initialSessionConfig({ voice: 'alloy', vad: VAD_DEFAULTS });

/** The session update the realtime door makes of `session`, or undefined when the wire refuses it. */
function overTheWire(session: Record<string, unknown>): SessionUpdate | undefined {
  const codec = new RealtimeCodec({ dialect: 'ga', kind: 'conversation', expiresAtMs: Date.UTC(2030, 0, 1) });
  const result = codec.decode(JSON.stringify({ type: 'session.update', session: { type: 'realtime', ...session } }));
  if (result.type === 'error') return undefined;
  const input = result.input as Extract<EngineInput, { type: 'session.update' }>;
  assert.equal(input.type, 'session.update');
  return input.session;
}

function engineAccepts(update: SessionUpdate): boolean {
  try {
    applySessionUpdate(initial, update);
    return true;
  } catch (error) {
    assert.ok(error instanceof SpeechbridgeError && error.code === 'invalid_value', String(error));
    return false;
  }
}

const vad = (fields: Record<string, unknown>) => ({ audio: { input: { turn_detection: { type: 'server_vad', ...fields } } } });

/** Wire field → where it goes in a session.update, and the range it must follow. */
const FIELDS: Array<{ field: string; range: readonly [number, number]; session: (value: number) => Record<string, unknown> }> = [
  { field: 'idle_timeout_ms', range: SESSION_RANGES.idleTimeoutMs, session: (value) => vad({ idle_timeout_ms: value }) },
  { field: 'silence_duration_ms', range: SESSION_RANGES.endMs, session: (value) => vad({ silence_duration_ms: value }) },
  { field: 'prefix_padding_ms', range: SESSION_RANGES.padMs, session: (value) => vad({ prefix_padding_ms: value }) },
  { field: 'threshold', range: SESSION_RANGES.threshold, session: (value) => vad({ threshold: value }) },
  { field: 'max_ms', range: SESSION_RANGES.maxMs, session: (value) => vad({ max_ms: value }) },
  { field: 'start_ms', range: SESSION_RANGES.startMs, session: (value) => vad({ start_ms: value }) },
  { field: 'aggressiveness', range: SESSION_RANGES.aggressiveness, session: (value) => vad({ aggressiveness: value }) },
  { field: 'speed', range: SESSION_RANGES.speed, session: (value) => ({ audio: { output: { speed: value } } }) },
  { field: 'max_output_tokens', range: SESSION_RANGES.maxOutputTokens, session: (value) => ({ max_output_tokens: value }) },
];

test('idle_timeout_ms: 500 is refused by the wire schema, naming the field, as the engine would refuse it', () => {
  const codec = new RealtimeCodec({ dialect: 'ga', kind: 'conversation', expiresAtMs: Date.UTC(2030, 0, 1) });
  const result = codec.decode(JSON.stringify({ type: 'session.update', session: { type: 'realtime', ...vad({ idle_timeout_ms: 500 }) } }));
  assert.equal(result.type, 'error');
  const event = (result as unknown as { event: { error: { code: string; param: string | null; message: string } } }).event;
  assert.match(event.error.param ?? '', /idle_timeout_ms/);
  assert.equal(engineAccepts({ turnDetection: { idleTimeoutMs: 500 } }), false);
  const accepted = overTheWire(vad({ idle_timeout_ms: SESSION_RANGES.idleTimeoutMs[0] }));
  assert.ok(accepted, 'the range minimum passes the wire');
  assert.equal(engineAccepts(accepted), true);
});

for (const { field, range, session } of FIELDS) {
  test(`${field}: the wire and the engine agree at both ends of ${range[0]}–${range[1]}`, () => {
    const [min, max] = range;
    const step = Number.isInteger(min) && Number.isInteger(max) && max - min >= 1 ? 1 : 0.01;
    for (const value of [min, max]) {
      const update = overTheWire(session(value));
      assert.ok(update, `${field} ${value} passes the wire`);
      assert.equal(engineAccepts(update), true, `the engine accepts ${field} ${value}`);
    }
    for (const value of [min - step, max + step]) {
      assert.equal(overTheWire(session(value)), undefined, `the wire refuses ${field} ${value}`);
    }
  });
}

test('the table holds the turn detector’s own ranges unchanged', () => {
  for (const [field, range] of Object.entries(TURN_OPTION_RANGES)) {
    assert.deepEqual(SESSION_RANGES[field as keyof typeof TURN_OPTION_RANGES], range, field);
  }
});
