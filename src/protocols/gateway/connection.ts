/**
 * One gateway WebSocket connection: `start` creates the session engine, audio (binary frames
 * or base64 `audio` messages) goes to it, its events go back as gateway messages, and `end`
 * finishes the session once every committed turn has its result. A message that does not fit
 * (garbage, audio before start, a bad format) gets an `error` and the socket stays usable.
 *
 * Limits, shared with /v1/realtime (REALTIME_* settings):
 * - message size: over `maxMessageBytes`, a message_too_large error and the message is
 *   dropped (ws closes with 1009 only past twice the limit).
 * - session length `maxSessionMs` and idle time `idleTimeoutMs` (nothing received; not
 *   counted while `end` waits for results): an error, then close 1000.
 * - outbound backlog: nothing is dropped (each message carries protocol state). Past
 *   `maxBufferedBytes` of ws.bufferedAmount the connection stops reading from the client;
 *   under half of it, reading resumes. Congested longer than `slowConsumerMs`, or past twice
 *   the limit, the session is closed with 1008 slow_consumer.
 *
 * Every socket, timer and engine callback runs inside the session's error boundary
 * (src/protocols/session-boundary.ts): an unexpected exception ends this session alone with an
 * `error` (internal_error) and close 1011.
 */
import type { RawData, WebSocket } from 'ws';
import type { Logger } from 'pino';
import { rawDataToBuffer } from '../raw-data.ts';
import { decodeBase64Audio } from '../../audio/base64.ts';
import { SpeechbridgeError, toSpeechbridgeError } from '../../errors/registry.ts';
import type { EngineEvent } from '../../engine/events.ts';
import type { DoorLimits, DoorSession, DoorSessionFactory } from '../door-session.ts';
import { BacklogGuard } from '../backlog-guard.ts';
import { SessionBoundary } from '../session-boundary.ts';
import { CLOSE_GRACE_MS, closeWebSocket } from '../socket-close.ts';
import { type ClientMessage, errorMessage, type GatewayDefaults, parseClientMessage, type ServerMessage, sessionOf, type StartMessage } from './codec.ts';
import { GatewayEventMapper, type Outbound } from './event-mapper.ts';
import { decodeAudioBytes, type GatewayAudioFormat, PcmByteCarry } from './formats.ts';

export type GatewayCloseReason =
  | 'finished'
  | 'client_closed'
  | 'session_expired'
  | 'session_idle'
  | 'slow_consumer'
  | 'server_shutdown'
  | 'start_failed'
  | 'socket_error'
  | 'internal_error';

const CLOSE_CODES: Record<GatewayCloseReason, number> = {
  finished: 1000,
  client_closed: 1000,
  session_expired: 1000,
  session_idle: 1000,
  slow_consumer: 1008,
  server_shutdown: 1001,
  start_failed: 1011,
  socket_error: 1011,
  internal_error: 1011,
};

export interface GatewayConnectionOptions {
  socket: WebSocket;
  createSession: DoorSessionFactory;
  limits: DoorLimits;
  logger: Logger;
  defaults?: GatewayDefaults;
  /** Counts a session ended by an unexpected exception. */
  countFault?: () => void;
}

interface Live {
  engine: DoorSession;
  input: GatewayAudioFormat;
  mapper: GatewayEventMapper;
  /** Binary PCM16 frames may split a sample; base64 messages are whole payloads and must hold whole samples. */
  carry: PcmByteCarry;
}

type Phase =
  | { phase: 'awaiting_start' }
  /** The engine loads; client messages and engine events wait (the socket is paused). */
  | { phase: 'starting'; live: Live; messages: Array<{ data: RawData; isBinary: boolean }>; events: EngineEvent[] }
  | { phase: 'streaming'; live: Live }
  /** `end` was received: waiting until every committed turn has its result. `audioRefused`: audio after end was reported once. */
  | { phase: 'ending'; live: Live; audioRefused: boolean }
  /** `forwarding`: engine events still go out while the engine finishes before a server-side close. */
  | { phase: 'closing'; reason: GatewayCloseReason; live: Live | null; forwarding: boolean }
  | { phase: 'closed'; reason: GatewayCloseReason };

export class GatewayConnection {
  private state: Phase = { phase: 'awaiting_start' };
  private readonly backlog: BacklogGuard;
  private sessionTimer: NodeJS.Timeout | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  private readonly logger: Logger;
  private readonly boundary: SessionBoundary;
  private settling = false;
  private readonly done: Promise<GatewayCloseReason>;
  private resolveDone!: (reason: GatewayCloseReason) => void;

