/**
 * The session object on the wire, both ways: a client's `session` (GA or beta spelling) →
 * SessionUpdate plus the audio formats it asks for, and SessionConfig → the GA session object
 * (`audio.input.format`, `output_modalities`, …) or the beta one (`input_audio_format`,
 * `modalities`, …), for realtime and transcription sessions alike.
 */
import type { SessionConfig, SessionKind, SessionUpdate, ToolChoiceConfig, ToolConfig, TurnDetectionConfig } from '../../engine/events.ts';
import { type AudioFormat, fromBetaFormat, fromGaFormat, toBetaFormat, toGaFormat } from './audio-format.ts';
import type { WireSession } from './client-events.ts';

export type Dialect = 'ga' | 'beta';

/** Fields the gateway does not act on but reports back as set, as OpenAI's server does. */
export interface EchoedSessionFields {
  tracing: unknown;
  include: string[] | null;
  prompt: unknown;
  truncation: unknown;
  noiseReduction: { type?: string } | null;
}

export const DEFAULT_ECHOED_FIELDS: Readonly<EchoedSessionFields> = Object.freeze({
  tracing: null,
  include: null,
  prompt: null,
  truncation: 'auto',
  noiseReduction: null,
});

export interface SessionWireState {
  id: string;
  kind: SessionKind;
  input: AudioFormat;
  output: AudioFormat;
  echoed: EchoedSessionFields;
  /** Unix seconds. */
  expiresAt: number;
  /** The client asked for speechbridge.turn.timings events (session.speechbridge.turn_timings). */
  turnTimings: boolean;
}

export interface WireSessionUpdate {
  update: SessionUpdate;
  input?: AudioFormat;
  output?: AudioFormat;
  echoed: Partial<EchoedSessionFields>;
}

type WireFormat = NonNullable<NonNullable<NonNullable<WireSession['audio']>['input']>['format']>;
type WireTurnDetection = NonNullable<WireSession['turn_detection']> | null;
type WireTool = NonNullable<WireSession['tools']>[number];

/** Maps a parsed client `session` onto the engine's SessionUpdate; absent fields stay absent. */
export function sessionUpdateFromWire(session: WireSession): WireSessionUpdate {
  const update: SessionUpdate = {};
  const input = session.audio?.input;
  const output = session.audio?.output;
  const inputFormat = pickFormat(input?.format, session.input_audio_format);
  const outputFormat = pickFormat(output?.format, session.output_audio_format);
  if (inputFormat) update.inputSampleRate = inputFormat.sampleRate;
  if (outputFormat) update.outputSampleRate = outputFormat.sampleRate;

  const modalities = session.output_modalities ?? session.modalities;
  if (modalities) update.outputModalities = [...new Set(modalities)];
  if (session.instructions !== undefined) update.instructions = session.instructions;
  if (session.model !== undefined && !isSpeechModelName(session.model)) update.model = session.model;
  const voice = output?.voice ?? session.voice;
  if (voice !== undefined) update.voice = typeof voice === 'string' ? voice : voice.id;
  const speed = output?.speed ?? session.speed;
  if (speed !== undefined) update.speed = speed;
  if (session.temperature !== undefined) update.temperature = session.temperature;
  const maxTokens = session.max_output_tokens ?? session.max_response_output_tokens;
  if (maxTokens !== undefined) update.maxOutputTokens = maxTokens === 'inf' ? null : maxTokens;
  if (session.tools) update.tools = session.tools.map(toolFromWire);
  if (session.tool_choice !== undefined) update.toolChoice = session.tool_choice;
  if (session.speechbridge?.mode) update.mode = session.speechbridge.mode;
  if (session.speechbridge?.target_language) update.targetLanguage = session.speechbridge.target_language;
  if (session.speechbridge?.interim_transcripts !== undefined) update.interimTranscripts = session.speechbridge.interim_transcripts;
  if (session.speechbridge?.turn_timings !== undefined) update.turnTimings = session.speechbridge.turn_timings;

  const transcription = input?.transcription !== undefined ? input.transcription : session.input_audio_transcription;
  if (transcription !== undefined) {
    // null switches transcription "off" for OpenAI; here transcripts feed the responder, so it only clears the settings.
    update.transcription = transcription === null ? {} : definedOnly({ model: transcription.model, language: transcription.language, prompt: transcription.prompt });
  }
  const turnDetection = input?.turn_detection !== undefined ? input.turn_detection : session.turn_detection;
  if (turnDetection !== undefined) update.turnDetection = turnDetectionFromWire(turnDetection);

  const echoed: Partial<EchoedSessionFields> = {};
  if (session.tracing !== undefined) echoed.tracing = session.tracing;
  if (session.include !== undefined) echoed.include = session.include;
  if (session.prompt !== undefined) echoed.prompt = session.prompt;
  if (session.truncation !== undefined) echoed.truncation = session.truncation;
  const noiseReduction = input?.noise_reduction !== undefined ? input.noise_reduction : session.input_audio_noise_reduction;
  if (noiseReduction !== undefined) echoed.noiseReduction = noiseReduction;
  return { update, input: inputFormat, output: outputFormat, echoed };
}

