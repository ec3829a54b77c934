/**
 * Text-to-speech requests multiplexed over reusable Gradium sockets ({base}/speech/tts). Each
 * request has its own `client_req_id` on every message both ways (setup with
 * `close_ws_on_eos: false`, its `text`s, its `end_of_stream`), so a response's sentences, and
 * the requests of other sessions, share a socket instead of paying an upgrade and a setup each.
 *
 * Sockets and their limits:
 * - A socket takes at most `maxRequestsPerSocket` (16) requests at once; past that, or when
 *   none is open, another is opened.
 * - Gradium ends a session at 300 s, so a socket takes new requests only until
 *   `retireAfterMs` (300 s − RESPONSE_TIMEOUT: a request started then has all its time before
 *   the limit); once retired and without requests it is ended with an unscoped end_of_stream.
 * - A socket without requests for `idleCloseMs` (30 s) is closed.
 * - An `error` naming a request ends that request; an `error` without one, a broken frame or a
 *   close (1011 and the like) ends every request on that socket with the socket's failure, and
 *   the next request opens a fresh socket.
 *
 * Each request's audio waits for its reader in a queue of at most `maxQueuedAudioMs` (60 s,
 * MAX_SENTENCE_AUDIO_SECONDS' default); past it the request fails rather than grow. Waits are
 * bounded: `ready` within REQUEST_TIMEOUT of the socket opening, and after end_of_stream each
 * message within REQUEST_TIMEOUT of the last; the whole request within RESPONSE_TIMEOUT.
 */
import { decodeBase64Audio } from '../../audio/base64.ts';
import { SpeechbridgeError } from '../../errors/registry.ts';
import { formatMs } from '../upstream-limits.ts';
import { EventChannel } from './event-channel.ts';
import type { GradiumAudioFormat } from './formats.ts';
import { abortError, GradiumSocket, type SocketEnd } from './gradium-socket.ts';
import type { ServerMessage } from './messages.ts';
import { brokenFrameError, closedError, errorMessageError, timeoutError, type GradiumContext } from './upstream-errors.ts';

export interface TtsMultiplexerOptions {
  /** The endpoint and settings named in messages (model and voice are per request). */
  context: GradiumContext;
  format: GradiumAudioFormat;
  /** REQUEST_TIMEOUT in ms. */
  timeoutMs: number;
  /** RESPONSE_TIMEOUT in ms. */
  responseTimeoutMs: number;
  retireAfterMs?: number;
  idleCloseMs?: number;
  maxRequestsPerSocket?: number;
  maxQueuedAudioMs?: number;
}

export interface TtsRequestSpec {
  voiceId: string;
  model: string;
  signal?: AbortSignal;
}

/** Gradium's session limit. */
export const GRADIUM_SESSION_LIMIT_MS = 300_000;
const DEFAULT_IDLE_CLOSE_MS = 30_000;
const DEFAULT_MAX_REQUESTS_PER_SOCKET = 16;
const DEFAULT_MAX_QUEUED_AUDIO_MS = 60_000;
/** However long RESPONSE_TIMEOUT is, a socket takes new requests for at least 10 s. */
const MIN_RETIRE_AFTER_MS = 10_000;

interface PooledSocket {
  socket: GradiumSocket;
  requests: Map<string, TtsRequest>;
  retired: boolean;
  idleTimer: NodeJS.Timeout | undefined;
}

export class TtsMultiplexer {
  readonly #options: TtsMultiplexerOptions;
  readonly #sockets = new Set<PooledSocket>();
  #nextId = 1;
  #closed = false;

  constructor(options: TtsMultiplexerOptions) {
    this.#options = options;
  }

  get retireAfterMs(): number {
    return this.#options.retireAfterMs ?? Math.max(MIN_RETIRE_AFTER_MS, GRADIUM_SESSION_LIMIT_MS - this.#options.responseTimeoutMs);
  }

  /** Sockets open or opening now (for tests and metrics). */
  get socketCount(): number {
    return this.#sockets.size;
  }

