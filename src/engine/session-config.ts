/**
 * A session's configuration: the defaults the server builds from its environment, the
 * validation of a session.update (every bad value is refused with the field it names and the
 * config stays as it was), and the mapping of the turn-detection settings onto the turn
 * detector and voice detector.
 */
import { defaultUpstreamLimits } from '../providers/upstream-limits.ts';
import { checkBoolean, checkEnum, checkInteger, checkNumber, checkString, invalidField as invalid } from '../errors/field-checks.ts';
import {
  RESPONSE_MODES,
  type InterimPasses,
  type Modality,
  type ResponseMode,
  type SessionConfig,
  type SessionKind,
  type SessionUpdate,
  type ToolChoiceConfig,
  type ToolConfig,
  type TurnDetectionConfig,
} from './events.ts';
import { thresholdToAggressiveness, type TurnOptions } from '../vad/turn-options.ts';
import { SESSION_RANGES } from './ranges.ts';
import type { Aggressiveness, VoiceDetectorOptions } from '../vad/voice-detector.ts';

/** The VAD settings as the server reads them from VAD_* and DEFAULT_VAD_* (src/server/config.ts `vad`). */
export type VadDefaults = Omit<TurnDetectionConfig, 'type' | 'idleTimeoutMs' | 'eagerness'>;

/** Bounds on what one session may hold or wait for; not visible to clients. */
export interface EngineLimits {
  /** Input audio the buffer holds before append is refused (input_audio_buffer_full). */
  maxBufferMs: number;
  /** Conversation items kept; the oldest are dropped beyond it. */
  maxItems: number;
  /** Output audio per audio.delta, 20–100 ms. */
  audioHopMs: number;
  /** A response still running after this long ends failed with upstream_timeout (RESPONSE_TIMEOUT). */
  responseTimeoutMs: number;
  /** A transcription still running after this long ends failed with upstream_timeout. */
  transcriptionTimeoutMs: number;
  /** A sentence whose speech runs longer ends the response failed (MAX_SENTENCE_AUDIO_SECONDS). */
  maxSentenceAudioMs: number;
  /** A response whose speech runs longer ends failed (MAX_RESPONSE_AUDIO_SECONDS). */
  maxResponseAudioMs: number;
}

const UPSTREAM_DEFAULTS = defaultUpstreamLimits();

/**
 * 15 minutes of 16 kHz PCM is 28.8 MB: the most a manual-commit session may hold (with VAD the
 * buffer never exceeds one turn, maxMs + padMs). 500 items keep a long conversation's context
 * (an LLM context window fills well before that). 50 ms hops: 20 hops a second keeps the
 * per-message overhead small while a barge-in stops audio within one hop. Two minutes covers
 * transcribing the longest turn (maxMs ≤ 10 min) on a slow CPU engine. The response timeout
 * and audio bounds are the upstream limits' defaults (src/providers/upstream-limits.ts says why).
 */
export const DEFAULT_LIMITS: Readonly<EngineLimits> = Object.freeze({
  maxBufferMs: 15 * 60_000,
  maxItems: 500,
  audioHopMs: 50,
  responseTimeoutMs: UPSTREAM_DEFAULTS.responseTimeoutMs,
  transcriptionTimeoutMs: 120_000,
  maxSentenceAudioMs: UPSTREAM_DEFAULTS.maxSentenceAudioMs,
  maxResponseAudioMs: UPSTREAM_DEFAULTS.maxResponseAudioMs,
});

export const AUDIO_HOP_RANGE_MS = SESSION_RANGES.audioHopMs;

export interface SessionDefaults {
  kind?: SessionKind;
  /** The LLM model (OPENAI_API_MODEL). */
  model?: string;
  /** DEFAULT_TTS_VOICE. */
  voice: string;
  vad: VadDefaults;
  /** 'server_vad' unless the server is set to manual commits. */
  turnDetection?: 'server_vad' | 'none';
  idleTimeoutMs?: number | null;
  /** Default 24000 (OpenAI's pcm16). */
  inputSampleRate?: number;
  /** Default 24000. */
  outputSampleRate?: number;
  /** Default ['audio']. */
  outputModalities?: Modality[];
  /** Default 'reply'. */
  mode?: ResponseMode;
  targetLanguage?: string;
  transcription?: SessionConfig['transcription'];
  maxOutputTokens?: number | null;
  /** INTERIM_PASSES; default 'auto'. */
  interimPasses?: InterimPasses;
  limits?: Partial<EngineLimits>;
}

