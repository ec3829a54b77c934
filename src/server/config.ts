/**
 * Configuration: the environment (and `.env`), overridden by CLI flags, read and validated
 * once at start-up. Every problem is reported together, each naming the variable and what
 * to put there.
 *
 * Drop-in names: the variables of the deployments speechbridge replaces are read too, as
 * aliases of speechbridge's own (PORT → SERVER_PORT, DEFAULT_VAD_AGGR → VAD_AGGR, MODEL_NAME →
 * WHISPER_MODEL, OPENAI_MODEL → OPENAI_API_MODEL, OPENAI_BASE_URL → OPENAI_API_BASE); when
 * both are set, speechbridge's name wins and a warning says so. WHISPER_URL and TTS_API_URL
 * may be the API root or the full endpoint URL.
 */
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import type { VadDefaults } from '../engine/session-config.ts';
import { SpeechbridgeError } from '../errors/registry.ts';
import { DEFAULT_GRADIUM_BASE_URL, gradiumBaseUrl } from '../providers/gradium/endpoint.ts';
import { STT_INPUT_FORMATS, TTS_OUTPUT_FORMATS } from '../providers/gradium/formats.ts';
import { DEFAULT_GRADIUM_VOICE_ID } from '../providers/gradium/request-names.ts';
import { DEFAULT_REALTIME_URL, normalizeRealtimeURL } from '../providers/openai/realtime-url.ts';
import { defaultUpstreamLimits, type UpstreamLimits } from '../providers/upstream-limits.ts';
import { parseWyomingUri, WYOMING_ASR_PORT, WYOMING_TTS_PORT, type WyomingAddress } from '../providers/wyoming/address.ts';

const text = z.string().trim();
const optionalText = text.optional().transform((value) => (value === '' ? undefined : value));
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const number = (min: number, max: number) => z.coerce.number().min(min).max(max);
const flag = z.enum(['1', '0', 'true', 'false', 'yes', 'no', 'on', 'off']).transform((value) => ['1', 'true', 'yes', 'on'].includes(value));

/** Python logging's level names that pino spells otherwise. */
const PYTHON_LOG_LEVELS: Readonly<Record<string, string>> = { warning: 'warn', critical: 'fatal' };

