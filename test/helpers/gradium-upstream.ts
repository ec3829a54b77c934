/**
 * A local Gradium server on 127.0.0.1, port 0, written from Gradium's documented WebSocket
 * protocol: speech-to-text on /api/speech/asr and text-to-speech on /api/speech/tts, with the
 * key in the `x-api-key` header, JSON text frames, base64 audio and the documented order.
 *
 * Speech-to-text: `setup` first (anything else first is refused), `ready` after `readyDelayMs`
 * (~50–100 ms at Gradium), then for every 80 ms of audio received a `step` (voice activity).
 * The text is scripted (the words of a known recording), paced with the audio: the speech
 * starts at the first frame louder than −45 dBFS, word i lasts `msPerWord` from there, and
 * its `text` (then `end_text`) goes out once the audio received reaches the word's end plus
 * `textDelayMs` (0.56 s: seven 80 ms frames, Gradium's model delay). The server never ends a
 * turn by itself: words in the last 0.56 s come only on `flush`, answered `flushDelayMs`
 * (~250 ms) later by the remaining text and `flushed` with the same flush_id. Speech that
 * begins within the first `leadingLossMs` (300 ms) of a stream loses its first word, as
 * Gradium's does. `end_of_stream` releases the rest, is echoed, and the socket closes.
 *
 * Text-to-speech: `setup` (voice_id, output_format, optionally client_req_id and
 * close_ws_on_eos) → `ready` with the output rate (`pcm` is 48 kHz); each `text` is spoken by
 * espeak-ng (the project's EspeakSynthesizer) resampled to the output rate, in 80 ms base64
 * `audio` chunks, the first `ttsFirstAudioDelayMs` (~100–400 ms) after the text; after
 * `end_of_stream` and the last audio, `end_of_stream`, and the socket closes unless the setup
 * said close_ws_on_eos: false. Several requests share a socket by client_req_id; reusing an
 * active one is a protocol error. An unscoped end_of_stream closes a reusable socket.
 *
 * Failures as Gradium reports them, after the upgrade: an `error` message ({message, code})
 * then a close with that code — 1008 for a key that is not in `apiKeys`, an unknown model or
 * voice, a bad first message, the session passing `sessionLimitMs` (300 s); 1011 for the
 * injected internal error. Injected faults: close 1011 mid-stream, never answering `flush`,
 * a slow `ready`, a garbage frame. An unknown path is refused at the upgrade with HTTP 404.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { decodeBase64Audio, encodeBase64Audio, type AudioWireFormat } from '../../src/audio/base64.ts';
import { rmsDbfs } from '../../src/audio/pcm.ts';
import { resample } from '../../src/audio/resample.ts';
import type { Synthesizer } from '../../src/providers/contracts.ts';

export const GRADIUM_TEST_KEY = 'gd-test-key-0123456789';
export const GRADIUM_DEFAULT_VOICE = 'YTpq7expH9539ERJ';

const FRAME_MS = 80;
/** The loudness that counts as speech for the scripted word timing. */
const SPEECH_DBFS = -45;

const FORMATS: Record<string, { sampleRate: number; encoding: AudioWireFormat }> = {
  pcm_8000: { sampleRate: 8000, encoding: 'pcm16' },
  pcm_16000: { sampleRate: 16000, encoding: 'pcm16' },
  pcm_24000: { sampleRate: 24000, encoding: 'pcm16' },
  ulaw_8000: { sampleRate: 8000, encoding: 'g711_ulaw' },
  alaw_8000: { sampleRate: 8000, encoding: 'g711_alaw' },
};
const STT_FORMATS = { pcm: { sampleRate: 24000, encoding: 'pcm16' as AudioWireFormat }, ...FORMATS };
const TTS_FORMATS = { pcm: { sampleRate: 48000, encoding: 'pcm16' as AudioWireFormat }, ...FORMATS };

export interface GradiumFaults {
  /** Speech-to-text: after this many audio messages, an error 1011 and close 1011. */
  closeAfterAudioMessages?: number;
  /** Text-to-speech: after this many audio chunks sent on a socket, an error 1011 and close 1011. */
  closeAfterAudioChunks?: number;
  /** Speech-to-text: `flush` is never answered. */
  neverFlush?: boolean;
  /** Right after `ready`, one frame that is not protocol JSON. */
  garbageAfterReady?: 'not-json' | 'binary' | 'text-without-text';
}

