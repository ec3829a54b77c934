import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SpeechbridgeError } from '../../src/errors/registry.ts';
import {
  DEFAULT_TURN_OPTIONS,
  fromServerVad,
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

test('server_vad on Silero: silence_duration_ms → endMs, prefix_padding_ms → padMs, threshold → threshold', () => {
  const mapped = fromServerVad({ threshold: 0.7, prefix_padding_ms: 300, silence_duration_ms: 500 }, { engine: 'silero' });
  assert.deepEqual(mapped.detector, { engine: 'silero' });
  assert.deepEqual(mapped.turn, { ...DEFAULT_TURN_OPTIONS, threshold: 0.7, padMs: 300, endMs: 500 });
});

test('server_vad on WebRTC VAD: threshold picks the aggressiveness, the probability threshold stays 0.5', () => {
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
    const mapped = fromServerVad({ threshold }, { engine: 'webrtc', aggressiveness: 1 });
    assert.deepEqual(mapped.detector, { engine: 'webrtc', aggressiveness });
    assert.equal(mapped.turn.threshold, 0.5);
  }
});

test('absent knobs keep the base values and the configured aggressiveness', () => {
  const mapped = fromServerVad({}, { engine: 'webrtc', aggressiveness: 3, base: { startMs: 200, maxMs: 9000, endMs: 700 } });
  assert.deepEqual(mapped.detector, { engine: 'webrtc', aggressiveness: 3 });
  assert.deepEqual(mapped.turn, { ...DEFAULT_TURN_OPTIONS, startMs: 200, maxMs: 9000, endMs: 700 });
  assert.deepEqual(fromServerVad({}, { engine: 'webrtc' }).detector, { engine: 'webrtc', aggressiveness: 2 });
  const nulls = fromServerVad({ threshold: null, prefix_padding_ms: null, silence_duration_ms: null }, { engine: 'silero' });
  assert.deepEqual(nulls.turn, { ...DEFAULT_TURN_OPTIONS });
});

test('out-of-range server_vad knobs are refused, naming the knob as the client sent it', () => {
  assertInvalid(() => fromServerVad({ silence_duration_ms: 50 }, { engine: 'silero' }), 'silence_duration_ms');
  assertInvalid(() => fromServerVad({ silence_duration_ms: 20_000 }, { engine: 'webrtc' }), 'silence_duration_ms');
  assertInvalid(() => fromServerVad({ prefix_padding_ms: -1 }, { engine: 'silero' }), 'prefix_padding_ms');
  assertInvalid(() => fromServerVad({ prefix_padding_ms: 2500 }, { engine: 'webrtc' }), 'prefix_padding_ms');
  assertInvalid(() => fromServerVad({ threshold: 1.5 }, { engine: 'silero' }), 'threshold');
  assertInvalid(() => fromServerVad({ threshold: -0.1 }, { engine: 'webrtc' }), 'threshold');
  assertInvalid(() => fromServerVad({ threshold: '0.5' as unknown as number }, { engine: 'webrtc' }), 'threshold');
  assertInvalid(() => fromServerVad({}, { engine: 'webrtc', aggressiveness: 5 as 3 }), 'aggressiveness');
});