export const ENV_SCHEMA = z.object({
  SERVER_NAME: text.default('0.0.0.0'),
  /** Default 8080, applied after the PORT alias. */
  SERVER_PORT: int(0, 65535).optional(),
  /** An extra listener serving the gateway protocol on `/` (the Gradium gateway's names). */
  GATEWAY_HOST: optionalText,
  GATEWAY_PORT: int(0, 65535).optional(),
  /** Processes serving the one port (src/server/cluster-primary.ts); unset: one per core. */
  WORKERS: int(1, 1024).optional(),
  API_TOKENS: text.default(''),
  /** Serve GET /metrics without a token even when API_TOKENS is set (a scraper on a private network). */
  METRICS_PUBLIC: flag.default(false),
  /** Any case, and Python's names too (WARNING, CRITICAL): the .env files of Python services carry them. */
  LOG_LEVEL: z
    .preprocess(
      (value) => (typeof value === 'string' ? (PYTHON_LOG_LEVELS[value.trim().toLowerCase()] ?? value.trim().toLowerCase()) : value),
      z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    )
    .default('info'),
  /**
   * Signs client secrets (ek_…) so any instance with the same key opens their sessions; unset =
   * a random key per process (one instance only). SECRET_KEY_PREVIOUS is still accepted for
   * verifying, so a key can be rotated without refusing secrets already handed out.
   */
  SECRET_KEY: optionalText,
  SECRET_KEY_PREVIOUS: optionalText,
  /** Shared state for several instances: per-token limits and the Socket.IO adapter. */
  REDIS_URL: optionalText,
  /** Concurrent realtime sessions (every WebSocket door and Socket.IO) per API token; 0 = no limit. */
  MAX_SESSIONS_PER_TOKEN: int(0, 1_000_000).default(0),
  /** HTTP API requests per minute per API token; 0 = no limit. */
  MAX_REQUESTS_PER_MINUTE: int(0, 100_000_000).default(0),
  /** New sessions are refused (503 server_overloaded) while the event loop is busier than this share (0–1); 0 = never. */
  MAX_EVENT_LOOP_UTILIZATION: number(0, 1).default(0),
  /** How long a session's lease outlives its instance when that instance dies without releasing it. */
  SESSION_LEASE_SECONDS: number(1, 3600).default(30),
  /** `auto`: readable lines when stderr is a terminal, JSON lines otherwise. */
  LOG_FORMAT: z.enum(['auto', 'json', 'pretty']).default('auto'),
  /** Seconds an upstream or engine call may take to answer, and a stream between chunks. */
  REQUEST_TIMEOUT: number(0.1, 3600).default(30),
  /** Bounds on upstream answers (src/providers/upstream-limits.ts has the defaults and why). */
  RESPONSE_TIMEOUT: number(0.1, 86400).optional(),
  MAX_TRANSCRIPTION_KB: number(1, 1024 * 1024).optional(),
  MAX_RESPONSE_CHARS: int(100, 10_000_000).optional(),
  MAX_RESPONSE_TOKENS: int(0, 10_000_000).optional(),
  MAX_SENTENCE_AUDIO_SECONDS: number(1, 3600).optional(),
  MAX_RESPONSE_AUDIO_SECONDS: number(1, 86400).optional(),
  MAX_UPLOAD_MB: number(0.01, 2048).default(25),
  TLS_CERT: optionalText,
  TLS_KEY: optionalText,
  /** Browser origins allowed to call the HTTP API and Socket.IO polling: `*`, a comma-separated list, or `none`. */
  CORS_ORIGINS: text.default('*'),

  ASR_ENGINE: z.enum(['auto', 'whisper', 'pocketsphinx', 'openai', 'gradium', 'wyoming', 'openai-realtime']).default('auto'),
  WHISPER_MODEL: optionalText,
  MODEL_CACHE_DIR: text.default(path.join(os.homedir(), '.cache', 'speechbridge', 'models')),
  WHISPER_MODEL_BASE_URL: optionalText,
  WHISPER_THREADS: int(1, 256).optional(),
  WHISPER_AUDIO_CTX: int(0, 1500).default(0),
  WHISPER_URL: optionalText,
  AUDIO_API_KEY: optionalText,
  WHISPER_API_MODEL: text.default('whisper-1'),
  /** Interim passes of a batch recognizer (partials while the user speaks): auto = on for embedded engines, off for upstreams billed per use. */
  INTERIM_PASSES: z.enum(['auto', 'on', 'off']).default('auto'),
  /** ASR_ENGINE=openai-realtime: the upstream's realtime endpoint (or API root), its transcription model and whose VAD commits. */
  OPENAI_REALTIME_URL: optionalText,
  OPENAI_REALTIME_TRANSCRIBE_MODEL: text.default('gpt-4o-transcribe'),
  OPENAI_REALTIME_TURN_DETECTION: z.enum(['none', 'server_vad', 'semantic_vad']).default('none'),
  POCKETSPHINX_GRAMMAR: optionalText,
  POCKETSPHINX_KEYWORDS: optionalText,
  /** A Wyoming speech-to-text server (wyoming-faster-whisper…), tcp://host:port. */
  WYOMING_ASR_URI: optionalText,

  LLM_ENGINE: z.enum(['auto', 'openai', 'echo']).default('auto'),
  OPENAI_API_BASE: optionalText,
  OPENAI_API_KEY: optionalText,
  OPENAI_API_MODEL: optionalText,
  DEFAULT_SYSTEM_PROMPT: optionalText,
  /** The gateway door's rewrite prompt when `start` gives none (the Gradium gateway's name). */
  OPENAI_PROMPT: optionalText,

  TTS_ENGINE: z.enum(['auto', 'espeak', 'openai', 'gradium', 'wyoming']).default('auto'),
  TTS_API_URL: optionalText,
  TTS_API_KEY: optionalText,
  TTS_API_MODEL: text.default('gpt-4o-mini-tts'),
  DEFAULT_TTS_VOICE: text.default('alloy'),
  DEFAULT_TTS_INSTRUCTIONS: optionalText,
  /** A Wyoming text-to-speech server (wyoming-piper…), tcp://host:port. */
  WYOMING_TTS_URI: optionalText,

  /** Gradium's streaming speech-to-text and text-to-speech (ASR_ENGINE=gradium, TTS_ENGINE=gradium). */
  GRADIUM_API_KEY: optionalText,
  GRADIUM_BASE_URL: text.default(DEFAULT_GRADIUM_BASE_URL),
  GRADIUM_STT_MODEL: text.default('default'),
  GRADIUM_STT_INPUT_FORMAT: text.default('pcm'),
  GRADIUM_TTS_MODEL: text.default('default'),
  GRADIUM_TTS_VOICE_ID: text.default(DEFAULT_GRADIUM_VOICE_ID),
  GRADIUM_TTS_OUTPUT_FORMAT: text.default('pcm'),

  VAD_ENGINE: z.enum(['webrtc', 'silero']).default('webrtc'),
  VAD_AGGR: int(0, 3).optional(),
  VAD_THRESHOLD: number(0, 1).default(0.5),
  DEFAULT_VAD_START_MS: int(0, 2000).default(120),
  DEFAULT_VAD_END_MS: int(100, 10000).default(450),
  DEFAULT_VAD_PAD_MS: int(0, 2000).default(180),
  DEFAULT_VAD_MAX_MS: int(500, 600000).default(5000),
  DEFAULT_VAD_AUTORESP: flag.default(true),
  DEFAULT_VAD_INTERRUPT_RESPONSE: flag.default(true),

  /** Limits of every door's sessions (src/protocols/session-socket.ts states each policy). */
  REALTIME_MAX_MESSAGE_MB: number(0.001, 1024).default(16),
  REALTIME_MAX_SESSION_MINUTES: number(0.001, 1440).default(60),
  REALTIME_IDLE_TIMEOUT_SECONDS: number(0.1, 86400).default(300),
  REALTIME_MAX_BUFFERED_KB: number(1, 1048576).default(4096),
  REALTIME_SLOW_CONSUMER_SECONDS: number(0.1, 600).default(10),
  REALTIME_HEARTBEAT_SECONDS: number(0.05, 3600).default(15),

  DIAR_URL: optionalText,
  DIARIZATION_TOKEN: optionalText,
  MAX_CACHE_SIZE: int(0, 10_000_000).default(1000),

  // Aliases: other deployments' names for the variables above (ALIASES says which).
  PORT: int(0, 65535).optional(),
  DEFAULT_VAD_AGGR: int(0, 3).optional(),
  MODEL_NAME: optionalText,
  OPENAI_MODEL: optionalText,
  OPENAI_BASE_URL: optionalText,
});