/** The session object of `session.created` / `session.updated` (and the beta transcription_session.*). */
export function sessionToWire(config: SessionConfig, state: SessionWireState, dialect: Dialect): Record<string, unknown> {
  if (dialect === 'beta') return state.kind === 'transcription' ? betaTranscriptionSession(config, state) : betaSession(config, state);
  return state.kind === 'transcription' ? gaTranscriptionSession(config, state) : gaSession(config, state);
}

function gaSession(config: SessionConfig, state: SessionWireState): Record<string, unknown> {
  return {
    type: 'realtime',
    object: 'realtime.session',
    id: state.id,
    model: config.model,
    output_modalities: config.outputModalities,
    instructions: config.instructions ?? '',
    audio: {
      input: {
        format: toGaFormat(state.input),
        transcription: transcriptionToWire(config),
        noise_reduction: state.echoed.noiseReduction,
        turn_detection: turnDetectionToWire(config.turnDetection),
      },
      output: { format: toGaFormat(state.output), voice: config.voice, speed: config.speed ?? 1 },
    },
    tools: config.tools.map(toolToWire),
    tool_choice: toolChoiceToWire(config.toolChoice),
    max_output_tokens: config.maxOutputTokens ?? 'inf',
    tracing: state.echoed.tracing,
    prompt: state.echoed.prompt,
    include: state.echoed.include,
    truncation: state.echoed.truncation,
    expires_at: state.expiresAt,
    speechbridge: extensionToWire(config),
  };
}

function gaTranscriptionSession(config: SessionConfig, state: SessionWireState): Record<string, unknown> {
  return {
    type: 'transcription',
    object: 'realtime.transcription_session',
    id: state.id,
    expires_at: state.expiresAt,
    include: state.echoed.include,
    audio: {
      input: {
        format: toGaFormat(state.input),
        transcription: transcriptionToWire(config),
        noise_reduction: state.echoed.noiseReduction,
        turn_detection: turnDetectionToWire(config.turnDetection),
      },
    },
  };
}

function betaSession(config: SessionConfig, state: SessionWireState): Record<string, unknown> {
  return {
    id: state.id,
    object: 'realtime.session',
    model: config.model,
    expires_at: state.expiresAt,
    modalities: config.outputModalities,
    instructions: config.instructions ?? '',
    voice: config.voice,
    speed: config.speed ?? 1,
    input_audio_format: toBetaFormat(state.input),
    output_audio_format: toBetaFormat(state.output),
    input_audio_transcription: transcriptionToWire(config),
    input_audio_noise_reduction: state.echoed.noiseReduction,
    turn_detection: turnDetectionToWire(config.turnDetection),
    tools: config.tools.map(toolToWire),
    tool_choice: toolChoiceToWire(config.toolChoice),
    // OpenAI's beta default, reported when the client set none.
    temperature: config.temperature ?? 0.8,
    max_response_output_tokens: config.maxOutputTokens ?? 'inf',
    tracing: state.echoed.tracing,
    include: state.echoed.include,
    speechbridge: extensionToWire(config),
  };
}

