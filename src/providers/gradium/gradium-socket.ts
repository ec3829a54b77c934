/**
 * One WebSocket to a Gradium endpoint: the `x-api-key` header on the upgrade, JSON messages
 * both ways, and one `ended` report when it is over (closed by us, by the server, or broken).
 *
 * Bounds, each with its policy:
 * - The upgrade takes at most `connectTimeoutMs` (REQUEST_TIMEOUT), else upstream_timeout.
 * - Messages sent before the socket is open wait in an outbox of at most 1 MB (setups and the
 *   text of requests waiting for the connection; one response's text is at most
 *   MAX_RESPONSE_CHARS, 16,000 characters); past it, send() throws.
 * - A server frame larger than 1 MB closes the socket (1009): an 80 ms audio frame of 48 kHz
 *   PCM is 10 KB in base64, so 1 MB is far past anything the protocol sends.
 * - Once open, waitForDrain() holds a sender back while more than 256 KB (about 4 s of 24 kHz
 *   audio in base64) is waiting for the network.
 * A frame that is not protocol JSON ends the socket with upstream_bad_response.
 */
import WebSocket from 'ws';
import { parseServerFrame, type ClientMessage, type ServerMessage } from './messages.ts';
import { brokenFrameError, closedError, connectError, errorMessageError, timeoutError, type GradiumContext } from './upstream-errors.ts';

export const MAX_FRAME_BYTES = 1024 * 1024;
export const MAX_OUTBOX_BYTES = 1024 * 1024;
const DRAIN_HIGH_WATER_BYTES = 256 * 1024;

export interface SocketEnd {
  /** What went wrong (a SpeechbridgeError, or an AbortError); absent for close() or a clean 1000. */
  error?: Error;
  code: number;
  reason: string;
  /** True when close() ended it. */
  byUs: boolean;
  /** The error message the server sent before closing, if any (already part of `error`). */
  errorFrame?: { message?: string; code?: number; client_req_id?: string };
}

export interface GradiumSocketOptions {
  context: GradiumContext;
  connectTimeoutMs: number;
  signal?: AbortSignal;
  onMessage(message: ServerMessage): void;
  onEnd(end: SocketEnd): void;
}

type State = { kind: 'connecting' } | { kind: 'open' } | { kind: 'ended'; end: SocketEnd };

export class GradiumSocket {
  /** Resolves once the upgrade is done; rejects with the connection's failure or an AbortError. */
  readonly opened: Promise<void>;
  readonly openedAtMs = Date.now();
  #state: State = { kind: 'connecting' };
  readonly #ws: WebSocket;
  readonly #options: GradiumSocketOptions;
  #outbox: string[] = [];
  #outboxBytes = 0;
  #lastWrite: Promise<void> = Promise.resolve();
  #errorFrame: SocketEnd['errorFrame'];
  #connectTimer: NodeJS.Timeout | undefined;
  #onAbort = () => this.#fail(abortError(), 1000);
  #settleOpened!: (error?: Error) => void;