  constructor(private readonly options: GatewayConnectionOptions) {
    this.logger = options.logger.child({ door: 'gateway' });
    this.boundary = new SessionBoundary({
      logger: this.logger,
      countFault: options.countFault,
      endSession: (failure) => this.endByFault(failure),
      destroy: () => this.destroy(),
    });
    const guard = this.boundary;
    this.backlog = new BacklogGuard({
      socket: options.socket,
      maxBufferedBytes: options.limits.maxBufferedBytes,
      slowConsumerMs: options.limits.slowConsumerMs,
      reading: () => this.state.phase !== 'starting' && this.state.phase !== 'closing' && this.state.phase !== 'closed',
      onSlowConsumer: guard.guard('slow consumer', (detail: string) => this.slowConsumer(detail)),
      onCongested: (bytes) => this.logger.debug({ backlog: bytes }, 'gateway client reads slowly: input paused'),
    });
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    const { socket, limits } = options;
    socket.on('message', guard.guard('client message', (data: RawData, isBinary: boolean) => this.onMessage(data, isBinary)));
    socket.on('close', guard.guard('socket close', (code: number) => this.onSocketClosed(code)));
    socket.on(
      'error',
      guard.guard('socket error', (error: Error) => {
        this.logger.debug({ err: error.message }, 'gateway socket error');
        this.beginClose('socket_error');
      }),
    );
    this.sessionTimer = setTimeout(
      guard.guard('session timer', () => this.expire('session_expired', 'the session reached its maximum duration (REALTIME_MAX_SESSION_MINUTES)')),
      limits.maxSessionMs,
    );
    this.idleTimer = setTimeout(
      guard.guard('idle timer', () => this.expire('session_idle', `nothing was received for ${limits.idleTimeoutMs / 1000} s (REALTIME_IDLE_TIMEOUT_SECONDS)`)),
      limits.idleTimeoutMs,
    );
  }

  /** Resolves with the close reason once the socket and the engine are both closed. */
  get closed(): Promise<GatewayCloseReason> {
    return this.done;
  }

  /** Closes the session (server shutdown); resolves once closed. */
  async close(reason: GatewayCloseReason): Promise<GatewayCloseReason> {
    this.beginClose(reason);
    return this.done;
  }

  // ── Client → engine ─────────────────────────────────────────────────────────────────────

  private onMessage(data: RawData, isBinary: boolean): void {
    const state = this.state;
    if (state.phase === 'starting') {
      state.messages.push({ data, isBinary });
      return;
    }
    if (state.phase === 'closing' || state.phase === 'closed') return;
    if (state.phase !== 'ending') this.idleTimer?.refresh();
    const bytes = rawDataToBuffer(data);
    const { maxMessageBytes } = this.options.limits;
    if (bytes.byteLength > maxMessageBytes) {
      const mb = (maxMessageBytes / (1024 * 1024)).toFixed(2);
      this.sendError(new SpeechbridgeError('message_too_large', `the message is ${bytes.byteLength} bytes; the limit is ${maxMessageBytes} bytes (REALTIME_MAX_MESSAGE_MB=${mb}); send audio in smaller frames`));
      return;
    }
    if (isBinary) {
      this.onAudio(bytes, null);
      return;
    }
    const parsed = parseClientMessage(bytes.toString('utf8'));
    if ('error' in parsed) {
      this.sendError(parsed.error);
      return;
    }
    this.onClientMessage(parsed.message);
  }

  private onClientMessage(message: ClientMessage): void {
    switch (message.type) {
      case 'start':
        this.onStart(message);
        return;
      case 'audio':
        this.onAudio(null, message.audio);
        return;
      case 'end':
        this.onEnd();
        return;
    }
  }

  private onStart(message: StartMessage): void {
    if (this.state.phase !== 'awaiting_start') {
      this.sendError(new SpeechbridgeError('unexpected_message', 'start was already received: a connection runs one session; open a new connection for other settings', { param: 'type' }));
      return;
    }
    let live: Live;
    let ready: ServerMessage;
    try {
      const plan = sessionOf(message, this.options.defaults);
      const mapper = new GatewayEventMapper(plan.output);
      const engine = this.options.createSession({
        kind: 'conversation',
        model: plan.model,
        session: plan.session,
        onEvent: this.boundary.guard('engine event', (event: EngineEvent) => this.onEngineEvent(event)),
      });
      live = { engine, input: plan.input, mapper, carry: new PcmByteCarry() };
      const { config } = engine;
      ready = {
        type: 'ready',
        stt_input_format: plan.input.name,
        tts_output_format: plan.output.name,
        input_sample_rate: config.inputSampleRate,
        output_sample_rate: config.outputSampleRate,
        voice_id: config.voice,
        stt_model: config.transcription.model ?? null,
        openai_model: config.model ?? null,
        tts_model: config.ttsModel ?? null,
      };
    } catch (error) {
      // A refused setting (format, voice, model name) leaves the connection waiting for a better start.
      this.sendError(toSpeechbridgeError(error));
      return;
    }
    this.state = { phase: 'starting', live, messages: [], events: [] };
    this.options.socket.pause();
    this.startEngine(live, ready).catch(this.boundary.catcher('session start'));
  }

