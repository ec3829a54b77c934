/**
 * A Wyoming server on 127.0.0.1, port 0, written from the protocol's documentation (the
 * OHF-Voice/wyoming README: framing, event types and event flows) and the behaviour of the
 * servers users run (wyoming-faster-whisper, wyoming-piper), with a reader and writer of its
 * own, not the gateway's, so a mistake in one is not mirrored in the other.
 *
 * - `describe` → `info` listing its asr and/or tts programs (with or without
 *   `supports_transcript_streaming` / `supports_synthesize_streaming`).
 * - Speech recognition as faster-whisper does it: `transcribe`, `audio-start`, `audio-chunk`s,
 *   `audio-stop` → `transcript`, then the connection is closed. The text is the script's,
 *   given the audio received (decoded, with its format), and sent only after `audio-stop`.
 *   Streaming: `transcript-start` after the first chunk, a `transcript-chunk` per word as the
 *   audio arrives (one word per `msPerWord` of audio), the rest at `audio-stop`, then
 *   `transcript` and `transcript-stop`.
 * - Speech synthesis as piper does it: `synthesize` → `audio-start`, `audio-chunk`s of 1024
 *   samples, `audio-stop`; streaming: `synthesize-start`, `synthesize-chunk`s (each finished
 *   sentence spoken at once, with its own audio-start … audio-stop), `synthesize` ignored,
 *   `synthesize-stop` → the rest, then `synthesize-stopped`. The audio is real speech from the
 *   given `speak` function (espeak-ng in the tests), in the rate, width and channels asked for.
 * - Data goes in the data section as the reference writer puts it, or in the header line
 *   (`dataInHeader`), both being the format.
 * - Faults, chosen per connection: closing mid-stream, garbage, an endless header line, never
 *   answering, an `error` event, stalling after the first audio; and a slow `info`.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export type WyomingFault =
  /** Speech recognition: the socket is destroyed after 5 audio chunks; synthesis: after audio-start and 3 chunks. */
  | 'close-mid-stream'
  /** The first answer is bytes that are not the format. */
  | 'garbage'
  /** The first answer is a header line that never ends (written as fast as the socket takes it). */
  | 'oversize-header'
  /** Reads everything, answers nothing, keeps the connection open. */
  | 'never-answer'
  /** Answers the request with an `error` event. */
  | 'error-event'
  /** Synthesis: audio-start and 2 chunks, then silence; streaming recognition: transcript-start, then silence. */
  | 'stall';

export interface AudioFormat {
  rate: number;
  width: number;
  channels: number;
}

export interface AsrRequest {
  /** The `transcribe` event's data. */
  transcribe: Record<string, unknown>;
  format: AudioFormat;
  /** The audio received, as 16-bit samples (first channel) when width is 2. */
  samples: Int16Array;
  chunks: number;
}

export interface WyomingServerOptions {
  asr?: {
    program?: string;
    models?: Array<{ name: string; languages: string[] }>;
    streaming?: boolean;
    /**
     * The transcript for the audio received: asked once, at `audio-stop`, or when streaming at
     * the first word (with the audio so far), so the pieces and the final text agree.
     */
    transcript: (request: AsrRequest) => string;
    /** Audio in another format is answered with an `error` event, as a strict server would. */
    expectFormat?: AudioFormat;
    /** Streaming: a word goes out per this much audio received; default 300 ms. */
    msPerWord?: number;
  };
  tts?: {
    program?: string;
    voices?: Array<{ name: string; languages: string[]; speakers?: string[]; installed?: boolean }>;
    streaming?: boolean;
    /** Real speech for `text` at `speakRate`, mono 16-bit. */
    speak: (text: string, voice: string | undefined) => Promise<Int16Array>;
    speakRate: number;
    /** The format sent; default the speaker's rate, width 2, mono. */
    output?: Partial<AudioFormat>;
  };
  dataInHeader?: boolean;
  /** The fault for connection `index` (0-based, describe connections included). */
  fault?: (index: number) => WyomingFault | undefined;
  /** Delay before `info`. */
  infoDelayMs?: number;
}

export interface ReceivedEvent {
  type: string;
  data: Record<string, unknown>;
  payloadBytes: number;
}

