/**
 * Audio fixtures for the VAD tests: real recordings from the shared folder, padded with known
 * silence or noise, and the speech boundaries of a clip measured by energy alone (so the
 * reference does not come from the detector under test).
 */
import { readFileSync } from 'node:fs';
import { concatPcm, type PcmAudio } from '../../src/audio/pcm.ts';
import { readWav } from '../../src/audio/wav.ts';
import { sharedAudioPath } from '../helpers/shared.ts';

export const SAMPLE_RATE = 16000;

export function loadClip(name: string): PcmAudio {
  const audio = readWav(readFileSync(sharedAudioPath(name)));
  if (audio.sampleRate !== SAMPLE_RATE) throw new Error(`${name} is ${audio.sampleRate} Hz; the shared recordings are 16 kHz`);
  return audio;
}

export function msToSamples(ms: number): number {
  return Math.round((ms * SAMPLE_RATE) / 1000);
}

/**
 * Gaussian noise at an RMS level in dBFS, from a fixed-seed generator so every run sees the
 * same samples; −Infinity gives digital silence.
 */
export function noise(ms: number, levelDbfs: number, seed = 1): Int16Array {
  const out = new Int16Array(msToSamples(ms));
  if (levelDbfs === -Infinity) return out;
  const amplitude = 32768 * 10 ** (levelDbfs / 20);
  let state = seed >>> 0 || 1;
  const uniform = () => {
    // xorshift32: deterministic and dependency-free.
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return (state + 0.5) / 4294967296;
  };
  for (let i = 0; i < out.length; i++) {
    const gaussian = Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
    out[i] = Math.max(-32768, Math.min(32767, Math.round(amplitude * gaussian)));
  }
  return out;
}

export function pad(samples: Int16Array, beforeMs: number, afterMs: number, levelDbfs = -Infinity): Int16Array {
  return concatPcm([noise(beforeMs, levelDbfs, 7), samples, noise(afterMs, levelDbfs, 11)]);
}

export interface SpeechBounds {
  startMs: number;
  endMs: number;
}

/**
 * First and last 10 ms window whose level exceeds max(background + 15 dB, peak − 45 dB),
 * where background is the 10th percentile of window levels. 15 dB over the room separates a
 * word from room tone; peak − 45 dB takes over on clips whose background is digital silence,
 * where "15 dB over −100 dBFS" would count dither as speech.
 */
export function energyBounds(samples: Int16Array): SpeechBounds {
  const window = msToSamples(10);
  const levels: number[] = [];
  for (let offset = 0; offset + window <= samples.length; offset += window) {
    let sum = 0;
    for (let i = offset; i < offset + window; i++) sum += samples[i] * samples[i];
    levels.push(10 * Math.log10(Math.max(sum / window / (32768 * 32768), 1e-10)));
  }
  const sorted = [...levels].sort((a, b) => a - b);
  const background = sorted[Math.floor(sorted.length * 0.1)];
  const peak = sorted[sorted.length - 1];
  const threshold = Math.max(background + 15, peak - 45);
  const first = levels.findIndex((level) => level > threshold);
  const last = levels.findLastIndex((level) => level > threshold);
  if (first < 0) throw new Error('no window above the speech threshold: the clip holds no speech');
  return { startMs: first * 10, endMs: (last + 1) * 10 };
}

/** Speaker turns of an RTTM file, whose lines read SPEAKER <file> <channel> <start s> <duration s> and more. */
export function readRttm(name: string): SpeechBounds[] {
  return readFileSync(sharedAudioPath(name), 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('SPEAKER'))
    .map((line) => {
      const fields = line.trim().split(/\s+/);
      const startS = Number(fields[3]);
      const durationS = Number(fields[4]);
      return { startMs: Math.round(startS * 1000), endMs: Math.round((startS + durationS) * 1000) };
    });
}
