/**
 * EngineEvent → realtime server events. GA names by default; beta names for clients that
 * asked for `realtime=v1`. Every event gets an `event_id`, and every event about response
 * output carries response_id, item_id, output_index and content_index: the agents SDK drops
 * an event that lacks any of them.
 */
import { encodeBase64Audio } from '../../audio/base64.ts';
import { CATEGORIES, ERROR_CODES, type ErrorCode } from '../../errors/registry.ts';
import type { EngineEvent, SessionConfig } from '../../engine/events.ts';
import { contentPartEventToWire, itemToWire } from './item-shape.ts';
import { responseToWire } from './response-shape.ts';
import { type Dialect, type SessionWireState, sessionToWire, wireParamOf } from './session-shape.ts';

export type ServerEvent = { type: string; event_id: string } & Record<string, unknown>;

export interface ServerEventContext {
  dialect: Dialect;
  conversationId: string;
  session: SessionWireState;
  newEventId(): string;
}

/** GA name → beta name, for the events whose name changed at GA. */
const BETA_NAMES: Readonly<Record<string, string>> = {
  'conversation.item.added': 'conversation.item.created',
  'response.output_text.delta': 'response.text.delta',
  'response.output_text.done': 'response.text.done',
  'response.output_audio.delta': 'response.audio.delta',
  'response.output_audio.done': 'response.audio.done',
  'response.output_audio_transcript.delta': 'response.audio_transcript.delta',
  'response.output_audio_transcript.done': 'response.audio_transcript.done',
};

/**
 * The wire events for one engine event. turn.timings goes out only to sessions that asked
 * (session.speechbridge.turn_timings), as `speechbridge.turn.timings`: not an OpenAI event,
 * so strict clients never see it.
 */
