/**
 * The command-line audio tools listen uses for the microphone and the speaker — sox
 * (`sox`/`play`) or ALSA's `arecord`/`aplay` — how they are found on PATH, and how a device
 * given by number or name becomes an ALSA device string.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, readFile } from 'node:fs/promises';
import path from 'node:path';
import { SpeechbridgeError } from '../../errors/registry.ts';
import { withDeadline } from './client-timing.ts';

export type RecorderTool = 'sox' | 'arecord';
export type PlayerTool = 'play' | 'aplay';

export const INSTALL_HINT = 'install sox (`apt-get install sox`, macOS: `brew install sox`) or alsa-utils for arecord/aplay (`apt-get install alsa-utils`)';

/** Longest a device listing may take: `arecord -l` answers in milliseconds. */
const LIST_TIMEOUT_MS = 5000;

export async function onPath(name: string): Promise<boolean> {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const found = await access(path.join(dir, name), constants.X_OK).then(
      () => true,
      () => false,
    );
    if (found) return true;
  }
  return false;
}

/** The recorder to use: the one asked for (it must be installed), else sox, else arecord. */
export async function chooseRecorder(requested: RecorderTool | 'auto'): Promise<RecorderTool> {
  if (requested !== 'auto') {
    if (!(await onPath(requested)))
      throw new SpeechbridgeError(
        'engine_unavailable',
        `the recorder ${requested} is not installed (not on PATH): ${INSTALL_HINT}, or pipe raw PCM with --input -`,
      );
    return requested;
  }
  if (await onPath('sox')) return 'sox';
  if (await onPath('arecord')) return 'arecord';
  throw new SpeechbridgeError('engine_unavailable', `no recorder found: listen records with sox or arecord; ${INSTALL_HINT}, or pipe raw PCM with --input -`);
}

/** The player to use: `play` (sox), else `aplay`; undefined when neither is installed. */
export async function choosePlayer(requested: PlayerTool | 'auto'): Promise<PlayerTool | undefined> {
  if (requested !== 'auto') return (await onPath(requested)) ? requested : undefined;
  if (await onPath('play')) return 'play';
  if (await onPath('aplay')) return 'aplay';
  return undefined;
}

export interface CaptureDevice {
  card: number;
  device: number;
  /** Card id, e.g. "PCH" or "Microphone". */
  id: string;
  description: string;
}

/**
 * Capture devices ALSA knows: `/proc/asound/pcm` lines such as
 * `01-00: USB Audio : USB Audio : capture 1`, named by /proc/asound/cards.
 */
export async function listCaptureDevices(): Promise<CaptureDevice[]> {
  const pcm = await readFile('/proc/asound/pcm', 'utf8').catch(() => '');
  const cards = await readFile('/proc/asound/cards', 'utf8').catch(() => '');
  const ids = new Map<number, string>();
  for (const match of cards.matchAll(/^\s*(\d+)\s+\[(\S+)\s*\]/gm)) ids.set(Number(match[1]), match[2]);
  const devices: CaptureDevice[] = [];
  for (const line of pcm.split('\n')) {
    const match = /^(\d+)-(\d+):\s*([^:]*):\s*([^:]*):(.*)$/.exec(line);
    if (!match || !/capture/.test(match[5])) continue;
    const card = Number(match[1]);
    devices.push({
      card,
      device: Number(match[2]),
      id: ids.get(card) ?? String(card),
      description: `${match[3].trim()}${match[4].trim() ? ` (${match[4].trim()})` : ''}`,
    });
  }
  return devices;
}

/** `arecord -l` output when arecord is installed (it also names devices ALSA plugins add), else undefined. */
export async function arecordListing(signal: AbortSignal): Promise<string | undefined> {
  if (!(await onPath('arecord'))) return undefined;
  const deadline = withDeadline(signal, LIST_TIMEOUT_MS);
  return new Promise<string | undefined>((resolve) => {
    const child = spawn('arecord', ['-l'], { stdio: ['ignore', 'pipe', 'pipe'], signal: deadline.signal });
    let text = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      if (text.length < 64 * 1024) text += chunk;
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      if (text.length < 64 * 1024) text += chunk;
    });
    child.once('error', () => resolve(undefined));
    child.once('close', () => resolve(text));
  }).finally(() => deadline.clear());
}

/**
 * `--device` → an ALSA device string: `2` is card 2 (`plughw:2,0`), `2,1` card 2 device 1, a
 * name with a colon (`hw:1,0`, `plughw:CARD=USB`) or `default`/`pulse` is used as it is, and any
 * other word is looked up among the capture cards' ids and descriptions.
 */
export async function alsaDevice(device: string): Promise<string> {
  const trimmed = device.trim();
  const numbers = /^(\d+)(?:,(\d+))?$/.exec(trimmed);
  if (numbers) return `plughw:${numbers[1]},${numbers[2] ?? '0'}`;
  if (trimmed.includes(':') || ['default', 'pulse', 'pipewire', 'sysdefault'].includes(trimmed)) return trimmed;
  const devices = await listCaptureDevices();
  const lower = trimmed.toLowerCase();
  const found =
    devices.find((candidate) => candidate.id.toLowerCase() === lower) ??
    devices.find((candidate) => `${candidate.id} ${candidate.description}`.toLowerCase().includes(lower));
  if (found) return `plughw:${found.card},${found.device}`;
  const known =
    devices.length > 0
      ? `capture devices: ${devices.map((candidate) => `${candidate.card} (${candidate.id}: ${candidate.description})`).join(', ')}`
      : 'ALSA lists no capture device on this machine';
  throw new SpeechbridgeError('engine_unavailable', `no capture device matches --device ${JSON.stringify(device)}; ${known} (see listen --list-devices)`);
}
