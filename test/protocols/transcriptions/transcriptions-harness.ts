/**
 * What the /v1/transcriptions tests share: a raw `ws` client that records every server message
 * and can wait for one, spoken command phrases as 16 kHz PCM, and a WebM/Opus stream of them
 * made now by ffmpeg as a browser's MediaRecorder makes one (a live WebM with Opus, no index,
 * cut into chunks of arbitrary size).
 */
import { execFile, spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { WebSocket, type ClientOptions } from 'ws';
import type { PcmAudio } from '../../../src/audio/pcm.ts';
import { readWav } from '../../../src/audio/wav.ts';
import { requireTool, speakPhrase } from '../../helpers/spoken.ts';

const run = promisify(execFile);

export type ServerMessage = Record<string, any>;

export interface Closed {
  code: number;
  reason: string;
}

/** A ws client of /v1/transcriptions that records every message in order. */
export class TranscriptionClient {
  readonly messages: ServerMessage[] = [];
  readonly socket: WebSocket;
  readonly opened: Promise<void>;
  readonly closed: Promise<Closed>;
  private waiters: Array<{ match: (message: ServerMessage) => boolean; resolve: (message: ServerMessage) => void }> = [];

  constructor(url: string, options: ClientOptions & { protocols?: string[] } = {}) {
    const { protocols, ...rest } = options;
    this.socket = new WebSocket(url, protocols ?? [], rest);
    this.opened = new Promise((resolve, reject) => {
      this.socket.once('open', () => resolve());
      this.socket.once('error', reject);
      this.socket.once('unexpected-response', (_request, response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (text: string) => (body += text));
        response.on('end', () =>
          reject(Object.assign(new Error(`upgrade refused with HTTP ${response.statusCode}: ${body}`), { status: response.statusCode, body })),
        );
      });
    });
    this.closed = new Promise((resolve) => this.socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    this.socket.on('message', (data) => this.push(JSON.parse(data.toString()) as ServerMessage));
  }

  static async connect(url: string, options: ClientOptions & { protocols?: string[] } = {}): Promise<TranscriptionClient> {
    const client = new TranscriptionClient(url, options);
    await client.opened;
    return client;
  }

  /** Connects and starts a session; resolves once `{"session_id"}` has arrived. */
  static async started(url: string, start: Record<string, unknown> = {}): Promise<TranscriptionClient> {
    const client = await TranscriptionClient.connect(url);
    client.send({ action: 'start', ...start });
    await client.next((message) => 'session_id' in message);
    return client;
  }

  send(message: Record<string, unknown>): void {
    this.socket.send(JSON.stringify(message));
  }

  sendText(text: string): void {
    this.socket.send(text);
  }

  sendBinary(bytes: Uint8Array): void {
    this.socket.send(bytes, { binary: true });
  }

  /** The first message from index `after` on (received or still to come) that matches. */
  next(match: (message: ServerMessage) => boolean, timeoutMs = 20_000, after = 0): Promise<ServerMessage> {
    const seen = this.messages.slice(after).find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const waiter = { match, resolve: (message: ServerMessage) => (clearTimeout(timer), resolve(message)) };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`no matching message within ${timeoutMs} ms; received: ${JSON.stringify(this.messages)}`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** The next `{"error"}` at or after index `after`. */
  nextError(after = 0): Promise<ServerMessage> {
    return this.next((message) => 'error' in message, 20_000, after);
  }

  finals(): string[] {
    return this.messages.filter((message) => 'final' in message).map((message) => message.final as string);
  }

  async close(): Promise<Closed> {
    if (this.socket.readyState === WebSocket.OPEN || this.socket.readyState === WebSocket.CONNECTING) this.socket.close(1000);
    return this.closed;
  }

  private push(message: ServerMessage): void {
    this.messages.push(message);
    for (const waiter of [...this.waiters]) {
      if (waiter.match(message)) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve(message);
      }
    }
  }
}

/** A phrase spoken by espeak-ng, as 16 kHz mono PCM. */
export async function spokenPcm(phrase: string): Promise<PcmAudio> {
  const { bytes } = await speakPhrase(phrase, 'wav');
  return readWav(bytes);
}

/** A phrase spoken slowly (espeak-ng's default is 175 words a minute), as 16 kHz mono PCM. */
export async function slowlySpokenPcm(phrase: string, wordsPerMinute: number): Promise<PcmAudio> {
  const { file, bytes } = await speakPhrase(phrase, 'wav', wordsPerMinute);
  await rm(path.dirname(file), { recursive: true, force: true });
  return readWav(bytes);
}

/** The samples between the first and the last one louder than `level` (espeak-ng pads its speech with silence). */
export function trimSilence(samples: Int16Array, level = 200): Int16Array {
  let start = 0;
  let end = samples.length;
  while (start < end && Math.abs(samples[start]) < level) start++;
  while (end > start && Math.abs(samples[end - 1]) < level) end--;
  return samples.slice(start, end);
}

export function silence(ms: number, sampleRate = 16000): Int16Array {
  return new Int16Array(Math.round((sampleRate * ms) / 1000));
}

export function concatPcm(parts: Int16Array[]): Int16Array {
  const samples = new Int16Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    samples.set(part, offset);
    offset += part.length;
  }
  return samples;
}

