/**
 * One gateway WebSocket connection: `start` creates the session engine, audio (binary frames
 * or base64 `audio` messages) goes to it, its events go back as gateway messages, and `end`
 * finishes the session once every committed turn has its result. A message that does not fit
 * (garbage, audio before start, a bad format) gets an `error` and the socket stays usable.
 *
 * The socket's life — early buffering while the engine starts, the size check, session and
 * idle limits (the idle one stops while `end` waits for results), heartbeat, outbound policy
 * (`stt_partial` is droppable, everything else essential), close codes, the error boundary —
 * is the shared lifecycle's (src/protocols/session-socket.ts).
 */
import type { Logger } from 'pino';
import { type DecodedFrame, decodeBase64Frame, g711Frame } from '../../audio/base64.ts';
import { SpeechbridgeError, toSpeechbridgeError } from '../../errors/registry.ts';
import type { EngineEvent } from '../../engine/events.ts';
import type { CloseReason } from '../close-reasons.ts';
import type { DoorSession } from '../door-session.ts';
import type { MessageClass } from '../outbound-policy.ts';
import type { SessionSocket, StartOutcome } from '../session-socket.ts';
import { type WsConnectionOptions, wsSessionSocket } from '../ws-session-socket.ts';
import type { WireFrame } from '../ws-transport.ts';
import { type ClientMessage, errorMessage, type GatewayDefaults, parseClientMessage, type ServerMessage, sessionOf, type StartMessage } from './codec.ts';
import { GatewayEventMapper, type Outbound } from './event-mapper.ts';
import { decodeAudioBytes, type GatewayAudioFormat, PcmByteCarry } from './formats.ts';

export interface GatewayConnectionOptions extends WsConnectionOptions {
  defaults?: GatewayDefaults;
}

interface Live {
  input: GatewayAudioFormat;
  mapper: GatewayEventMapper;
  /** Binary PCM16 frames may split a sample; base64 messages are whole payloads and must hold whole samples. */
  carry: PcmByteCarry;
}

type Stage =
  | { stage: 'awaiting_start' }
  | { stage: 'streaming'; live: Live }
  /** `end` was received: waiting until every committed turn has its result. `audioRefused`: audio after end was reported once. */
  | { stage: 'ending'; live: Live; audioRefused: boolean };

export class GatewayConnection {
  #stage: Stage = { stage: 'awaiting_start' };
  readonly #socket: SessionSocket<WireFrame>;
  readonly #logger: Logger;