  private async startEngine(live: Live, ready: ServerMessage): Promise<void> {
    try {
      await live.engine.start();
    } catch (error) {
      const failure = toSpeechbridgeError(error, 'engine_unavailable');
      this.logger.error({ err: failure.message, code: failure.code }, 'gateway session failed to start');
      if (this.state.phase === 'starting') {
        this.sendError(new SpeechbridgeError(failure.code, `the session could not start: ${failure.message}`));
        this.beginClose('start_failed');
      }
      return;
    }
    const state = this.state;
    if (state.phase !== 'starting') return;
    this.state = { phase: 'streaming', live };
    this.send({ kind: 'message', message: ready });
    this.logger.info({ input: live.input.name, model: live.engine.config.model }, 'gateway session open');
    for (const event of state.events) this.onEngineEvent(event);
    for (const { data, isBinary } of state.messages) this.onMessage(data, isBinary);
    // The replayed messages may have closed the session (`end`); widened, since the compiler keeps `streaming`.
    const after = this.state as Phase;
    if (after.phase !== 'closing' && after.phase !== 'closed' && !this.backlog.congested) this.options.socket.resume();
  }

  /** Audio as frame bytes or as base64 text, in the session's input format. */
  private onAudio(bytes: Buffer | null, base64: string | null): void {
    const state = this.state;
    if (state.phase === 'awaiting_start') {
      this.sendError(new SpeechbridgeError('unexpected_message', 'audio arrived before start: send {"type":"start", …} first, then the audio', { param: 'type' }));
      return;
    }
    if (state.phase !== 'streaming') {
      // Once: a microphone that stops a little after `end` would otherwise get an error per frame.
      if (state.phase === 'ending' && !state.audioRefused) {
        state.audioRefused = true;
        this.sendError(new SpeechbridgeError('unexpected_message', 'audio arrived after end and is ignored (this is said once): the session is finishing its turns', { param: 'type' }));
      }
      return;
    }
    let samples: Int16Array;
    try {
      const { input, carry } = state.live;
      samples = bytes ? decodeAudioBytes(input.encoding === 'pcm16' ? carry.take(bytes) : bytes, input, 'binary frame') : decodeBase64Audio(base64 ?? '', input.encoding, 'audio');
    } catch (error) {
      this.sendError(toSpeechbridgeError(error));
      return;
    }
    state.live.engine.handle({ type: 'audio.append', audio: samples });
  }

  /**
   * `end`: the turn being spoken is finished (the engine's turn.end: committed and answered as
   * if the VAD had heard its end), then the session closes (1000) once every committed turn
   * has its result.
   */
  private onEnd(): void {
    const state = this.state;
    if (state.phase === 'awaiting_start') {
      this.beginClose('finished');
      return;
    }
    if (state.phase !== 'streaming') return;
    this.state = { phase: 'ending', live: state.live, audioRefused: false };
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    state.live.engine
      .finish({ respond: true })
      .then(this.boundary.guard('session finished', () => this.beginClose('finished')))
      .catch(this.boundary.catcher('session finish'));
  }

  // ── Engine → client ─────────────────────────────────────────────────────────────────────

  private onEngineEvent(event: EngineEvent): void {
    const state = this.state;
    switch (state.phase) {
      case 'starting':
        state.events.push(event);
        return;
      case 'streaming':
      case 'ending':
        this.forward(state.live, event);
        return;
      case 'closing':
        if (state.forwarding && state.live) this.forward(state.live, event);
        return;
      case 'awaiting_start':
      case 'closed':
        return;
    }
  }

  private forward(live: Live, event: EngineEvent): void {
    for (const outbound of live.mapper.map(event)) this.send(outbound);
  }

  private sendError(error: SpeechbridgeError): void {
    this.logger.debug({ code: error.code }, 'gateway client error');
    this.send({ kind: 'message', message: errorMessage(error) });
  }

  private send(outbound: Outbound, watchBacklog = true): void {
    const { socket } = this.options;
    if (socket.readyState !== socket.OPEN) return;
    if (outbound.kind === 'audio') socket.send(outbound.bytes, { binary: true });
    else socket.send(JSON.stringify(outbound.message));
    if (watchBacklog) this.backlog.check();
  }