function betaTranscriptionSession(config: SessionConfig, state: SessionWireState): Record<string, unknown> {
  return {
    id: state.id,
    object: 'realtime.transcription_session',
    expires_at: state.expiresAt,
    modalities: ['text'],
    input_audio_format: toBetaFormat(state.input),
    input_audio_transcription: transcriptionToWire(config),
    input_audio_noise_reduction: state.echoed.noiseReduction,
    turn_detection: turnDetectionToWire(config.turnDetection),
    include: state.echoed.include,
  };
}

function pickFormat(ga: WireFormat | undefined, beta: WireSession['input_audio_format']): AudioFormat | undefined {
  const format = ga ?? beta;
  if (format === undefined) return undefined;
  return typeof format === 'string' ? fromBetaFormat(format) : fromGaFormat(format);
}

function turnDetectionFromWire(wire: WireTurnDetection): SessionUpdate['turnDetection'] {
  if (wire === null || wire.type === 'none') return null;
  if (wire.type === 'semantic_vad') {
    return definedOnly<Partial<TurnDetectionConfig>>({
      type: 'semantic_vad',
      eagerness: wire.eagerness,
      createResponse: wire.create_response,
      interruptResponse: wire.interrupt_response,
    });
  }
  return definedOnly<Partial<TurnDetectionConfig>>({
    type: 'server_vad',
    engine: wire.engine,
    aggressiveness: wire.aggressiveness,
    threshold: wire.threshold,
    startMs: wire.start_ms,
    // The gateway's own names win over OpenAI's when a client sends both.
    endMs: wire.end_ms ?? wire.silence_duration_ms,
    padMs: wire.pad_ms ?? wire.prefix_padding_ms,
    maxMs: wire.max_ms,
    createResponse: wire.create_response,
    interruptResponse: wire.interrupt_response,
    idleTimeoutMs: wire.idle_timeout_ms,
  });
}

export function turnDetectionToWire(config: TurnDetectionConfig): Record<string, unknown> | null {
  switch (config.type) {
    case 'none':
      return null;
    case 'semantic_vad':
      return {
        type: 'semantic_vad',
        eagerness: config.eagerness ?? 'auto',
        create_response: config.createResponse,
        interrupt_response: config.interruptResponse,
      };
    case 'server_vad':
      return {
        type: 'server_vad',
        threshold: config.threshold,
        prefix_padding_ms: config.padMs,
        silence_duration_ms: config.endMs,
        create_response: config.createResponse,
        interrupt_response: config.interruptResponse,
        idle_timeout_ms: config.idleTimeoutMs,
        engine: config.engine,
        aggressiveness: config.aggressiveness,
        start_ms: config.startMs,
        max_ms: config.maxMs,
      };
  }
}

function transcriptionToWire(config: SessionConfig): Record<string, unknown> {
  return definedOnly({ model: config.transcription.model, language: config.transcription.language, prompt: config.transcription.prompt });
}

function extensionToWire(config: SessionConfig): Record<string, unknown> {
  return definedOnly({ mode: config.mode, target_language: config.targetLanguage, interim_transcripts: config.interimTranscripts, turn_timings: config.turnTimings });
}

export function toolFromWire(tool: WireTool): ToolConfig {
  return definedOnly({ type: 'function' as const, name: tool.name, description: tool.description, parameters: tool.parameters });
}

export function toolToWire(tool: ToolConfig): Record<string, unknown> {
  return definedOnly({ type: 'function', name: tool.name, description: tool.description, parameters: tool.parameters });
}