  constructor(private readonly options: GatewayConnectionOptions) {
    this.#logger = options.logger.child({ door: 'gateway' });
    this.#socket = wsSessionSocket(options, this.#logger, {
      errorMessage: (error) => JSON.stringify(errorMessage(error)),
      tooLargeAdvice: 'send audio in smaller frames',
      onMessage: (data, isBinary) => this.#onMessage(data, isBinary),
      onEvent: (event) => this.#onEngineEvent(event),
    });
  }

  /** Resolves with the close reason once the socket and the engine are both closed. */
  get closed(): Promise<CloseReason> {
    return this.#socket.closed;
  }

  /** Closes the session (server shutdown); resolves once closed. */
  async close(reason: CloseReason): Promise<CloseReason> {
    return this.#socket.close(reason);
  }

  // ── Client → engine ─────────────────────────────────────────────────────────────────────

  #onMessage(data: Buffer, isBinary: boolean): void {
    if (isBinary) {
      this.#onAudio(data, null);
      return;
    }
    const parsed = parseClientMessage(data.toString('utf8'));
    if ('error' in parsed) {
      this.#socket.sendError(parsed.error);
      return;
    }
    this.#onClientMessage(parsed.message);
  }

  #onClientMessage(message: ClientMessage): void {
    switch (message.type) {
      case 'start':
        this.#onStart(message);
        return;
      case 'audio':
        this.#onAudio(null, message.audio);
        return;
      case 'end':
        this.#onEnd();
        return;
    }
  }

  #onStart(message: StartMessage): void {
    if (this.#stage.stage !== 'awaiting_start') {
      this.#socket.sendError(
        new SpeechbridgeError('unexpected_message', 'start was already received: a connection runs one session; open a new connection for other settings', {
          param: 'type',
        }),
      );
      return;
    }
    let live: Live;
    let session: DoorSession;
    let output: string;
    try {
      const plan = sessionOf(message, this.options.defaults);
      session = this.options.createSession({ kind: 'conversation', model: plan.model, session: plan.session, onEvent: this.#socket.onEngineEvent });
      live = { input: plan.input, mapper: new GatewayEventMapper(plan.output), carry: new PcmByteCarry() };
      output = plan.output.name;
    } catch (error) {
      // A refused setting (format, voice, model name) leaves the connection waiting for a better start.
      this.#socket.sendError(toSpeechbridgeError(error));
      return;
    }
    this.#stage = { stage: 'streaming', live };
    this.#socket.startSession(session).then(
      this.#socket.boundary.guard('session start', (outcome: StartOutcome) => {
        if (outcome.type !== 'started') return;
        const { config } = session;
        const ready: ServerMessage = {
          type: 'ready',
          stt_input_format: live.input.name,
          tts_output_format: output,
          input_sample_rate: config.inputSampleRate,
          output_sample_rate: config.outputSampleRate,
          voice_id: config.voice,
          stt_model: config.transcription.model ?? null,
          openai_model: config.model ?? null,
          tts_model: config.ttsModel ?? null,
        };
        this.#socket.open(() => {
          this.#send({ kind: 'message', message: ready });
          this.#logger.info({ input: live.input.name, model: config.model }, 'gateway session open');
        });
      }),
      this.#socket.boundary.catcher('session start'),
    );
  }

  /** Audio as frame bytes or as base64 text, in the session's input format. */
  #onAudio(bytes: Buffer | null, base64: string | null): void {
    const stage = this.#stage;
    if (stage.stage === 'awaiting_start') {
      this.#socket.sendError(
        new SpeechbridgeError('unexpected_message', 'audio arrived before start: send {"type":"start", …} first, then the audio', { param: 'type' }),
      );
      return;
    }
    if (stage.stage === 'ending') {
      // Once: a microphone that stops a little after `end` would otherwise get an error per frame.
      if (!stage.audioRefused) {
        stage.audioRefused = true;
        this.#socket.sendError(
          new SpeechbridgeError('unexpected_message', 'audio arrived after end and is ignored (this is said once): the session is finishing its turns', {
            param: 'type',
          }),
        );
      }
      return;
    }
    // G.711 goes to the engine with its bytes too: a recognizer that takes G.711 gets them as they are.
    let frame: DecodedFrame;
    try {
      const { input, carry } = stage.live;
      if (!bytes) frame = decodeBase64Frame(base64 ?? '', input.encoding, 'audio');
      else if (input.encoding === 'pcm16') frame = { audio: decodeAudioBytes(carry.take(bytes), input, 'binary frame') };
      else frame = g711Frame({ encoding: input.encoding, bytes });
    } catch (error) {
      this.#socket.sendError(toSpeechbridgeError(error));
      return;
    }
    this.#socket.session?.handle({ type: 'audio.append', ...frame });
  }

  /**
   * `end`: the turn being spoken is finished (the engine's turn.end: committed and answered as
   * if the VAD had heard its end), then the session closes (1000) once every committed turn
   * has its result.
   */
  #onEnd(): void {
    const stage = this.#stage;
    if (stage.stage === 'awaiting_start') {
      void this.#socket.close('finished');
      return;
    }
    if (stage.stage !== 'streaming') return;
    this.#stage = { stage: 'ending', live: stage.live, audioRefused: false };
    this.#socket.stopIdleTimer();
    const session = this.#socket.session;
    if (!session) return;
    session.finish({ respond: true }).then(
      this.#socket.boundary.guard('session finished', () => void this.#socket.close('finished')),
      this.#socket.boundary.catcher('session finish'),
    );
  }

  // ── Engine → client ─────────────────────────────────────────────────────────────────────

  #onEngineEvent(event: EngineEvent): void {
    const stage = this.#stage;
    if (stage.stage === 'awaiting_start') return;
    for (const outbound of stage.live.mapper.map(event)) this.#send(outbound);
  }

  #send(outbound: Outbound): void {
    if (outbound.kind === 'audio') {
      this.#socket.send(outbound.bytes);
      return;
    }
    // A partial transcript is superseded by the next one (each carries the whole text so far).
    const messageClass: MessageClass = outbound.message.type === 'stt_partial' ? 'droppable' : 'essential';
    this.#socket.send(JSON.stringify(outbound.message), messageClass);
  }
}
