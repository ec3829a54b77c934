/**
 * One Gradium speech-to-text socket carrying (a part of) one turn: setup → ready, a little
 * leading silence, the turn's 80 ms frames as base64 `audio`, then `flush` → `flushed` and
 * `end_of_stream`. Gradium never ends a turn by itself: text for the last words comes only
 * after a flush, so finish() is what gets the end of the turn.
 *
 * Frames given before the socket can take them (connecting, waiting for `ready`, or for the
 * previous socket of the turn to finish) wait in `pending`, up to `maxPendingMs` of audio;
 * past it accept() holds the caller back until they are sent. Every wait has a deadline of
 * `timeoutMs` (REQUEST_TIMEOUT): for `ready` from the open, and for `flushed` from the last
 * message the server sent (it sends a `step` per 80 ms it processes, so a long backlog that
 * keeps moving is not cut off).
 */
import { encodeBase64Audio } from '../../audio/base64.ts';
import { abortError, GradiumSocket, type SocketEnd } from './gradium-socket.ts';
import type { GradiumAudioFormat } from './formats.ts';
import type { ServerMessage, SttSetup } from './messages.ts';
import { closedError, errorMessageError, timeoutError, type GradiumContext } from './upstream-errors.ts';

/** Gradium's frame: 80 ms (1920 samples at 24 kHz). */
export const FRAME_MS = 80;

export interface TextFragment {
  text: string;
  /** Turn time (ms from the start of the turn's audio) of the fragment, when Gradium gave it. */
  startMs?: number;
}

export interface SttConnectionOptions {
  context: GradiumContext;
  setup: SttSetup;
  format: GradiumAudioFormat;
  timeoutMs: number;
  /** Silence sent right after `ready`, before the turn's audio. */
  leadingSilenceMs: number;
  /** Audio that may wait for the socket before accept() holds the caller back. */
  maxPendingMs: number;
  /** Turn time at which this socket's audio starts (after the sockets before it in the turn). */
  turnOffsetMs: number;
  /** Audio is sent only once this has resolved (the previous socket of the turn has its text out). */
  startAfter: Promise<void>;
  signal?: AbortSignal;
  onText(fragment: TextFragment): void;
  /** The end of a text segment, in turn time. */
  onTextEnd(stopMs: number): void;
  /** The socket failed (anything but the close finish() or close() asked for). */
  onFailure(error: Error): void;
}

type Phase =
  | { kind: 'starting' }
  | { kind: 'streaming' }
  | { kind: 'flushing'; flushId: number; done: () => void; fail: (error: Error) => void }
  | { kind: 'finished' }
  | { kind: 'failed'; error: Error };

let nextFlushId = 1;