export function pcmBytes(samples: Int16Array): Buffer {
  return Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength);
}

/** Cuts bytes into chunks of `size` (the last one shorter). */
export function chunksOf(bytes: Uint8Array, size: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let start = 0; start < bytes.byteLength; start += size) chunks.push(Buffer.from(bytes.subarray(start, Math.min(start + size, bytes.byteLength))));
  return chunks;
}

/**
 * Sends chunks with a pause between them; `paceMs` = the audio each chunk holds gives a
 * real-time stream, smaller is faster than real time.
 */
export async function streamChunks(client: TranscriptionClient, chunks: Uint8Array[], paceMs: number): Promise<void> {
  const start = performance.now();
  for (const [index, chunk] of chunks.entries()) {
    const wait = start + index * paceMs - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    if (client.socket.readyState !== WebSocket.OPEN) return;
    client.sendBinary(chunk);
  }
}

/**
 * 16 kHz PCM encoded as a MediaRecorder stream is: WebM with one Opus track at 48 kHz, written
 * live (`-live 1`: no seek-back, no cues, unknown segment size) in clusters of about 1 s.
 */
export function mediaRecorderWebm(samples: Int16Array): Promise<Buffer> {
  return encodeStream(samples, ['-c:a', 'libopus', '-b:a', '32k', '-ar', '48000', '-f', 'webm', '-live', '1', '-cluster_time_limit', '1000']);
}

/**
 * The other streams browsers and apps send: Safari's MediaRecorder writes fragmented MP4 with
 * AAC (an empty moov first, then one fragment per chunk); Firefox can record Ogg/Opus.
 */
export function recorderStream(samples: Int16Array, container: 'mp4' | 'ogg'): Promise<Buffer> {
  return encodeStream(
    samples,
    container === 'mp4'
      ? ['-c:a', 'aac', '-b:a', '64k', '-f', 'mp4', '-movflags', 'frag_keyframe+empty_moov+default_base_moof', '-frag_duration', '250000']
      : ['-c:a', 'libopus', '-b:a', '32k', '-ar', '48000', '-f', 'ogg'],
  );
}

async function encodeStream(samples: Int16Array, outputArgs: string[]): Promise<Buffer> {
  await requireTool('ffmpeg', 'apt-get install ffmpeg');
  const child = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 's16le', '-ar', '16000', '-ac', '1', '-i', 'pipe:0', ...outputArgs, 'pipe:1']);
  const output = new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve(Buffer.concat(chunks)) : reject(new Error(`ffmpeg could not encode the test stream (exit ${code})`))));
  });
  child.stdin.end(pcmBytes(samples));
  return output;
}

/** Names of the running child processes of this process (the server runs in it). */
export async function childProcessNames(): Promise<string[]> {
  const { stdout } = await run('ps', ['-o', 'comm=', '--ppid', String(process.pid)]).catch(() => ({ stdout: '' }));
  return stdout
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
}