  constructor(options: GradiumSocketOptions) {
    this.#options = options;
    this.opened = new Promise<void>((resolve, reject) => {
      this.#settleOpened = (error) => (error ? reject(error) : resolve());
    });
    // Nobody may be waiting for `opened` when the socket fails early; the failure also goes to onEnd.
    this.opened.catch(() => {});
    this.#ws = new WebSocket(options.context.url, {
      headers: { 'x-api-key': options.context.apiKey },
      maxPayload: MAX_FRAME_BYTES,
      perMessageDeflate: false,
    });
    this.#connectTimer = setTimeout(
      () => this.#fail(timeoutError(options.context, 'WebSocket upgrade answer', options.connectTimeoutMs), 1000),
      options.connectTimeoutMs,
    );
    this.#connectTimer.unref?.();
    if (options.signal?.aborted) queueMicrotask(this.#onAbort);
    else options.signal?.addEventListener('abort', this.#onAbort, { once: true });

    this.#ws.on('unexpected-response', (request, response) => {
      response.resume();
      this.#fail(connectError(options.context, { statusCode: response.statusCode }), 1000);
      request.destroy();
    });
    this.#ws.on('open', () => {
      clearTimeout(this.#connectTimer);
      if (this.#state.kind !== 'connecting') return;
      this.#state = { kind: 'open' };
      for (const text of this.#outbox) this.#write(text);
      this.#outbox = [];
      this.#outboxBytes = 0;
      this.#settleOpened();
    });
    this.#ws.on('message', (data, isBinary) => this.#receive(data as Buffer | ArrayBuffer | Buffer[], isBinary));
    this.#ws.on('error', (error) => {
      if (this.#state.kind === 'connecting') this.#fail(connectError(options.context, error), 1000);
      // After the upgrade an error (a frame past maxPayload, a protocol violation) is followed by 'close'.
    });
    this.#ws.on('close', (code, reason) => this.#closed(code, reason.toString('utf8')));
  }

  get isOpen(): boolean {
    return this.#state.kind === 'open';
  }

  get ended(): SocketEnd | null {
    return this.#state.kind === 'ended' ? this.#state.end : null;
  }

  /** Sends now when open, else queues for the open (bounded; see MAX_OUTBOX_BYTES). Throws once ended. */
  send(message: ClientMessage): void {
    if (this.#state.kind === 'ended')
      throw this.#state.end.error ?? closedError(this.#options.context, this.#state.end.code, this.#state.end.reason, 'before this message was sent');
    const text = JSON.stringify(message);
    if (this.#state.kind === 'open') {
      this.#write(text);
      return;
    }
    if (this.#outboxBytes + text.length > MAX_OUTBOX_BYTES) {
      throw timeoutError(
        this.#options.context,
        `WebSocket upgrade answer while ${MAX_OUTBOX_BYTES / 1024} KB of messages waited for it`,
        this.#options.connectTimeoutMs,
      );
    }
    this.#outbox.push(text);
    this.#outboxBytes += text.length;
  }

  /** Resolves when the network has taken what was sent, if more than 256 KB is waiting. */
  async waitForDrain(): Promise<void> {
    if (this.#state.kind === 'open' && this.#ws.bufferedAmount > DRAIN_HIGH_WATER_BYTES) await this.#lastWrite;
  }

  /** Closes the socket (1000 unless told otherwise); onEnd reports it as ours. */
  close(code = 1000): void {
    if (this.#state.kind === 'ended') return;
    const wasConnecting = this.#state.kind === 'connecting';
    this.#end({ code, reason: '', byUs: true });
    if (wasConnecting) {
      this.#settleOpened(abortError());
      this.#ws.terminate();
    } else {
      this.#ws.close(code);
    }
  }

  #write(text: string): void {
    this.#lastWrite = new Promise<void>((resolve) => this.#ws.send(text, () => resolve()));
  }

  #receive(data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void {
    if (this.#state.kind === 'ended') return;
    const frame = parseServerFrame(data, isBinary);
    if (frame.kind === 'unknown') return;
    if (frame.kind === 'broken') {
      this.#fail(brokenFrameError(this.#options.context, frame.problem), 1002);
      return;
    }
    if (frame.message.type === 'error') this.#errorFrame = frame.message;
    this.#options.onMessage(frame.message);
  }

  #closed(code: number, reason: string): void {
    clearTimeout(this.#connectTimer);
    if (this.#state.kind === 'ended') return;
    const errorFrame = this.#errorFrame;
    let error: Error | undefined;
    if (errorFrame && !errorFrame.client_req_id) error = errorMessageError(this.#options.context, errorFrame);
    else if (code !== 1000) error = closedError(this.#options.context, code, reason, 'while it was in use');
    if (this.#state.kind === 'connecting') {
      error ??= closedError(this.#options.context, code, reason, 'before the upgrade finished');
      this.#settleOpened(error);
    }
    this.#end({ error, code, reason, byUs: false, ...(errorFrame && { errorFrame }) });
  }

  #fail(error: Error, code: number): void {
    if (this.#state.kind === 'ended') return;
    const wasConnecting = this.#state.kind === 'connecting';
    this.#end({ error, code, reason: '', byUs: error.name === 'AbortError' });
    if (wasConnecting) {
      this.#settleOpened(error);
      this.#ws.terminate();
    } else {
      this.#ws.close(code);
    }
  }

  #end(end: SocketEnd): void {
    clearTimeout(this.#connectTimer);
    this.#options.signal?.removeEventListener('abort', this.#onAbort);
    this.#state = { kind: 'ended', end };
    this.#outbox = [];
    this.#outboxBytes = 0;
    this.#options.onEnd(end);
  }
}

export function abortError(): Error {
  const error = new Error('The operation was aborted');
  error.name = 'AbortError';
  return error;
}