export class SttConnection {
  readonly openedAtMs = Date.now();
  #phase: Phase = { kind: 'starting' };
  readonly #options: SttConnectionOptions;
  readonly #socket: GradiumSocket;
  readonly #frameSamples: number;
  #pending: Int16Array[] = [];
  #pendingSamples = 0;
  #acceptedSamples = 0;
  #ready = false;
  /** Resolves when pending audio is out and frames go straight to the socket. */
  readonly #started: Promise<void>;
  #markStarted!: () => void;
  #failStarted!: (error: Error) => void;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: SttConnectionOptions) {
    this.#options = options;
    this.#frameSamples = Math.round((options.format.sampleRate * FRAME_MS) / 1000);
    this.#started = new Promise<void>((resolve, reject) => {
      this.#markStarted = resolve;
      this.#failStarted = reject;
    });
    this.#started.catch(() => {});
    this.#socket = new GradiumSocket({
      context: options.context,
      connectTimeoutMs: options.timeoutMs,
      signal: options.signal,
      onMessage: (message) => this.#receive(message),
      onEnd: (end) => this.#socketEnded(end),
    });
    this.#socket.send(options.setup);
    this.#socket.opened.then(
      () => this.#arm('ready after setup'),
      () => {},
    );
    // The previous socket of the turn failing fails the turn, which closes this one too.
    options.startAfter.then(
      () => this.#maybeStart(),
      (error: unknown) => this.#fail(error instanceof Error ? error : new Error(String(error))),
    );
  }

  /** Turn audio this socket has taken, in ms (its leading silence not counted). */
  get acceptedMs(): number {
    return (this.#acceptedSamples * 1000) / this.#options.format.sampleRate;
  }

  /** One frame of the turn (any length; the caller cuts 80 ms frames). */
  async accept(frame: Int16Array): Promise<void> {
    this.#throwIfOver();
    this.#acceptedSamples += frame.length;
    if (this.#phase.kind === 'streaming') {
      this.#sendAudio(frame);
      await this.#socket.waitForDrain();
      return;
    }
    this.#pending.push(frame);
    this.#pendingSamples += frame.length;
    if ((this.#pendingSamples * 1000) / this.#options.format.sampleRate >= this.#options.maxPendingMs) await this.#started;
  }

  /**
   * The end of this socket's audio: flush, wait for `flushed` (all text is out by then), send
   * end_of_stream and close. Rejects with the socket's failure or the deadline.
   */
  async finish(): Promise<void> {
    await this.#started;
    this.#throwIfOver();
    const flushId = nextFlushId++;
    await new Promise<void>((resolve, reject) => {
      this.#phase = { kind: 'flushing', flushId, done: resolve, fail: reject };
      this.#socket.send({ type: 'flush', flush_id: flushId });
      this.#arm(`flushed for flush_id ${flushId} (the end of the turn)`);
    });
    clearTimeout(this.#timer);
    this.#phase = { kind: 'finished' };
    if (this.#socket.isOpen) this.#socket.send({ type: 'end_of_stream' });
    this.#socket.close(1000);
  }

  /** Stops at once (abort, or the turn failed elsewhere). */
  close(): void {
    clearTimeout(this.#timer);
    if (this.#phase.kind === 'finished' || this.#phase.kind === 'failed') return;
    const stopped = abortError();
    if (this.#phase.kind === 'flushing') this.#phase.fail(stopped);
    this.#phase = { kind: 'finished' };
    this.#failStarted(stopped);
    this.#socket.close(1000);
  }

  #receive(message: ServerMessage): void {
    if (this.#phase.kind === 'finished' || this.#phase.kind === 'failed') return;
    if (this.#phase.kind === 'flushing') this.#arm(`flushed for flush_id ${this.#phase.flushId} (the end of the turn)`);
    switch (message.type) {
      case 'ready':
        if (this.#ready) return;
        this.#ready = true;
        clearTimeout(this.#timer);
        this.#maybeStart();
        return;
      case 'text': {
        const startMs = message.start_s === undefined ? undefined : this.#turnMs(message.start_s);
        this.#options.onText({ text: message.text, ...(startMs !== undefined && { startMs }) });
        return;
      }
      case 'end_text':
        if (message.stop_s !== undefined) this.#options.onTextEnd(this.#turnMs(message.stop_s));
        return;
      case 'flushed':
        if (this.#phase.kind === 'flushing' && Number(message.flush_id) === this.#phase.flushId) this.#phase.done();
        return;
      case 'end_of_stream':
        // The server ends the stream only after our end_of_stream; earlier, the turn cannot finish.
        this.#fail(closedError(this.#options.context, 1000, '', 'with end_of_stream before the turn was flushed'));
        return;
      case 'error':
        // Terminal: Gradium closes right after; the turn fails now, not at the close.
        this.#fail(errorMessageError(this.#options.context, message));
        return;
      default:
        // step: voice activity every 80 ms.
        return;
    }
  }

  #maybeStart(): void {
    if (!this.#ready || this.#phase.kind !== 'starting') return;
    this.#options.startAfter.then(
      () => {
        if (this.#phase.kind !== 'starting') return;
        const silence = new Int16Array(Math.round((this.#options.format.sampleRate * this.#options.leadingSilenceMs) / 1000));
        for (let offset = 0; offset < silence.length; offset += this.#frameSamples) this.#sendAudio(silence.subarray(offset, offset + this.#frameSamples));
        for (const frame of this.#pending) this.#sendAudio(frame);
        this.#pending = [];
        this.#pendingSamples = 0;
        this.#phase = { kind: 'streaming' };
        this.#markStarted();
      },
      () => {},
    );
  }

  #sendAudio(samples: Int16Array): void {
    this.#socket.send({ type: 'audio', audio: encodeBase64Audio(samples, this.#options.format.encoding) });
  }

  #turnMs(seconds: number): number {
    return Math.max(0, Math.round(seconds * 1000 - this.#options.leadingSilenceMs + this.#options.turnOffsetMs));
  }

  /** (Re)starts the deadline for what the socket waits for now. */
  #arm(what: string): void {
    clearTimeout(this.#timer);
    if (this.#phase.kind === 'finished' || this.#phase.kind === 'failed') return;
    if (this.#phase.kind === 'starting' && this.#ready) return;
    this.#timer = setTimeout(() => this.#fail(timeoutError(this.#options.context, what, this.#options.timeoutMs)), this.#options.timeoutMs);
    this.#timer.unref?.();
  }

  #socketEnded(end: SocketEnd): void {
    if (this.#phase.kind === 'finished' || this.#phase.kind === 'failed') return;
    if (end.byUs && !end.error) return;
    const activity = this.#phase.kind === 'starting' ? (this.#ready ? 'before the turn audio was sent' : 'before ready') : 'in the middle of the turn';
    this.#fail(end.error ?? closedError(this.#options.context, end.code, end.reason, activity));
  }

  #fail(error: Error): void {
    if (this.#phase.kind === 'finished' || this.#phase.kind === 'failed') return;
    clearTimeout(this.#timer);
    if (this.#phase.kind === 'flushing') this.#phase.fail(error);
    this.#phase = { kind: 'failed', error };
    this.#failStarted(error);
    this.#socket.close(1000);
    this.#options.onFailure(error);
  }

  #throwIfOver(): void {
    if (this.#phase.kind === 'failed') throw this.#phase.error;
  }
}