  /** Starts a request: its setup is sent (or queued for the socket's open) at once. */
  start(spec: TtsRequestSpec): TtsRequest {
    if (this.#closed) throw new SpeechbridgeError('engine_unavailable', 'the Gradium synthesizer is closed');
    const pooled = this.#socketWithRoom();
    const id = `sb-${this.#nextId++}`;
    const context: GradiumContext = { ...this.#options.context, model: spec.model, voice: spec.voiceId };
    const request = new TtsRequest({
      id,
      context,
      format: this.#options.format,
      timeoutMs: this.#options.timeoutMs,
      responseTimeoutMs: this.#options.responseTimeoutMs,
      maxQueuedAudioMs: this.#options.maxQueuedAudioMs ?? DEFAULT_MAX_QUEUED_AUDIO_MS,
      socket: pooled.socket,
      signal: spec.signal,
      onDone: () => this.#release(pooled, id),
    });
    clearTimeout(pooled.idleTimer);
    pooled.requests.set(id, request);
    try {
      pooled.socket.send({
        type: 'setup',
        model_name: spec.model,
        voice_id: spec.voiceId,
        output_format: this.#options.format.name,
        client_req_id: id,
        close_ws_on_eos: false,
      });
    } catch (error) {
      request.fail(error as Error);
      throw error;
    }
    request.armReadyDeadline();
    return request;
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const pooled of [...this.#sockets]) this.#endSocket(pooled);
  }

  #socketWithRoom(): PooledSocket {
    const maxRequests = this.#options.maxRequestsPerSocket ?? DEFAULT_MAX_REQUESTS_PER_SOCKET;
    for (const pooled of this.#sockets) {
      if (Date.now() - pooled.socket.openedAtMs >= this.retireAfterMs) this.#retire(pooled);
      if (!pooled.retired && !pooled.socket.ended && pooled.requests.size < maxRequests) return pooled;
    }
    const pooled: PooledSocket = { socket: undefined as unknown as GradiumSocket, requests: new Map(), retired: false, idleTimer: undefined };
    pooled.socket = new GradiumSocket({
      context: this.#options.context,
      connectTimeoutMs: this.#options.timeoutMs,
      onMessage: (message) => this.#route(pooled, message),
      onEnd: (end) => this.#socketEnded(pooled, end),
    });
    this.#sockets.add(pooled);
    return pooled;
  }

  #route(pooled: PooledSocket, message: ServerMessage): void {
    const id = message.client_req_id;
    if (id === undefined) {
      // An error for the whole socket ends every request on it (the server closes it too).
      const error =
        message.type === 'error'
          ? errorMessageError(this.#options.context, message)
          : brokenFrameError(this.#options.context, `a "${message.type}" message without client_req_id on a multiplexed socket`);
      this.#failSocket(pooled, error);
      return;
    }
    // Messages for a request already over (cancelled, failed) are dropped.
    pooled.requests.get(id)?.receive(message);
  }

  #release(pooled: PooledSocket, id: string): void {
    pooled.requests.delete(id);
    if (pooled.requests.size > 0 || pooled.socket.ended) return;
    if (pooled.retired || this.#closed) {
      this.#endSocket(pooled);
      return;
    }
    clearTimeout(pooled.idleTimer);
    pooled.idleTimer = setTimeout(() => this.#endSocket(pooled), this.#options.idleCloseMs ?? DEFAULT_IDLE_CLOSE_MS);
    pooled.idleTimer.unref?.();
  }

  #retire(pooled: PooledSocket): void {
    if (pooled.retired) return;
    pooled.retired = true;
    if (pooled.requests.size === 0) this.#endSocket(pooled);
  }

  /** Ends a socket without requests: an unscoped end_of_stream, then the close. */
  #endSocket(pooled: PooledSocket): void {
    clearTimeout(pooled.idleTimer);
    this.#sockets.delete(pooled);
    if (pooled.socket.isOpen) pooled.socket.send({ type: 'end_of_stream' });
    pooled.socket.close(1000);
    for (const request of [...pooled.requests.values()]) request.fail(abortError());
  }

  #failSocket(pooled: PooledSocket, error: Error): void {
    this.#sockets.delete(pooled);
    clearTimeout(pooled.idleTimer);
    for (const request of [...pooled.requests.values()]) request.fail(error);
    pooled.socket.close(1000);
  }

  #socketEnded(pooled: PooledSocket, end: SocketEnd): void {
    this.#sockets.delete(pooled);
    clearTimeout(pooled.idleTimer);
    if (pooled.requests.size === 0) return;
    const error = end.error ?? closedError(this.#options.context, end.code, end.reason, 'before the speech was complete');
    for (const request of [...pooled.requests.values()]) request.fail(error);
  }
}

interface TtsRequestOptions {
  id: string;
  context: GradiumContext;
  format: GradiumAudioFormat;
  timeoutMs: number;
  responseTimeoutMs: number;
  maxQueuedAudioMs: number;
  socket: GradiumSocket;
  signal?: AbortSignal;
  onDone: () => void;
}

type RequestState = { kind: 'open' } | { kind: 'ending' } | { kind: 'done' };

/** One request on a multiplexed socket: text in, audio out as an async iterable. */
export class TtsRequest {
  readonly id: string;
  readonly audio: EventChannel<Int16Array>;
  #state: RequestState = { kind: 'open' };
  readonly #options: TtsRequestOptions;
  #ready = false;
  #sentText = false;
  #audioSamples = 0;
  #queuedSamples = 0;
  #deadline: NodeJS.Timeout | undefined;
  readonly #total: NodeJS.Timeout;
  readonly #onAbort = () => this.cancel();

