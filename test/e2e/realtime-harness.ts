/**
 * What the /v1/realtime tests share: the real server on port 0 around a set of engines, a raw
 * `ws` client that records every server event, speech from the shared recordings resampled to
 * the wire's 24 kHz, and a self-signed certificate made with the openssl CLI for wss tests.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { WebSocket, type ClientOptions } from 'ws';
import { encodeBase64Audio } from '../../src/audio/base64.ts';
import type { PcmAudio } from '../../src/audio/pcm.ts';
import { resample } from '../../src/audio/resample.ts';
import { readWav } from '../../src/audio/wav.ts';
import type { Synthesizer } from '../../src/providers/contracts.ts';
import { sharedAudioPath } from '../helpers/shared.ts';

export type WireEvent = { type: string; event_id: string } & Record<string, any>;

export interface Closed {
  code: number;
  reason: string;
}

/** Every server event a client received, in order, with a way to wait for one. */
export class EventLog {
  readonly events: WireEvent[] = [];
  private waiters: Array<{ match: (event: WireEvent) => boolean; resolve: (event: WireEvent) => void }> = [];

  push(event: WireEvent): void {
    this.events.push(event);
    for (const waiter of [...this.waiters]) {
      if (waiter.match(event)) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve(event);
      }
    }
  }

  /** The first event from index `after` on (already received or still to come) of a type or matching a predicate. */
  async next(match: string | ((event: WireEvent) => boolean), timeoutMs = 5000, after = 0): Promise<WireEvent> {
    const predicate = typeof match === 'string' ? (event: WireEvent) => event.type === match : match;
    const seen = this.events.slice(after).find(predicate);
    if (seen) return seen;
    return new Promise((resolve, reject) => {
      const waiter = { match: predicate, resolve: (event: WireEvent) => (clearTimeout(timer), resolve(event)) };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        const seenTypes = this.events.map((event) => event.type).join(', ');
        reject(new Error(`no ${typeof match === 'string' ? match : 'matching'} event within ${timeoutMs} ms; received: ${seenTypes}`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  types(): string[] {
    return this.events.map((event) => event.type);
  }

  indexOf(event: WireEvent): number {
    return this.events.indexOf(event);
  }
}

/** A raw ws client that records every server event and can wait for one. */
export class RealtimeClient {
  readonly log = new EventLog();
  readonly socket: WebSocket;
  readonly opened: Promise<void>;
  readonly closed: Promise<Closed>;

  constructor(url: string, options: ClientOptions & { protocols?: string[] } = {}) {
    const { protocols, ...rest } = options;
    this.socket = new WebSocket(url, protocols ?? [], rest);
    this.opened = new Promise((resolve, reject) => {
      this.socket.once('open', () => resolve());
      this.socket.once('error', reject);
      this.socket.once('unexpected-response', (_request, response) => reject(new Error(`upgrade refused with HTTP ${response.statusCode}`)));
    });
    this.closed = new Promise((resolve) => this.socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    this.socket.on('message', (data) => this.log.push(JSON.parse(data.toString()) as WireEvent));
  }

  get events(): WireEvent[] {
    return this.log.events;
  }

  static async connect(url: string, options: ClientOptions & { protocols?: string[] } = {}): Promise<RealtimeClient> {
    const client = new RealtimeClient(url, options);
    await client.opened;
    return client;
  }

  send(event: Record<string, unknown>): void {
    this.socket.send(JSON.stringify(event));
  }

  next(match: string | ((event: WireEvent) => boolean), timeoutMs = 5000, after = 0): Promise<WireEvent> {
    return this.log.next(match, timeoutMs, after);
  }

  types(): string[] {
    return this.log.types();
  }

  async close(): Promise<Closed> {
    if (this.socket.readyState === WebSocket.OPEN || this.socket.readyState === WebSocket.CONNECTING) this.socket.close(1000);
    return this.closed;
  }
}

/** A shared recording at `sampleRate`, with `padMs` of silence after it (to end a VAD turn). */
export async function recording(name: string, sampleRate = 24000, padMs = 0): Promise<PcmAudio> {
  const wav = readWav(await readFile(sharedAudioPath(name)));
  return withSilence(await resample(wav, sampleRate), 0, padMs);
}

export function withSilence(audio: PcmAudio, beforeMs: number, afterMs: number): PcmAudio {
  const before = Math.round((audio.sampleRate * beforeMs) / 1000);
  const after = Math.round((audio.sampleRate * afterMs) / 1000);
  const samples = new Int16Array(before + audio.samples.length + after);
  samples.set(audio.samples, before);
  return { samples, sampleRate: audio.sampleRate };
}

/** Base64 PCM16 appends of `frameMs` each, as a microphone client streams them. */
export function pcmFrames(audio: PcmAudio, frameMs = 20): string[] {
  const frame = Math.round((audio.sampleRate * frameMs) / 1000);
  const frames: string[] = [];
  for (let start = 0; start < audio.samples.length; start += frame) frames.push(encodeBase64Audio(audio.samples.subarray(start, start + frame), 'pcm16'));
  return frames;
}

/** Streams frames in real time (one per `frameMs`), so VAD timing is what a microphone gives. */
export async function streamRealtime(send: (audio: string) => void, frames: string[], frameMs = 20): Promise<void> {
  const start = performance.now();
  for (const [index, frame] of frames.entries()) {
    const due = start + index * frameMs;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    send(frame);
  }
}

/**
 * fetch for a backend's HTTP calls to a test server with a self-signed certificate: Node's
 * fetch takes no CA per call and reads NODE_EXTRA_CA_CERTS only at start, so certificate
 * checks are relaxed around each call.
 */
export const insecureFetch: typeof fetch = async (input, init) => {
  const previous = process.env.NODE_TLS_REJECT_UNAUTHORIZED;
  process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
  try {
    return await fetch(input, init);
  } finally {
    if (previous === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
    else process.env.NODE_TLS_REJECT_UNAUTHORIZED = previous;
  }
};

export interface SelfSignedCertificate {
  certPath: string;
  keyPath: string;
  cert: Buffer;
  remove(): Promise<void>;
}

/** A certificate for 127.0.0.1 / localhost made now with the openssl CLI (a test CA of its own). */
export async function selfSignedCertificate(): Promise<SelfSignedCertificate> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'speechbridge-tls-'));
  const certPath = path.join(dir, 'cert.pem');
  const keyPath = path.join(dir, 'key.pem');
  try {
    await promisify(execFile)('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-keyout',
      keyPath,
      '-out',
      certPath,
    ]);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`could not make a test certificate with openssl (install it: apt-get install openssl): ${(error as Error).message}`, { cause: error });
  }
  return { certPath, keyPath, cert: await readFile(certPath), remove: () => rm(dir, { recursive: true, force: true }) };
}

/** Speech synthesized now by a synthesizer (espeak-ng in the e2e tests), resampled to `sampleRate`. */
export async function spoken(synthesizer: Synthesizer, text: string, sampleRate = 24000): Promise<PcmAudio> {
  const chunks: Int16Array[] = [];
  let rate = synthesizer.capabilities.sampleRate;
  for await (const chunk of synthesizer.synthesize({ text })) {
    chunks.push(chunk.samples);
    rate = chunk.sampleRate;
  }
  const length = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
  const samples = new Int16Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    samples.set(chunk, offset);
    offset += chunk.length;
  }
  return resample({ samples, sampleRate: rate }, sampleRate);
}

/** Decodes and joins the base64 PCM16 deltas of a list of events. */
export function joinedPcm(events: WireEvent[], sampleRate = 24000): PcmAudio {
  const bytes = Buffer.concat(events.map((event) => Buffer.from(event.delta as string, 'base64')));
  const samples = new Int16Array(bytes.byteLength / 2);
  for (let i = 0; i < samples.length; i++) samples[i] = bytes.readInt16LE(i * 2);
  return { samples, sampleRate };
}
