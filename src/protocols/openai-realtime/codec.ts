/**
 * The OpenAI Realtime codec: client wire JSON → EngineInput, EngineEvent → server wire JSON,
 * for one session. It holds the only protocol state the engine does not: the dialect (GA or
 * beta names), the audio encodings behind the engine's sample rates (PCM16 or G.711 μ-/A-law),
 * session fields the gateway only echoes (tracing, include, …), whether the session has sent
 * audio (after which OpenAI keeps the voice), and the session's ids.
 * decode() never throws; what does not parse becomes an `error` event for the client.
 */
import { randomBytes } from 'node:crypto';
import { type ErrorCode, SpeechbridgeError, toSpeechbridgeError } from '../../errors/registry.ts';
import type { EngineEvent, EngineInput, HandleResult, SessionConfig, SessionKind } from '../../engine/events.ts';
import { type AudioFormat, DEFAULT_AUDIO_FORMAT, decodeClientFrame, formatForRate } from './audio-format.ts';
import { type ClientEvent, eventIdFromHead, parseClientEvent } from './client-events.ts';
import { itemFromWire } from './item-shape.ts';
import { responseRequestFromWire } from './response-shape.ts';
import {
  checkGaSession,
  DEFAULT_ECHOED_FIELDS,
  type Dialect,
  type EchoedSessionFields,
  type SessionWireState,
  sessionUpdateFromWire,
} from './session-shape.ts';
import { type ServerEvent, type ServerEventContext, errorEvent, serverEventsFor, sessionCreatedEvents } from './server-events.ts';

export type { Dialect } from './session-shape.ts';
export type { ServerEvent } from './server-events.ts';

export interface RealtimeCodecOptions {
  dialect: Dialect;
  kind: SessionKind;
  /**
   * The kind a client secret was minted for: a session opened with it keeps that kind, as
   * OpenAI's does, so a secret a backend minted for transcription never runs its LLM.
   */
  boundKind?: SessionKind;
  /** Unix ms when the session expires (reported as `expires_at`). */
  expiresAtMs: number;
  /** The model the client asked for on connecting (`?model=`), reported as `session.model`. */
  requestedModel?: string;
  sessionId?: string;
  conversationId?: string;
  /** Server event ids; default `event_<session prefix><counter>`. */
  newEventId?: () => string;
}

export type DecodeResult = { type: 'input'; input: EngineInput } | { type: 'error'; event: ServerEvent };

/** The formats before a session.update that changed them, restored should the engine refuse it. */
interface PendingFormatChange {
  input: AudioFormat;
  output: AudioFormat;
}

/** Reported fields of a session.update the engine has not answered yet: kept once session.updated says it took the update. */
interface PendingEcho {
  fields: Partial<EchoedSessionFields>;
}

export interface DecodeOptions {
  /**
   * The settings a client secret was minted with, validated then in the dialect of the
   * endpoint that minted it: applied in either spelling, with no GA-only checks.
   */
  minted?: boolean;
}

export class RealtimeCodec {
  readonly dialect: Dialect;
  readonly sessionId: string;
  readonly conversationId: string;
  private readonly boundKind: SessionKind | undefined;
  private readonly state: SessionWireState;
  private readonly context: ServerEventContext;
  /** The formats before the session.update being handled, kept until the engine accepts or refuses it. */
  private pendingFormatChange: PendingFormatChange | null = null;
  private pendingEcho: PendingEcho | null = null;
  /** The voice the engine last reported, and whether audio has gone out in it (OpenAI then keeps it). */
  private voice: string | null = null;
  private audioSent = false;

  constructor(options: RealtimeCodecOptions) {
    this.dialect = options.dialect;
    this.sessionId = options.sessionId ?? `sess_${randomId()}`;
    this.conversationId = options.conversationId ?? `conv_${randomId()}`;
    this.boundKind = options.boundKind;
    this.state = {
      id: this.sessionId,
      kind: options.kind,
      input: { ...DEFAULT_AUDIO_FORMAT },
      output: { ...DEFAULT_AUDIO_FORMAT },
      echoed: { ...DEFAULT_ECHOED_FIELDS, model: options.requestedModel ?? null },
      expiresAt: Math.floor(options.expiresAtMs / 1000),
      turnTimings: false,
    };
    this.context = { dialect: this.dialect, conversationId: this.conversationId, session: this.state, newEventId: options.newEventId ?? eventIdSequence() };
  }