/**
 * Another deployment's name → speechbridge's name, and the deployment that uses it. The
 * speechbridge name wins when both are set: it is the one written for speechbridge.
 */
export const ALIASES = [
  { alias: 'PORT', name: 'SERVER_PORT', from: 'the live transcription service' },
  { alias: 'MODEL_NAME', name: 'WHISPER_MODEL', from: 'the live transcription service' },
  { alias: 'DEFAULT_VAD_AGGR', name: 'VAD_AGGR', from: 'the realtime bridge' },
  { alias: 'OPENAI_MODEL', name: 'OPENAI_API_MODEL', from: 'the Gradium gateway' },
  { alias: 'OPENAI_BASE_URL', name: 'OPENAI_API_BASE', from: "the OpenAI SDKs' environment" },
] as const;

/** The Gradium gateway's port, used when only GATEWAY_HOST is given. */
export const DEFAULT_GATEWAY_PORT = 8765;

export type EnvConfig = z.infer<typeof ENV_SCHEMA>;

export interface Config {
  server: {
    host: string;
    port: number;
    tls?: { certPath: string; keyPath: string };
    /** An extra listener where the gateway protocol is served on `/` (GATEWAY_HOST / GATEWAY_PORT). */
    gatewayListener?: { host: string; port: number };
    /** Worker processes on the one port (WORKERS); 1 is a single process. */
    workers: { count: number; chosenByDefault: boolean };
  };
  /** '*' = any origin, [] = none (no CORS headers), else the allowed origins. */
  corsOrigins: '*' | string[];
  apiTokens: string[];
  /** GET /metrics answers without a token (METRICS_PUBLIC). */
  metricsPublic: boolean;
  logLevel: EnvConfig['LOG_LEVEL'];
  logFormat: EnvConfig['LOG_FORMAT'];
  requestTimeoutMs: number;
  /** What an upstream answer may be: total time, transcription size, LLM output, synthesized audio. */
  limits: UpstreamLimits;
  maxUploadBytes: number;
  asr: {
    engine: 'whisper' | 'pocketsphinx' | 'openai' | 'gradium' | 'wyoming' | 'openai-realtime';
    /** INTERIM_PASSES: the sessions' default for interim passes of a batch recognizer. */
    interimPasses: 'auto' | 'on' | 'off';
    /** True when the engine was chosen by default rather than asked for. */
    chosenByDefault: boolean;
    whisperModel: string;
    modelCacheDir: string;
    modelBaseUrl?: string;
    whisperThreads?: number;
    whisperAudioContext: number;
    url?: string;
    apiKey?: string;
    apiModel: string;
    pocketsphinxGrammarPath?: string;
    pocketsphinxKeywords?: string[];
    /** WYOMING_ASR_URI. */
    wyoming?: WyomingAddress;
    /** ASR_ENGINE=openai-realtime: an OpenAI Realtime transcription session per client session. */
    realtime: {
      /** OPENAI_REALTIME_URL in its normal form (ws: or wss:, ending in /realtime). */
      url: string;
      /** AUDIO_API_KEY, else OPENAI_API_KEY. */
      apiKey?: string;
      /** The variable apiKey came from, for messages. */
      apiKeyName: string;
      model: string;
      turnDetection: 'none' | 'server_vad' | 'semantic_vad';
    };
  };
  llm: {
    engine: 'openai' | 'echo';
    baseURL?: string;
    apiKey?: string;
    model: string;
    systemPrompt?: string;
    /** The gateway door's rewrite prompt when `start` gives none (OPENAI_PROMPT). */
    rewritePrompt?: string;
  };
  tts: {
    engine: 'espeak' | 'openai' | 'gradium' | 'wyoming';
    url?: string;
    apiKey?: string;
    model: string;
    voice: string;
    instructions?: string;
    /** WYOMING_TTS_URI. */
    wyoming?: WyomingAddress;
  };
  vad: VadDefaults;
  /** Gradium's endpoints and choices (used when ASR_ENGINE or TTS_ENGINE is gradium). */
  gradium: {
    apiKey?: string;
    /** The API root, ws:// or wss:// (GRADIUM_BASE_URL as read by gradiumBaseUrl). */
    baseURL: string;
    sttModel: string;
    sttInputFormat: string;
    ttsModel: string;
    ttsVoiceId: string;
    ttsOutputFormat: string;
  };
  diarization: { url?: string; token?: string };
  maxCacheSize: number;
  realtime: { maxMessageBytes: number; maxSessionMs: number; idleTimeoutMs: number; maxBufferedBytes: number; slowConsumerMs: number; heartbeatMs: number };
  /** Client secrets' signing keys: `current` signs, both verify; undefined = a random key per process. */
  secretKeys?: { current: string; previous?: string };
  /** REDIS_URL: where per-token limits and Socket.IO adapter traffic are shared between instances. */
  redisUrl?: string;
  /** Per-token limits (0 = none), enforced across instances with REDIS_URL, per process without. */
  tokenLimits: { maxSessions: number; maxRequestsPerMinute: number; sessionLeaseMs: number };
  /** MAX_EVENT_LOOP_UTILIZATION: past it, new sessions are refused (0 = never). */
  maxEventLoopUtilization: number;
  /** Things start-up should tell the operator (an alias overridden by speechbridge's own name). */
  warnings: string[];
}

