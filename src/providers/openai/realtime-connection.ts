/**
 * One WebSocket to an OpenAI Realtime transcription upstream (OpenAI, another speechbridge,
 * LocalAI, speaches): opened with the key as a bearer token, set up with `session.update`
 * (type "transcription") and ready once `session.updated` confirms it. After that it passes
 * each checked server event to its listener and tells it once when the connection ends.
 *
 * Written on `ws` rather than the `openai` package's OpenAIRealtimeWS: that client always
 * puts `?model=` in the URL (which makes OpenAI open a conversation session and refuse the
 * transcription session.update) and always connects over wss:// (a speechbridge or LocalAI
 * on the local network speaks plain ws://). Its event types are used for what is sent.
 *
 * Bounds: the upgrade and the set-up together take at most REQUEST_TIMEOUT; an event from the
 * upstream is at most 1 MB (the socket closes with 1009 past it); at most 2 MB may wait to be
 * sent, about 30 s of 24 kHz audio as base64, past which the upstream is not reading and the
 * send fails.
 */
import { WebSocket, type RawData } from 'ws';
import { SpeechbridgeError } from '../../errors/registry.ts';
import { abortError } from '../../errors/abort.ts';
import { badEvent, closedError, connectFailed, errorEventError, refusedUpgrade, timedOut, type RealtimeUpstreamContext } from './realtime-errors.ts';
import {
  parseServerEvent,
  sessionUpdateEvent,
  type RealtimeClientEvent,
  type RealtimeServerEvent,
  type TranscriptionSessionSettings,
} from './realtime-events.ts';

/** Transcription events are small (a delta is a few words, a completed turn a few KB); 1 MB leaves room for logprobs. */
export const MAX_UPSTREAM_EVENT_BYTES = 1024 * 1024;
/** Unsent bytes allowed before a send fails: ~30 s of 24 kHz PCM16 in base64 (64 KB/s). */
export const MAX_UNSENT_BYTES = 2 * 1024 * 1024;
/** An error page answering the upgrade is read up to here: enough for its message. */
const MAX_REFUSAL_BODY_BYTES = 4096;

export interface RealtimeConnectionListener {
  event(event: RealtimeServerEvent): void;
  /** Called once when the connection ends by the upstream's doing or a fault, never after close(). */
  closed(error: SpeechbridgeError): void;
}

export interface RealtimeConnectionOptions {
  /** The socket URL, with intent=transcription. */
  url: URL;
  context: RealtimeUpstreamContext;
  settings: TranscriptionSessionSettings;
  listener: RealtimeConnectionListener;
  signal?: AbortSignal;
}

export class RealtimeConnection {
  readonly #socket: WebSocket;
  readonly #context: RealtimeUpstreamContext;
  readonly #listener: RealtimeConnectionListener;
  #ended = false;
  #lastSocketError: Error | undefined;