export function toolChoiceToWire(choice: ToolChoiceConfig): string | Record<string, unknown> {
  return typeof choice === 'string' ? choice : { type: 'function', name: choice.name };
}

/** Drops keys whose value is undefined, so partial updates carry only what the client sent. */
export function definedOnly<T extends object>(value: T): T {
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) if (field !== undefined) out[key] = field;
  return out as T;
}

const TURN_DETECTION_FIELDS: Readonly<Record<string, string>> = {
  endMs: 'silence_duration_ms',
  padMs: 'prefix_padding_ms',
  startMs: 'start_ms',
  maxMs: 'max_ms',
  createResponse: 'create_response',
  interruptResponse: 'interrupt_response',
  idleTimeoutMs: 'idle_timeout_ms',
};

/**
 * The engine names a bad session field in its own terms (`session.turnDetection.endMs`); the
 * client should see the field it sent (`session.audio.input.turn_detection.silence_duration_ms`,
 * or `session.turn_detection.silence_duration_ms` in beta). Other params pass unchanged.
 */
export function wireParamOf(param: string | null, dialect: Dialect): string | null {
  if (param === null) return param;
  if (!param.startsWith('session.')) return genericWireParam(param);
  const [, field, ...rest] = param.split('.');
  const tail = rest.length > 0 ? `.${rest.join('.')}` : '';
  const ga = dialect === 'ga';
  switch (field) {
    case 'outputModalities':
      return ga ? 'session.output_modalities' : 'session.modalities';
    case 'voice':
    case 'speed':
      return ga ? `session.audio.output.${field}` : `session.${field}`;
    case 'inputSampleRate':
      return ga ? 'session.audio.input.format' : 'session.input_audio_format';
    case 'outputSampleRate':
      return ga ? 'session.audio.output.format' : 'session.output_audio_format';
    case 'transcription':
      return `${ga ? 'session.audio.input.transcription' : 'session.input_audio_transcription'}${tail}`;
    case 'toolChoice':
      return `session.tool_choice${tail}`;
    case 'maxOutputTokens':
      return ga ? 'session.max_output_tokens' : 'session.max_response_output_tokens';
    case 'mode':
      return 'session.speechbridge.mode';
    case 'targetLanguage':
      return 'session.speechbridge.target_language';
    case 'interimTranscripts':
      return 'session.speechbridge.interim_transcripts';
    case 'turnTimings':
      return 'session.speechbridge.turn_timings';
    case 'turnDetection': {
      const base = ga ? 'session.audio.input.turn_detection' : 'session.turn_detection';
      return rest.length === 0 ? base : `${base}.${TURN_DETECTION_FIELDS[rest[0]] ?? rest[0]}`;
    }
    default:
      return param;
  }
}

const RESPONSE_FIELDS: Readonly<Record<string, string>> = {
  inConversation: 'conversation',
  mode: 'speechbridge.mode',
  targetLanguage: 'speechbridge.target_language',
};

/** `response.toolChoice` → `response.tool_choice`, `item.callId` → `item.call_id`, `responseId` → `response_id`. */
function genericWireParam(param: string): string {
  const [head, ...rest] = param.split('.');
  if (head === 'response' && rest.length > 0 && RESPONSE_FIELDS[rest[0]]) return ['response', RESPONSE_FIELDS[rest[0]], ...rest.slice(1)].join('.');
  return param.replace(/[a-z][A-Z]/g, (pair) => `${pair[0]}_${pair[1].toLowerCase()}`);
}

/**
 * OpenAI's realtime and audio model names (gpt-realtime…, gpt-4o-realtime-preview…,
 * gpt-audio…) name the speech-to-speech model these clients expect; here speech runs through
 * the gateway's own pipeline, so such a name says nothing about which LLM to use and the
 * configured one stays.
 */
export function isSpeechModelName(model: string): boolean {
  return /^(gpt-realtime|gpt-4o(-mini)?-realtime|gpt-audio)/.test(model);
}