/** Variable names whose values are secrets: never logged. */
export const SECRET_VARIABLES = [
  'API_TOKENS',
  'SECRET_KEY',
  'SECRET_KEY_PREVIOUS',
  'REDIS_URL',
  'AUDIO_API_KEY',
  'OPENAI_API_KEY',
  'TTS_API_KEY',
  'GRADIUM_API_KEY',
  'DIARIZATION_TOKEN',
] as const;

export function loadConfig(environment: Record<string, string | undefined>): Config {
  const known = Object.fromEntries(Object.keys(ENV_SCHEMA.shape).map((key) => [key, emptyToUndefined(environment[key])]));
  const parsed = ENV_SCHEMA.safeParse(known);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const name = String(issue.path[0]);
      return `  ${name}=${JSON.stringify(environment[name] ?? '')}: ${issue.message}`;
    });
    throw new SpeechbridgeError('invalid_config', `invalid configuration, fix these variables (environment, .env or flags):\n${lines.join('\n')}`);
  }
  const env = parsed.data;
  const warnings: string[] = [];
  const resolved = resolveAliases(env, warnings);
  const problems: string[] = [];
  if ((env.TLS_CERT === undefined) !== (env.TLS_KEY === undefined)) problems.push('  TLS_CERT and TLS_KEY: set both (PEM file paths) or neither.');
  const whisperUrl = upstreamUrl(
    'WHISPER_URL',
    env.WHISPER_URL,
    ['/audio/transcriptions', '/audio/translations'],
    'https://api.openai.com/v1/audio/transcriptions',
    problems,
  );
  const ttsUrl = upstreamUrl('TTS_API_URL', env.TTS_API_URL, ['/audio/speech'], 'https://api.openai.com/v1/audio/speech', problems);
  const llmBase = upstreamUrl(resolved.llmBaseName, resolved.llmBase, [], 'https://api.openai.com/v1', problems);
  if (env.ASR_ENGINE === 'openai' && !env.WHISPER_URL)
    problems.push('  WHISPER_URL: ASR_ENGINE=openai needs the upstream base URL, e.g. https://api.openai.com/v1.');
  const realtime = realtimeOf(env, problems);
  if (env.LLM_ENGINE === 'openai' && !resolved.llmBase && !env.OPENAI_API_KEY) {
    problems.push('  OPENAI_API_BASE or OPENAI_API_KEY: LLM_ENGINE=openai needs an upstream (a base URL, or a key for api.openai.com).');
  }
  const corsOrigins = parseCorsOrigins(env.CORS_ORIGINS);
  if (typeof corsOrigins === 'string' && corsOrigins !== '*') problems.push(`  CORS_ORIGINS: ${corsOrigins}.`);
  if (env.TTS_ENGINE === 'openai' && !env.TTS_API_URL)
    problems.push('  TTS_API_URL: TTS_ENGINE=openai needs the upstream base URL, e.g. https://api.openai.com/v1.');
  if (env.RESPONSE_TIMEOUT !== undefined && env.RESPONSE_TIMEOUT < env.REQUEST_TIMEOUT) {
    problems.push(
      `  RESPONSE_TIMEOUT: ${env.RESPONSE_TIMEOUT} s is shorter than REQUEST_TIMEOUT (${env.REQUEST_TIMEOUT} s); a whole answer cannot take less than its first chunk.`,
    );
  }
  const gradiumBase = gradiumProblems(env, problems);
  const wyomingAsr = wyomingAddressOf('WYOMING_ASR_URI', env.WYOMING_ASR_URI, WYOMING_ASR_PORT, problems);
  const wyomingTts = wyomingAddressOf('WYOMING_TTS_URI', env.WYOMING_TTS_URI, WYOMING_TTS_PORT, problems);
  if (env.ASR_ENGINE === 'wyoming' && !env.WYOMING_ASR_URI)
    problems.push(`  WYOMING_ASR_URI: ASR_ENGINE=wyoming needs the Wyoming speech-to-text server's address, e.g. tcp://127.0.0.1:${WYOMING_ASR_PORT}.`);
  if (env.TTS_ENGINE === 'wyoming' && !env.WYOMING_TTS_URI)
    problems.push(`  WYOMING_TTS_URI: TTS_ENGINE=wyoming needs the Wyoming text-to-speech server's address, e.g. tcp://127.0.0.1:${WYOMING_TTS_PORT}.`);
  const gatewayListener = gatewayListenerOf(env, resolved.serverPort, problems);
  const secretKeys = secretKeysOf(env, problems, warnings);
  if (env.REDIS_URL !== undefined && !/^(redis|rediss|unix):/.test(env.REDIS_URL)) {
    problems.push(`  REDIS_URL: not a Redis URL; use redis://[user:password@]host:port[/db], rediss://… for TLS, or unix:/path/to/socket.`);
  }
  if (problems.length > 0) throw new SpeechbridgeError('invalid_config', `invalid configuration, fix these variables:\n${problems.join('\n')}`);

  const asrEngine = env.ASR_ENGINE === 'auto' ? (whisperUrl ? 'openai' : wyomingAsr ? 'wyoming' : 'whisper') : env.ASR_ENGINE;
  const llmEngine = env.LLM_ENGINE === 'auto' ? (llmBase || env.OPENAI_API_KEY ? 'openai' : 'echo') : env.LLM_ENGINE;
  const ttsEngine = env.TTS_ENGINE === 'auto' ? (ttsUrl ? 'openai' : wyomingTts ? 'wyoming' : 'espeak') : env.TTS_ENGINE;
  if (env.GRADIUM_API_KEY && asrEngine !== 'gradium' && ttsEngine !== 'gradium') {
    warnings.push(
      'GRADIUM_API_KEY is set but neither ASR_ENGINE nor TTS_ENGINE is gradium, so Gradium is not used; set ASR_ENGINE=gradium and/or TTS_ENGINE=gradium to use it.',
    );
  }
  return {
    server: {
      host: env.SERVER_NAME,
      port: resolved.serverPort,
      tls: env.TLS_CERT && env.TLS_KEY ? { certPath: env.TLS_CERT, keyPath: env.TLS_KEY } : undefined,
      ...(gatewayListener && { gatewayListener }),
      workers: { count: env.WORKERS ?? os.availableParallelism(), chosenByDefault: env.WORKERS === undefined },
    },
    corsOrigins: corsOrigins as '*' | string[],
    apiTokens: env.API_TOKENS.split(',')
      .map((token) => token.trim())
      .filter(Boolean),
    metricsPublic: env.METRICS_PUBLIC,
    logLevel: env.LOG_LEVEL,
    logFormat: env.LOG_FORMAT,
    requestTimeoutMs: Math.round(env.REQUEST_TIMEOUT * 1000),
    limits: upstreamLimitsOf(env),
    maxUploadBytes: Math.round(env.MAX_UPLOAD_MB * 1024 * 1024),
    asr: {
      engine: asrEngine,
      interimPasses: env.INTERIM_PASSES,
      chosenByDefault: env.ASR_ENGINE === 'auto' && asrEngine === 'whisper',
      whisperModel: resolved.whisperModel,
      modelCacheDir: env.MODEL_CACHE_DIR,
      modelBaseUrl: env.WHISPER_MODEL_BASE_URL,
      whisperThreads: env.WHISPER_THREADS,
      whisperAudioContext: env.WHISPER_AUDIO_CTX,
      url: whisperUrl,
      apiKey: env.AUDIO_API_KEY,
      apiModel: env.WHISPER_API_MODEL,
      pocketsphinxGrammarPath: env.POCKETSPHINX_GRAMMAR,
      pocketsphinxKeywords: env.POCKETSPHINX_KEYWORDS?.split(',')
        .map((word) => word.trim())
        .filter(Boolean),
      ...(wyomingAsr && { wyoming: wyomingAsr }),
      realtime,
    },
    llm: {
      engine: llmEngine,
      baseURL: llmBase,
      apiKey: env.OPENAI_API_KEY,
      model: resolved.llmModel,
      systemPrompt: env.DEFAULT_SYSTEM_PROMPT,
      rewritePrompt: env.OPENAI_PROMPT,
    },
    tts: {
      engine: ttsEngine,
      url: ttsUrl,
      apiKey: env.TTS_API_KEY,
      model: env.TTS_API_MODEL,
      voice: env.DEFAULT_TTS_VOICE,
      instructions: env.DEFAULT_TTS_INSTRUCTIONS,
      ...(wyomingTts && { wyoming: wyomingTts }),
    },
    vad: {
      engine: env.VAD_ENGINE,
      aggressiveness: resolved.vadAggressiveness,
      threshold: env.VAD_THRESHOLD,
      startMs: env.DEFAULT_VAD_START_MS,
      endMs: env.DEFAULT_VAD_END_MS,
      padMs: env.DEFAULT_VAD_PAD_MS,
      maxMs: env.DEFAULT_VAD_MAX_MS,
      createResponse: env.DEFAULT_VAD_AUTORESP,
      interruptResponse: env.DEFAULT_VAD_INTERRUPT_RESPONSE,
    },
    gradium: {
      apiKey: env.GRADIUM_API_KEY,
      baseURL: gradiumBase,
      sttModel: env.GRADIUM_STT_MODEL,
      sttInputFormat: env.GRADIUM_STT_INPUT_FORMAT,
      ttsModel: env.GRADIUM_TTS_MODEL,
      ttsVoiceId: env.GRADIUM_TTS_VOICE_ID,
      ttsOutputFormat: env.GRADIUM_TTS_OUTPUT_FORMAT,
    },
    diarization: { url: env.DIAR_URL, token: env.DIARIZATION_TOKEN },
    maxCacheSize: env.MAX_CACHE_SIZE,
    realtime: {
      maxMessageBytes: Math.round(env.REALTIME_MAX_MESSAGE_MB * 1024 * 1024),
      maxSessionMs: Math.round(env.REALTIME_MAX_SESSION_MINUTES * 60_000),
      idleTimeoutMs: Math.round(env.REALTIME_IDLE_TIMEOUT_SECONDS * 1000),
      maxBufferedBytes: Math.round(env.REALTIME_MAX_BUFFERED_KB * 1024),
      slowConsumerMs: Math.round(env.REALTIME_SLOW_CONSUMER_SECONDS * 1000),
      heartbeatMs: Math.round(env.REALTIME_HEARTBEAT_SECONDS * 1000),
    },
    ...(secretKeys && { secretKeys }),
    ...(env.REDIS_URL !== undefined && { redisUrl: env.REDIS_URL }),
    tokenLimits: {
      maxSessions: env.MAX_SESSIONS_PER_TOKEN,
      maxRequestsPerMinute: env.MAX_REQUESTS_PER_MINUTE,
      sessionLeaseMs: Math.round(env.SESSION_LEASE_SECONDS * 1000),
    },
    maxEventLoopUtilization: env.MAX_EVENT_LOOP_UTILIZATION,
    warnings,
  };
}

