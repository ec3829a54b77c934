/**
 * Builds the speech synthesizer the configuration asks for. Its own module, importing the
 * chosen provider only, so `speechbridge say` loads espeak-ng (or the OpenAI SDK) and nothing
 * else of the server.
 */
import type { Synthesizer } from '../providers/contracts.ts';
import type { Config } from './config.ts';
import type { Logger } from './logging.ts';

export interface SynthesizerOptions {
  /** espeak-ng worker threads; default one per spare core, at most 2. */
  workers?: number;
  /** espeak-ng's start-up warm-up (default true): a server wants fast first requests, a one-shot command a fast start. */
  warmUp?: boolean;
}

export async function buildSynthesizer(config: Config, _logger: Logger, options: SynthesizerOptions = {}): Promise<Synthesizer> {
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
    });
  }
  const { EspeakSynthesizer } = await import('../providers/local/espeak-synthesizer.ts');
  return EspeakSynthesizer.create({ defaultVoice: config.tts.voice, timeoutMs: config.requestTimeoutMs, workers: options.workers, warmUp: options.warmUp });
}