  /** The session's kind as the engine last reported it (a session.update may change it). */
  get kind(): SessionKind {
    return this.state.kind;
  }

  get inputFormat(): AudioFormat {
    return this.state.input;
  }

  get outputFormat(): AudioFormat {
    return this.state.output;
  }

  /** One client message → one engine input, or the error event to send back. */
  decode(text: string, options: DecodeOptions = {}): DecodeResult {
    const parsed = parseClientEvent(text);
    if (!parsed.ok) return this.errorResult(parsed.error.code, parsed.error.message, parsed.error.param, parsed.error.eventId);
    const event = parsed.event;
    try {
      return { type: 'input', input: this.toInput(event, options) };
    } catch (error) {
      const failure = toSpeechbridgeError(error);
      return this.errorResult(failure.code, failure.message, failure.param, event.event_id ?? null);
    }
  }

  /** The session a client secret carries (its wire `session`, GA or beta spelling), as the session.update that applies it. */
  decodeMintedSession(session: Record<string, unknown>): DecodeResult {
    return this.decode(JSON.stringify({ type: 'session.update', session }), { minted: true });
  }

  /**
   * The answer to a binary WebSocket frame: client events are JSON text frames, so a binary
   * frame is refused unread (invalid_event), whatever it holds. `head`: its first bytes as
   * text, searched for an event_id to echo.
   */
  binaryFrame(head: string): ServerEvent {
    return this.error(
      'invalid_event',
      'a binary WebSocket frame: client events are JSON sent as text frames; this one was not read',
      null,
      eventIdFromHead(head),
    );
  }

  /** The server events for one engine event. */
  encode(event: EngineEvent): ServerEvent[] {
    if (event.type === 'session.updated') this.settleFormats(event.session);
    this.track(event);
    return serverEventsFor(event, this.context);
  }

  /**
   * What the engine said of the input just decoded: a refused session.update leaves the audio
   * formats and the reported fields as they were before it.
   */
  handled(result: HandleResult): void {
    const formats = this.pendingFormatChange;
    this.pendingFormatChange = null;
    if (result.accepted) return;
    this.pendingEcho = null;
    if (!formats) return;
    this.state.input = formats.input;
    this.state.output = formats.output;
  }

  /** session.created (+ conversation.created): the first events of every connection. */
  sessionCreated(config: SessionConfig): ServerEvent[] {
    this.settleFormats(config);
    this.keepEcho(config);
    return sessionCreatedEvents(config, this.context);
  }

  /** An `error` event raised by the connection itself (limits, oversize messages). */
  error(code: ErrorCode, message: string, param: string | null = null, clientEventId: string | null = null): ServerEvent {
    return errorEvent(code, message, param, clientEventId, this.context);
  }

  private toInput(event: ClientEvent, options: DecodeOptions): EngineInput {
    const eventId = event.event_id;
    switch (event.type) {
      case 'session.update':
      case 'transcription_session.update':
        return this.sessionUpdate(event, options);
      case 'input_audio_buffer.append':
        return { type: 'audio.append', eventId, ...decodeClientFrame(event.audio, this.state.input, 'audio') };
      case 'input_audio_buffer.commit':
        return { type: 'audio.commit', eventId };
      case 'input_audio_buffer.clear':
        return { type: 'audio.clear', eventId };
      case 'conversation.item.create': {
        // OpenAI: "root" inserts at the beginning; null, like no previous_item_id, appends.
        const previous = event.previous_item_id;
        return {
          type: 'item.create',
          eventId,
          ...(typeof previous === 'string' && { previousItemId: previous === 'root' ? null : previous }),
          item: itemFromWire(event.item, this.state.input, 'item'),
        };
      }
      case 'conversation.item.retrieve':
        return { type: 'item.retrieve', eventId, itemId: event.item_id };
      case 'conversation.item.delete':
        return { type: 'item.delete', eventId, itemId: event.item_id };
      case 'conversation.item.truncate':
        return { type: 'item.truncate', eventId, itemId: event.item_id, contentIndex: event.content_index, audioEndMs: event.audio_end_ms };
      case 'response.create': {
        const response = responseRequestFromWire(event.response, this.state.input);
        return { type: 'response.create', eventId, ...(response && { response }) };
      }
      case 'response.cancel':
        return { type: 'response.cancel', eventId, ...(event.response_id && { responseId: event.response_id }) };
    }
  }