  private constructor(socket: WebSocket, options: RealtimeConnectionOptions) {
    this.#socket = socket;
    this.#context = options.context;
    this.#listener = options.listener;
    socket.on('message', (data, isBinary) => this.#receive(data, isBinary));
    socket.on('error', (error) => {
      this.#lastSocketError = error;
    });
    socket.on('close', (code, reason) => this.#closedByUpstream(code, reason.toString()));
  }

  /** Connects and sets the session up; rejects with a SpeechbridgeError (or an AbortError on abort). */
  static open(options: RealtimeConnectionOptions): Promise<RealtimeConnection> {
    const { url, context, settings, signal } = options;
    if (signal?.aborted) return Promise.reject(abortError());
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, {
        headers: context.apiKey ? { Authorization: `Bearer ${context.apiKey}` } : {},
        handshakeTimeout: context.timeoutMs,
        maxPayload: MAX_UPSTREAM_EVENT_BYTES,
        perMessageDeflate: false,
        followRedirects: false,
      });
      const updateId = 'speechbridge_setup';
      let settled = false;
      const timer = setTimeout(() => fail(timedOut(context, 'confirm the transcription session (session.updated)')), context.timeoutMs);
      timer.unref?.();
      const onAbort = () => fail(abortError());
      signal?.addEventListener('abort', onAbort, { once: true });
      const finish = () => {
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        socket.removeAllListeners();
      };
      const fail = (error: Error) => {
        if (settled) return;
        finish();
        // A socket that never opened has nothing to close politely; errors after this are moot.
        socket.on('error', () => {});
        socket.terminate();
        reject(error);
      };
      socket.on('unexpected-response', (request, response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        const refuse = () => {
          const headers = new Headers();
          for (const [name, value] of Object.entries(response.headers)) if (typeof value === 'string') headers.set(name, value);
          fail(refusedUpgrade(response.statusCode ?? 0, Buffer.concat(chunks).toString('utf8'), headers, context));
          request.destroy();
        };
        response.on('data', (chunk: Buffer) => {
          if (size >= MAX_REFUSAL_BODY_BYTES) return;
          chunks.push(chunk.subarray(0, MAX_REFUSAL_BODY_BYTES - size));
          size += chunk.length;
          if (size >= MAX_REFUSAL_BODY_BYTES) refuse();
        });
        response.on('end', refuse);
        response.on('error', refuse);
      });
      socket.on('error', (error) => fail(connectFailed(error, context)));
      socket.on('open', () => socket.send(JSON.stringify(sessionUpdateEvent(updateId, settings))));
      socket.on('close', (code, reason) => fail(closedError(code, reason.toString(), context, 'the session set-up')));
      socket.on('message', (data, isBinary) => {
        if (isBinary) return fail(badEvent('a binary message during the session set-up', context));
        const parsed = parseServerEvent(data.toString());
        if (parsed.kind === 'invalid') return fail(badEvent(parsed.problem, context));
        if (parsed.kind !== 'event') return;
        const event = parsed.event;
        if (event.type === 'error') return fail(errorEventError(event.error, context, 'the session set-up'));
        if (event.type !== 'session.updated') return;
        const kind = event.session?.type;
        if (kind !== undefined && kind !== 'transcription') {
          return fail(badEvent(`a session of type "${kind}" instead of a transcription session`, context));
        }
        finish();
        resolve(new RealtimeConnection(socket, options));
      });
    });
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Sends one event; throws when the connection is gone or the upstream stopped reading. */
  send(event: RealtimeClientEvent): void {
    if (this.#ended || this.#socket.readyState !== WebSocket.OPEN) {
      throw new SpeechbridgeError('upstream_error', `the realtime transcription connection to ${this.#context.display} is closed`);
    }
    if (this.#socket.bufferedAmount > MAX_UNSENT_BYTES) {
      const error = new SpeechbridgeError(
        'upstream_timeout',
        `${this.#context.display} stopped reading: over ${MAX_UNSENT_BYTES / (1024 * 1024)} MB of audio waits to be sent; the connection was closed`,
      );
      this.#fail(error, 1008);
      throw error;
    }
    this.#socket.send(JSON.stringify(event));
  }

  /** Closes the connection normally; the listener hears nothing more. */
  close(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#socket.close(1000, 'done');
    // A peer that never answers the close frame would keep the socket for ws's 30 s close timeout.
    const hardStop = setTimeout(() => this.#socket.terminate(), Math.min(this.#context.timeoutMs, 5000));
    hardStop.unref?.();
    this.#socket.once('close', () => clearTimeout(hardStop));
  }

  #receive(data: RawData, isBinary: boolean): void {
    if (this.#ended) return;
    if (isBinary) return this.#fail(badEvent('a binary message', this.#context), 1003);
    const parsed = parseServerEvent(data.toString());
    if (parsed.kind === 'invalid') return this.#fail(badEvent(parsed.problem, this.#context), 1002);
    if (parsed.kind !== 'event') return;
    try {
      this.#listener.event(parsed.event);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.#fail(new SpeechbridgeError('internal_error', `handling an event from ${this.#context.display} failed: ${message}`, { cause: error }), 1011);
    }
  }

  #closedByUpstream(code: number, reason: string): void {
    if (this.#ended) return;
    this.#ended = true;
    const lost = code === 1006 && this.#lastSocketError ? `${reason || this.#lastSocketError.message}` : reason;
    this.#listener.closed(closedError(code, lost, this.#context, 'transcription'));
  }

  #fail(error: SpeechbridgeError, closeCode: number): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#socket.close(closeCode);
    const hardStop = setTimeout(() => this.#socket.terminate(), 1000);
    hardStop.unref?.();
    this.#socket.once('close', () => clearTimeout(hardStop));
    this.#listener.closed(error);
  }
}