export interface ConnectionRecord {
  index: number;
  events: ReceivedEvent[];
  fault?: WyomingFault;
  /** True when the client closed (or reset) the connection before the server did. */
  closedByClient: boolean;
  /** Bytes the server handed to the socket. */
  bytesWritten: number;
  /** Synthesis: the speech of each audio-start … audio-stop stretch as spoken (mono, at speakRate, before conversion). */
  spoken: Int16Array[];
  closed: Promise<void>;
}

export interface WyomingServer {
  uri: string;
  port: number;
  connections: ConnectionRecord[];
  /** Connections open now. */
  open(): number;
  /** Resolves once no connection is open; rejects after `timeoutMs` with how many are. */
  drained(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

const SAMPLES_PER_CHUNK = 1024;
const VERSION = '1.7.0';

export async function startWyomingServer(options: WyomingServerOptions): Promise<WyomingServer> {
  const connections: ConnectionRecord[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    const index = connections.length;
    let markClosed: () => void = () => {};
    const record: ConnectionRecord = {
      index,
      events: [],
      fault: options.fault?.(index),
      closedByClient: false,
      bytesWritten: 0,
      spoken: [],
      closed: new Promise((resolve) => (markClosed = resolve)),
    };
    connections.push(record);
    let serverClosing = false;
    socket.on('end', () => {
      if (!serverClosing) record.closedByClient = true;
    });
    socket.on('error', () => {
      if (!serverClosing) record.closedByClient = true;
    });
    socket.on('close', () => {
      sockets.delete(socket);
      markClosed();
    });
    const session = new Session(socket, record, options, () => {
      serverClosing = true;
    });
    session.run().catch(() => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    uri: `tcp://127.0.0.1:${port}`,
    port,
    connections,
    open: () => sockets.size,
    drained: async (timeoutMs) => {
      const deadline = Date.now() + timeoutMs;
      while (sockets.size > 0) {
        if (Date.now() > deadline) throw new Error(`${sockets.size} Wyoming connection(s) still open after ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Reads the byte stream the way the reference reader does: readline, then readexactly. */
class ByteReader {
  #buffer = Buffer.alloc(0);
  #ended = false;
  #wake: (() => void) | null = null;

  constructor(socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      this.#wake?.();
    });
    const end = () => {
      this.#ended = true;
      this.#wake?.();
    };
    socket.on('end', end);
    socket.on('close', end);
  }

  async #more(): Promise<boolean> {
    if (this.#ended) return false;
    await new Promise<void>((resolve) => (this.#wake = resolve));
    this.#wake = null;
    return true;
  }

  async readLine(): Promise<Buffer | null> {
    for (;;) {
      const newline = this.#buffer.indexOf(0x0a);
      if (newline >= 0) {
        const line = this.#buffer.subarray(0, newline);
        this.#buffer = this.#buffer.subarray(newline + 1);
        return line;
      }
      if (!(await this.#more())) return null;
    }
  }

  async readExactly(count: number): Promise<Buffer | null> {
    while (this.#buffer.byteLength < count) if (!(await this.#more())) return null;
    const bytes = this.#buffer.subarray(0, count);
    this.#buffer = this.#buffer.subarray(count);
    return bytes;
  }
}

interface Event {
  type: string;
  data: Record<string, unknown>;
  payload?: Buffer;
}

class Session {
  readonly #socket: Socket;
  readonly #record: ConnectionRecord;
  readonly #options: WyomingServerOptions;
  readonly #reader: ByteReader;
  readonly #markServerClosing: () => void;
  #answered = false;
  /** The fault took over the first answer: nothing else is said on this connection. */
  #faulted = false;
  // Speech recognition state.
  #transcribe: Record<string, unknown> = {};
  #format: AudioFormat | null = null;
  #audio: Buffer[] = [];
  #chunks = 0;
  #wordsSent = 0;
  #streamStarted = false;
  // Synthesis streaming state.
  #ttsStream: { voice: string | undefined; pending: string } | null = null;

  constructor(socket: Socket, record: ConnectionRecord, options: WyomingServerOptions, markServerClosing: () => void) {
    this.#socket = socket;
    this.#record = record;
    this.#options = options;
    this.#reader = new ByteReader(socket);
    this.#markServerClosing = markServerClosing;
  }

  async run(): Promise<void> {
    for (;;) {
      const event = await this.#read();
      if (!event) return;
      this.#record.events.push({ type: event.type, data: event.data, payloadBytes: event.payload?.byteLength ?? 0 });
      const keepGoing = await this.#handle(event);
      if (!keepGoing) {
        this.#markServerClosing();
        this.#socket.end();
        return;
      }
    }
  }

  async #read(): Promise<Event | null> {
    const line = await this.#reader.readLine();
    if (!line) return null;
    const header = JSON.parse(line.toString('utf8')) as { type: string; data?: Record<string, unknown>; data_length?: number; payload_length?: number };
    const data = { ...(header.data ?? {}) };
    if (header.data_length && header.data_length > 0) {
      const section = await this.#reader.readExactly(header.data_length);
      if (!section) return null;
      Object.assign(data, JSON.parse(section.toString('utf8')));
    }
    let payload: Buffer | undefined;
    if (header.payload_length && header.payload_length > 0) {
      payload = (await this.#reader.readExactly(header.payload_length)) ?? undefined;
      if (!payload) return null;
    }
    return { type: header.type, data, payload };
  }

  async #write(type: string, data: Record<string, unknown> = {}, payload?: Buffer): Promise<void> {
    if (this.#socket.destroyed) return;
    const header: Record<string, unknown> = { type, version: VERSION };
    let section: Buffer | undefined;
    if (Object.keys(data).length > 0) {
      if (this.#options.dataInHeader) header.data = data;
      else {
        section = Buffer.from(JSON.stringify(data), 'utf8');
        header.data_length = section.byteLength;
      }
    }
    if (payload && payload.byteLength > 0) header.payload_length = payload.byteLength;
    const bytes = Buffer.concat([
      Buffer.from(`${JSON.stringify(header)}\n`),
      ...(section ? [section] : []),
      ...(payload && payload.byteLength > 0 ? [payload] : []),
    ]);
    this.#record.bytesWritten += bytes.byteLength;
    if (!this.#socket.write(bytes))
      await new Promise<void>((resolve) => {
        this.#socket.once('drain', resolve);
        this.#socket.once('close', resolve);
      });
  }

  /** Applies the connection's fault to its first answer; true when it took over. */
  async #faultOnAnswer(): Promise<boolean> {
    if (this.#answered) return false;
    this.#answered = true;
    this.#faulted = ['garbage', 'oversize-header', 'never-answer', 'error-event'].includes(this.#record.fault ?? '');
    switch (this.#record.fault) {
      case 'garbage':
        this.#record.bytesWritten += 40;
        this.#socket.write(Buffer.from('\x00\xff\xfeHTTP/1.1 400 Bad Request, not Wyoming\n', 'latin1'));
        return true;
      case 'oversize-header': {
        const block = Buffer.alloc(64 * 1024, 'a'.charCodeAt(0));
        this.#socket.write('{"type": "info", "data": {"padding": "');
        while (!this.#socket.destroyed) {
          this.#record.bytesWritten += block.byteLength;
          if (!this.#socket.write(block)) {
            await new Promise<void>((resolve) => {
              this.#socket.once('drain', resolve);
              this.#socket.once('close', resolve);
            });
          }
        }
        return true;
      }
      case 'never-answer':
        return true;
      case 'error-event':
        await this.#write('error', { text: 'the model could not be loaded', code: 'RuntimeError' });
        return true;
      default:
        return false;
    }
  }

  /** false ends the connection (as faster-whisper does after its transcript). */
  async #handle(event: Event): Promise<boolean> {
    switch (event.type) {
      case 'describe':
        if (await this.#faultOnAnswer()) return true;
        if (this.#options.infoDelayMs) await new Promise((resolve) => setTimeout(resolve, this.#options.infoDelayMs));
        await this.#write('info', this.#info());
        return true;
      case 'transcribe':
        this.#transcribe = event.data;
        return true;
      case 'audio-start':
        this.#format = formatOf(event.data);
        return true;
      case 'audio-chunk':
        return this.#audioChunk(event);
      case 'audio-stop':
        return this.#audioStop();
      case 'synthesize':
        if (this.#ttsStream) return true; // Sent for older servers; a streaming one ignores it.
        if (await this.#faultOnAnswer()) return true;
        return this.#synthesize(String(event.data.text ?? ''), voiceName(event.data.voice));
      case 'synthesize-start':
        this.#ttsStream = { voice: voiceName(event.data.voice), pending: '' };
        return true;
      case 'synthesize-chunk':
        return this.#synthesizeChunk(String(event.data.text ?? ''));
      case 'synthesize-stop': {
        const stream = this.#ttsStream;
        if (!stream) return true;
        if (stream.pending.trim() && !(await this.#speakSegment(stream.pending, stream.voice))) return false;
        stream.pending = '';
        await this.#write('synthesize-stopped');
        return true;
      }
      default:
        return true;
    }
  }

  #info(): Record<string, unknown> {
    const attribution = { name: 'test', url: 'https://example.invalid' };
    const info: Record<string, unknown> = { asr: [], tts: [], handle: [], intent: [], wake: [], mic: [], snd: [] };
    const asr = this.#options.asr;
    if (asr) {
      info.asr = [
        {
          name: asr.program ?? 'faster-whisper',
          attribution,
          installed: true,
          description: 'Faster Whisper transcription with CTranslate2',
          version: '2.5.0',
          models: (asr.models ?? [{ name: 'base-int8', languages: ['en', 'fr', 'de'] }]).map((model) => ({
            ...model,
            attribution,
            installed: true,
            description: model.name,
            version: null,
          })),
          supports_transcript_streaming: asr.streaming === true,
        },
      ];
    }
    const tts = this.#options.tts;
    if (tts) {
      info.tts = [
        {
          name: tts.program ?? 'piper',
          attribution,
          installed: true,
          description: 'A fast, local, neural text to speech engine',
          version: '1.6.0',
          voices: (tts.voices ?? [{ name: 'en_US-lessac-medium', languages: ['en_US'] }]).map((voice) => ({
            name: voice.name,
            languages: voice.languages,
            attribution,
            installed: voice.installed ?? true,
            description: voice.name,
            version: null,
            ...(voice.speakers ? { speakers: voice.speakers.map((name) => ({ name })) } : {}),
          })),
          supports_synthesize_streaming: tts.streaming === true,
        },
      ];
    }
    return info;
  }

  async #audioChunk(event: Event): Promise<boolean> {
    const asr = this.#options.asr;
    this.#format ??= formatOf(event.data);
    if (event.payload) this.#audio.push(event.payload);
    this.#chunks += 1;
    if (this.#record.fault === 'close-mid-stream' && this.#chunks === 5) {
      this.#markServerClosing();
      this.#socket.destroy();
      return false;
    }
    if (!asr?.streaming) return true;
    if (this.#chunks === 1) {
      if (await this.#faultOnAnswer()) return true;
      await this.#write('transcript-start', { language: String(this.#transcribe.language ?? 'en') });
      this.#streamStarted = true;
    }
    if (!this.#streamStarted || this.#record.fault === 'stall') return true;
    const receivedMs = (this.#received().length * 1000) / (this.#format?.rate ?? 16000);
    const words = this.#words();
    const due = Math.min(words.length, Math.floor(receivedMs / (asr.msPerWord ?? 300)));
    while (this.#wordsSent < due) await this.#sendWord(words);
    return true;
  }

  async #audioStop(): Promise<boolean> {
    const asr = this.#options.asr;
    if (!asr) return true;
    if (!asr.streaming && (await this.#faultOnAnswer())) return true;
    if (this.#faulted || this.#record.fault === 'stall') return true;
    const expected = asr.expectFormat;
    const format = this.#format;
    if (expected && (!format || format.rate !== expected.rate || format.width !== expected.width || format.channels !== expected.channels)) {
      await this.#write('error', { text: `expected ${JSON.stringify(expected)} audio, got ${JSON.stringify(format)}`, code: 'ValueError' });
      return false;
    }
    const text = this.#text();
    if (asr.streaming) {
      const words = this.#words();
      while (this.#wordsSent < words.length) await this.#sendWord(words);
      await this.#write('transcript', { text, language: String(this.#transcribe.language ?? 'en') });
      await this.#write('transcript-stop');
    } else {
      await this.#write('transcript', { text });
    }
    return false;
  }

  #received(): Int16Array {
    const bytes = Buffer.concat(this.#audio);
    const format = this.#format ?? { rate: 16000, width: 2, channels: 1 };
    if (format.width !== 2) return new Int16Array(0);
    const frames = Math.floor(bytes.byteLength / (2 * format.channels));
    const samples = new Int16Array(frames);
    for (let i = 0; i < frames; i++) samples[i] = bytes.readInt16LE(i * 2 * format.channels);
    return samples;
  }

  #scripted: string | null = null;

  #text(): string {
    this.#scripted ??= this.#options.asr!.transcript({
      transcribe: this.#transcribe,
      format: this.#format ?? { rate: 16000, width: 2, channels: 1 },
      samples: this.#received(),
      chunks: this.#chunks,
    });
    return this.#scripted;
  }

  #words(): string[] {
    return this.#text().split(/\s+/).filter(Boolean);
  }

  async #sendWord(words: string[]): Promise<void> {
    const word = words[this.#wordsSent];
    await this.#write('transcript-chunk', { text: this.#wordsSent === 0 ? word : ` ${word}` });
    this.#wordsSent += 1;
  }

  async #synthesizeChunk(text: string): Promise<boolean> {
    const stream = this.#ttsStream;
    if (!stream) return true;
    stream.pending += text;
    for (;;) {
      const end = /[.!?]\s/.exec(stream.pending);
      if (!end) return true;
      const sentence = stream.pending.slice(0, end.index + 1);
      stream.pending = stream.pending.slice(end.index + 2);
      if (await this.#faultOnAnswer()) return true;
      if (this.#faulted) return true;
      if (!(await this.#speakSegment(sentence, stream.voice))) return false;
    }
  }

  async #synthesize(text: string, voice: string | undefined): Promise<boolean> {
    return this.#speakSegment(text, voice);
  }

  /** audio-start, chunks of 1024 samples, audio-stop; false when a fault ended the connection. */
  async #speakSegment(text: string, voice: string | undefined): Promise<boolean> {
    const tts = this.#options.tts;
    if (!tts) return true;
    const known = tts.voices ?? [{ name: 'en_US-lessac-medium', languages: ['en_US'] }];
    if (voice !== undefined && !known.some((candidate) => candidate.name === voice)) {
      await this.#write('error', { text: `Unable to find voice: ${voice}`, code: 'VoiceNotFoundError' });
      return false;
    }
    const mono = await tts.speak(text, voice);
    this.#record.spoken.push(mono);
    const format: AudioFormat = { rate: tts.output?.rate ?? tts.speakRate, width: tts.output?.width ?? 2, channels: tts.output?.channels ?? 1 };
    const samples = format.rate === tts.speakRate ? mono : naiveResample(mono, tts.speakRate, format.rate);
    const bytes = encode(samples, format);
    const frameBytes = format.width * format.channels;
    await this.#write('audio-start', { ...format });
    let sent = 0;
    for (let offset = 0; offset < bytes.byteLength; offset += SAMPLES_PER_CHUNK * frameBytes) {
      await this.#write('audio-chunk', { ...format }, bytes.subarray(offset, offset + SAMPLES_PER_CHUNK * frameBytes));
      sent += 1;
      if (this.#record.fault === 'close-mid-stream' && sent === 3) {
        this.#markServerClosing();
        this.#socket.destroy();
        return false;
      }
      if (this.#record.fault === 'stall' && sent === 2) {
        await new Promise(() => {}); // Silent from here on; the client's deadline or close ends it.
      }
    }
    await this.#write('audio-stop');
    return true;
  }
}

function formatOf(data: Record<string, unknown>): AudioFormat {
  return { rate: Number(data.rate), width: Number(data.width), channels: Number(data.channels) };
}

function voiceName(voice: unknown): string | undefined {
  if (voice && typeof voice === 'object' && typeof (voice as { name?: unknown }).name === 'string') return (voice as { name: string }).name;
  return undefined;
}

/** Linear interpolation: enough for a test server that must send audio at another rate. */
function naiveResample(samples: Int16Array, from: number, to: number): Int16Array {
  const out = new Int16Array(Math.floor((samples.length * to) / from));
  for (let i = 0; i < out.length; i++) {
    const position = (i * from) / to;
    const left = Math.floor(position);
    const right = Math.min(samples.length - 1, left + 1);
    const fraction = position - left;
    out[i] = Math.round(samples[left] * (1 - fraction) + samples[right] * fraction);
  }
  return out;
}

/** Mono samples in `format`: widths 2 (signed) and 4 (signed, value in the top 16 bits), the same sample on every channel. */
function encode(samples: Int16Array, format: AudioFormat): Buffer {
  const bytes = Buffer.alloc(samples.length * format.width * format.channels);
  let offset = 0;
  for (const sample of samples) {
    for (let channel = 0; channel < format.channels; channel++) {
      if (format.width === 2) bytes.writeInt16LE(sample, offset);
      else if (format.width === 4) bytes.writeInt32LE(sample * 65536, offset);
      else throw new Error(`test server: width ${format.width} not supported`);
      offset += format.width;
    }
  }
  return bytes;
}