export function serverEventsFor(event: EngineEvent, context: ServerEventContext): ServerEvent[] {
  const emit = (type: string, fields: Record<string, unknown> = {}): ServerEvent => {
    const name = context.dialect === 'beta' ? (BETA_NAMES[type] ?? type) : type;
    return { type: name, event_id: context.newEventId(), ...fields };
  };
  const output = (fields: { responseId: string; itemId: string; outputIndex: number; contentIndex: number }) => ({
    response_id: fields.responseId,
    item_id: fields.itemId,
    output_index: fields.outputIndex,
    content_index: fields.contentIndex,
  });
  /** An input_audio_transcription event about one content part of a user item. */
  const transcription = (kind: string, part: { itemId: string; contentIndex: number }, fields: Record<string, unknown>) =>
    emit(`conversation.item.input_audio_transcription.${kind}`, { item_id: part.itemId, content_index: part.contentIndex, ...fields });
  const dialect = context.dialect;

  switch (event.type) {
    case 'session.updated':
      return [sessionEvent('updated', event.session, context)];
    case 'speech.started':
      return [emit('input_audio_buffer.speech_started', { audio_start_ms: event.audioStartMs, item_id: event.itemId })];
    case 'speech.stopped':
      return [emit('input_audio_buffer.speech_stopped', { audio_end_ms: event.audioEndMs, item_id: event.itemId })];
    case 'input.committed':
      return [emit('input_audio_buffer.committed', { item_id: event.itemId, previous_item_id: event.previousItemId })];
    case 'input.cleared':
      return [emit('input_audio_buffer.cleared')];
    case 'input.timeout_triggered':
      return [emit('input_audio_buffer.timeout_triggered', { audio_start_ms: event.audioStartMs, audio_end_ms: event.audioEndMs, item_id: event.itemId })];
    case 'item.added':
      return [emit('conversation.item.added', { previous_item_id: event.previousItemId, item: itemToWire(event.item, dialect) })];
    case 'item.done':
      // Beta has no item.done: its conversation.item.created already carried the item.
      return dialect === 'beta' ? [] : [emit('conversation.item.done', { previous_item_id: event.previousItemId, item: itemToWire(event.item, dialect) })];
    case 'item.retrieved':
      return [emit('conversation.item.retrieved', { item: itemToWire(event.item, dialect) })];
    case 'item.deleted':
      return [emit('conversation.item.deleted', { item_id: event.itemId })];
    case 'item.truncated':
      return [emit('conversation.item.truncated', { item_id: event.itemId, content_index: event.contentIndex, audio_end_ms: event.audioEndMs })];
    case 'transcript.delta':
      return [transcription('delta', event, { delta: event.delta, ...(event.logprobs && { logprobs: event.logprobs }) })];
    case 'transcript.segment':
      // OpenAI's diarization event: times in seconds from the start of the item's audio.
      return [
        transcription('segment', event, {
          id: event.segmentId,
          speaker: event.speaker,
          start: Math.round(event.startMs) / 1000,
          end: Math.round(event.endMs) / 1000,
          text: event.text,
        }),
      ];
    case 'transcript.completed':
      return [
        transcription('completed', event, {
          transcript: event.transcript,
          ...(event.language && { language: event.language }),
          ...(event.logprobs && { logprobs: event.logprobs }),
          // Embedded engines bill nothing; the audio length is what OpenAI's duration usage reports.
          usage: { type: 'duration', seconds: Math.round(event.audioMs) / 1000 },
        }),
      ];
    case 'transcript.failed':
      return [
        transcription('failed', event, {
          // No `param` key: the agents SDK's schema accepts a string there but not null.
          error: { type: wireType(event.error.code), code: event.error.code, message: event.error.message },
        }),
      ];
    case 'response.created':
      return [emit('response.created', { response: responseToWire(event.response, { ...context, output: context.session.output }) })];
    case 'output_item.added':
      return [emit('response.output_item.added', { response_id: event.responseId, output_index: event.outputIndex, item: itemToWire(event.item, dialect) })];
    case 'output_item.done':
      return [emit('response.output_item.done', { response_id: event.responseId, output_index: event.outputIndex, item: itemToWire(event.item, dialect) })];
    case 'content_part.added':
      return [emit('response.content_part.added', { ...output(event), part: contentPartEventToWire(event.part) })];
    case 'content_part.done':
      return [emit('response.content_part.done', { ...output(event), part: contentPartEventToWire(event.part) })];
    case 'text.delta':
      return [emit('response.output_text.delta', { ...output(event), delta: event.delta })];
    case 'text.done':
      return [emit('response.output_text.done', { ...output(event), text: event.text })];
    case 'audio.delta':
      return [emit('response.output_audio.delta', { ...output(event), delta: encodeBase64Audio(event.audio, context.session.output.encoding) })];
    case 'audio.done':
      return [emit('response.output_audio.done', output(event))];
    case 'audio_transcript.delta':
      return [emit('response.output_audio_transcript.delta', { ...output(event), delta: event.delta })];
    case 'audio_transcript.done':
      return [emit('response.output_audio_transcript.done', { ...output(event), transcript: event.transcript })];
    case 'function_call.arguments.delta':
      return [
        emit('response.function_call_arguments.delta', {
          response_id: event.responseId,
          item_id: event.itemId,
          output_index: event.outputIndex,
          call_id: event.callId,
          delta: event.delta,
        }),
      ];
    case 'function_call.arguments.done':
      return [
        emit('response.function_call_arguments.done', {
          response_id: event.responseId,
          item_id: event.itemId,
          output_index: event.outputIndex,
          call_id: event.callId,
          name: event.name,
          arguments: event.arguments,
        }),
      ];
    case 'response.done': {
      const response = responseToWire(event.response, { ...context, output: context.session.output });
      const events: ServerEvent[] = [];
      // Beta clients written against the preview wait for response.cancelled before response.done.
      if (dialect === 'beta' && event.response.status === 'cancelled') events.push(emit('response.cancelled', { response_id: event.response.id, response }));
      events.push(emit('response.done', { response }));
      // The gateway enforces no request or token limits, so the list is empty; clients still get the event they wait for.
      events.push(emit('rate_limits.updated', { rate_limits: [] }));
      return events;
    }
    case 'transcript.interim':
      // Not an OpenAI event: the whole text so far of the turn being spoken, each time (a later one may revise it).
      return [emit('conversation.item.input_audio_transcription.partial', { item_id: event.itemId, content_index: 0, transcript: event.text })];
    case 'turn.timings': {
      if (!context.session.turnTimings) return [];
      const { timings } = event;
      return [
        emit('speechbridge.turn.timings', {
          item_id: timings.itemId,
          response_id: timings.responseId,
          transcription_ms: roundMs(timings.transcriptionMs),
          first_token_ms: roundMs(timings.firstTokenMs),
          first_audio_ms: roundMs(timings.firstAudioMs),
          total_ms: roundMs(timings.totalMs),
        }),
      ];
    }
    case 'error':
      return [errorEvent(event.code, event.message, wireParamOf(event.param, dialect), event.eventId, context)];
    case 'turn.ended':
      // The OpenAI protocol names every item in its events; a turn's end has no event of its own.
      return [];
  }
}

/** session.created (+ conversation.created for conversation sessions), sent once on connect. */
export function sessionCreatedEvents(config: SessionConfig, context: ServerEventContext): ServerEvent[] {
  const events = [sessionEvent('created', config, context)];
  if (context.session.kind === 'conversation') {
    events.push({
      type: 'conversation.created',
      event_id: context.newEventId(),
      conversation: { id: context.conversationId, object: 'realtime.conversation' },
    });
  }
  return events;
}

function sessionEvent(phase: 'created' | 'updated', config: SessionConfig, context: ServerEventContext): ServerEvent {
  const betaTranscription = context.dialect === 'beta' && context.session.kind === 'transcription';
  return {
    type: betaTranscription ? `transcription_session.${phase}` : `session.${phase}`,
    event_id: context.newEventId(),
    session: sessionToWire(config, context.session, context.dialect),
  };
}

/** `error` with the offending client event's id in `error.event_id` (null when unknown). */
export function errorEvent(
  code: ErrorCode,
  message: string,
  param: string | null,
  clientEventId: string | null,
  context: Pick<ServerEventContext, 'newEventId'>,
): ServerEvent {
  return { type: 'error', event_id: context.newEventId(), error: { type: wireType(code), code, message, param, event_id: clientEventId } };
}

/** Whole milliseconds: the engine's clock has sub-millisecond noise no reader needs. */
function roundMs(ms: number | null): number | null {
  return ms === null ? null : Math.round(ms);
}

function wireType(code: ErrorCode): string {
  return CATEGORIES[ERROR_CODES[code].category].wireType;
}