const DEFAULT_SAMPLE_RATE = 24000;
const { sampleRate: SAMPLE_RATE_RANGE, speed: SPEED_RANGE, temperature: TEMPERATURE_RANGE, maxOutputTokens: MAX_OUTPUT_TOKENS_RANGE } = SESSION_RANGES;

/**
 * semantic_vad's eagerness as a silence length. A silence-based detector cannot tell a finished
 * thought from a pause, so eagerness picks how long a pause ends the turn: high 300 ms (answers
 * fastest, cuts more pauses mid-sentence), auto and medium 700 ms (longer than server VAD's
 * 450 ms default, since semantic VAD is chosen to let a user finish), low 1500 ms (for users
 * who stop to think).
 */
export const SEMANTIC_VAD_END_MS: Readonly<Record<NonNullable<TurnDetectionConfig['eagerness']>, number>> = Object.freeze({
  low: 1500,
  medium: 700,
  auto: 700,
  high: 300,
});

export function resolveLimits(limits: Partial<EngineLimits> = {}): EngineLimits {
  const resolved = { ...DEFAULT_LIMITS, ...limits };
  checkNumber(resolved.maxBufferMs, 1000, 24 * 3_600_000, 'limits.maxBufferMs');
  checkInteger(resolved.maxItems, 1, 1_000_000, 'limits.maxItems');
  checkNumber(resolved.audioHopMs, AUDIO_HOP_RANGE_MS[0], AUDIO_HOP_RANGE_MS[1], 'limits.audioHopMs');
  checkNumber(resolved.responseTimeoutMs, 1, 24 * 3_600_000, 'limits.responseTimeoutMs');
  checkNumber(resolved.transcriptionTimeoutMs, 1, 24 * 3_600_000, 'limits.transcriptionTimeoutMs');
  checkNumber(resolved.maxSentenceAudioMs, 1, 24 * 3_600_000, 'limits.maxSentenceAudioMs');
  checkNumber(resolved.maxResponseAudioMs, 1, 24 * 3_600_000, 'limits.maxResponseAudioMs');
  return resolved;
}

/** The config a new session starts with; throws invalid_value when the defaults are out of range. */
export function initialSessionConfig(defaults: SessionDefaults, responderModes?: readonly ResponseMode[]): SessionConfig {
  const { vad } = defaults;
  const base: SessionConfig = {
    kind: 'conversation',
    outputModalities: ['audio'],
    mode: 'reply',
    voice: 'alloy',
    inputSampleRate: DEFAULT_SAMPLE_RATE,
    outputSampleRate: DEFAULT_SAMPLE_RATE,
    turnDetection: {
      type: 'server_vad',
      engine: 'webrtc',
      aggressiveness: 2,
      threshold: 0.5,
      startMs: 120,
      endMs: 450,
      padMs: 180,
      maxMs: 5000,
      createResponse: true,
      interruptResponse: true,
      idleTimeoutMs: null,
    },
    transcription: {},
    interimTranscripts: false,
    interimDeltas: false,
    transcriptLogprobs: false,
    interimPasses: 'auto',
    turnTimings: false,
    tools: [],
    toolChoice: 'auto',
    maxOutputTokens: null,
  };
  return applySessionUpdate(
    base,
    {
      kind: defaults.kind ?? 'conversation',
      ...(defaults.model !== undefined && { model: defaults.model }),
      voice: defaults.voice,
      inputSampleRate: defaults.inputSampleRate ?? DEFAULT_SAMPLE_RATE,
      outputSampleRate: defaults.outputSampleRate ?? DEFAULT_SAMPLE_RATE,
      outputModalities: defaults.outputModalities ?? ['audio'],
      mode: defaults.mode ?? 'reply',
      ...(defaults.targetLanguage !== undefined && { targetLanguage: defaults.targetLanguage }),
      transcription: defaults.transcription ?? {},
      maxOutputTokens: defaults.maxOutputTokens ?? null,
      interimPasses: defaults.interimPasses ?? 'auto',
      turnDetection: {
        type: defaults.turnDetection ?? 'server_vad',
        engine: vad.engine,
        aggressiveness: vad.aggressiveness,
        threshold: vad.threshold,
        startMs: vad.startMs,
        endMs: vad.endMs,
        padMs: vad.padMs,
        maxMs: vad.maxMs,
        createResponse: vad.createResponse,
        interruptResponse: vad.interruptResponse,
        idleTimeoutMs: defaults.idleTimeoutMs ?? null,
      },
    },
    responderModes,
  );
}