  private sessionUpdate(event: Extract<ClientEvent, { type: 'session.update' | 'transcription_session.update' }>, options: DecodeOptions): EngineInput {
    // transcription_session.update is the beta event of beta transcription sessions, in either dialect.
    if (this.dialect === 'ga' && event.type === 'session.update' && !options.minted) checkGaSession(event.session);
    const { update, input, output, echoed } = sessionUpdateFromWire(event.session);
    // session.type (or the beta transcription_session.update) names the kind, which stays what the session opened as.
    if (event.type === 'transcription_session.update') update.kind = 'transcription';
    else if (event.session.type !== undefined) update.kind = event.session.type === 'transcription' ? 'transcription' : 'conversation';
    // Refused before any state here changes, so the refused update leaves the audio formats alone.
    if (this.boundKind !== undefined && update.kind !== undefined && update.kind !== this.boundKind) {
      const bound = this.boundKind === 'transcription' ? 'transcription' : 'realtime';
      throw new SpeechbridgeError(
        'invalid_value',
        `this session was opened with a client secret for a ${bound} session and stays one; mint a secret for the other type`,
        {
          param: 'session.type',
        },
      );
    }
    this.checkKindKept(update.kind);
    this.checkVoiceKept(update.voice);
    if (input || output) {
      this.pendingFormatChange = { input: this.state.input, output: this.state.output };
      // Applied now, not on session.updated, so audio appended right behind the update decodes in the new format.
      if (input) this.state.input = input;
      if (output) this.state.output = output;
    }
    this.pendingEcho = { fields: echoed };
    return { type: 'session.update', eventId: event.event_id, session: update };
  }

  /**
   * A session stays the type it opened as, as on OpenAI (which refuses a transcription
   * session.update on a connection opened with ?model=): a transcription session is opened
   * with ?intent=transcription or a transcription client secret.
   */
  private checkKindKept(kind: SessionKind | undefined): void {
    if (kind === undefined || kind === this.state.kind) return;
    const [current, asked] = this.state.kind === 'transcription' ? ['transcription', 'realtime'] : ['realtime', 'transcription'];
    const how = asked === 'transcription' ? 'open one with ?intent=transcription (or a transcription client secret)' : 'open one without ?intent=transcription';
    throw new SpeechbridgeError(
      'invalid_value',
      `this is a ${current} session and stays one: session.type cannot change to "${asked}"; for a ${asked} session, ${how}`,
      {
        param: 'session.type',
      },
    );
  }

  /** OpenAI keeps the voice once the session has sent audio in it (cannot_update_voice); the same voice again is no change. */
  private checkVoiceKept(voice: string | undefined): void {
    if (voice === undefined || !this.audioSent || voice === this.voice) return;
    throw new SpeechbridgeError(
      'cannot_update_voice',
      `Cannot update a conversation's voice if assistant audio is present: the session has spoken in "${this.voice}", which it keeps`,
      {
        param: this.dialect === 'ga' ? 'session.audio.output.voice' : 'session.voice',
      },
    );
  }

  /** What the codec learns from the events it sends: the session's voice, whether audio went out, and that a pending update was taken. */
  private track(event: EngineEvent): void {
    if (event.type === 'audio.delta') this.audioSent = true;
    else if (event.type === 'session.updated') this.keepEcho(event.session);
  }

  /** The engine took the pending update (or reports the session): its reported fields stand. */
  private keepEcho(config: SessionConfig): void {
    this.voice = config.voice;
    if (!this.pendingEcho) return;
    Object.assign(this.state.echoed, this.pendingEcho.fields);
    this.pendingEcho = null;
  }

  private settleFormats(config: SessionConfig): void {
    this.pendingFormatChange = null;
    this.state.kind = config.kind;
    this.state.turnTimings = config.turnTimings;
    this.state.input = formatForRate(config.inputSampleRate, this.state.input);
    this.state.output = formatForRate(config.outputSampleRate, this.state.output);
  }

  private errorResult(code: ErrorCode, message: string, param: string | null, clientEventId: string | null): DecodeResult {
    return { type: 'error', event: errorEvent(code, message, param, clientEventId, this.context) };
  }
}

function randomId(): string {
  return randomBytes(12).toString('base64url');
}

/** A random per-session prefix plus a counter: unique, and cheaper than random bytes per audio delta. */
function eventIdSequence(): () => string {
  const prefix = `event_${randomBytes(6).toString('base64url')}`;
  let counter = 0;
  return () => `${prefix}${(counter++).toString(36)}`;
}
