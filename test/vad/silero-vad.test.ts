import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createSileroVad, type SileroVad } from '../../src/vad/silero-vad.ts';
import { TurnDetector, type TurnEvent } from '../../src/vad/turn-detector.ts';
import { energyBounds, loadClip, msToSamples, noise, pad } from './speech-audio.ts';

const PAD_BEFORE_MS = 1000;
const PAD_AFTER_MS = 1500;
/** ±60 ms: under two 32 ms Silero frames. */
const TOLERANCE_MS = 60;

function probabilities(vad: SileroVad, samples: Int16Array): number[] {
  const out: number[] = [];
  for (let offset = 0; offset + vad.frameSamples <= samples.length; offset += vad.frameSamples) {
    out.push(vad.probability(samples.subarray(offset, offset + vad.frameSamples)));
  }
  return out;
}

describe('Silero VAD v5', () => {
  let vad: SileroVad;
  before(async () => {
    vad = await createSileroVad();
  });
  after(() => vad.close());

  test('512-sample frames at 16 kHz', () => {
    assert.equal(vad.sampleRate, 16000);
    assert.equal(vad.frameSamples, 512);
    assert.equal(vad.name, 'silero-vad-v5');
  });

  test('probabilities lie in 0–1: low on silence, high across a spoken sentence', () => {
    vad.reset();
    const silence = probabilities(vad, new Int16Array(msToSamples(1000)));
    assert.ok(Math.max(...silence) < 0.1, `silence reached ${Math.max(...silence)}`);
    const speech = probabilities(vad, loadClip('en_lj_LJ001-0004.wav').samples);
    assert.ok(speech.every((p) => p >= 0 && p <= 1));
    const highShare = speech.filter((p) => p >= 0.5).length / speech.length;
    assert.ok(highShare > 0.7, `only ${Math.round(highShare * 100)}% of a continuous sentence reached 0.5`);
  });

  test('reset makes the same audio give the same probabilities (state and context cleared)', () => {
    const samples = pad(loadClip('en_one_two_three.wav').samples, 200, 200);
    vad.reset();
    const first = probabilities(vad, samples);
    vad.reset();
    assert.deepEqual(probabilities(vad, samples), first);
  });

  test('rejects a wrong frame length', () => {
    assert.throws(() => vad.probability(new Int16Array(320)), { code: 'invalid_value', param: 'frame' });
  });

  // Clips with clean speech boundaries; Silero's own onset lags soft starts (en_harvard's
  // "The" by ~58 ms), so the check uses clips with plain onsets.
  for (const name of ['en_lj_LJ001-0004.wav', 'en_ls_1272-128104-0000.wav', 'en_ls_1089-134686-0000.wav']) {
    test(`${name} padded with digital silence: start and stop within ±${TOLERANCE_MS} ms`, () => {
      const clip = loadClip(name);
      const truth = energyBounds(clip.samples);
      const turns = new TurnDetector(vad, { maxMs: 600_000 });
      const events: TurnEvent[] = [...turns.push(pad(clip.samples, PAD_BEFORE_MS, PAD_AFTER_MS)), ...turns.flush()];
      assert.equal(events.length, 2, `one turn expected, got ${JSON.stringify(events)}`);
      const [started, stopped] = events;
      assert.ok(started.type === 'speech.started' && stopped.type === 'speech.stopped');
      assert.equal(stopped.reason, 'silence');
      const startErrorMs = started.audioStartMs - (PAD_BEFORE_MS + truth.startMs);
      const endErrorMs = stopped.audioEndMs - (PAD_BEFORE_MS + truth.endMs);
      assert.ok(Math.abs(startErrorMs) <= TOLERANCE_MS, `start ${started.audioStartMs} ms is ${startErrorMs} ms off`);
      assert.ok(Math.abs(endErrorMs) <= TOLERANCE_MS, `end ${stopped.audioEndMs} ms is ${endErrorMs} ms off`);
    });
  }

  test('no turn on digital silence, −50 dBFS white noise, or noise_stationary_leopard_empty.wav', () => {
    for (const [what, samples] of [
      ['digital silence', new Int16Array(msToSamples(5000))],
      ['−50 dBFS white noise', noise(5000, -50)],
      ['noise_stationary_leopard_empty.wav', loadClip('noise_stationary_leopard_empty.wav').samples],
    ] as const) {
      const turns = new TurnDetector(vad);
      assert.deepEqual([...turns.push(samples), ...turns.flush()], [], what);
    }
  });

  test('the same events for 7-sample and whole-file pushes', () => {
    const samples = pad(loadClip('en_ls_1089-134691-0000.wav').samples, 500, 1000);
    const whole = new TurnDetector(vad);
    const expected = [...whole.push(samples), ...whole.flush()];
    assert.ok(expected.length >= 2, 'the fixture must produce a turn');
    const chunked = new TurnDetector(vad);
    const events: TurnEvent[] = [];
    for (let offset = 0; offset < samples.length; offset += 7) events.push(...chunked.push(samples.subarray(offset, offset + 7)));
    events.push(...chunked.flush());
    assert.deepEqual(events, expected);
  });

  test('use after close is refused', async () => {
    const other = await createSileroVad();
    other.close();
    assert.throws(() => other.probability(new Int16Array(512)), { code: 'engine_unavailable' });
  });

  test('a missing model file is refused with a message naming it', async () => {
    await assert.rejects(createSileroVad({ modelPath: '/nonexistent/silero.onnx' }), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'engine_unavailable');
      assert.match(error.message, /\/nonexistent\/silero\.onnx/);
      return true;
    });
  });
});
