/**
 * Builds the configuration for a CLI command: `.env` (or --env-file), then the process
 * environment, then the command's flags, each overriding the one before. The configuration
 * module (and zod, about 0.3 s to load) is imported when a command runs, not at start-up, so
 * `--help` and the client commands do not pay for it.
 */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import dotenv from 'dotenv';
import { SpeechbridgeError } from '../errors/registry.ts';
import type { Config } from '../server/config.ts';

/** Flag name (commander's camelCase) → environment variable it overrides. */
export type FlagMap = Record<string, string>;

/** The variables a command runs with: .env, then the process environment, `extra`, then the flags. */
export function environmentFromCommand(command: Command, flags: FlagMap, extra: Record<string, string> = {}): Record<string, string | undefined> {
  const globalOptions = command.optsWithGlobals() as Record<string, unknown>;
  const envFile = typeof globalOptions.envFile === 'string' ? globalOptions.envFile : '.env';
  const fromFile = existsSync(envFile) ? (dotenv.config({ path: envFile, processEnv: {}, quiet: true }).parsed ?? {}) : {};
  if (typeof globalOptions.envFile === 'string' && !existsSync(envFile)) {
    throw new SpeechbridgeError('invalid_config', `--env-file ${envFile}: no such file`);
  }
  const fromFlags: Record<string, string> = {};
  const options = command.opts() as Record<string, unknown>;
  for (const [flag, variable] of Object.entries(flags)) {
    const value = options[flag];
    if (value !== undefined && value !== false) fromFlags[variable] = String(value);
  }
  // The audio layer reads FFMPEG_PATH from the environment at each spawn, so a value from the
  // .env file is put there too.
  if (fromFile.FFMPEG_PATH?.trim() && !process.env.FFMPEG_PATH) process.env.FFMPEG_PATH = fromFile.FFMPEG_PATH.trim();
  return { ...fromFile, ...process.env, ...extra, ...fromFlags };
}

/** The validated configuration of `environment` (see environmentFromCommand). */
export async function configFromEnvironment(environment: Record<string, string | undefined>): Promise<Config> {
  const { loadConfig } = await import('../server/config.ts');
  return loadConfig(environment);
}

export async function configFromCommand(command: Command, flags: FlagMap, extra: Record<string, string> = {}): Promise<Config> {
  return configFromEnvironment(environmentFromCommand(command, flags, extra));
}

/** Flags shared by every command that runs engines. */
export const ENGINE_FLAGS: FlagMap = {
  asr: 'ASR_ENGINE',
  whisperModel: 'WHISPER_MODEL',
  modelCacheDir: 'MODEL_CACHE_DIR',
  llm: 'LLM_ENGINE',
  tts: 'TTS_ENGINE',
  voice: 'DEFAULT_TTS_VOICE',
  vad: 'VAD_ENGINE',
  logLevel: 'LOG_LEVEL',
  timeout: 'REQUEST_TIMEOUT',
};