export interface GradiumUpstreamOptions {
  apiKeys?: string[];
  sttModels?: string[];
  ttsModels?: string[];
  voices?: string[];
  readyDelayMs?: number;
  textDelayMs?: number;
  flushDelayMs?: number;
  ttsFirstAudioDelayMs?: number;
  sessionLimitMs?: number;
  leadingLossMs?: number;
  msPerWord?: number;
  /** The text of speech-to-text session number `index` (0-based); default "hello world". */
  transcript?: string | ((index: number) => string);
  /** Speaks the text-to-speech requests (espeak-ng in the tests). */
  synthesizer?: Synthesizer;
  faults?: GradiumFaults;
}

export interface ConnectionRecord {
  path: string;
  apiKey: string | undefined;
  /** Every JSON message the client sent, in order. */
  received: Array<Record<string, any>>;
  /** Set when the socket closed: who closed it and with which code. */
  closed?: { code: number; by: 'server' | 'client' };
  /** Speech-to-text: decoded audio, in samples at the session's rate, in order. */
  audio: Int16Array[];
}

export interface GradiumUpstream {
  /** For GRADIUM_BASE_URL: ws://127.0.0.1:PORT/api. */
  baseUrl: string;
  port: number;
  connections: ConnectionRecord[];
  /** Changes behaviour for the connections that come next (and faults at once). */
  configure(options: Partial<GradiumUpstreamOptions>): void;
  /** Resolves when every connection so far has closed. */
  settled(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startGradiumUpstream(initial: GradiumUpstreamOptions = {}): Promise<GradiumUpstream> {
  const options: GradiumUpstreamOptions = { ...initial };
  const connections: ConnectionRecord[] = [];
  const sockets = new Set<WebSocket>();
  let sttSessions = 0;
  const wss = new WebSocketServer({ noServer: true, maxPayload: 16 * 1024 * 1024 });
  const server = createServer((_request, response) => {
    response.writeHead(426).end('WebSocket only');
  });
  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = (request.url ?? '').split('?')[0];
    if (path !== '/api/speech/asr' && path !== '/api/speech/tts') {
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws) => {
      const apiKey = request.headers['x-api-key'];
      const record: ConnectionRecord = { path, apiKey: typeof apiKey === 'string' ? apiKey : undefined, received: [], audio: [] };
      connections.push(record);
      sockets.add(ws);
      ws.on('close', (code) => {
        sockets.delete(ws);
        record.closed ??= { code, by: 'client' };
      });
      const session = new Session(ws, record, options, path === '/api/speech/asr' ? sttSessions++ : -1);
      session.begin();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    baseUrl: `ws://127.0.0.1:${port}/api`,
    port,
    connections,
    configure(next) {
      Object.assign(options, next);
    },
    async settled(timeoutMs = 5000) {
      const started = Date.now();
      while (sockets.size > 0) {
        if (Date.now() - started > timeoutMs) throw new Error(`${sockets.size} Gradium test connection(s) still open after ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    async close() {
      for (const ws of sockets) ws.terminate();
      wss.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

interface SttState {
  format: { sampleRate: number; encoding: AudioWireFormat };
  receivedSamples: number;
  processedSteps: number;
  onsetMs: number | null;
  words: string[];
  firstWord: number;
  released: number;
  audioMessages: number;
}

interface TtsRequest {
  id: string | undefined;
  format: { sampleRate: number; encoding: AudioWireFormat };
  closeOnEos: boolean;
  chain: Promise<void>;
  firstTextAt: number | null;
  startS: number;
}

/** One client socket: speech-to-text or text-to-speech, by its path. */
class Session {
  readonly #ws: WebSocket;
  readonly #record: ConnectionRecord;
  readonly #options: GradiumUpstreamOptions;
  readonly #sttIndex: number;
  #setupDone = false;
  #over = false;
  #stt: SttState | null = null;
  readonly #tts = new Map<string, TtsRequest>();
  #ttsReusable = false;
  #ttsClosing = false;
  #audioChunksSent = 0;
  #timers: NodeJS.Timeout[] = [];

  constructor(ws: WebSocket, record: ConnectionRecord, options: GradiumUpstreamOptions, sttIndex: number) {
    this.#ws = ws;
    this.#record = record;
    this.#options = options;
    this.#sttIndex = sttIndex;
  }

  get #isStt(): boolean {
    return this.#record.path === '/api/speech/asr';
  }

  begin(): void {
    const keys = this.#options.apiKeys ?? [GRADIUM_TEST_KEY];
    if (!this.#record.apiKey) return this.#refuse('Missing API key (x-api-key header)', 1008);
    if (!keys.includes(this.#record.apiKey)) return this.#refuse('API key is revoked or expired', 1008);
    this.#later(this.#options.sessionLimitMs ?? 300_000, () => this.#refuse('Session exceeded the maximum duration of 300 seconds', 1008));
    this.#ws.on('message', (data, isBinary) => {
      if (this.#over) return;
      let message: Record<string, any>;
      try {
        if (isBinary) throw new Error('binary');
        message = JSON.parse(data.toString());
      } catch {
        return this.#refuse('Invalid message: expected a JSON text frame', 1008);
      }
      this.#record.received.push(message);
      if (!this.#setupDone && message.type !== 'setup') return this.#refuse('The first message must be a setup message', 1008);
      if (this.#isStt) this.#sttMessage(message);
      else this.#ttsMessage(message);
    });
    this.#ws.on('close', () => this.#stop());
  }

  // ── Speech-to-text ──────────────────────────────────────────────────────────────────────

  #sttMessage(message: Record<string, any>): void {
    switch (message.type) {
      case 'setup': {
        if (this.#setupDone) return this.#refuse('setup was already received', 1008);
        this.#setupDone = true;
        const model = message.model_name ?? 'default';
        if (!(this.#options.sttModels ?? ['default']).includes(model)) return this.#refuse(`Unknown model_name: ${model}`, 1008);
        const format = STT_FORMATS[(message.input_format ?? 'wav') as keyof typeof STT_FORMATS];
        if (!format) return this.#refuse(`Unsupported input_format: ${message.input_format}`, 1008);
        const transcript =
          typeof this.#options.transcript === 'function' ? this.#options.transcript(this.#sttIndex) : (this.#options.transcript ?? 'hello world');
        this.#stt = {
          format,
          receivedSamples: 0,
          processedSteps: 0,
          onsetMs: null,
          words: transcript.split(/\s+/).filter(Boolean),
          firstWord: 0,
          released: 0,
          audioMessages: 0,
        };
        this.#later(this.#options.readyDelayMs ?? 75, () => {
          const frameSize = Math.round((format.sampleRate * FRAME_MS) / 1000);
          this.#send({
            type: 'ready',
            request_id: randomUUID(),
            model_name: model,
            sample_rate: format.sampleRate,
            frame_size: frameSize,
            delay_in_frames: 7,
            text_stream_names: [],
          });
          this.#garbageAfterReady();
        });
        return;
      }
      case 'audio': {
        const stt = this.#stt!;
        let samples: Int16Array;
        try {
          samples = decodeBase64Audio(message.audio, stt.format.encoding);
        } catch {
          return this.#refuse('Invalid audio: not base64 of the input_format', 1008);
        }
        this.#record.audio.push(samples);
        stt.audioMessages++;
        const limit = this.#options.faults?.closeAfterAudioMessages;
        if (limit !== undefined && stt.audioMessages >= limit) return this.#refuse('Internal server error', 1011);
        const before = stt.receivedSamples;
        stt.receivedSamples += samples.length;
        this.#detectOnset(samples, before);
        this.#steps();
        this.#releaseWords(false);
        return;
      }
      case 'flush':
        if (this.#options.faults?.neverFlush) return;
        this.#later(this.#options.flushDelayMs ?? 250, () => {
          this.#releaseWords(true);
          this.#send({ type: 'flushed', flush_id: message.flush_id });
        });
        return;
      case 'end_of_stream':
        this.#later(this.#options.flushDelayMs ?? 250, () => {
          this.#releaseWords(true);
          this.#send({ type: 'end_of_stream' });
          this.#close(1000);
        });
        return;
      default:
        return this.#refuse(`Unknown message type: ${String(message.type)}`, 1008);
    }
  }

  #detectOnset(samples: Int16Array, offset: number): void {
    const stt = this.#stt!;
    if (stt.onsetMs !== null) return;
    const frame = Math.round((stt.format.sampleRate * FRAME_MS) / 1000) / 4;
    for (let start = 0; start < samples.length; start += frame) {
      if (rmsDbfs(samples.subarray(start, start + frame)) > SPEECH_DBFS) {
        stt.onsetMs = ((offset + start) * 1000) / stt.format.sampleRate;
        // Speech from the very start of a stream loses its first word, as Gradium's does.
        if (stt.onsetMs < (this.#options.leadingLossMs ?? 300)) stt.firstWord = 1;
        stt.released = stt.firstWord;
        return;
      }
    }
  }

  #steps(): void {
    const stt = this.#stt!;
    const receivedMs = (stt.receivedSamples * 1000) / stt.format.sampleRate;
    while ((stt.processedSteps + 1) * FRAME_MS <= receivedMs) {
      stt.processedSteps++;
      const silent = stt.onsetMs === null;
      this.#send({
        type: 'step',
        vad: [0.5, 1, 2].map((horizon) => ({ horizon_s: horizon, inactivity_prob: silent ? 0.9 : 0.05 })),
        step_idx: stt.processedSteps,
        step_duration_s: FRAME_MS / 1000,
        total_duration_s: (stt.processedSteps * FRAME_MS) / 1000,
      });
    }
  }

  /** Sends the words the audio so far has passed (by the model delay), or on a flush all spoken ones. */
  #releaseWords(flushing: boolean): void {
    const stt = this.#stt;
    if (!stt || stt.onsetMs === null) return;
    const receivedMs = (stt.receivedSamples * 1000) / stt.format.sampleRate;
    const msPerWord = this.#options.msPerWord ?? 250;
    const delay = this.#options.textDelayMs ?? 560;
    while (stt.released < stt.words.length) {
      const startMs = stt.onsetMs + stt.released * msPerWord;
      const endMs = startMs + msPerWord;
      const due = flushing ? startMs < receivedMs : endMs + delay <= receivedMs;
      if (!due) return;
      this.#send({ type: 'text', text: stt.words[stt.released], start_s: startMs / 1000, stream_id: null });
      this.#send({ type: 'end_text', stop_s: endMs / 1000, stream_id: null });
      stt.released++;
    }
  }

  // ── Text-to-speech ──────────────────────────────────────────────────────────────────────

  #ttsMessage(message: Record<string, any>): void {
    const id: string | undefined = typeof message.client_req_id === 'string' ? message.client_req_id : undefined;
    const key = id ?? '';
    const stamp = id === undefined ? {} : { client_req_id: id };
    switch (message.type) {
      case 'setup': {
        if (this.#tts.has(key)) return this.#requestError(id, `client_req_id ${JSON.stringify(id)} is already in use`);
        if (this.#setupDone && !this.#ttsReusable) return this.#refuse('setup was already received', 1008);
        this.#setupDone = true;
        const closeOnEos = message.close_ws_on_eos !== false;
        this.#ttsReusable ||= !closeOnEos;
        const model = message.model_name ?? 'default';
        if (!(this.#options.ttsModels ?? ['default']).includes(model)) return this.#requestError(id, `Unknown model_name: ${model}`);
        const voice = message.voice_id;
        if (!(this.#options.voices ?? [GRADIUM_DEFAULT_VOICE]).includes(voice)) return this.#requestError(id, `Voice not found: ${voice}`);
        const format = TTS_FORMATS[(message.output_format ?? 'wav') as keyof typeof TTS_FORMATS];
        if (!format) return this.#requestError(id, `Unsupported output_format: ${message.output_format}`);
        const request: TtsRequest = {
          id,
          format,
          closeOnEos,
          chain: new Promise<void>((resolve) => this.#later(this.#options.readyDelayMs ?? 75, () => resolve())),
          firstTextAt: null,
          startS: 0,
        };
        this.#tts.set(key, request);
        request.chain = request.chain.then(() => {
          this.#send({
            type: 'ready',
            request_id: randomUUID(),
            model_name: model,
            sample_rate: format.sampleRate,
            frame_size: (format.sampleRate * FRAME_MS) / 1000,
            ...stamp,
          });
          this.#garbageAfterReady();
        });
        return;
      }
      case 'text': {
        const request = this.#tts.get(key);
        if (!request) return this.#requestError(id, 'text for a request without setup');
        request.firstTextAt ??= Date.now();
        const firstAudioAt = request.firstTextAt + (this.#options.ttsFirstAudioDelayMs ?? 200);
        const text = String(message.text);
        request.chain = request.chain.then(async () => {
          const wait = firstAudioAt - Date.now();
          if (wait > 0) await new Promise((resolve) => this.#later(wait, resolve));
          await this.#speak(request, text);
        });
        return;
      }
      case 'end_of_stream': {
        const request = this.#tts.get(key);
        if (!request && id !== undefined) return this.#requestError(id, `end_of_stream for an unknown client_req_id ${JSON.stringify(id)}`);
        if (!request) {
          // Unscoped: the reusable socket ends once its requests are done.
          this.#ttsClosing = true;
          if (this.#tts.size === 0) this.#close(1000);
          return;
        }
        request.chain = request.chain.then(() => {
          if (this.#over) return;
          this.#send({ type: 'end_of_stream', ...stamp });
          this.#tts.delete(key);
          if (request.closeOnEos || (this.#ttsClosing && this.#tts.size === 0)) this.#close(1000);
        });
        return;
      }
      default:
        return this.#requestError(id, `Unknown message type: ${String(message.type)}`);
    }
  }

  async #speak(request: TtsRequest, text: string): Promise<void> {
    const synthesizer = this.#options.synthesizer;
    if (!synthesizer || this.#over) return;
    const stamp = request.id === undefined ? {} : { client_req_id: request.id };
    const chunkSamples = (request.format.sampleRate * FRAME_MS) / 1000;
    const startS = request.startS;
    for await (const piece of synthesizer.synthesize({ text })) {
      const audio = await resample(piece, request.format.sampleRate);
      for (let offset = 0; offset < audio.samples.length; offset += chunkSamples) {
        if (this.#over) return;
        this.#send({ type: 'audio', audio: encodeBase64Audio(audio.samples.subarray(offset, offset + chunkSamples), request.format.encoding), ...stamp });
        request.startS += Math.min(chunkSamples, audio.samples.length - offset) / request.format.sampleRate;
        this.#audioChunksSent++;
        const limit = this.#options.faults?.closeAfterAudioChunks;
        if (limit !== undefined && this.#audioChunksSent >= limit) {
          this.#refuse('Internal server error', 1011);
          return;
        }
        // Chunks leave one at a time, as a model streams them, not as one burst.
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    this.#send({ type: 'text', text, start_s: startS, stop_s: request.startS, ...stamp });
  }

  /** An error for one request: multiplexed requests end alone, a single-use socket closes. */
  #requestError(id: string | undefined, message: string): void {
    if (id !== undefined && this.#ttsReusable) {
      this.#send({ type: 'error', message, code: 1008, client_req_id: id });
      this.#tts.delete(id);
      return;
    }
    this.#refuse(message, 1008);
  }

  // ── Shared ──────────────────────────────────────────────────────────────────────────────

  #garbageAfterReady(): void {
    switch (this.#options.faults?.garbageAfterReady) {
      case 'not-json':
        this.#ws.send('<html>502 Bad Gateway</html>');
        return;
      case 'binary':
        this.#ws.send(Buffer.from([0, 1, 2, 3]), { binary: true });
        return;
      case 'text-without-text':
        this.#send({ type: 'text', start_s: 0.5 });
        return;
      default:
        return;
    }
  }

  /** Gradium's way to fail: an error message, then a close with the same code. */
  #refuse(message: string, code: number): void {
    if (this.#over) return;
    this.#send({ type: 'error', message, code });
    this.#close(code, message);
  }

  #send(message: Record<string, unknown>): void {
    if (!this.#over && this.#ws.readyState === WebSocket.OPEN) this.#ws.send(JSON.stringify(message));
  }

  #close(code: number, reason = ''): void {
    if (this.#over) return;
    this.#record.closed ??= { code, by: 'server' };
    this.#stop();
    this.#ws.close(code, reason.slice(0, 120));
  }

  #later(ms: number, run: (value?: unknown) => void): void {
    const timer = setTimeout(() => {
      if (!this.#over) run();
    }, ms);
    this.#timers.push(timer);
  }

  #stop(): void {
    this.#over = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers = [];
  }
}
