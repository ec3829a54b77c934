/**
 * What the browser tests share: Debian's Chromium driven by playwright-core, its microphone a
 * WAV file made now (espeak-ng speaking a phrase, padded with silence; Chromium loops it).
 */
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { chromium, type Browser } from 'playwright-core';
import { requireTool, speakPhrase } from '../helpers/spoken.ts';

const run = promisify(execFile);

export const CHROMIUM = '/usr/bin/chromium';

/** Fails with what to install when Chromium, pocketsphinx or sox is missing. */
export async function requireBrowserTools(): Promise<void> {
  await access(CHROMIUM, constants.X_OK).catch(() => {
    throw new Error(`Chromium is not installed at ${CHROMIUM}; the browser tests need it: apt-get install chromium`);
  });
  await requireTool('pocketsphinx_continuous', 'apt-get install pocketsphinx pocketsphinx-en-us');
  await requireTool('sox', 'apt-get install sox');
}

export interface MicrophoneOptions {
  /** Silence before the phrase, in seconds. */
  beforeSeconds?: number;
  /** Silence after the phrase, in seconds (the loop's gap until the phrase comes round again). */
  afterSeconds?: number;
  /** espeak-ng's speed (its default is 175); slower speech makes a turn long enough for partial text. */
  wordsPerMinute?: number;
}

/**
 * The fake microphone's file: the phrase between silences, as 48 kHz 16-bit mono, the format
 * Chromium's WAV capture reads without surprises.
 */
export async function microphoneFile(dir: string, phrase: string, options: MicrophoneOptions = {}): Promise<string> {
  const spoken = await speakPhrase(phrase, 'wav', options.wordsPerMinute);
  const file = path.join(dir, 'microphone.wav');
  try {
    await run('sox', [
      spoken.file,
      '-r',
      '48000',
      '-b',
      '16',
      '-c',
      '1',
      file,
      'pad',
      String(options.beforeSeconds ?? 0.5),
      String(options.afterSeconds ?? 3.5),
    ]);
  } finally {
    await rm(path.dirname(spoken.file), { recursive: true, force: true });
  }
  return file;
}

/** Headless Chromium whose microphone plays `microphoneWav` in a loop, granted without a prompt. */
export async function launchChromium(microphoneWav: string): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
      `--use-file-for-fake-audio-capture=${microphoneWav}`,
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
}