/**
 * The config after `update`, or a SpeechbridgeError (invalid_value) whose `param` names the
 * first bad field as `session.<field>` in the engine's names (`session.turnDetection.endMs`).
 * Never mutates `config`.
 */
export function applySessionUpdate(config: SessionConfig, update: SessionUpdate, responderModes?: readonly ResponseMode[]): SessionConfig {
  const next: SessionConfig = {
    ...config,
    outputModalities: [...config.outputModalities],
    turnDetection: { ...config.turnDetection },
    transcription: { ...config.transcription },
    tools: config.tools.map((tool) => ({ ...tool })),
  };
  if (update.kind !== undefined) next.kind = checkEnum(update.kind, ['conversation', 'transcription'] as const, 'session.kind');
  if (update.model !== undefined) next.model = checkString(update.model, 'session.model', 200);
  if (update.instructions !== undefined) next.instructions = checkString(update.instructions, 'session.instructions', 100_000, true);
  if (update.outputModalities !== undefined) next.outputModalities = checkModalities(update.outputModalities, 'session.outputModalities');
  if (update.mode !== undefined) {
    next.mode = checkEnum(update.mode, RESPONSE_MODES, 'session.mode');
    if (responderModes && !responderModes.includes(next.mode)) {
      throw invalid('session.mode', `the responder does not support mode "${next.mode}"; it supports ${responderModes.join(', ')}`);
    }
  }
  if (update.targetLanguage !== undefined) next.targetLanguage = checkString(update.targetLanguage, 'session.targetLanguage', 100);
  if (update.voice !== undefined) next.voice = checkString(update.voice, 'session.voice', 100);
  if (update.ttsModel !== undefined) next.ttsModel = checkString(update.ttsModel, 'session.ttsModel', 200);
  if (update.speed !== undefined) next.speed = checkNumber(update.speed, SPEED_RANGE[0], SPEED_RANGE[1], 'session.speed');
  if (update.inputSampleRate !== undefined)
    next.inputSampleRate = checkInteger(update.inputSampleRate, SAMPLE_RATE_RANGE[0], SAMPLE_RATE_RANGE[1], 'session.inputSampleRate');
  if (update.outputSampleRate !== undefined)
    next.outputSampleRate = checkInteger(update.outputSampleRate, SAMPLE_RATE_RANGE[0], SAMPLE_RATE_RANGE[1], 'session.outputSampleRate');
  if (update.transcription !== undefined) next.transcription = checkTranscription(update.transcription);
  if (update.interimTranscripts !== undefined) next.interimTranscripts = checkBoolean(update.interimTranscripts, 'session.interimTranscripts');
  if (update.interimDeltas !== undefined) next.interimDeltas = checkBoolean(update.interimDeltas, 'session.interimDeltas');
  if (update.transcriptLogprobs !== undefined) next.transcriptLogprobs = checkBoolean(update.transcriptLogprobs, 'session.transcriptLogprobs');
  if (update.reasoningEffort !== undefined)
    next.reasoningEffort = checkEnum(update.reasoningEffort, ['minimal', 'low', 'medium', 'high', 'xhigh'] as const, 'session.reasoningEffort');
  if (update.parallelToolCalls !== undefined) next.parallelToolCalls = checkBoolean(update.parallelToolCalls, 'session.parallelToolCalls');
  if (update.interimPasses !== undefined) next.interimPasses = checkEnum(update.interimPasses, ['auto', 'on', 'off'] as const, 'session.interimPasses');
  if (update.turnTimings !== undefined) next.turnTimings = checkBoolean(update.turnTimings, 'session.turnTimings');
  if (update.tools !== undefined) next.tools = checkTools(update.tools, 'session.tools');
  if (update.toolChoice !== undefined) next.toolChoice = checkToolChoice(update.toolChoice, 'session.toolChoice');
  if (update.tools !== undefined || update.toolChoice !== undefined) checkToolChoiceNames(next.toolChoice, next.tools, 'session.toolChoice');
  if (update.temperature !== undefined) next.temperature = checkNumber(update.temperature, TEMPERATURE_RANGE[0], TEMPERATURE_RANGE[1], 'session.temperature');
  if (update.maxOutputTokens !== undefined) next.maxOutputTokens = checkMaxOutputTokens(update.maxOutputTokens, 'session.maxOutputTokens');
  if (update.turnDetection !== undefined) next.turnDetection = applyTurnDetection(next.turnDetection, update.turnDetection);
  return next;
}

