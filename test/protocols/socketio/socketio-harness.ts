/**
 * What the Socket.IO /realtime tests share: a socket.io-client that records every `message`
 * the server emits and can wait for one, spoken phrases as 24 kHz PCM16 in 20 ms base64
 * chunks, and decoding of the `audio` messages back to PCM.
 */
import { readFile } from 'node:fs/promises';
import { io, type ManagerOptions, type Socket, type SocketOptions } from 'socket.io-client';
import type { PcmAudio } from '../../../src/audio/pcm.ts';
import { resample } from '../../../src/audio/resample.ts';
import { readWav } from '../../../src/audio/wav.ts';
import { speakPhrase } from '../../helpers/spoken.ts';
import { withSilence } from '../../e2e/realtime-harness.ts';

export type ServerMessage = { type: string; content?: any; code?: string };
export type ClientOptions = Partial<ManagerOptions & SocketOptions>;

/** A connected /realtime client with every server message in order. */
export class RealtimeSocket {
  readonly messages: ServerMessage[] = [];
  private waiters: Array<{ match: (message: ServerMessage) => boolean; resolve: (message: ServerMessage) => void }> = [];
  /** Why the connection ended, when it did: a wait that times out says it. */
  private disconnected?: string;

  private constructor(readonly socket: Socket) {
    socket.on('disconnect', (reason, details) => {
      const cause = details instanceof Error ? details.message : details && 'description' in details ? String(details.description) : '';
      this.disconnected = cause ? `${reason} (${cause})` : reason;
    });
    socket.on('message', (message: ServerMessage) => {
      this.messages.push(message);
      for (const waiter of [...this.waiters]) {
        if (!waiter.match(message)) continue;
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve(message);
      }
    });
  }

  /** Connects to `${baseUrl}/realtime`; rejects with the connect_error (message and data) when refused. */
  static async connect(baseUrl: string, options: ClientOptions = {}): Promise<RealtimeSocket> {
    const socket = io(`${baseUrl}/realtime`, { reconnection: false, forceNew: true, timeout: 10_000, ...options });
    const client = new RealtimeSocket(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', (error) => {
        socket.close();
        reject(error);
      });
    });
    return client;
  }

  /** The first message from index `after` on (received or still to come) of a type or matching a predicate. */
  next(match: string | ((message: ServerMessage) => boolean), timeoutMs = 10_000, after = 0): Promise<ServerMessage> {
    const predicate = typeof match === 'string' ? (message: ServerMessage) => message.type === match : match;
    const seen = this.messages.slice(after).find(predicate);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const waiter = { match: predicate, resolve: (message: ServerMessage) => (clearTimeout(timer), resolve(message)) };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        const ended = this.disconnected ? `; disconnected: ${this.disconnected}` : '';
        reject(new Error(`no ${typeof match === 'string' ? match : 'matching'} message within ${timeoutMs} ms; received: ${this.types().join(', ')}${ended}`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** The next error message after everything received so far. */
  nextError(timeoutMs = 5000): Promise<ServerMessage> {
    return this.next('error', timeoutMs, this.messages.length);
  }

  types(): string[] {
    return this.messages.map((message) => message.type);
  }

  ofType(type: string, from = 0): ServerMessage[] {
    return this.messages.slice(from).filter((message) => message.type === type);
  }

  emit(event: string, payload?: unknown): void {
    if (payload === undefined) this.socket.emit(event);
    else this.socket.emit(event, payload);
  }

  /** Sends 20 ms chunks as `audio` messages, as fast as the socket takes them; `commitLast` sets commit on the last. */
  sendAudio(chunks: string[], commitLast = false): void {
    chunks.forEach((audio, index) => this.emit('audio', commitLast && index === chunks.length - 1 ? { audio, commit: true } : { audio }));
  }

  /** Sends chunks in real time (one per 20 ms), as a microphone does. */
  async streamAudio(chunks: string[], frameMs = 20): Promise<void> {
    const start = performance.now();
    for (const [index, audio] of chunks.entries()) {
      const wait = start + index * frameMs - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      this.emit('audio', { audio });
    }
  }

  close(): void {
    this.socket.close();
  }
}

/** A connect_error as socket.io-client reports it. */
export interface ConnectFailure extends Error {
  data?: { code?: string };
}

export async function connectFailure(baseUrl: string, options: ClientOptions = {}): Promise<ConnectFailure> {
  return RealtimeSocket.connect(baseUrl, options).then(
    (client) => {
      client.close();
      throw new Error('the connection was accepted');
    },
    (error: ConnectFailure) => error,
  );
}

/** A phrase spoken by Debian's espeak-ng, at 24 kHz, with silence around it so VAD sees it start and end. */
export async function phraseAudio(phrase: string, beforeMs = 300, afterMs = 900): Promise<PcmAudio> {
  const { file } = await speakPhrase(phrase);
  const audio = await resample(readWav(await readFile(file)), 24000);
  return withSilence(audio, beforeMs, afterMs);
}

/** Base64 PCM16 chunks of `frameMs` each, as the `audio` event carries them. */
export { pcmFrames as chunks } from '../../e2e/realtime-harness.ts';

/** Joins the base64 PCM16 of `audio` messages. */
export function joinedAudio(messages: ServerMessage[]): PcmAudio {
  const bytes = Buffer.concat(messages.map((message) => Buffer.from(message.content as string, 'base64')));
  const samples = new Int16Array(bytes.byteLength / 2);
  for (let i = 0; i < samples.length; i++) samples[i] = bytes.readInt16LE(i * 2);
  return { samples, sampleRate: 24000 };
}
