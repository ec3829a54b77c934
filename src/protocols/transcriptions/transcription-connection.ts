/**
 * One /v1/transcriptions connection: a socket around one transcription session engine (kind
 * 'transcription', interim transcripts on), created by the client's start message.
 *
 *   waiting ──start──► starting ──engine started, {"session_id"}──► running ──stop/end──► stopping ──last final──► closed (1000)
 *
 * - Every problem the client causes gets `{"error","code"}` and the connection goes on: audio
 *   before start, JSON garbage, an unknown action, bad start fields (the client may send a
 *   corrected start), a second start (refused: one connection is one session; open a new one
 *   to restart), oversize messages, audio ffmpeg cannot decode.
 * - stop/end: the rest of a compressed stream is decoded, the utterance in progress is
 *   committed, and the socket closes 1000 once every utterance has its final (or error).
 * - Limits, shared with /v1/realtime: a message over `maxMessageBytes` is refused and dropped
 *   (ws closes 1009 past twice that); after `maxSessionMs`, or `idleTimeoutMs` with nothing
 *   received (not counted once stop waits for the last final), an error and close 1000.
 * - Outbound backlog policy: a partial is superseded by the next one, so while ws.bufferedAmount
 *   is over `maxBufferedBytes` partials are dropped; finals and errors always go out. Past
 *   twice the limit the client is not reading at all: close 1008. Inbound, ffmpeg's backlog
 *   pauses the socket (audio-input.ts).
 * - A client that disconnects: ffmpeg is killed and the engine closed at once.
 * - Every socket, timer, ffmpeg and engine callback runs inside the session's error boundary
 *   (src/protocols/session-boundary.ts): an unexpected exception ends this session alone with
 *   `{"error","code":"internal_error"}` and close 1011.
 */
import { randomBytes } from 'node:crypto';
import type { RawData, WebSocket } from 'ws';
import type { Logger } from 'pino';
import { rawDataToBuffer } from '../raw-data.ts';
import { type SpeechbridgeError, toSpeechbridgeError, type ErrorCode } from '../../errors/registry.ts';
import type { EngineEvent } from '../../engine/events.ts';
import type { DoorLimits, DoorSession, DoorSessionFactory } from '../door-session.ts';
import { SessionBoundary } from '../session-boundary.ts';
import { closeWebSocket } from '../socket-close.ts';
import { AudioInput } from './audio-input.ts';
import { errorMessage, parseClientMessage, sessionUpdateOf, TranscriptEncoder, type ServerMessage, type StartRequest } from './codec.ts';

export type TranscriptionLimits = DoorLimits;

export type CloseReason =
  | 'stopped'
  | 'client_closed'
  | 'session_expired'
  | 'session_idle'
  | 'slow_consumer'
  | 'server_shutdown'
  | 'start_failed'
  | 'socket_error'
  | 'internal_error';

const CLOSE_CODES: Record<CloseReason, number> = {
  stopped: 1000,
  client_closed: 1000,
  session_expired: 1000,
  session_idle: 1000,
  slow_consumer: 1008,
  server_shutdown: 1001,
  start_failed: 1011,
  socket_error: 1011,
  internal_error: 1011,
};

interface Session {
  engine: DoorSession;
  input: AudioInput;
  encoder: TranscriptEncoder;
  /** The engine's input sample rate; a compressed stream switches it to the decoder's rate once. */
  inputSampleRate: number;
}

type Phase =
  | { type: 'waiting' }
  /** Messages that arrive while the engine starts wait in `early` (the socket is paused meanwhile). */
  | { type: 'starting'; engine: DoorSession; early: Array<{ data: Buffer; isBinary: boolean }> }
  | { type: 'running'; session: Session }
  | { type: 'stopping'; session: Session }
  | { type: 'closed'; reason: CloseReason };

export interface TranscriptionConnectionOptions {
  socket: WebSocket;
  createSession: DoorSessionFactory;
  limits: TranscriptionLimits;
  logger: Logger;
  /** Counts a session ended by an unexpected exception. */
  countFault?: () => void;
}

