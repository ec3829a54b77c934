/**
 * One /v1/transcriptions connection: a socket around one transcription session engine (kind
 * 'transcription', interim transcripts on), created by the client's start message.
 *
 *   waiting ──start──► starting ──engine started, {"session_id"}──► running ──stop/end──► stopping ──last final──► closed (1000 stopped)
 *
 * - Every problem the client causes gets `{"error","code"}` and the connection goes on: audio
 *   before start, JSON garbage, an unknown action, bad start fields (the client may send a
 *   corrected start), a second start (refused: one connection is one session; open a new one
 *   to restart), oversize messages, audio ffmpeg cannot decode.
 * - stop/end: the rest of a compressed stream is decoded, the utterance in progress is
 *   committed, and the socket closes 1000 once every utterance has its final (or error).
 * - Partials are droppable (the next one supersedes them); finals and errors are essential.
 *   Inbound, ffmpeg's backlog pauses the socket (audio-input.ts).
 * - A client that disconnects: ffmpeg is killed and the engine closed at once.
 *
 * The socket's life — early buffering, the size check, session and idle limits (the idle one
 * stops once stop waits for the last final), heartbeat, outbound policy, close codes, the
 * error boundary — is the shared lifecycle's (src/protocols/session-socket.ts).
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { type ErrorCode, SpeechbridgeError, toSpeechbridgeError } from '../../errors/registry.ts';
import type { EngineEvent } from '../../engine/events.ts';
import type { CloseReason } from '../close-reasons.ts';
import type { DoorLimits, DoorSession } from '../door-session.ts';
import type { SessionSocket, StartOutcome } from '../session-socket.ts';
import { type WsConnectionOptions, wsSessionSocket } from '../ws-session-socket.ts';
import type { WireFrame } from '../ws-transport.ts';
import { AudioInput } from './audio-input.ts';
import { errorMessage, parseClientMessage, sessionUpdateOf, TranscriptEncoder, type ServerMessage, type StartRequest } from './codec.ts';

export type TranscriptionLimits = DoorLimits;

interface Session {
  engine: DoorSession;
  input: AudioInput;
  encoder: TranscriptEncoder;
  /** The engine's input sample rate; a compressed stream switches it to the decoder's rate once. */
  inputSampleRate: number;
}

type Stage = { stage: 'waiting' } | { stage: 'starting' } | { stage: 'running'; session: Session } | { stage: 'stopping'; session: Session };

export type TranscriptionConnectionOptions = WsConnectionOptions;

export class TranscriptionConnection {
  readonly sessionId = `sess_${randomBytes(12).toString('base64url')}`;
  #stage: Stage = { stage: 'waiting' };
  readonly #socket: SessionSocket<WireFrame>;
  readonly #logger: Logger;

