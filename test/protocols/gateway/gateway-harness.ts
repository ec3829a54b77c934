/**
 * What the gateway tests share: a raw `ws` client on `/` that records every server message
 * (JSON and binary audio frames, in arrival order) and can wait for one, spoken command
 * phrases at any wire rate, and the real engines (pocketsphinx with the command grammar,
 * espeak-ng) the turns run on.
 */
import { WebSocket, type ClientOptions } from 'ws';
import { muLawEncode } from '../../../src/audio/g711.ts';
import { bytesToInt16, concatPcm, int16ToBytes, type PcmAudio } from '../../../src/audio/pcm.ts';
import { resample } from '../../../src/audio/resample.ts';
import { readWav } from '../../../src/audio/wav.ts';
import { EspeakSynthesizer } from '../../../src/providers/local/espeak-synthesizer.ts';
import { createPocketsphinxTranscriber, type PocketsphinxTranscriber } from '../../../src/providers/local/pocketsphinx-transcriber.ts';
import { COMMAND_GRAMMAR, requireTool, speakPhrase } from '../../helpers/spoken.ts';

export type GatewayMessage = { type: string } & Record<string, any>;
export type Received = { kind: 'json'; message: GatewayMessage } | { kind: 'binary'; bytes: Buffer };

export interface Closed {
  code: number;
  reason: string;
}

export class GatewayClient {
  readonly received: Received[] = [];
  readonly socket: WebSocket;
  readonly opened: Promise<void>;
  readonly closed: Promise<Closed>;
  private waiters: Array<{ match: (message: GatewayMessage) => boolean; resolve: (message: GatewayMessage) => void }> = [];

  constructor(url: string, options: ClientOptions = {}) {
    this.socket = new WebSocket(url, options);
    this.opened = new Promise((resolve, reject) => {
      this.socket.once('open', () => resolve());
      this.socket.once('error', reject);
      this.socket.once('unexpected-response', (_request, response) => reject(new Error(`upgrade refused with HTTP ${response.statusCode}`)));
    });
    this.closed = new Promise((resolve) => this.socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    this.socket.on('message', (data: Buffer, isBinary) => {
      if (isBinary) {
        this.received.push({ kind: 'binary', bytes: Buffer.from(data) });
        return;
      }
      const message = JSON.parse(data.toString('utf8')) as GatewayMessage;
      this.received.push({ kind: 'json', message });
      for (const waiter of [...this.waiters]) {
        if (waiter.match(message)) {
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          waiter.resolve(message);
        }
      }
    });
  }

  static async connect(url: string, options: ClientOptions = {}): Promise<GatewayClient> {
    const client = new GatewayClient(url, options);
    await client.opened;
    return client;
  }

  /** JSON messages only, in order. */
  get messages(): GatewayMessage[] {
    return this.received.flatMap((entry) => (entry.kind === 'json' ? [entry.message] : []));
  }

  /** The JSON messages' types, with `audio` standing for each binary frame. */
  sequence(): string[] {
    return this.received.map((entry) => (entry.kind === 'json' ? entry.message.type : 'audio'));
  }

  /** The first message (received or still to come) of a type or matching a predicate, from index `after` of `messages` on. */
  async next(match: string | ((message: GatewayMessage) => boolean), timeoutMs = 15_000, after = 0): Promise<GatewayMessage> {
    const predicate = typeof match === 'string' ? (message: GatewayMessage) => message.type === match : match;
    const seen = this.messages.slice(after).find(predicate);
    if (seen) return seen;
    return new Promise((resolve, reject) => {
      const waiter = { match: predicate, resolve: (message: GatewayMessage) => (clearTimeout(timer), resolve(message)) };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`no ${typeof match === 'string' ? match : 'matching'} message within ${timeoutMs} ms; received: ${this.sequence().join(', ')}`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  send(message: unknown): void {
    this.socket.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  sendBinary(bytes: Uint8Array): void {
    this.socket.send(bytes, { binary: true });
  }

  /** Binary frames of `frameMs` each, as a microphone client streams them. */
  sendFrames(bytes: Buffer, bytesPerMs: number, frameMs = 20): void {
    const frame = Math.round(bytesPerMs * frameMs);
    for (let start = 0; start < bytes.byteLength; start += frame) this.sendBinary(bytes.subarray(start, start + frame));
  }

  /** The binary frames received, joined. */
  audioBytes(): Buffer {
    return Buffer.concat(this.received.flatMap((entry) => (entry.kind === 'binary' ? [entry.bytes] : [])));
  }

  async close(): Promise<Closed> {
    if (this.socket.readyState === WebSocket.OPEN || this.socket.readyState === WebSocket.CONNECTING) this.socket.close(1000);
    return this.closed;
  }
}

export function gatewayUrl(serverUrl: string, query = ''): string {
  return `${serverUrl.replace(/^http/, 'ws')}/${query}`;
}

/** A command phrase spoken by the espeak-ng CLI, at `sampleRate`, with silence around it. */
export async function phraseAudio(phrase: string, sampleRate: number, beforeMs = 300, afterMs = 0): Promise<PcmAudio> {
  const { bytes } = await speakPhrase(phrase);
  const speech = await resample(readWav(bytes), sampleRate);
  const silence = (ms: number) => new Int16Array(Math.round((sampleRate * ms) / 1000));
  return { samples: concatPcm([silence(beforeMs), speech.samples, silence(afterMs)]), sampleRate };
}

export function pcmBytes(audio: PcmAudio): Buffer {
  return Buffer.from(int16ToBytes(audio.samples));
}

export function ulawBytes(audio: PcmAudio): Buffer {
  return Buffer.from(muLawEncode(audio.samples));
}

export function samplesOf(bytes: Buffer): Int16Array {
  return bytesToInt16(bytes.subarray(0, bytes.byteLength - (bytes.byteLength % 2)));
}

export interface RealEngines {
  transcriber: PocketsphinxTranscriber;
  synthesizer: EspeakSynthesizer;
}

/** pocketsphinx with the command grammar and espeak-ng; fails with what to install when missing. */
export async function realEngines(): Promise<RealEngines> {
  await requireTool('pocketsphinx_continuous', 'apt-get install pocketsphinx pocketsphinx-en-us');
  const transcriber = await createPocketsphinxTranscriber({ grammar: COMMAND_GRAMMAR, timeoutMs: 30_000 });
  const synthesizer = await EspeakSynthesizer.create({ workers: 1 });
  return { transcriber, synthesizer };
}