/** An HMAC-SHA256 key is as strong as its entropy: 32 characters of a random string is enough, fewer is refused. */
const MIN_SECRET_KEY_CHARS = 32;

function secretKeysOf(env: EnvConfig, problems: string[], warnings: string[]): Config['secretKeys'] {
  for (const name of ['SECRET_KEY', 'SECRET_KEY_PREVIOUS'] as const) {
    const value = env[name];
    if (value !== undefined && value.length < MIN_SECRET_KEY_CHARS) {
      problems.push(`  ${name}: ${value.length} characters; use at least ${MIN_SECRET_KEY_CHARS} random ones, e.g. the output of \`openssl rand -base64 48\`.`);
    }
  }
  if (env.SECRET_KEY === undefined) {
    if (env.SECRET_KEY_PREVIOUS !== undefined) problems.push('  SECRET_KEY: SECRET_KEY_PREVIOUS is set without it; set SECRET_KEY to the new key.');
    if (env.REDIS_URL !== undefined) {
      warnings.push(
        'REDIS_URL is set (several instances share state) but SECRET_KEY is not: a client secret minted by one instance is refused by the others; set the same SECRET_KEY on every instance.',
      );
    }
    return undefined;
  }
  return { current: env.SECRET_KEY, ...(env.SECRET_KEY_PREVIOUS !== undefined && { previous: env.SECRET_KEY_PREVIOUS }) };
}

