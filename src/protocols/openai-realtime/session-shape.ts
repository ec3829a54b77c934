/**
 * The session object on the wire, both ways: a client's `session` (GA or beta spelling) →
 * SessionUpdate plus the audio formats it asks for, and SessionConfig → the GA session object
 * (`audio.input.format`, `output_modalities`, …) or the beta one (`input_audio_format`,
 * `modalities`, …), for realtime and transcription sessions alike.
 */
import { SpeechbridgeError } from '../../errors/registry.ts';
import type { SessionConfig, SessionKind, SessionUpdate, ToolChoiceConfig, ToolConfig, TurnDetectionConfig } from '../../engine/events.ts';
import { type AudioFormat, fromBetaFormat, fromGaFormat, toBetaFormat, toGaFormat } from './audio-format.ts';
import { REALTIME_FIELD_LIMITS, type WireSession } from './client-events.ts';

export type Dialect = 'ga' | 'beta';

type WireTranscription = NonNullable<WireSession['input_audio_transcription']>;

/**
 * Fields the session reports back as the client set them, beside what the engine reports: ones
 * no engine here acts on (tracing, prompt, truncation, noise reduction; README says so), and
 * the client's own spelling of ones it passes on changed (the model it asked for by name,
 * reasoning and parallel tool calls for the LLM, include, transcription keywords and languages).
 */
export interface EchoedSessionFields {
  tracing: unknown;
  include: string[] | null;
  prompt: unknown;
  truncation: unknown;
  noiseReduction: { type?: string; strength?: number } | null;
  /** The model the client asked for (`?model=` or session.model), even one the LLM is not called by. */
  model: string | null;
  reasoning: { effort?: string } | null;
  parallelToolCalls: boolean | null;
  /** The transcription object as the client sent it; null: the server's defaults (or cleared). */
  transcription: WireTranscription | null;
}

export const DEFAULT_ECHOED_FIELDS: Readonly<EchoedSessionFields> = Object.freeze({
  tracing: null,
  include: null,
  prompt: null,
  truncation: 'auto',
  noiseReduction: null,
  model: null,
  reasoning: null,
  parallelToolCalls: null,
  transcription: null,
});

/**
 * What a /v1/realtime session starts with over the server's defaults: OpenAI clients listen
 * for conversation.item.input_audio_transcription.delta while the user speaks, so the interim
 * passes run and go out as deltas unless the client picks speechbridge.interim_transcripts.
 */
export const REALTIME_SESSION_DEFAULTS: Readonly<SessionUpdate> = Object.freeze({ interimDeltas: true });

/** `session.model` when the client asked for none and no LLM model is configured: the gateway's own pipeline. */
export const DEFAULT_SESSION_MODEL = 'speechbridge';

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

/**
 * Maps a parsed client `session` onto the engine's SessionUpdate; absent fields stay absent.
 * Throws SpeechbridgeError naming the field for what the gateway refuses (MCP tools,
 * keywords past the prompt's length, a language outside `languages`).
 */
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
  if (session.tools) update.tools = session.tools.map((tool, index) => toolFromWire(tool, `session.tools[${index}]`));
  if (session.tool_choice !== undefined) update.toolChoice = toolChoiceFromWire(session.tool_choice, 'session.tool_choice');
  if (session.speechbridge?.mode) update.mode = session.speechbridge.mode;
  if (session.speechbridge?.target_language) update.targetLanguage = session.speechbridge.target_language;
  const interim = session.speechbridge?.interim_transcripts;
  if (interim !== undefined) {
    // true: our partial event (the whole text so far) instead of OpenAI's deltas; false: neither, no interim passes.
    update.interimTranscripts = interim;
    update.interimDeltas = false;
  }
  if (session.speechbridge?.interim_passes !== undefined) update.interimPasses = session.speechbridge.interim_passes;
  if (session.speechbridge?.turn_timings !== undefined) update.turnTimings = session.speechbridge.turn_timings;

  const gaTranscription = input?.transcription !== undefined;
  const transcription = gaTranscription ? input.transcription : session.input_audio_transcription;
  const echoed: Partial<EchoedSessionFields> = {};
  if (transcription !== undefined) {
    // null switches transcription "off" for OpenAI; here transcripts feed the responder, so it only clears the settings.
    const param = gaTranscription ? 'session.audio.input.transcription' : 'session.input_audio_transcription';
    update.transcription = transcription === null ? {} : transcriptionFromWire(transcription, param);
    echoed.transcription = transcription === null ? null : definedOnly({ ...transcription });
  }
  const turnDetection = input?.turn_detection !== undefined ? input.turn_detection : session.turn_detection;
  if (turnDetection !== undefined) update.turnDetection = turnDetectionFromWire(turnDetection);

  if (session.tracing !== undefined) echoed.tracing = session.tracing;
  if (session.model !== undefined) echoed.model = session.model;
  if (session.reasoning !== undefined) echoed.reasoning = session.reasoning;
  if (session.reasoning?.effort !== undefined) update.reasoningEffort = session.reasoning.effort;
  if (session.parallel_tool_calls !== undefined) {
    echoed.parallelToolCalls = session.parallel_tool_calls;
    update.parallelToolCalls = session.parallel_tool_calls;
  }
  if (session.include !== undefined) {
    echoed.include = session.include;
    update.transcriptLogprobs = session.include?.includes('item.input_audio_transcription.logprobs') ?? false;
  }
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
    model: sessionModel(config, state),
    output_modalities: config.outputModalities,
    instructions: config.instructions ?? '',
    audio: {
      input: gaAudioInput(config, state),
      output: { format: toGaFormat(state.output), voice: config.voice, speed: config.speed ?? 1 },
    },
    tools: config.tools.map(toolToWire),
    tool_choice: toolChoiceToWire(config.toolChoice),
    ...(state.echoed.parallelToolCalls !== null && { parallel_tool_calls: state.echoed.parallelToolCalls }),
    ...(state.echoed.reasoning !== null && { reasoning: state.echoed.reasoning }),
    max_output_tokens: config.maxOutputTokens ?? 'inf',
    tracing: state.echoed.tracing,
    prompt: state.echoed.prompt,
    include: state.echoed.include,
    truncation: state.echoed.truncation,
    expires_at: state.expiresAt,
    speechbridge: extensionToWire(config),
  };
}

