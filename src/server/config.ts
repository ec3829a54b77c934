/**
 * Configuration: the environment (and `.env`), overridden by CLI flags, read and validated
 * once at start-up. Every problem is reported together, each naming the variable and what
 * to put there.
 */
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { SpeechbridgeError } from '../engine/errors.ts';

const text = z.string().trim();
const optionalText = text.optional().transform((value) => (value === '' ? undefined : value));
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const number = (min: number, max: number) => z.coerce.number().min(min).max(max);
const flag = z
  .enum(['1', '0', 'true', 'false', 'yes', 'no', 'on', 'off'])
  .transform((value) => ['1', 'true', 'yes', 'on'].includes(value));

export const ENV_SCHEMA = z.object({
  SERVER_NAME: text.default('0.0.0.0'),
  SERVER_PORT: int(0, 65535).default(8080),
  API_TOKENS: text.default(''),
  /** Serve GET /metrics without a token even when API_TOKENS is set (a scraper on a private network). */
  METRICS_PUBLIC: flag.default(false),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Seconds an upstream or engine call may take. */
  REQUEST_TIMEOUT: number(0.1, 3600).default(30),
  MAX_UPLOAD_MB: number(0.01, 2048).default(25),
  TLS_CERT: optionalText,
  TLS_KEY: optionalText,
  /** Browser origins allowed to call the HTTP API and Socket.IO polling: `*`, a comma-separated list, or `none`. */
  CORS_ORIGINS: text.default('*'),

  ASR_ENGINE: z.enum(['auto', 'whisper', 'pocketsphinx', 'openai']).default('auto'),
  WHISPER_MODEL: text.default('base.en'),
  MODEL_CACHE_DIR: text.default(path.join(os.homedir(), '.cache', 'speechbridge', 'models')),
  WHISPER_MODEL_BASE_URL: optionalText,
  WHISPER_THREADS: int(1, 256).optional(),
  WHISPER_AUDIO_CTX: int(0, 1500).default(0),
  WHISPER_URL: optionalText,
  AUDIO_API_KEY: optionalText,
  WHISPER_API_MODEL: text.default('whisper-1'),
  POCKETSPHINX_GRAMMAR: optionalText,
  POCKETSPHINX_KEYWORDS: optionalText,

  LLM_ENGINE: z.enum(['auto', 'openai', 'echo']).default('auto'),
  OPENAI_API_BASE: optionalText,
  OPENAI_API_KEY: optionalText,
  OPENAI_API_MODEL: text.default('gpt-4o-mini'),
  DEFAULT_SYSTEM_PROMPT: optionalText,

  TTS_ENGINE: z.enum(['auto', 'espeak', 'openai']).default('auto'),
  TTS_API_URL: optionalText,
  TTS_API_KEY: optionalText,
  TTS_API_MODEL: text.default('gpt-4o-mini-tts'),
  DEFAULT_TTS_VOICE: text.default('alloy'),
  DEFAULT_TTS_INSTRUCTIONS: optionalText,

  VAD_ENGINE: z.enum(['webrtc', 'silero']).default('webrtc'),
  VAD_AGGR: int(0, 3).default(2),
  VAD_THRESHOLD: number(0, 1).default(0.5),
  DEFAULT_VAD_START_MS: int(0, 2000).default(120),
  DEFAULT_VAD_END_MS: int(100, 10000).default(450),
  DEFAULT_VAD_PAD_MS: int(0, 2000).default(180),
  DEFAULT_VAD_MAX_MS: int(500, 600000).default(5000),
  DEFAULT_VAD_AUTORESP: flag.default(true),
  DEFAULT_VAD_INTERRUPT_RESPONSE: flag.default(true),

  /** /v1/realtime limits (src/protocols/openai-realtime/adapter.ts states each policy). */
  REALTIME_MAX_MESSAGE_MB: number(0.001, 1024).default(16),
  REALTIME_MAX_SESSION_MINUTES: number(0.001, 1440).default(60),
  REALTIME_IDLE_TIMEOUT_SECONDS: number(0.1, 86400).default(300),
  REALTIME_MAX_BUFFERED_KB: number(1, 1048576).default(4096),
  REALTIME_SLOW_CONSUMER_SECONDS: number(0.1, 600).default(10),

  DIAR_URL: optionalText,
  DIARIZATION_TOKEN: optionalText,
  MAX_CACHE_SIZE: int(0, 10_000_000).default(1000),
});

