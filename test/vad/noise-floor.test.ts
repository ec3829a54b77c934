import assert from 'node:assert/strict';
import { test } from 'node:test';
import { concatPcm } from '../../src/audio/pcm.ts';
import { NoiseFloor } from '../../src/vad/noise-floor.ts';
import { loadClip, noise, pad } from './speech-audio.ts';

const FRAME = 320;

function levelsAboveFloor(floor: NoiseFloor, samples: Int16Array): number[] {
  const out: number[] = [];
  for (let offset = 0; offset + FRAME <= samples.length; offset += FRAME) out.push(floor.update(samples.subarray(offset, offset + FRAME)));
  return out;
}

test('steady noise stays near its own floor, at any level', () => {
  for (const levelDbfs of [-70, -40, -20]) {
    const snr = levelsAboveFloor(new NoiseFloor(20), noise(4000, levelDbfs, 5));
    const highest = Math.max(...snr);
    // Under 6 dB: half the turn detector's default minSnrDb of 12.
    assert.ok(highest < 6, `${levelDbfs} dBFS noise rose ${highest.toFixed(1)} dB above its floor`);
  }
});

test('a step up reads as the step, and the floor follows it within the 2 s window', () => {
  const snr = levelsAboveFloor(new NoiseFloor(20), concatPcm([noise(2000, -60, 1), noise(3000, -30, 2)]));
  const atStep = snr.slice(100, 105);
  assert.ok(Math.min(...atStep) > 20, `the first frames after a 30 dB step read ${atStep.map((v) => v.toFixed(0))}`);
  const afterWindow = snr.slice(100 + 125);
  assert.ok(Math.max(...afterWindow) < 6, `2.5 s after the step the floor still lags: ${Math.max(...afterWindow).toFixed(1)} dB`);
});

test('speech stands far above a quiet room, and digital silence gives finite levels', () => {
  const clip = loadClip('en_ls_1272-128104-0000.wav');
  const snr = levelsAboveFloor(new NoiseFloor(20), pad(clip.samples, 500, 500));
  assert.ok(snr.every(Number.isFinite), 'every level is a finite number');
  assert.ok(Math.max(...snr) > 30, `speech peaked only ${Math.max(...snr).toFixed(1)} dB above the floor`);
});

test('reset forgets the floor', () => {
  const floor = new NoiseFloor(32);
  const samples = concatPcm([noise(1000, -30, 3), noise(1000, -60, 4)]);
  const first = levelsAboveFloor(floor, samples);
  floor.reset();
  assert.deepEqual(levelsAboveFloor(floor, samples), first);
});
