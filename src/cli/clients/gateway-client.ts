/**
 * Client of the gateway WebSocket on `/` (`start` / audio / `end`). Audio goes up as binary
 * PCM16 frames at 24 kHz (`input_format: "pcm"`); the server answers each turn with
 * `stt_partial`*, `stt_final`, then `tts_start`, binary audio, `text_final`, `tts_end`. The
 * session's behaviour is set by `prompt` (the server runs every turn through its responder
 * with it), so the modes are prompts here. After `end` the server ends the turn being spoken,
 * finishes every turn and closes the socket, which is what finish() waits for.
 */
import { z } from 'zod';
import { SpeechbridgeError } from '../../errors/registry.ts';
import { DEFAULT_SYSTEM_PROMPT, translatePrompt } from '../../providers/prompts.ts';
import { ClientSocket, parseServerJson } from './client-socket.ts';
import { defer, raceAbort, type Deferred } from './client-timing.ts';
import { ECHO_INSTRUCTIONS } from './echo-instructions.ts';
import type { ClientEvent, ClientOptions, SpeechClient } from './speech-client.ts';

const SAMPLE_RATE = 24_000;

const serverMessage = z.discriminatedUnion('type', [
  z.looseObject({ type: z.literal('ready'), output_sample_rate: z.number().int().positive().optional() }),
  z.looseObject({ type: z.literal('stt_partial'), turn_id: z.string().nullish(), text: z.string() }),
  z.looseObject({ type: z.literal('stt_final'), turn_id: z.string().nullish(), text: z.string() }),
  z.looseObject({ type: z.literal('text_final'), text: z.string() }),
  z.looseObject({ type: z.literal('tts_start'), format: z.string().optional(), sample_rate: z.number().int().positive() }),
  z.looseObject({ type: z.literal('tts_end') }),
  z.looseObject({ type: z.literal('error'), message: z.string(), code: z.string().nullish() }),
]);

type Phase = { phase: 'idle' } | { phase: 'starting'; ready: Deferred<void> } | { phase: 'open' } | { phase: 'closed' };

export class GatewayClient implements SpeechClient {
  readonly protocol = 'gateway';
  readonly inputSampleRate = SAMPLE_RATE;
  private socket: ClientSocket | undefined;
  private state: Phase = { phase: 'idle' };
  private readonly closed = defer<void>();
  private outputSampleRate = SAMPLE_RATE;
  private turnCounter = 0;

  constructor(private readonly options: ClientOptions) {}

  async connect(signal: AbortSignal): Promise<void> {
    const ready = defer<void>();
    this.state = { phase: 'starting', ready };
    this.socket = await ClientSocket.open(
      this.options.url,
      this.options.token,
      { onText: (text) => this.onText(text), onBinary: (bytes) => this.onAudio(bytes), onClose: (code, reason) => this.onClose(code, reason) },
      signal,
    );
    this.socket.sendJson({
      type: 'start',
      input_format: 'pcm',
      output_format: 'pcm',
      prompt: this.prompt(),
      ...(this.options.voice && { voice_id: this.options.voice }),
    });
    await raceAbort(ready.promise, signal);
    this.state = { phase: 'open' };
  }

  sendAudio(samples: Int16Array): void {
    this.socket?.sendBinary(new Uint8Array(samples.buffer, samples.byteOffset, samples.byteLength));
  }

  async drain(signal: AbortSignal): Promise<void> {
    await this.socket?.drain(signal);
  }

  async finish(signal: AbortSignal): Promise<void> {
    // `end` makes the server end the turn being spoken, answer every turn, then close.
    this.socket?.sendJson({ type: 'end' });
    await raceAbort(this.closed.promise, signal);
  }

  async close(): Promise<void> {
    await this.socket?.close();
  }

  private prompt(): string {
    switch (this.options.mode) {
      case 'translate':
        return translatePrompt(this.options.targetLanguage ?? 'English');
      case 'echo':
        return ECHO_INSTRUCTIONS;
      default:
        return DEFAULT_SYSTEM_PROMPT;
    }
  }

  private onText(text: string): void {
    const json = parseServerJson(text);
    if (json === undefined) {
      this.emit({ type: 'error', message: 'the server sent a message that is not JSON' });
      return;
    }
    const parsed = serverMessage.safeParse(json);
    if (!parsed.success) return;
    const message = parsed.data;
    switch (message.type) {
      case 'ready':
        if (message.output_sample_rate) this.outputSampleRate = message.output_sample_rate;
        if (this.state.phase === 'starting') this.state.ready.resolve();
        this.emit({ type: 'ready', session: 'gateway' });
        return;
      case 'stt_partial':
        this.emit({ type: 'transcript.partial', turn: message.turn_id ?? this.currentTurn(), text: message.text });
        return;
      case 'stt_final':
        this.emit({ type: 'transcript.final', turn: message.turn_id ?? this.currentTurn(), text: message.text.trim() });
        this.turnCounter++;
        return;
      case 'text_final':
        if (message.text) this.emit({ type: 'reply.text', text: message.text });
        return;
      case 'tts_start':
        this.outputSampleRate = message.sample_rate;
        return;
      case 'tts_end':
        this.emit({ type: 'reply.done' });
        return;
      case 'error':
        if (this.state.phase === 'starting') {
          this.state.ready.reject(new SpeechbridgeError('invalid_value', `the server refused the session: ${message.message}`));
          return;
        }
        this.emit({ type: 'error', message: message.message, ...(message.code && { code: message.code }) });
        return;
    }
  }

  private onAudio(bytes: Buffer): void {
    const samples = new Int16Array(bytes.byteLength >> 1);
    new Uint8Array(samples.buffer).set(bytes.subarray(0, samples.byteLength));
    this.emit({ type: 'reply.audio', samples, sampleRate: this.outputSampleRate });
  }

  private currentTurn(): string {
    return `turn_${this.turnCounter + 1}`;
  }

  private onClose(code: number, reason: string): void {
    const previous = this.state;
    this.state = { phase: 'closed' };
    if (previous.phase === 'starting')
      previous.ready.reject(
        new SpeechbridgeError('upstream_error', `the server closed the session before it was ready (${code}${reason ? ` ${reason}` : ''})`),
      );
    this.closed.resolve();
    this.emit({ type: 'closed', code, reason });
  }

  private emit(event: ClientEvent): void {
    this.options.onEvent(event);
  }
}