/** GA `audio.input`, the same in a realtime and a transcription session. */
function gaAudioInput(config: SessionConfig, state: SessionWireState): Record<string, unknown> {
  return {
    format: toGaFormat(state.input),
    transcription: transcriptionToWire(config, state),
    noise_reduction: state.echoed.noiseReduction,
    turn_detection: turnDetectionToWire(config.turnDetection),
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
      input: gaAudioInput(config, state),
    },
  };
}

function betaSession(config: SessionConfig, state: SessionWireState): Record<string, unknown> {
  return {
    id: state.id,
    object: 'realtime.session',
    model: sessionModel(config, state),
    expires_at: state.expiresAt,
    // Beta's spelling of an audio session is ["text","audio"] (audio with its transcript), GA's ["audio"].
    modalities: betaModalities(config.outputModalities),
    instructions: config.instructions ?? '',
    voice: config.voice,
    speed: config.speed ?? 1,
    input_audio_format: toBetaFormat(state.input),
    output_audio_format: toBetaFormat(state.output),
    input_audio_transcription: transcriptionToWire(config, state),
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
    input_audio_transcription: transcriptionToWire(config, state),
    input_audio_noise_reduction: state.echoed.noiseReduction,
    turn_detection: turnDetectionToWire(config.turnDetection),
    include: state.echoed.include,
  };
}

/**
 * A transcription object → the recognizer's settings. `keywords` go in the prompt (after the
 * client's own prompt), which is how whisper and OpenAI's transcription models take a
 * vocabulary; a single entry of `languages` is the language hint, and with several the
 * recognizer detects which (when it can). The client's spelling is reported back as sent.
 */
function transcriptionFromWire(wire: WireTranscription, param: string): NonNullable<SessionUpdate['transcription']> {
  const languages = wire.languages;
  if (wire.language !== undefined && languages !== undefined && !languages.includes(wire.language)) {
    throw new SpeechbridgeError(
      'invalid_value',
      `${param}.language ${JSON.stringify(wire.language)} is not among ${param}.languages; give one of them, or leave language out`,
      {
        param: `${param}.language`,
      },
    );
  }
  const language = wire.language ?? (languages?.length === 1 ? languages[0] : undefined);
  const keywords = wire.keywords?.map((keyword) => keyword.trim()).filter((keyword) => keyword !== '');
  const prompt = [wire.prompt?.trim(), keywords && keywords.length > 0 ? `${keywords.join(', ')}.` : undefined].filter(Boolean).join(' ');
  if (prompt.length > REALTIME_FIELD_LIMITS.transcriptionPromptChars) {
    throw new SpeechbridgeError(
      'invalid_value',
      `${param}.keywords: the prompt and the keywords go to the recognizer together, and together they are ${prompt.length} characters; the limit is ${REALTIME_FIELD_LIMITS.transcriptionPromptChars}`,
      { param: `${param}.keywords` },
    );
  }
  // A diarize model (gpt-4o-transcribe-diarize) asks for speaker segments, which the diarizer (DIAR_URL) gives.
  const diarize = wire.model !== undefined && DIARIZE_MODEL.test(wire.model) ? true : undefined;
  return definedOnly({ model: wire.model, language, prompt: keywords && keywords.length > 0 ? prompt : wire.prompt, diarize });
}

const DIARIZE_MODEL = /diariz/i;

/**
 * The fields OpenAI's GA session object does not have: the beta spellings (each with its GA
 * name, for the error message). A GA `session.update` carrying one is refused, as OpenAI
 * refuses it, rather than applied: a client debugging against the gateway must not learn a
 * spelling that fails on OpenAI.
 */
