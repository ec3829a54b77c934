/**
 * Client of the live transcription WebSocket `/v1/transcriptions`. `{"action":"start"}` opens
 * the session (answered by `{"session_id"}`), binary frames carry PCM16 at 16 kHz (named in
 * `sample_rate`), and the server sends `{"partial"}`, `{"final"}` and `{"error"}`.
 * finish() sends `{"action":"stop"}`: the server commits the speech in progress, sends its
 * last final and then closes the socket.
 */
import { z } from 'zod';
import { SpeechbridgeError } from '../../errors/registry.ts';
import { ClientSocket, parseServerJson } from './client-socket.ts';
import { defer, raceAbort, type Deferred } from './client-timing.ts';
import type { ClientEvent, ClientOptions, SpeechClient } from './speech-client.ts';

/**
 * The rate the server's VAD and recognizer run at, so it resamples nothing; named in `start`,
 * since raw PCM is read at 24 kHz otherwise.
 */
const SAMPLE_RATE = 16_000;

/** The server's messages are told apart by their one required key. */
const sessionMessage = z.looseObject({ session_id: z.string() });
const partialMessage = z.looseObject({ partial: z.string() });
const finalMessage = z.looseObject({ final: z.string() });
const errorMessage = z.looseObject({ error: z.string(), code: z.string().nullish() });

type Phase = { phase: 'idle' } | { phase: 'starting'; started: Deferred<string> } | { phase: 'open' } | { phase: 'closed' };

export class TranscriptionsClient implements SpeechClient {
  readonly protocol = 'transcriptions';
  readonly inputSampleRate = SAMPLE_RATE;
  private socket: ClientSocket | undefined;
  private state: Phase = { phase: 'idle' };
  private readonly closed = defer<void>();
  private turn = 1;

  constructor(private readonly options: ClientOptions) {}

  async connect(signal: AbortSignal): Promise<void> {
    const started = defer<string>();
    this.state = { phase: 'starting', started };
    this.socket = await ClientSocket.open(
      this.options.url,
      this.options.token,
      {
        onText: (text) => this.onText(text),
        onBinary: () => this.emit({ type: 'error', message: 'the server sent a binary message, which /v1/transcriptions does not use' }),
        onClose: (code, reason) => this.onClose(code, reason),
      },
      signal,
    );
    this.socket.sendJson({ action: 'start', language: this.options.language ?? 'en', sample_rate: SAMPLE_RATE, format: 'pcm16' });
    const session = await raceAbort(started.promise, signal);
    this.state = { phase: 'open' };
    this.emit({ type: 'ready', session });
  }

  sendAudio(samples: Int16Array): void {
    this.socket?.sendBinary(new Uint8Array(samples.buffer, samples.byteOffset, samples.byteLength));
  }

  async drain(signal: AbortSignal): Promise<void> {
    await this.socket?.drain(signal);
  }

  async finish(signal: AbortSignal): Promise<void> {
    this.socket?.sendJson({ action: 'stop' });
    await raceAbort(this.closed.promise, signal);
  }

  async close(): Promise<void> {
    await this.socket?.close();
  }

  private onText(text: string): void {
    const json = parseServerJson(text);
    if (json === undefined) {
      this.emit({ type: 'error', message: 'the server sent a message that is not JSON' });
      return;
    }
    const session = sessionMessage.safeParse(json);
    const partial = partialMessage.safeParse(json);
    const final = finalMessage.safeParse(json);
    const error = errorMessage.safeParse(json);
    if (session.success) {
      if (this.state.phase === 'starting') this.state.started.resolve(session.data.session_id);
    } else if (partial.success) {
      this.emit({ type: 'transcript.partial', turn: `turn_${this.turn}`, text: partial.data.partial });
    } else if (final.success) {
      this.emit({ type: 'transcript.final', turn: `turn_${this.turn}`, text: final.data.final.trim() });
      this.turn++;
    } else if (error.success) {
      if (this.state.phase === 'starting')
        this.state.started.reject(new SpeechbridgeError('invalid_value', `the server refused the session: ${error.data.error}`));
      else this.emit({ type: 'error', message: error.data.error, ...(error.data.code && { code: error.data.code }) });
    }
  }

  private onClose(code: number, reason: string): void {
    const previous = this.state;
    this.state = { phase: 'closed' };
    if (previous.phase === 'starting')
      previous.started.reject(
        new SpeechbridgeError('upstream_error', `the server closed the session before it started (${code}${reason ? ` ${reason}` : ''})`),
      );
    this.closed.resolve();
    this.emit({ type: 'closed', code, reason });
  }

  private emit(event: ClientEvent): void {
    this.options.onEvent(event);
  }
}