/** The bounds on upstream answers: each variable when set, else its default (some scale with REQUEST_TIMEOUT). */
function upstreamLimitsOf(env: EnvConfig): UpstreamLimits {
  const defaults = defaultUpstreamLimits(Math.round(env.REQUEST_TIMEOUT * 1000));
  const ms = (seconds: number | undefined, fallback: number) => (seconds === undefined ? fallback : Math.round(seconds * 1000));
  return {
    requestTimeoutMs: defaults.requestTimeoutMs,
    responseTimeoutMs: ms(env.RESPONSE_TIMEOUT, defaults.responseTimeoutMs),
    maxTranscriptionBytes: env.MAX_TRANSCRIPTION_KB === undefined ? defaults.maxTranscriptionBytes : Math.round(env.MAX_TRANSCRIPTION_KB * 1024),
    maxResponseChars: env.MAX_RESPONSE_CHARS ?? defaults.maxResponseChars,
    maxResponseTokens: env.MAX_RESPONSE_TOKENS ?? defaults.maxResponseTokens,
    maxSentenceAudioMs: ms(env.MAX_SENTENCE_AUDIO_SECONDS, defaults.maxSentenceAudioMs),
    maxResponseAudioMs: ms(env.MAX_RESPONSE_AUDIO_SECONDS, defaults.maxResponseAudioMs),
  };
}