function applyTurnDetection(current: TurnDetectionConfig, update: Partial<TurnDetectionConfig> | null): TurnDetectionConfig {
  if (update === null) return { ...current, type: 'none' };
  const param = (field: string) => `session.turnDetection.${field}`;
  const next = { ...current };
  if (update.type !== undefined) next.type = checkEnum(update.type, ['server_vad', 'semantic_vad', 'none'] as const, param('type'));
  if (update.engine !== undefined) next.engine = checkEnum(update.engine, ['webrtc', 'silero'] as const, param('engine'));
  if (update.threshold !== undefined) next.threshold = checkNumber(update.threshold, ...SESSION_RANGES.threshold, param('threshold'));
  if (update.aggressiveness !== undefined) {
    next.aggressiveness = checkInteger(update.aggressiveness, ...SESSION_RANGES.aggressiveness, param('aggressiveness'));
  } else if (update.threshold !== undefined && next.engine === 'webrtc') {
    // WebRTC VAD answers 0 or 1, so a client's probability threshold picks its mode (turn-options.ts).
    next.aggressiveness = thresholdToAggressiveness(next.threshold);
  }
  for (const field of ['startMs', 'endMs', 'padMs', 'maxMs'] as const) {
    const value = update[field];
    if (value !== undefined) next[field] = checkNumber(value, ...SESSION_RANGES[field], param(field));
  }
  if (update.createResponse !== undefined) next.createResponse = checkBoolean(update.createResponse, param('createResponse'));
  if (update.interruptResponse !== undefined) next.interruptResponse = checkBoolean(update.interruptResponse, param('interruptResponse'));
  if (update.idleTimeoutMs !== undefined) {
    next.idleTimeoutMs = update.idleTimeoutMs === null ? null : checkNumber(update.idleTimeoutMs, ...SESSION_RANGES.idleTimeoutMs, param('idleTimeoutMs'));
  }
  if (update.eagerness !== undefined) next.eagerness = checkEnum(update.eagerness, ['low', 'medium', 'high', 'auto'] as const, param('eagerness'));
  if (next.type === 'semantic_vad') {
    next.eagerness ??= 'auto';
    // An explicit endMs in the same update wins over the eagerness mapping.
    if (update.endMs === undefined && (update.type !== undefined || update.eagerness !== undefined)) next.endMs = SEMANTIC_VAD_END_MS[next.eagerness];
  } else if (update.type !== undefined) {
    delete next.eagerness;
  }
  return next;
}

export interface TurnSettings {
  turn: Partial<TurnOptions>;
  detector: VoiceDetectorOptions;
}

/** The turn detector's options and the voice detector to run for a turn-detection config. */
export function turnSettingsOf(config: TurnDetectionConfig): TurnSettings {
  const turn: Partial<TurnOptions> = { startMs: config.startMs, endMs: config.endMs, padMs: config.padMs, maxMs: config.maxMs };
  if (config.engine === 'silero') return { turn: { ...turn, threshold: config.threshold }, detector: { engine: 'silero' } };
  // WebRTC VAD's 0/1 answers make any threshold in (0, 1] equivalent; the mode carries the client's threshold.
  return { turn: { ...turn, threshold: 0.5 }, detector: { engine: 'webrtc', aggressiveness: config.aggressiveness as Aggressiveness } };
}

/** True when two configs need different voice detectors (engine or WebRTC mode changed). */
export function sameVoiceDetector(a: TurnDetectionConfig, b: TurnDetectionConfig): boolean {
  return a.engine === b.engine && (a.engine === 'silero' || a.aggressiveness === b.aggressiveness);
}