  // ── Backpressure ────────────────────────────────────────────────────────────────────────

  private slowConsumer(detail: string): void {
    this.logger.warn({ detail }, 'closing a gateway session whose client reads too slowly');
    this.send({ kind: 'message', message: errorMessage(new SpeechbridgeError('slow_consumer', `${detail}; the client reads too slowly, so the session is closed`)) }, false);
    this.beginClose('slow_consumer');
  }

  // ── Faults ──────────────────────────────────────────────────────────────────────────────

  /** The error boundary caught an unexpected exception: the client hears why, then close 1011. */
  private endByFault(failure: SpeechbridgeError): void {
    const phase = this.state.phase;
    if (phase === 'closing' || phase === 'closed') {
      // A fault while closing may have left the close half done.
      this.destroy();
      return;
    }
    this.send({ kind: 'message', message: errorMessage(failure) }, false);
    this.beginClose('internal_error');
  }

  /** The last resort: the socket is dropped, the engine closed, `closed` settled. */
  private destroy(): void {
    const state = this.state;
    this.options.socket.terminate();
    if (state.phase === 'closed') return;
    const live = this.liveOf(state) ?? (state.phase === 'closing' ? state.live : null);
    this.stopTimers();
    this.state = { phase: 'closing', reason: 'internal_error', live, forwarding: false };
    this.settle('internal_error', this.closeEngine(live));
  }

  // ── Closing ─────────────────────────────────────────────────────────────────────────────

  private expire(reason: 'session_expired' | 'session_idle', message: string): void {
    const phase = this.state.phase;
    if (phase === 'closing' || phase === 'closed' || (reason === 'session_idle' && phase === 'ending')) return;
    this.sendError(new SpeechbridgeError(reason, message));
    this.beginClose(reason);
  }

  private liveOf(state: Phase): Live | null {
    return state.phase === 'starting' || state.phase === 'streaming' || state.phase === 'ending' ? state.live : null;
  }

  /**
   * Expiry and shutdown let the engine finish first, so the client still hears how its open
   * response ended (at most CLOSE_GRACE_MS); a finished session has nothing left to send, and
   * a slow consumer, a socket error or the client's own close can receive nothing more.
   */
  private beginClose(reason: GatewayCloseReason): void {
    const state = this.state;
    if (state.phase === 'closing' || state.phase === 'closed') return;
    const live = this.liveOf(state);
    const drain = (state.phase === 'streaming' || state.phase === 'ending') && (reason === 'session_expired' || reason === 'session_idle' || reason === 'server_shutdown');
    this.state = { phase: 'closing', reason, live, forwarding: drain };
    this.stopTimers();
    const engineClosed = this.closeEngine(live);
    if (!drain) {
      this.closeSocket(reason);
    } else {
      const grace = setTimeout(() => this.closeSocket(reason), CLOSE_GRACE_MS);
      void engineClosed.then(() => {
        clearTimeout(grace);
        this.closeSocket(reason);
      });
    }
    this.settle(reason, engineClosed);
  }

  private closeSocket(reason: GatewayCloseReason): void {
    if (this.state.phase === 'closing') this.state = { ...this.state, forwarding: false };
    closeWebSocket(this.options.socket, CLOSE_CODES[reason], reason);
  }

  private onSocketClosed(code: number): void {
    this.logger.debug({ code }, 'gateway socket closed');
    const state = this.state;
    if (state.phase === 'closing') {
      this.state = { ...state, forwarding: false };
      return;
    }
    if (state.phase === 'closed') return;
    const live = this.liveOf(state);
    this.state = { phase: 'closing', reason: 'client_closed', live, forwarding: false };
    this.stopTimers();
    this.settle('client_closed', this.closeEngine(live));
  }

  /** Closes the engine (cancelling its work upstream); never rejects. */
  private closeEngine(live: Live | null): Promise<void> {
    if (!live) return Promise.resolve();
    return live.engine.close().catch((error: unknown) => this.logger.error({ err: toSpeechbridgeError(error).message }, 'session engine failed to close'));
  }

  private settle(reason: GatewayCloseReason, engineClosed: Promise<void>): void {
    // Once: a fault's destroy() may follow a close that had already begun.
    if (this.settling) return;
    this.settling = true;
    void engineClosed.then(() => {
      this.state = { phase: 'closed', reason };
      this.logger.info({ reason }, 'gateway session closed');
      this.resolveDone(reason);
    });
  }

  private stopTimers(): void {
    if (this.sessionTimer) clearTimeout(this.sessionTimer);
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.sessionTimer = null;
    this.idleTimer = null;
    this.backlog.stop();
  }
}