interface ResolvedAliases {
  serverPort: number;
  whisperModel: string;
  vadAggressiveness: number;
  llmModel: string;
  llmBase: string | undefined;
  /** The variable llmBase came from, for messages. */
  llmBaseName: string;
}

/** speechbridge's name when set, else its alias, else the default; a warning when both are set and differ. */
function resolveAliases(env: EnvConfig, warnings: string[]): ResolvedAliases {
  const pick = <T>(name: (typeof ALIASES)[number]['name'], fallback: T): T => {
    const entry = ALIASES.find((alias) => alias.name === name)!;
    const own = env[entry.name] as T | undefined;
    const other = env[entry.alias] as T | undefined;
    if (own !== undefined && other !== undefined && own !== other) {
      warnings.push(
        `${entry.name}=${String(own)} and ${entry.alias}=${String(other)} are both set; ${entry.name} is used (${entry.alias} is ${entry.from}'s name for it).`,
      );
    }
    return own ?? other ?? fallback;
  };
  return {
    serverPort: pick('SERVER_PORT', 8080),
    whisperModel: pick('WHISPER_MODEL', 'base.en'),
    vadAggressiveness: pick('VAD_AGGR', 2),
    llmModel: pick('OPENAI_API_MODEL', 'gpt-4o-mini'),
    llmBase: pick<string | undefined>('OPENAI_API_BASE', undefined),
    llmBaseName: env.OPENAI_API_BASE === undefined && env.OPENAI_BASE_URL !== undefined ? 'OPENAI_BASE_URL' : 'OPENAI_API_BASE',
  };
}

/**
 * An upstream's API root from its variable: an http(s) URL, given as the root
 * (https://host/v1) or as the full endpoint (https://host/v1/audio/transcriptions, as the
 * bridges speechbridge replaces document it); the endpoint part is cut off, since the
 * OpenAI SDK appends it.
 */
