import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SpeechbridgeError } from '../../src/errors/registry.ts';
import {
  DEFAULT_TURN_OPTIONS,
  resolveTurnOptions,
  thresholdToAggressiveness,
  TURN_OPTION_RANGES,
  validateAggressiveness,
  type TurnOptions,
} from '../../src/vad/turn-options.ts';

function assertInvalid(run: () => unknown, param: string): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof SpeechbridgeError, `expected a SpeechbridgeError, got ${String(error)}`);
    assert.equal(error.code, 'invalid_value');
    assert.equal(error.param, param);
    assert.ok(error.message.includes(param), `message "${error.message}" does not name ${param}`);
    return true;
  });
}

test('defaults are the seeds’ knobs', () => {
  assert.deepEqual(resolveTurnOptions(), { startMs: 120, endMs: 450, padMs: 180, maxMs: 5000, threshold: 0.5, minSnrDb: 12 });
  assert.deepEqual(resolveTurnOptions({}), { ...DEFAULT_TURN_OPTIONS });
  assert.equal(resolveTurnOptions({ endMs: 800 }).endMs, 800);
});

test('each knob accepts its range ends and refuses values outside, naming the field', () => {
  for (const [field, [min, max]] of Object.entries(TURN_OPTION_RANGES) as [keyof TurnOptions, readonly [number, number]][]) {
    assert.equal(resolveTurnOptions({ [field]: min })[field], min);
    assert.equal(resolveTurnOptions({ [field]: max })[field], max);
    const step = max <= 1 ? 0.01 : 1;
    assertInvalid(() => resolveTurnOptions({ [field]: min - step }), field);
    assertInvalid(() => resolveTurnOptions({ [field]: max + step }), field);
    assertInvalid(() => resolveTurnOptions({ [field]: Number.NaN }), field);
    assertInvalid(() => resolveTurnOptions({ [field]: '300' as unknown as number }), field);
  }
  assert.deepEqual(TURN_OPTION_RANGES.startMs, [0, 2000]);
  assert.deepEqual(TURN_OPTION_RANGES.endMs, [100, 10000]);
  assert.deepEqual(TURN_OPTION_RANGES.padMs, [0, 2000]);
  assert.deepEqual(TURN_OPTION_RANGES.maxMs, [500, 600000]);
  assert.deepEqual(TURN_OPTION_RANGES.threshold, [0, 1]);
});

test('aggressiveness must be an integer 0–3', () => {
  for (const value of [0, 1, 2, 3]) assert.equal(validateAggressiveness(value), value);
  assertInvalid(() => validateAggressiveness(4), 'aggressiveness');
  assertInvalid(() => validateAggressiveness(-1), 'aggressiveness');
  assertInvalid(() => validateAggressiveness(1.5), 'aggressiveness');
  assertInvalid(() => validateAggressiveness('2', 'VAD_AGGR'), 'VAD_AGGR');
});

test('server_vad on WebRTC VAD: the threshold picks the aggressiveness', () => {
  const table: [number, number][] = [
    [0, 0],
    [0.1, 0],
    [0.15, 1],
    [0.29, 1],
    [0.3, 2],
    [0.5, 2],
    [0.79, 2],
    [0.8, 3],
    [1, 3],
  ];
  for (const [threshold, aggressiveness] of table) {
    assert.equal(thresholdToAggressiveness(threshold), aggressiveness, `threshold ${threshold}`);
  }
});