export type EnvConfig = z.infer<typeof ENV_SCHEMA>;

export interface Config {
  server: { host: string; port: number; tls?: { certPath: string; keyPath: string } };
  /** '*' = any origin, [] = none (no CORS headers), else the allowed origins. */
  corsOrigins: '*' | string[];
  apiTokens: string[];
  /** GET /metrics answers without a token (METRICS_PUBLIC). */
  metricsPublic: boolean;
  logLevel: EnvConfig['LOG_LEVEL'];
  requestTimeoutMs: number;
  maxUploadBytes: number;
  asr: {
    engine: 'whisper' | 'pocketsphinx' | 'openai';
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
  };
  llm: { engine: 'openai' | 'echo'; baseURL?: string; apiKey?: string; model: string; systemPrompt?: string };
  tts: { engine: 'espeak' | 'openai'; url?: string; apiKey?: string; model: string; voice: string; instructions?: string };
  vad: {
    engine: 'webrtc' | 'silero';
    aggressiveness: number;
    threshold: number;
    startMs: number;
    endMs: number;
    padMs: number;
    maxMs: number;
    createResponse: boolean;
    interruptResponse: boolean;
  };
  diarization: { url?: string; token?: string };
  maxCacheSize: number;
  realtime: { maxMessageBytes: number; maxSessionMs: number; idleTimeoutMs: number; maxBufferedBytes: number; slowConsumerMs: number };
}