  constructor(private readonly options: TranscriptionConnectionOptions) {
    this.#logger = options.logger.child({ door: 'transcriptions', session: this.sessionId });
    this.#socket = wsSessionSocket(options, this.#logger, {
      errorMessage: (error) => JSON.stringify(errorMessage(error.code, error.message)),
      tooLargeAdvice: 'send audio in smaller chunks',
      onMessage: (data, isBinary) => this.#onMessage(data, isBinary),
      onEvent: (event) => this.#onEngineEvent(event),
      onClosing: () => {
        const stage = this.#stage;
        if (stage.stage !== 'running' && stage.stage !== 'stopping') return;
        stage.session.input.close();
        this.#logger.debug(
          { format: stage.session.input.format ?? undefined, droppedAudioBytes: stage.session.input.droppedBytes || undefined },
          'transcription input closed',
        );
      },
    });
  }

  /** Resolves with the close reason once the socket, ffmpeg and the engine are all closed. */
  get closed(): Promise<CloseReason> {
    return this.#socket.closed;
  }

  /** Closes the session at once (server shutdown); resolves once closed. */
  async close(reason: CloseReason): Promise<CloseReason> {
    // Said in a message too: a client waiting for a final may read messages and never look at close codes.
    if (reason === 'server_shutdown' && this.#socket.accepting)
      this.#sendError('engine_unavailable', 'the server is shutting down; utterances not yet transcribed get no final');
    return this.#socket.close(reason);
  }

  // ── Client messages ─────────────────────────────────────────────────────────────────────

  #onMessage(data: Buffer, isBinary: boolean): void {
    const stage = this.#stage;
    if (stage.stage === 'stopping') return;
    if (isBinary) {
      if (stage.stage !== 'running') {
        this.#sendError('invalid_value', 'audio arrived before the session started; send {"action":"start"} first and wait for {"session_id"}');
        return;
      }
      stage.session.input.write(data);
      return;
    }
    const parsed = parseClientMessage(data.toString('utf8'));
    if (parsed.type === 'error') {
      this.#socket.sendRefusal(JSON.stringify(parsed.message), parsed.message.code);
      return;
    }
    const { message } = parsed;
    if (message.action === 'start') {
      if (stage.stage === 'running') {
        this.#sendError(
          'invalid_value',
          'the session has already started; a connection holds one session: send {"action":"stop"} and open a new connection to start again',
        );
        return;
      }
      this.#start(message);
      return;
    }
    if (stage.stage !== 'running') {
      // Nothing was started, so there is nothing to flush.
      void this.#socket.close('stopped');
      return;
    }
    this.#stop(stage.session).catch(this.#socket.boundary.catcher('stop'));
  }

  // ── Start ───────────────────────────────────────────────────────────────────────────────

  #start(request: StartRequest): void {
    let engine: DoorSession;
    try {
      engine = this.options.createSession({ kind: 'transcription', session: sessionUpdateOf(request), onEvent: this.#socket.onEngineEvent });
    } catch (error) {
      // Settings the engine refuses: the client may send a corrected start.
      const failure = toSpeechbridgeError(error, 'invalid_value');
      this.#sendError(failure.code, `the session could not start: ${failure.message}`);
      return;
    }
    this.#stage = { stage: 'starting' };
    this.#socket.startSession(engine).then(
      this.#socket.boundary.guard('session start', (outcome: StartOutcome) => {
        if (outcome.type === 'started') this.#socket.open(() => this.#onStarted(engine, request));
      }),
      this.#socket.boundary.catcher('session start'),
    );
  }

  #onStarted(engine: DoorSession, request: StartRequest): void {
    const { boundary } = this.#socket;
    const input = new AudioInput({
      format: request.format,
      pcmSampleRate: request.sample_rate,
      onAudio: boundary.guard('audio input', (samples: Int16Array, sampleRate: number) => this.#appendAudio(samples, sampleRate)),
      onError: boundary.guard('audio input', (error: SpeechbridgeError) => this.#sendError(error.code, error.message)),
      pause: boundary.guard('audio input', () => this.#socket.holdReading('decoder')),
      resume: boundary.guard('audio input', () => this.#socket.releaseReading('decoder')),
    });
    this.#stage = { stage: 'running', session: { engine, input, encoder: new TranscriptEncoder(), inputSampleRate: request.sample_rate } };
    this.#send({ session_id: this.sessionId });
    this.#logger.info({ language: request.language, sampleRate: request.sample_rate, format: request.format }, 'transcription session open');
  }

  #appendAudio(samples: Int16Array, sampleRate: number): void {
    const stage = this.#stage;
    if (stage.stage !== 'running' && stage.stage !== 'stopping') return;
    const { session } = stage;
    if (sampleRate !== session.inputSampleRate) {
      session.inputSampleRate = sampleRate;
      session.engine.handle({ type: 'session.update', session: { inputSampleRate: sampleRate } });
    }
    session.engine.handle({ type: 'audio.append', audio: samples });
  }

  // ── Stop ────────────────────────────────────────────────────────────────────────────────

  /** Decodes what is left, commits the utterance in progress, waits for its final, closes 1000. */
  async #stop(session: Session): Promise<void> {
    const stopping: Stage = { stage: 'stopping', session };
    this.#stage = stopping;
    // The client has said all it will: waiting for the last final is not idleness (the session limit still applies).
    this.#socket.stopIdleTimer();
    await session.input.finish();
    if (this.#stage !== stopping || !this.#socket.accepting) return;
    // The utterance in progress is committed however short, and every utterance gets its final (or error).
    await session.engine.finish({ respond: false });
    await this.#socket.close('stopped');
  }

  // ── Engine events ───────────────────────────────────────────────────────────────────────

  #onEngineEvent(event: EngineEvent): void {
    const stage = this.#stage;
    if (stage.stage !== 'running' && stage.stage !== 'stopping') return;
    const message = stage.session.encoder.encode(event);
    if (message === null) return;
    if (event.type === 'error' || event.type === 'transcript.failed')
      this.#logger.debug({ code: (message as { code: string }).code }, 'transcription error sent');
    // A partial is superseded by the next one: droppable when the client reads slowly.
    this.#send(message, event.type === 'transcript.interim');
  }

  // ── Output ──────────────────────────────────────────────────────────────────────────────

  #sendError(code: ErrorCode, message: string): void {
    this.#socket.sendError(new SpeechbridgeError(code, message));
  }

  #send(message: ServerMessage, droppable = false): void {
    this.#socket.send(JSON.stringify(message), droppable ? 'droppable' : 'essential');
  }
}
