/**
 * The OpenAI Realtime codec: client wire JSON → EngineInput, EngineEvent → server wire JSON,
 * for one session. It holds the only protocol state the engine does not: the dialect (GA or
 * beta names), the audio encodings behind the engine's sample rates (PCM16 or G.711 μ-/A-law),
 * session fields the gateway only echoes (tracing, include, …), and the session's ids.
 * decode() never throws; what does not parse becomes an `error` event for the client.
 */
import { randomBytes } from 'node:crypto';
import { decodeBase64Audio } from '../../audio/base64.ts';
import { type ErrorCode, SpeechbridgeError, toSpeechbridgeError } from '../../errors/registry.ts';
import type { EngineEvent, EngineInput, SessionConfig, SessionKind } from '../../engine/events.ts';
import { type AudioFormat, DEFAULT_AUDIO_FORMAT, formatForRate } from './audio-format.ts';
import { type ClientEvent, parseClientEvent } from './client-events.ts';
import { itemFromWire } from './item-shape.ts';
import { responseRequestFromWire } from './response-shape.ts';
import { DEFAULT_ECHOED_FIELDS, type Dialect, type SessionWireState, sessionUpdateFromWire } from './session-shape.ts';
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
  sessionId?: string;
  conversationId?: string;
  /** Server event ids; default `event_<session prefix><counter>`. */
  newEventId?: () => string;
}

export type DecodeResult = { type: 'input'; input: EngineInput } | { type: 'error'; event: ServerEvent };

interface PendingFormatChange {
  eventId: string | null;
  input: AudioFormat;
  output: AudioFormat;
}

export class RealtimeCodec {
  readonly dialect: Dialect;
  readonly sessionId: string;
  readonly conversationId: string;
  private readonly boundKind: SessionKind | undefined;
  private readonly state: SessionWireState;
  private readonly context: ServerEventContext;
  /** The formats before the last session.update, kept until the engine accepts or refuses it. */
  private pendingFormatChange: PendingFormatChange | null = null;

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
      echoed: { ...DEFAULT_ECHOED_FIELDS },
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
  decode(text: string): DecodeResult {
    const parsed = parseClientEvent(text);
    if (!parsed.ok) return this.errorResult(parsed.error.code, parsed.error.message, parsed.error.param, parsed.error.eventId);
    const event = parsed.event;
    try {
      return { type: 'input', input: this.toInput(event) };
    } catch (error) {
      const failure = toSpeechbridgeError(error);
      return this.errorResult(failure.code, failure.message, failure.param, event.event_id ?? null);
    }
  }

  /** The server events for one engine event. */
  encode(event: EngineEvent): ServerEvent[] {
    if (event.type === 'session.updated') this.settleFormats(event.session);
    else if (event.type === 'error') this.revertFormatsOnRefusal(event.eventId, event.param);
    return serverEventsFor(event, this.context);
  }

  /** session.created (+ conversation.created): the first events of every connection. */
  sessionCreated(config: SessionConfig): ServerEvent[] {
    this.settleFormats(config);
    return sessionCreatedEvents(config, this.context);
  }

  /** An `error` event raised by the connection itself (limits, oversize messages). */
  error(code: ErrorCode, message: string, param: string | null = null, clientEventId: string | null = null): ServerEvent {
    return errorEvent(code, message, param, clientEventId, this.context);
  }

  private toInput(event: ClientEvent): EngineInput {
    const eventId = event.event_id;
    switch (event.type) {
      case 'session.update':
      case 'transcription_session.update':
        return this.sessionUpdate(event);
      case 'input_audio_buffer.append':
        return { type: 'audio.append', eventId, audio: decodeBase64Audio(event.audio, this.state.input.encoding, 'audio') };
      case 'input_audio_buffer.commit':
        return { type: 'audio.commit', eventId };
      case 'input_audio_buffer.clear':
        return { type: 'audio.clear', eventId };
      case 'conversation.item.create':
        return {
          type: 'item.create',
          eventId,
          ...(event.previous_item_id !== undefined && { previousItemId: event.previous_item_id }),
          item: itemFromWire(event.item, this.state.input, 'item'),
        };
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

  private sessionUpdate(event: Extract<ClientEvent, { type: 'session.update' | 'transcription_session.update' }>): EngineInput {
    const { update, input, output, echoed } = sessionUpdateFromWire(event.session);
    // session.type (or the beta transcription_session.update) picks the kind; the engine decides whether it may change.
    if (event.type === 'transcription_session.update') update.kind = 'transcription';
    else if (event.session.type !== undefined) update.kind = event.session.type === 'transcription' ? 'transcription' : 'conversation';
    // Refused before any state here changes, so the refused update leaves the audio formats alone.
    if (this.boundKind !== undefined && update.kind !== undefined && update.kind !== this.boundKind) {
      const bound = this.boundKind === 'transcription' ? 'transcription' : 'realtime';
      throw new SpeechbridgeError('invalid_value', `this session was opened with a client secret for a ${bound} session and stays one; mint a secret for the other type`, {
        param: 'session.type',
      });
    }
    if (input || output) {
      this.pendingFormatChange = { eventId: event.event_id ?? null, input: this.state.input, output: this.state.output };
      // Applied now, not on session.updated, so audio appended right behind the update decodes in the new format.
      if (input) this.state.input = input;
      if (output) this.state.output = output;
    }
    Object.assign(this.state.echoed, echoed);
    return { type: 'session.update', eventId: event.event_id, session: update };
  }

  private settleFormats(config: SessionConfig): void {
    this.pendingFormatChange = null;
    this.state.kind = config.kind;
    this.state.turnTimings = config.turnTimings;
    this.state.input = formatForRate(config.inputSampleRate, this.state.input);
    this.state.output = formatForRate(config.outputSampleRate, this.state.output);
  }

  private revertFormatsOnRefusal(eventId: string | null, param: string | null): void {
    const pending = this.pendingFormatChange;
    if (!pending) return;
    const sameEvent = eventId !== null ? eventId === pending.eventId : pending.eventId === null && (param ?? '').startsWith('session');
    if (!sameEvent) return;
    this.state.input = pending.input;
    this.state.output = pending.output;
    this.pendingFormatChange = null;
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
