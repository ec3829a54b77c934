/** Signal measurements shared by the audio tests: tones, SNR, levels and correlation. */
import { readFileSync } from 'node:fs';
import { readWav } from '../../src/audio/wav.ts';
import type { PcmAudio } from '../../src/audio/pcm.ts';
import { sharedAudioPath } from '../helpers/shared.ts';

export function sineTone(sampleRate: number, seconds: number, components: ReadonlyArray<{ hz: number; amplitude: number }>): Int16Array {
  const out = new Int16Array(Math.round(sampleRate * seconds));
  for (let i = 0; i < out.length; i++) {
    let value = 0;
    for (const { hz, amplitude } of components) value += amplitude * Math.sin((2 * Math.PI * hz * i) / sampleRate);
    out[i] = Math.round(value);
  }
  return out;
}

/** 10·log10(Σ reference² / Σ (reference − test)²) over [from, to) samples. */
export function snrDb(reference: ArrayLike<number>, test: ArrayLike<number>, from = 0, to = Math.min(reference.length, test.length)): number {
  let signal = 0;
  let noise = 0;
  for (let i = from; i < to; i++) {
    signal += reference[i] * reference[i];
    const error = reference[i] - test[i];
    noise += error * error;
  }
  return noise === 0 ? Infinity : 10 * Math.log10(signal / noise);
}

export function rms(samples: ArrayLike<number>, from = 0, to = samples.length): number {
  let sum = 0;
  for (let i = from; i < to; i++) sum += samples[i] * samples[i];
  return Math.sqrt(sum / Math.max(1, to - from));
}

/**
 * Best normalized cross-correlation of `test` against `reference` over lags within ±maxLag
 * samples (codecs add delay), measured on `windowLength` samples of the reference from
 * `windowStart`; 1 means the same waveform up to gain, a positive lag that `test` is late.
 */
export function bestCorrelation(
  reference: Int16Array,
  test: Int16Array,
  maxLag: number,
  windowStart = 0,
  windowLength = reference.length,
): { correlation: number; lag: number } {
  let best = { correlation: -Infinity, lag: 0 };
  for (let lag = -maxLag; lag <= maxLag; lag++) {
    let cross = 0;
    let energyReference = 0;
    let energyTest = 0;
    const start = Math.max(windowStart, -lag);
    const end = Math.min(windowStart + windowLength, reference.length, test.length - lag);
    for (let i = start; i < end; i++) {
      const a = reference[i];
      const b = test[i + lag];
      cross += a * b;
      energyReference += a * a;
      energyTest += b * b;
    }
    const correlation = cross / Math.sqrt(energyReference * energyTest || 1);
    if (correlation > best.correlation) best = { correlation, lag };
  }
  return best;
}

export function loadSharedRecording(name: string): PcmAudio {
  return readWav(readFileSync(sharedAudioPath(name)));
}