export const BETA_SESSION_FIELDS: Readonly<Record<string, string>> = Object.freeze({
  modalities: 'session.output_modalities',
  input_audio_format: 'session.audio.input.format',
  output_audio_format: 'session.audio.output.format',
  turn_detection: 'session.audio.input.turn_detection',
  input_audio_transcription: 'session.audio.input.transcription',
  input_audio_noise_reduction: 'session.audio.input.noise_reduction',
  voice: 'session.audio.output.voice',
  speed: 'session.audio.output.speed',
  temperature: '',
  max_response_output_tokens: 'session.max_output_tokens',
});

/** What a GA transcription session has besides `type`, `audio.input` and `include` (OpenAI's RealtimeTranscriptionSessionCreateRequest), and our `speechbridge`. */
const REALTIME_ONLY_FIELDS = [
  'model',
  'instructions',
  'output_modalities',
  'tools',
  'tool_choice',
  'parallel_tool_calls',
  'reasoning',
  'max_output_tokens',
  'tracing',
  'prompt',
  'truncation',
] as const;

/**
 * The checks of a GA `session.update` beyond the shape every dialect shares: `session.type` is
 * required (missing_required_parameter), beta spellings are unknown (unknown_parameter), and a
 * transcription session has no conversation fields (unknown_parameter). Throws naming the field.
 */
export function checkGaSession(session: WireSession): void {
  if (session.type === undefined) {
    throw new SpeechbridgeError(
      'missing_required_parameter',
      `Missing required parameter: 'session.type'. Give "realtime" or "transcription" (the session's type, which stays what it is).`,
      {
        param: 'session.type',
      },
    );
  }
  for (const field of Object.keys(BETA_SESSION_FIELDS)) {
    if ((session as Record<string, unknown>)[field] === undefined) continue;
    const ga = BETA_SESSION_FIELDS[field];
    const hint = ga ? ` (a beta field; a GA session takes ${ga})` : ' (a beta field the GA session does not have)';
    throw new SpeechbridgeError('unknown_parameter', `Unknown parameter: 'session.${field}'.${hint}`, { param: `session.${field}` });
  }
  if (session.type !== 'transcription') return;
  const realtimeOnly = REALTIME_ONLY_FIELDS.find((field) => session[field] !== undefined) ?? (session.audio?.output !== undefined ? 'audio.output' : undefined);
  if (realtimeOnly !== undefined) {
    throw new SpeechbridgeError('unknown_parameter', `Unknown parameter: 'session.${realtimeOnly}'. (a transcription session has no ${realtimeOnly})`, {
      param: `session.${realtimeOnly}`,
    });
  }
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

/** The transcription object as the client last sent it, else the settings the session started with. */
function transcriptionToWire(config: SessionConfig, state: SessionWireState): Record<string, unknown> {
  if (state.echoed.transcription !== null) return { ...state.echoed.transcription };
  return definedOnly({ model: config.transcription.model, language: config.transcription.language, prompt: config.transcription.prompt });
}

/** The model the client asked for, else the configured LLM model, else the gateway's own name: never absent. */
function sessionModel(config: SessionConfig, state: SessionWireState): string {
  return state.echoed.model ?? config.model ?? DEFAULT_SESSION_MODEL;
}

/** The beta `modalities` of a session or response: audio always comes with its transcript. */
export function betaModalities(modalities: readonly string[]): string[] {
  return modalities.includes('audio') ? ['text', 'audio'] : ['text'];
}

function extensionToWire(config: SessionConfig): Record<string, unknown> {
  return definedOnly({
    mode: config.mode,
    target_language: config.targetLanguage,
    interim_transcripts: config.interimTranscripts,
    interim_passes: config.interimPasses,
    turn_timings: config.turnTimings,
  });
}

/** A client's tool (`param`: where it is, `session.tools[0]`); only function tools are supported. */
export function toolFromWire(tool: WireTool, param: string): ToolConfig {
  if (tool.type === 'mcp') {
    throw new SpeechbridgeError(
      'unsupported_tool_type',
      `${param}: MCP tools are not supported; give function tools ({"type": "function", "name", "parameters"}) and run them in the client`,
      {
        param: `${param}.type`,
      },
    );
  }
  const functionTool = tool as Extract<WireTool, { name: string }>;
  return definedOnly({ type: 'function' as const, name: functionTool.name, description: functionTool.description, parameters: functionTool.parameters });
}

/** A client's tool_choice; forcing an MCP tool is refused as MCP tools are. */
export function toolChoiceFromWire(choice: NonNullable<WireSession['tool_choice']>, param: string): ToolChoiceConfig {
  if (typeof choice === 'object' && choice.type === 'mcp') {
    throw new SpeechbridgeError(
      'unsupported_tool_type',
      `${param}: MCP tools are not supported, so none can be chosen; name a function tool or give "auto", "none" or "required"`,
      {
        param: `${param}.type`,
      },
    );
  }
  return choice as ToolChoiceConfig;
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
    case 'interimDeltas':
      return 'session.speechbridge.interim_transcripts';
    case 'transcriptLogprobs':
      return 'session.include';
    case 'reasoningEffort':
      return 'session.reasoning.effort';
    case 'parallelToolCalls':
      return 'session.parallel_tool_calls';
    case 'interimPasses':
      return 'session.speechbridge.interim_passes';
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