  constructor(options: TtsRequestOptions) {
    this.id = options.id;
    this.#options = options;
    // The samples are bounded in receive(); this bounds the count of chunks (one per ms at most).
    this.audio = new EventChannel(Math.ceil(options.maxQueuedAudioMs) + 1, () => this.#overflow());
    this.#total = setTimeout(
      () =>
        this.fail(timeoutError(options.context, 'end_of_stream for the speech', options.responseTimeoutMs, 'RESPONSE_TIMEOUT, the limit for a whole answer')),
      options.responseTimeoutMs,
    );
    this.#total.unref?.();
    if (options.signal?.aborted) queueMicrotask(this.#onAbort);
    else options.signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** Still taking text (not ended, cancelled or failed). */
  get isOpen(): boolean {
    return this.#state.kind === 'open';
  }

  /** Samples received so far. */
  get audioSamples(): number {
    return this.#audioSamples;
  }

  /** Whole words to speak (Gradium joins the texts of a request with spaces). */
  sendText(text: string): void {
    if (this.#state.kind !== 'open') return;
    this.#sentText = true;
    this.#options.socket.send({ type: 'text', text, client_req_id: this.id });
  }

  /** No more text: the rest of the audio follows, then end_of_stream. */
  end(): void {
    if (this.#state.kind !== 'open') return;
    this.#state = { kind: 'ending' };
    this.#options.socket.send({ type: 'end_of_stream', client_req_id: this.id });
    this.#arm('audio after end_of_stream');
  }

  /** The reader takes `samples` samples off the queue. */
  taken(samples: number): void {
    this.#queuedSamples -= samples;
  }

  /** The caller stopped (barge-in, an early return): end it upstream too and drop what comes. */
  cancel(): void {
    if (this.#state.kind === 'done') return;
    if (this.#state.kind === 'open' && !this.#options.socket.ended) {
      try {
        this.#options.socket.send({ type: 'end_of_stream', client_req_id: this.id });
      } catch {
        // The socket is gone; nothing to tell it.
      }
    }
    this.#finish();
    this.audio.fail(abortError());
  }

  fail(error: Error): void {
    if (this.#state.kind === 'done') return;
    this.#finish();
    this.audio.fail(error);
  }

  armReadyDeadline(): void {
    const arm = () => {
      if (!this.#ready) this.#arm('ready after setup');
    };
    if (this.#options.socket.isOpen) arm();
    else this.#options.socket.opened.then(arm, () => {});
  }

  receive(message: ServerMessage): void {
    if (this.#state.kind === 'done') return;
    if (this.#state.kind === 'ending') this.#arm('audio after end_of_stream');
    switch (message.type) {
      case 'ready':
        this.#ready = true;
        if (message.sample_rate !== undefined && message.sample_rate !== this.#options.format.sampleRate) {
          this.fail(
            brokenFrameError(
              this.#options.context,
              `audio at ${message.sample_rate} Hz for output_format ${this.#options.format.name}, where its documentation says ${this.#options.format.sampleRate} Hz`,
            ),
          );
          return;
        }
        if (this.#state.kind === 'open') clearTimeout(this.#deadline);
        return;
      case 'audio': {
        let samples: Int16Array;
        try {
          samples = decodeBase64Audio(message.audio, this.#options.format.encoding);
        } catch (error) {
          this.fail(brokenFrameError(this.#options.context, `an audio message that does not decode: ${(error as Error).message}`));
          return;
        }
        if (samples.length === 0) return;
        this.#audioSamples += samples.length;
        this.#queuedSamples += samples.length;
        if ((this.#queuedSamples * 1000) / this.#options.format.sampleRate > this.#options.maxQueuedAudioMs) {
          this.fail(this.#overflow());
          return;
        }
        this.audio.push(samples);
        return;
      }
      case 'end_of_stream':
        if (this.#sentText && this.#audioSamples === 0) {
          this.fail(brokenFrameError(this.#options.context, 'end_of_stream without any audio for the text'));
          return;
        }
        this.#finish();
        this.audio.end();
        return;
      case 'error':
        this.fail(errorMessageError(this.#options.context, message));
        return;
      default:
        // text (what was spoken when), step: nothing to do.
        return;
    }
  }

  #arm(what: string): void {
    clearTimeout(this.#deadline);
    this.#deadline = setTimeout(() => this.fail(timeoutError(this.#options.context, what, this.#options.timeoutMs)), this.#options.timeoutMs);
    this.#deadline.unref?.();
  }

  #finish(): void {
    this.#state = { kind: 'done' };
    clearTimeout(this.#deadline);
    clearTimeout(this.#total);
    this.#options.signal?.removeEventListener('abort', this.#onAbort);
    this.#options.onDone();
  }

  #overflow(): SpeechbridgeError {
    return new SpeechbridgeError(
      'upstream_response_too_large',
      `${formatMs(this.#options.maxQueuedAudioMs)} of audio from Gradium text-to-speech (${this.#options.context.url}) waited to be read; the request was stopped`,
    );
  }
}