function upstreamUrl(name: string, value: string | undefined, endpoints: readonly string[], example: string, problems: string[]): string | undefined {
  if (value === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    problems.push(`  ${name}=${JSON.stringify(value)}: not a URL; give the API root or the endpoint, e.g. ${example}.`);
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    problems.push(`  ${name}=${JSON.stringify(value)}: must be an http:// or https:// URL, e.g. ${example}.`);
    return undefined;
  }
  let root = url.pathname.replace(/\/+$/, '');
  const endpoint = endpoints.find((suffix) => root.endsWith(suffix));
  if (endpoint) root = root.slice(0, -endpoint.length);
  url.pathname = root;
  return url.toString().replace(/\/+(?=$|\?|#)/, '');
}

/** A Wyoming server's address from its variable (tcp://host:port; the port may be left out). */
function wyomingAddressOf(name: string, value: string | undefined, defaultPort: number, problems: string[]): WyomingAddress | undefined {
  if (value === undefined) return undefined;
  const address = parseWyomingUri(value, defaultPort);
  if (typeof address === 'string') {
    problems.push(`  ${name}=${JSON.stringify(value)}: ${address}.`);
    return undefined;
  }
  return address;
}

/**
 * The Gradium settings: a key when an engine is gradium, formats speechbridge can stream
 * (raw PCM or G.711; Gradium's wav and opus are whole-file containers), and the base URL as
 * its API root. Returns the root (the default one when the value is unusable; the problem is
 * reported).
 */
function gradiumProblems(env: EnvConfig, problems: string[]): string {
  const uses = [env.ASR_ENGINE === 'gradium' && 'ASR_ENGINE=gradium', env.TTS_ENGINE === 'gradium' && 'TTS_ENGINE=gradium'].filter(Boolean);
  if (uses.length > 0 && !env.GRADIUM_API_KEY)
    problems.push(
      `  GRADIUM_API_KEY: ${uses.join(' and ')} ${uses.length > 1 ? 'need' : 'needs'} the Gradium API key (from the API keys page of Gradium's studio).`,
    );
  const streamable = (formats: Readonly<Record<string, unknown>>) => Object.keys(formats).join(', ');
  if (!(env.GRADIUM_STT_INPUT_FORMAT in STT_INPUT_FORMATS)) {
    problems.push(
      `  GRADIUM_STT_INPUT_FORMAT=${JSON.stringify(env.GRADIUM_STT_INPUT_FORMAT)}: use one of ${streamable(STT_INPUT_FORMATS)} (speechbridge streams raw frames, so not wav or opus).`,
    );
  }
  if (!(env.GRADIUM_TTS_OUTPUT_FORMAT in TTS_OUTPUT_FORMATS)) {
    problems.push(
      `  GRADIUM_TTS_OUTPUT_FORMAT=${JSON.stringify(env.GRADIUM_TTS_OUTPUT_FORMAT)}: use one of ${streamable(TTS_OUTPUT_FORMATS)} (speechbridge streams raw frames, so not wav or opus).`,
    );
  }
  const base = gradiumBaseUrl(env.GRADIUM_BASE_URL);
  if ('problem' in base) {
    problems.push(
      `  GRADIUM_BASE_URL=${JSON.stringify(env.GRADIUM_BASE_URL)}: ${base.problem}; e.g. ${DEFAULT_GRADIUM_BASE_URL}, or a region: wss://eu.api.gradium.ai/api, wss://us.api.gradium.ai/api.`,
    );
    return DEFAULT_GRADIUM_BASE_URL;
  }
  return base.url;
}

/**
 * The OpenAI Realtime transcription upstream: OPENAI_REALTIME_URL (default OpenAI's) in its
 * normal form, and the key: AUDIO_API_KEY (the transcription key) when set, else
 * OPENAI_API_KEY, so one OpenAI key serves replies and transcription. OpenAI itself needs a
 * key; another speechbridge, LocalAI or speaches may not.
 */
function realtimeOf(env: EnvConfig, problems: string[]): Config['asr']['realtime'] {
  const configured = env.OPENAI_REALTIME_URL ?? DEFAULT_REALTIME_URL;
  const normal = normalizeRealtimeURL(configured);
  if ('problem' in normal) problems.push(`  OPENAI_REALTIME_URL=${JSON.stringify(configured)}: ${normal.problem}.`);
  const url = 'url' in normal ? normal.url : DEFAULT_REALTIME_URL;
  const apiKey = env.AUDIO_API_KEY ?? env.OPENAI_API_KEY;
  const apiKeyName =
    env.AUDIO_API_KEY !== undefined ? 'AUDIO_API_KEY' : env.OPENAI_API_KEY !== undefined ? 'OPENAI_API_KEY' : 'AUDIO_API_KEY or OPENAI_API_KEY';
  if (env.ASR_ENGINE === 'openai-realtime' && !apiKey && 'url' in normal && new URL(normal.url).hostname === 'api.openai.com') {
    problems.push(
      '  AUDIO_API_KEY or OPENAI_API_KEY: ASR_ENGINE=openai-realtime on api.openai.com needs an OpenAI key (or set OPENAI_REALTIME_URL to another upstream).',
    );
  }
  return {
    url,
    ...(apiKey !== undefined && { apiKey }),
    apiKeyName,
    model: env.OPENAI_REALTIME_TRANSCRIBE_MODEL,
    turnDetection: env.OPENAI_REALTIME_TURN_DETECTION,
  };
}

/**
 * GATEWAY_HOST / GATEWAY_PORT (either one) open the extra gateway listener: host defaults to
 * SERVER_NAME, port to the Gradium gateway's 8765. It cannot share the main port, which serves
 * the gateway on `/` already.
 */
function gatewayListenerOf(env: EnvConfig, serverPort: number, problems: string[]): { host: string; port: number } | undefined {
  if (env.GATEWAY_HOST === undefined && env.GATEWAY_PORT === undefined) return undefined;
  const port = env.GATEWAY_PORT ?? DEFAULT_GATEWAY_PORT;
  const host = env.GATEWAY_HOST ?? env.SERVER_NAME;
  if (port !== 0 && port === serverPort) {
    problems.push(
      `  GATEWAY_PORT=${port}: the main port (SERVER_PORT) is ${port} too, and it already serves the gateway protocol on /; ` +
        'pick another port for the extra listener, or unset GATEWAY_HOST and GATEWAY_PORT to use the main one.',
    );
    return undefined;
  }
  return { host, port };
}

/** '*', 'none' (→ []), or comma-separated origins (scheme://host[:port]); a string other than '*' is the problem found. */
function parseCorsOrigins(value: string): '*' | string[] | string {
  if (value === '*') return '*';
  if (value.toLowerCase() === 'none') return [];
  const origins = value
    .split(',')
    .map((origin) => origin.trim())
    .filter(Boolean);
  for (const origin of origins) {
    let parsed: URL | null;
    try {
      parsed = new URL(origin);
    } catch {
      parsed = null;
    }
    if (!parsed || parsed.origin !== origin.replace(/\/$/, ''))
      return `"${origin}" is not an origin; give scheme://host[:port] entries separated by commas, * for any, or none`;
  }
  return origins.map((origin) => origin.replace(/\/$/, ''));
}

function emptyToUndefined(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}