/** True when two configs give the turn detector the same options. */
export function sameTurnOptions(a: TurnDetectionConfig, b: TurnDetectionConfig): boolean {
  return (
    sameVoiceDetector(a, b) &&
    a.startMs === b.startMs &&
    a.endMs === b.endMs &&
    a.padMs === b.padMs &&
    a.maxMs === b.maxMs &&
    (a.engine === 'webrtc' || a.threshold === b.threshold)
  );
}

// ── Field checks ──────────────────────────────────────────────────────────────────────────

export function checkModalities(value: unknown, param: string): Modality[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > 2) throw invalid(param, `${param} must be ["audio"], ["text"] or ["text", "audio"]`);
  const out: Modality[] = [];
  for (const entry of value) {
    const modality = checkEnum(entry, ['text', 'audio'] as const, param);
    if (out.includes(modality)) throw invalid(param, `${param} lists "${modality}" twice`);
    out.push(modality);
  }
  return out;
}

export function checkTools(value: unknown, param: string): ToolConfig[] {
  if (!Array.isArray(value)) throw invalid(param, `${param} must be an array of function tools`);
  const names = new Set<string>();
  return value.map((tool: unknown, index) => {
    const at = `${param}[${index}]`;
    if (typeof tool !== 'object' || tool === null) throw invalid(at, `${at} must be an object`);
    const { type, name, description, parameters } = tool as Record<string, unknown>;
    if (type !== 'function') throw invalid(`${at}.type`, `${at}.type must be "function"`);
    const checkedName = checkString(name, `${at}.name`, 64);
    if (!/^[A-Za-z0-9_-]+$/.test(checkedName)) throw invalid(`${at}.name`, `${at}.name may hold only letters, digits, "_" and "-"`);
    if (names.has(checkedName)) throw invalid(`${at}.name`, `tool "${checkedName}" is defined twice`);
    names.add(checkedName);
    if (parameters !== undefined && (typeof parameters !== 'object' || parameters === null || Array.isArray(parameters))) {
      throw invalid(`${at}.parameters`, `${at}.parameters must be a JSON schema object`);
    }
    return {
      type: 'function',
      name: checkedName,
      ...(description !== undefined && { description: checkString(description, `${at}.description`, 10_000, true) }),
      ...(parameters !== undefined && { parameters: parameters as Record<string, unknown> }),
    };
  });
}

export function checkToolChoice(value: unknown, param: string): ToolChoiceConfig {
  if (value === 'auto' || value === 'none' || value === 'required') return value;
  if (typeof value === 'object' && value !== null && (value as { type?: unknown }).type === 'function') {
    return { type: 'function', name: checkString((value as { name?: unknown }).name, `${param}.name`, 64) };
  }
  throw invalid(param, `${param} must be "auto", "none", "required" or {type: "function", name}`);
}

export function checkToolChoiceNames(choice: ToolChoiceConfig, tools: ToolConfig[], param: string): void {
  if (typeof choice === 'object' && !tools.some((tool) => tool.name === choice.name)) {
    throw invalid(`${param}.name`, `${param} names tool "${choice.name}", which is not among the session's tools`);
  }
}

export function checkMaxOutputTokens(value: unknown, param: string): number | null {
  if (value === null) return null;
  return checkInteger(value, MAX_OUTPUT_TOKENS_RANGE[0], MAX_OUTPUT_TOKENS_RANGE[1], param);
}

export function checkTemperature(value: unknown, param: string): number {
  return checkNumber(value, TEMPERATURE_RANGE[0], TEMPERATURE_RANGE[1], param);
}

function checkTranscription(value: unknown): SessionConfig['transcription'] {
  if (typeof value !== 'object' || value === null) throw invalid('session.transcription', 'session.transcription must be an object');
  const { model, language, prompt, diarize } = value as Record<string, unknown>;
  return {
    ...(model !== undefined && { model: checkString(model, 'session.transcription.model', 200) }),
    ...(language !== undefined && { language: checkLanguage(language, 'session.transcription.language') }),
    ...(prompt !== undefined && { prompt: checkString(prompt, 'session.transcription.prompt', 10_000, true) }),
    ...(diarize !== undefined && { diarize: checkBoolean(diarize, 'session.transcription.diarize') }),
  };
}

function checkLanguage(value: unknown, param: string): string {
  const language = checkString(value, param, 20);
  if (!/^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$/.test(language))
    throw invalid(param, `${param} must be an ISO-639-1 code such as "en" or "pt-BR", got ${JSON.stringify(language)}`);
  return language;
}
