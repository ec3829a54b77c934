/**
 * Builds the speech synthesizer the configuration asks for. Its own module, importing the
 * chosen provider only, so `speechbridge say` loads espeak-ng (or the OpenAI SDK, or Gradium) and nothing
 * else of the server.
 */
import { SpeechbridgeError } from '../errors/registry.ts';
import type { Synthesizer } from '../providers/contracts.ts';
import type { EspeakPool } from '../providers/local/espeak-pool.ts';
import type { Config } from './config.ts';
import type { Logger } from './logging.ts';

export interface SynthesizerOptions {
  /** espeak-ng worker threads; default one per spare core, at most 2. */
  workers?: number;
  /** espeak-ng's start-up warm-up (default true): a server wants fast first requests, a one-shot command a fast start. */
  warmUp?: boolean;
  /** An espeak-ng pool already loading (startEspeakPool): used when espeak-ng is chosen, closed otherwise. */
  espeakPool?: Promise<EspeakPool>;
}

export async function buildSynthesizer(config: Config, logger: Logger, options: SynthesizerOptions = {}): Promise<Synthesizer> {
  if (config.tts.engine !== 'espeak') {
    void options.espeakPool?.then(
      (pool) => pool.close(),
      () => undefined,
    );
  }
  if (config.tts.engine === 'wyoming') {
    const { WyomingSynthesizer } = await import('../providers/wyoming/wyoming-synthesizer.ts');
    const synthesizer = await WyomingSynthesizer.create({
      address: config.tts.wyoming!,
      timeoutMs: config.requestTimeoutMs,
      responseTimeoutMs: config.limits.responseTimeoutMs,
      defaultVoice: config.tts.voice,
      uriSetting: 'WYOMING_TTS_URI',
    });
    const { program } = synthesizer;
    // Debug: the engines line says which server and voice; this adds what it can stream.
    logger.debug(
      { upstream: synthesizer.upstream, program: program.name, voices: program.voices.length, textStreaming: program.supportsSynthesizeStreaming },
      `Wyoming speech synthesis at ${synthesizer.upstream}: ${program.name} with ${program.voices.length} voice${program.voices.length === 1 ? '' : 's'}` +
        (program.supportsSynthesizeStreaming ? ', text streamed as it is written' : ''),
    );
    return synthesizer;
  }
  if (config.tts.engine === 'gradium') {
    const { GradiumSynthesizer } = await import('../providers/gradium/gradium-synthesizer.ts');
    const { gradium } = config;
    const synthesizer = new GradiumSynthesizer({
      apiKey: gradium.apiKey!,
      baseURL: gradium.baseURL,
      model: gradium.ttsModel,
      voiceId: gradium.ttsVoiceId,
      outputFormat: gradium.ttsOutputFormat,
      timeoutMs: config.requestTimeoutMs,
      responseTimeoutMs: config.limits.responseTimeoutMs,
    });
    await startupCheck(() => synthesizer.probe()).catch(async (error: unknown) => {
      await synthesizer.close();
      throw error;
    });
    return synthesizer;
  }
  if (config.tts.engine === 'openai') {
    const { OpenAISynthesizer } = await import('../providers/openai/openai-synthesizer.ts');
    return new OpenAISynthesizer({
      baseURL: config.tts.url!,
      apiKey: config.tts.apiKey,
      apiKeyName: 'TTS_API_KEY',
      model: config.tts.model,
      defaultVoice: config.tts.voice,
      defaultInstructions: config.tts.instructions,
      timeoutMs: config.requestTimeoutMs,
      responseTimeoutMs: config.limits.responseTimeoutMs,
    });
  }
  const { EspeakSynthesizer } = await import('../providers/local/espeak-synthesizer.ts');
  const pool = options.espeakPool ? await options.espeakPool : undefined;
  return EspeakSynthesizer.create({
    defaultVoice: config.tts.voice,
    timeoutMs: config.requestTimeoutMs,
    workers: options.workers,
    warmUp: options.warmUp,
    pool,
  });
}

/**
 * An upstream's start-up check (connect and set up, as a turn would): its failure stops
 * start-up, with the upstream's message, which names the setting to fix.
 */
export async function startupCheck(probe: () => Promise<unknown>): Promise<void> {
  try {
    await probe();
  } catch (error) {
    if (!(error instanceof SpeechbridgeError)) throw error;
    throw new SpeechbridgeError(error.code, `start-up check failed: ${error.message}`, { cause: error });
  }
}

/**
 * Whether these variables choose espeak-ng, read before the configuration is checked: the rule
 * of config.ts (TTS_ENGINE=espeak, or auto with neither TTS_API_URL nor WYOMING_TTS_URI). It
 * decides only whether to start loading espeak-ng early; a wrong guess costs a worker that is
 * closed again.
 */
export function choosesEspeak(environment: Record<string, string | undefined>): boolean {
  const engine = environment.TTS_ENGINE?.trim() || 'auto';
  return engine === 'espeak' || (engine === 'auto' && !environment.TTS_API_URL?.trim() && !environment.WYOMING_TTS_URI?.trim());
}

/** Starts loading espeak-ng on its worker threads now, for buildSynthesizer({ espeakPool }). */
export async function startEspeakPool(options: { workers?: number; warmUp?: boolean }): Promise<EspeakPool> {
  const { EspeakSynthesizer } = await import('../providers/local/espeak-synthesizer.ts');
  return EspeakSynthesizer.startPool(options);
}
