/**
 * Compressed files made at test time by the ffmpeg command line (not by src/audio) from a shared
 * recording, so decode tests check the gateway against files it did not write itself.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { checkFfmpeg } from '../../src/audio/ffmpeg-probe.ts';
import { ffmpegPath } from '../../src/audio/ffmpeg-process.ts';
import { sharedAudioPath } from '../helpers/shared.ts';

const run = promisify(execFile);

/** ffmpeg output arguments per fixture; each mirrors what a real client sends. */
export const FIXTURE_RECIPES = {
  /** Browser MediaRecorder: WebM with Opus. */
  'webm-opus': { file: 'speech.webm', args: ['-c:a', 'libopus', '-b:a', '32k', '-f', 'webm'] },
  'ogg-opus': { file: 'speech.ogg', args: ['-c:a', 'libopus', '-b:a', '32k', '-f', 'ogg'] },
  /** ffmpeg's MP3 muxer writes an ID3v2 tag first. */
  mp3: { file: 'speech.mp3', args: ['-c:a', 'libmp3lame', '-b:a', '64k', '-f', 'mp3'] },
  /** Bare MPEG frames: no ID3 tag, no Xing header. */
  'mp3-bare': { file: 'bare.mp3', args: ['-c:a', 'libmp3lame', '-b:a', '64k', '-id3v2_version', '0', '-write_xing', '0', '-f', 'mp3'] },
  flac: { file: 'speech.flac', args: ['-c:a', 'flac', '-f', 'flac'] },
  /** Plain (not fast-start) M4A: the moov index sits after the audio. */
  m4a: { file: 'speech.m4a', args: ['-c:a', 'aac', '-b:a', '64k', '-f', 'ipod'] },
  /** 44.1 kHz stereo 24-bit: takes the WAV fast path with downmix and resampling. */
  'wav-24bit-stereo': { file: 'speech.wav', args: ['-ar', '44100', '-ac', '2', '-c:a', 'pcm_s24le', '-f', 'wav'] },
  /** μ-law inside WAV: readWav refuses it, so decodeAudio must fall back to ffmpeg. */
  'wav-mulaw': { file: 'mulaw.wav', args: ['-ar', '8000', '-c:a', 'pcm_mulaw', '-f', 'wav'] },
  /** ADTS AAC: an MPEG-like sync word that is not MP3. */
  'aac-adts': { file: 'speech.aac', args: ['-c:a', 'aac', '-b:a', '64k', '-f', 'adts'] },
} as const;

export type FixtureName = keyof typeof FIXTURE_RECIPES;

export interface Fixtures {
  folder: string;
  bytes(name: FixtureName): Promise<Buffer>;
  path(name: FixtureName): string;
  remove(): Promise<void>;
}

/** Encodes `recording` (a file in the shared audio folder) into every recipe; fails with the install hint without ffmpeg. */
export async function makeFixtures(recording: string): Promise<Fixtures> {
  await checkFfmpeg();
  const source = sharedAudioPath(recording);
  const folder = await mkdtemp(path.join(os.tmpdir(), 'speechbridge-audio-test-'));
  await Promise.all(
    Object.values(FIXTURE_RECIPES).map((recipe) => run(ffmpegPath(), ['-v', 'error', '-y', '-i', source, ...recipe.args, path.join(folder, recipe.file)])),
  );
  return {
    folder,
    path: (name) => path.join(folder, FIXTURE_RECIPES[name].file),
    bytes: (name) => readFile(path.join(folder, FIXTURE_RECIPES[name].file)),
    remove: () => rm(folder, { recursive: true, force: true }),
  };
}