/** Variable names whose values are secrets: never logged. */
export const SECRET_VARIABLES = ['API_TOKENS', 'AUDIO_API_KEY', 'OPENAI_API_KEY', 'TTS_API_KEY', 'DIARIZATION_TOKEN'] as const;

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
  const problems: string[] = [];
  if ((env.TLS_CERT === undefined) !== (env.TLS_KEY === undefined)) problems.push('  TLS_CERT and TLS_KEY: set both (PEM file paths) or neither.');
  if (env.ASR_ENGINE === 'openai' && !env.WHISPER_URL) problems.push('  WHISPER_URL: ASR_ENGINE=openai needs the upstream base URL, e.g. https://api.openai.com/v1.');
  if (env.LLM_ENGINE === 'openai' && !env.OPENAI_API_BASE && !env.OPENAI_API_KEY) {
    problems.push('  OPENAI_API_BASE or OPENAI_API_KEY: LLM_ENGINE=openai needs an upstream (a base URL, or a key for api.openai.com).');
  }
  const corsOrigins = parseCorsOrigins(env.CORS_ORIGINS);
  if (typeof corsOrigins === 'string' && corsOrigins !== '*') problems.push(`  CORS_ORIGINS: ${corsOrigins}.`);
  if (env.TTS_ENGINE === 'openai' && !env.TTS_API_URL) problems.push('  TTS_API_URL: TTS_ENGINE=openai needs the upstream base URL, e.g. https://api.openai.com/v1.');
  if (problems.length > 0) throw new SpeechbridgeError('invalid_config', `invalid configuration, fix these variables:\n${problems.join('\n')}`);

  const asrEngine = env.ASR_ENGINE === 'auto' ? (env.WHISPER_URL ? 'openai' : 'whisper') : env.ASR_ENGINE;
  const llmEngine = env.LLM_ENGINE === 'auto' ? (env.OPENAI_API_BASE || env.OPENAI_API_KEY ? 'openai' : 'echo') : env.LLM_ENGINE;
  const ttsEngine = env.TTS_ENGINE === 'auto' ? (env.TTS_API_URL ? 'openai' : 'espeak') : env.TTS_ENGINE;
  return {
    server: {
      host: env.SERVER_NAME,
      port: env.SERVER_PORT,
      tls: env.TLS_CERT && env.TLS_KEY ? { certPath: env.TLS_CERT, keyPath: env.TLS_KEY } : undefined,
    },
    corsOrigins: corsOrigins as '*' | string[],
    apiTokens: env.API_TOKENS.split(',').map((token) => token.trim()).filter(Boolean),
    metricsPublic: env.METRICS_PUBLIC,
    logLevel: env.LOG_LEVEL,
    requestTimeoutMs: Math.round(env.REQUEST_TIMEOUT * 1000),
    maxUploadBytes: Math.round(env.MAX_UPLOAD_MB * 1024 * 1024),
    asr: {
      engine: asrEngine,
      chosenByDefault: env.ASR_ENGINE === 'auto' && asrEngine === 'whisper',
      whisperModel: env.WHISPER_MODEL,
      modelCacheDir: env.MODEL_CACHE_DIR,
      modelBaseUrl: env.WHISPER_MODEL_BASE_URL,
      whisperThreads: env.WHISPER_THREADS,
      whisperAudioContext: env.WHISPER_AUDIO_CTX,
      url: env.WHISPER_URL,
      apiKey: env.AUDIO_API_KEY,
      apiModel: env.WHISPER_API_MODEL,
      pocketsphinxGrammarPath: env.POCKETSPHINX_GRAMMAR,
      pocketsphinxKeywords: env.POCKETSPHINX_KEYWORDS?.split(',').map((word) => word.trim()).filter(Boolean),
    },
    llm: {
      engine: llmEngine,
      baseURL: env.OPENAI_API_BASE,
      apiKey: env.OPENAI_API_KEY,
      model: env.OPENAI_API_MODEL,
      systemPrompt: env.DEFAULT_SYSTEM_PROMPT,
    },
    tts: {
      engine: ttsEngine,
      url: env.TTS_API_URL,
      apiKey: env.TTS_API_KEY,
      model: env.TTS_API_MODEL,
      voice: env.DEFAULT_TTS_VOICE,
      instructions: env.DEFAULT_TTS_INSTRUCTIONS,
    },
    vad: {
      engine: env.VAD_ENGINE,
      aggressiveness: env.VAD_AGGR,
      threshold: env.VAD_THRESHOLD,
      startMs: env.DEFAULT_VAD_START_MS,
      endMs: env.DEFAULT_VAD_END_MS,
      padMs: env.DEFAULT_VAD_PAD_MS,
      maxMs: env.DEFAULT_VAD_MAX_MS,
      createResponse: env.DEFAULT_VAD_AUTORESP,
      interruptResponse: env.DEFAULT_VAD_INTERRUPT_RESPONSE,
    },
    diarization: { url: env.DIAR_URL, token: env.DIARIZATION_TOKEN },
    maxCacheSize: env.MAX_CACHE_SIZE,
    realtime: {
      maxMessageBytes: Math.round(env.REALTIME_MAX_MESSAGE_MB * 1024 * 1024),
      maxSessionMs: Math.round(env.REALTIME_MAX_SESSION_MINUTES * 60_000),
      idleTimeoutMs: Math.round(env.REALTIME_IDLE_TIMEOUT_SECONDS * 1000),
      maxBufferedBytes: Math.round(env.REALTIME_MAX_BUFFERED_KB * 1024),
      slowConsumerMs: Math.round(env.REALTIME_SLOW_CONSUMER_SECONDS * 1000),
    },
  };
}

/** '*', 'none' (→ []), or comma-separated origins (scheme://host[:port]); a string other than '*' is the problem found. */
function parseCorsOrigins(value: string): '*' | string[] | string {
  if (value === '*') return '*';
  if (value.toLowerCase() === 'none') return [];
  const origins = value.split(',').map((origin) => origin.trim()).filter(Boolean);
  for (const origin of origins) {
    let parsed: URL | null = null;
    try {
      parsed = new URL(origin);
    } catch {
      parsed = null;
    }
    if (!parsed || parsed.origin !== origin.replace(/\/$/, '')) return `"${origin}" is not an origin; give scheme://host[:port] entries separated by commas, * for any, or none`;
  }
  return origins.map((origin) => origin.replace(/\/$/, ''));
}

function emptyToUndefined(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}