export class TranscriptionConnection {
  readonly sessionId = `sess_${randomBytes(12).toString('base64url')}`;
  #phase: Phase = { type: 'waiting' };
  readonly #socket: WebSocket;
  readonly #logger: Logger;
  readonly #boundary: SessionBoundary;
  readonly #timers: NodeJS.Timeout[] = [];
  readonly #idleTimer: NodeJS.Timeout;
  #droppedPartials = 0;
  readonly #done: Promise<CloseReason>;
  #resolveDone!: (reason: CloseReason) => void;

  constructor(private readonly options: TranscriptionConnectionOptions) {
    this.#socket = options.socket;
    this.#logger = options.logger.child({ session: this.sessionId });
    this.#done = new Promise((resolve) => (this.#resolveDone = resolve));
    const boundary = new SessionBoundary({
      logger: this.#logger,
      countFault: options.countFault,
      endSession: (failure) => this.#endByFault(failure),
      destroy: () => this.#socket.terminate(),
    });
    this.#boundary = boundary;
    const { limits } = options;
    this.#socket.on('message', boundary.guard('client message', (data: RawData, isBinary: boolean) => this.#onMessage(rawDataToBuffer(data), isBinary)));
    this.#socket.on('close', boundary.guard('socket close', () => this.#shutDown('client_closed')));
    this.#socket.on(
      'error',
      boundary.guard('socket error', (error: Error) => {
        this.#logger.debug({ err: error.message }, 'transcription socket error');
        this.#shutDown('socket_error');
      }),
    );
    this.#timers.push(
      setTimeout(
        boundary.guard('session timer', () => this.#expire('session_expired', 'the session reached its maximum duration (REALTIME_MAX_SESSION_MINUTES)')),
        limits.maxSessionMs,
      ),
    );
    this.#idleTimer = setTimeout(
      boundary.guard('idle timer', () => this.#expire('session_idle', `nothing was received for ${limits.idleTimeoutMs / 1000} s (REALTIME_IDLE_TIMEOUT_SECONDS)`)),
      limits.idleTimeoutMs,
    );
    this.#timers.push(this.#idleTimer);
  }

  /** Resolves with the close reason once the socket, ffmpeg and the engine are all closed. */
  get closed(): Promise<CloseReason> {
    return this.#done;
  }

  /** Closes the session at once (server shutdown); resolves once closed. */
  async close(reason: CloseReason): Promise<CloseReason> {
    // Said in a message too: a client waiting for a final may read messages and never look at close codes.
    if (reason === 'server_shutdown' && this.#phase.type !== 'closed') this.#sendError('engine_unavailable', 'the server is shutting down; utterances not yet transcribed get no final');
    this.#shutDown(reason);
    return this.#done;
  }

  // ── Client messages ─────────────────────────────────────────────────────────────────────

  #onMessage(data: Buffer, isBinary: boolean): void {
    const phase = this.#phase;
    if (phase.type === 'closed' || phase.type === 'stopping') return;
    this.#idleTimer.refresh();
    if (phase.type === 'starting') {
      phase.early.push({ data, isBinary });
      return;
    }
    const { maxMessageBytes } = this.options.limits;
    if (data.byteLength > maxMessageBytes) {
      const mb = (maxMessageBytes / (1024 * 1024)).toFixed(2);
      this.#sendError('message_too_large', `the message is ${data.byteLength} bytes; the limit is ${maxMessageBytes} bytes (REALTIME_MAX_MESSAGE_MB=${mb}); send audio in smaller chunks`);
      return;
    }
    if (isBinary) {
      if (phase.type === 'waiting') {
        this.#sendError('invalid_value', 'audio arrived before the session started; send {"action":"start"} first and wait for {"session_id"}');
        return;
      }
      phase.session.input.write(data);
      return;
    }
    const parsed = parseClientMessage(data.toString('utf8'));
    if (parsed.type === 'error') {
      this.#send(parsed.message);
      return;
    }
    const { message } = parsed;
    if (message.action === 'start') {
      if (phase.type === 'running') {
        this.#sendError('invalid_value', 'the session has already started; a connection holds one session: send {"action":"stop"} and open a new connection to start again');
        return;
      }
      this.#start(message);
      return;
    }
    if (phase.type === 'waiting') {
      // Nothing was started, so there is nothing to flush.
      this.#shutDown('stopped');
      return;
    }
    this.#stop(phase.session).catch(this.#boundary.catcher('stop'));
  }

  // ── Start ───────────────────────────────────────────────────────────────────────────────

  #start(request: StartRequest): void {
    let engine: DoorSession;
    const inputSampleRate = request.sample_rate;
    try {
      engine = this.options.createSession({
        kind: 'transcription',
        session: sessionUpdateOf(request),
        onEvent: this.#boundary.guard('engine event', (event: EngineEvent) => this.#onEngineEvent(event)),
      });
    } catch (error) {
      // Settings the engine refuses: the client may send a corrected start.
      const failure = toSpeechbridgeError(error, 'invalid_value');
      this.#sendError(failure.code, `the session could not start: ${failure.message}`);
      return;
    }
    const starting: Phase = { type: 'starting', engine, early: [] };
    this.#phase = starting;
    this.#socket.pause();
    engine.start().then(
      this.#boundary.guard('session start', () => this.#onStarted(starting, engine, request, inputSampleRate)),
      this.#boundary.guard('session start', (error: unknown) => {
        const failure = toSpeechbridgeError(error, 'engine_unavailable');
        this.#logger.error({ err: failure.message, code: failure.code }, 'transcription session failed to start');
        if (this.#phase !== starting) return;
        this.#sendError(failure.code, `the session could not start: ${failure.message}`);
        this.#shutDown('start_failed');
      }),
    );
  }

  #onStarted(starting: Extract<Phase, { type: 'starting' }>, engine: DoorSession, request: StartRequest, inputSampleRate: number): void {
    if (this.#phase !== starting) return;
    const boundary = this.#boundary;
    const input = new AudioInput({
      format: request.format,
      pcmSampleRate: inputSampleRate,
      onAudio: boundary.guard('audio input', (samples: Int16Array, sampleRate: number) => this.#appendAudio(samples, sampleRate)),
      onError: boundary.guard('audio input', (error: SpeechbridgeError) => this.#sendError(error.code, error.message)),
      pause: boundary.guard('audio input', () => this.#socket.pause()),
      resume: boundary.guard('audio input', () => {
        if (this.#phase.type === 'running' || this.#phase.type === 'stopping') this.#socket.resume();
      }),
    });
    const session: Session = { engine, input, encoder: new TranscriptEncoder(), inputSampleRate };
    this.#phase = { type: 'running', session };
    this.#send({ session_id: this.sessionId });
    this.#logger.info({ language: request.language, sampleRate: inputSampleRate, format: request.format }, 'transcription session open');
    for (const { data, isBinary } of starting.early) this.#onMessage(data, isBinary);
    if (this.#phase.type === 'running') this.#socket.resume();
  }

  #appendAudio(samples: Int16Array, sampleRate: number): void {
    const phase = this.#phase;
    if (phase.type !== 'running' && phase.type !== 'stopping') return;
    const { session } = phase;
    if (sampleRate !== session.inputSampleRate) {
      session.inputSampleRate = sampleRate;
      session.engine.handle({ type: 'session.update', session: { inputSampleRate: sampleRate } });
    }
    session.engine.handle({ type: 'audio.append', audio: samples });
  }

  // ── Stop ────────────────────────────────────────────────────────────────────────────────

  /** Decodes what is left, commits the utterance in progress, waits for its final, closes 1000. */
  async #stop(session: Session): Promise<void> {
    this.#phase = { type: 'stopping', session };
    // The client has said all it will: waiting for the last final is not idleness (the session limit still applies).
    clearTimeout(this.#idleTimer);
    await session.input.finish();
    if (this.#phase.type !== 'stopping') return;
    // The utterance in progress is committed however short, and every utterance gets its final (or error).
    await session.engine.finish({ respond: false });
    this.#shutDown('stopped');
  }

  // ── Engine events ───────────────────────────────────────────────────────────────────────

  #onEngineEvent(event: EngineEvent): void {
    const phase = this.#phase;
    if (phase.type !== 'running' && phase.type !== 'stopping') return;
    const message = phase.session.encoder.encode(event);
    if (message === null) return;
    if (event.type === 'error' || event.type === 'transcript.failed') this.#logger.debug({ code: (message as { code: string }).code }, 'transcription error sent');
    this.#send(message, event.type === 'transcript.interim');
  }

  // ── Output ──────────────────────────────────────────────────────────────────────────────

  #sendError(code: ErrorCode, message: string): void {
    this.#logger.debug({ code }, 'transcription client error');
    this.#send(errorMessage(code, message));
  }

  #send(message: ServerMessage, droppable = false): void {
    const socket = this.#socket;
    if (socket.readyState !== socket.OPEN) return;
    const { maxBufferedBytes } = this.options.limits;
    if (droppable && socket.bufferedAmount > maxBufferedBytes) {
      this.#droppedPartials++;
      return;
    }
    socket.send(JSON.stringify(message));
    if (socket.bufferedAmount > 2 * maxBufferedBytes && this.#phase.type !== 'closed') {
      this.#logger.warn({ backlog: socket.bufferedAmount }, 'closing a transcription session whose client does not read');
      this.#shutDown('slow_consumer');
    }
  }

  // ── Close ───────────────────────────────────────────────────────────────────────────────

  /** The error boundary caught an unexpected exception: the client hears why, then close 1011. */
  #endByFault(failure: SpeechbridgeError): void {
    if (this.#phase.type === 'closed') {
      // A fault while closing may have left the close half done.
      this.#socket.terminate();
      return;
    }
    this.#sendError(failure.code, failure.message);
    this.#shutDown('internal_error');
  }

  #expire(reason: 'session_expired' | 'session_idle', message: string): void {
    if (this.#phase.type === 'closed') return;
    this.#sendError(reason, message);
    this.#shutDown(reason);
  }

  /** Closes everything at once: ffmpeg, the engine (its late events are dropped) and the socket. */
  #shutDown(reason: CloseReason): void {
    const phase = this.#phase;
    if (phase.type === 'closed') return;
    this.#phase = { type: 'closed', reason };
    for (const timer of this.#timers) clearTimeout(timer);
    let engine: DoorSession | null = null;
    if (phase.type === 'starting') engine = phase.engine;
    if (phase.type === 'running' || phase.type === 'stopping') {
      phase.session.input.close();
      engine = phase.session.engine;
    }
    this.#closeSocket(reason);
    const engineClosed = engine
      ? engine.close().catch((error: unknown) => this.#logger.error({ err: toSpeechbridgeError(error).message }, 'session engine failed to close'))
      : Promise.resolve();
    void engineClosed.then(() => {
      const input = phase.type === 'running' || phase.type === 'stopping' ? phase.session.input : null;
      this.#logger.info(
        { reason, format: input?.format ?? undefined, droppedPartials: this.#droppedPartials || undefined, droppedAudioBytes: input?.droppedBytes || undefined },
        'transcription session closed',
      );
      this.#resolveDone(reason);
    });
  }

  #closeSocket(reason: CloseReason): void {
    const socket = this.#socket;
    if (socket.readyState !== socket.OPEN && socket.readyState !== socket.CONNECTING) return;
    // A socket paused for a start or for ffmpeg must read again, or the client's close frame is never seen.
    socket.resume();
    closeWebSocket(socket, CLOSE_CODES[reason], reason);
  }
}

