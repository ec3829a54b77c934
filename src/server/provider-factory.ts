/**
 * Builds the providers the configuration asks for, failing early with what to do. The default
 * transcriber is whisper (WHISPER_MODEL, base.en): when its model is neither cached nor
 * downloadable, start-up says so and falls back to pocketsphinx when that is installed.
 * Transcriber and synthesizer modules are imported only when chosen, so a command that needs
 * one provider does not load the others (whisper's binding, the OpenAI SDK).
 */
import { readFile } from 'node:fs/promises';
import { SpeechbridgeError } from '../errors/registry.ts';
import type { Responder, Synthesizer, Transcriber } from '../providers/contracts.ts';
import { EchoResponder } from '../providers/local/echo-responder.ts';
import { OpenAIResponder } from '../providers/openai/openai-responder.ts';
import type { WyomingSynthesizer } from '../providers/wyoming/wyoming-synthesizer.ts';
import type { Config } from './config.ts';
import type { ProviderSummary, Providers } from './providers.ts';
import type { Logger } from './logging.ts';
import { buildSynthesizer, startupCheck } from './synthesizer-factory.ts';

export { buildSynthesizer };

const OPENAI_DEFAULT_BASE = 'https://api.openai.com/v1';

export interface BuiltTranscriber {
  transcriber: Transcriber;
  summary: ProviderSummary['transcriber'];
}

export async function createProviders(config: Config, logger: Logger): Promise<Providers> {
  const { transcriber, summary: transcriberSummary } = await buildTranscriber(config, logger);
  const responder = buildResponder(config);
  const synthesizer = await buildSynthesizer(config, logger).catch(async (error: unknown) => {
    await transcriber.close?.();
    throw error;
  });
  return {
    transcriber,
    responder,
    synthesizer,
    summary: {
      transcriber: transcriberSummary,
      responder: config.llm.engine === 'openai' ? { engine: 'openai-compatible', model: config.llm.model } : { engine: responder.name },
      synthesizer: synthesizerSummary(config, synthesizer),
      vad: { engine: config.vad.engine === 'webrtc' ? `webrtc-vad (aggressiveness ${config.vad.aggressiveness})` : 'silero-vad' },
    },
    close: async () => {
      await Promise.allSettled([transcriber.close?.(), synthesizer.close?.()]);
    },
  };
}

function synthesizerSummary(config: Config, synthesizer: Synthesizer): ProviderSummary['synthesizer'] {
  switch (config.tts.engine) {
    case 'openai':
      return { engine: 'openai-compatible', model: config.tts.model, voice: config.tts.voice };
    case 'gradium':
      return { engine: 'gradium', model: config.gradium.ttsModel, voice: config.gradium.ttsVoiceId };
    case 'wyoming': {
      const wyoming = synthesizer as WyomingSynthesizer;
      const voice = wyoming.resolveVoice(config.tts.voice);
      return { engine: 'wyoming', model: wyoming.program.name, voice: voice ? [voice.name, voice.speaker].filter(Boolean).join(':') : config.tts.voice };
    }
    default:
      return { engine: synthesizer.name, voice: config.tts.voice };
  }
}

export async function buildTranscriber(config: Config, logger: Logger): Promise<BuiltTranscriber> {
  const asr = config.asr;
  switch (asr.engine) {
    case 'wyoming': {
      const { WyomingTranscriber } = await import('../providers/wyoming/wyoming-transcriber.ts');
      const transcriber = await WyomingTranscriber.create({ address: asr.wyoming!, timeoutMs: config.requestTimeoutMs, uriSetting: 'WYOMING_ASR_URI' });
      const model = transcriber.model?.name ?? transcriber.program.name;
      // Debug: the engines line says which server and model; this adds what it can stream.
      logger.debug(
        {
          upstream: transcriber.upstream,
          program: transcriber.program.name,
          models: transcriber.program.models.map((entry) => entry.name),
          transcriptStreaming: transcriber.program.supportsTranscriptStreaming,
        },
        `Wyoming speech recognition at ${transcriber.upstream}: ${transcriber.program.name} ${model}` +
          (transcriber.program.supportsTranscriptStreaming ? ', partial transcripts while speaking' : ', transcript at the end of each turn'),
      );
      return { transcriber, summary: { engine: 'wyoming', model } };
    }
    case 'openai': {
      const { OpenAITranscriber } = await import('../providers/openai/openai-transcriber.ts');
      return {
        transcriber: new OpenAITranscriber({
          baseURL: asr.url!,
          apiKey: asr.apiKey,
          apiKeyName: 'AUDIO_API_KEY',
          model: asr.apiModel,
          timeoutMs: config.requestTimeoutMs,
          maxResponseBytes: config.limits.maxTranscriptionBytes,
        }),
        summary: { engine: 'openai-compatible', model: asr.apiModel },
      };
    }
    case 'gradium': {
      const { GradiumTranscriber } = await import('../providers/gradium/gradium-transcriber.ts');
      const { gradium } = config;
      const transcriber = new GradiumTranscriber({
        apiKey: gradium.apiKey!,
        baseURL: gradium.baseURL,
        model: gradium.sttModel,
        inputFormat: gradium.sttInputFormat,
        timeoutMs: config.requestTimeoutMs,
        maxTextChars: config.limits.maxTranscriptionBytes,
      });
      await startupCheck(() => transcriber.probe());
      return { transcriber, summary: { engine: 'gradium', model: gradium.sttModel } };
    }
    case 'openai-realtime':
      return openAIRealtime(config);
    case 'pocketsphinx':
      return { transcriber: await pocketsphinx(config), summary: { engine: 'pocketsphinx', model: 'en-us' } };
    case 'whisper': {
      const { resolveModel, terminalProgress } = await import('../providers/model-store.ts');
      let modelPath: string;
      try {
        modelPath = await resolveModel(asr.whisperModel, {
          cacheDir: asr.modelCacheDir,
          baseUrl: asr.modelBaseUrl,
          download: true,
          onProgress: process.stderr.isTTY ? terminalProgress(`downloading whisper ${asr.whisperModel}`) : undefined,
        });
      } catch (error) {
        if (!asr.chosenByDefault) throw error;
        const reason = error instanceof Error ? error.message : String(error);
        const { checkPocketsphinx } = await import('../providers/local/pocketsphinx-transcriber.ts');
        const installed = await checkPocketsphinx().then(
          () => true,
          () => false,
        );
        if (!installed) {
          throw new SpeechbridgeError(
            'engine_unavailable',
            `the default transcriber, whisper ${asr.whisperModel}, cannot start: ${reason}\n` +
              `Either put the model in ${asr.modelCacheDir} (or set WHISPER_MODEL to a ggml file path), ` +
              'install pocketsphinx (apt-get install pocketsphinx pocketsphinx-en-us), or set WHISPER_URL to an OpenAI-compatible transcription server.',
            { cause: error },
          );
        }
        // The reason once, as a field; the engines line says which one runs.
        logger.warn({ reason }, `whisper ${asr.whisperModel} is not available; falling back to pocketsphinx (low accuracy for free speech)`);
        return {
          transcriber: await pocketsphinx(config),
          summary: {
            engine: 'pocketsphinx',
            model: 'en-us',
            note: `fallback: whisper ${asr.whisperModel} unavailable`,
            fallback: { from: `whisper ${asr.whisperModel}`, reason: publicFallbackReason(asr.whisperModel, error) },
          },
        };
      }
      const [{ createWhisperTranscriber, defaultWhisperThreads }, { isClusterWorker }] = await Promise.all([
        import('../providers/local/whisper-transcriber.ts'),
        import('./cluster-worker.ts'),
      ]);
      const transcriber = await createWhisperTranscriber({
        modelPath,
        // Each worker loads its own whisper: the cores are shared among them.
        threads: asr.whisperThreads ?? defaultWhisperThreads(isClusterWorker() ? config.server.workers.count : 1),
        audioContext: asr.whisperAudioContext || undefined,
        timeoutMs: config.requestTimeoutMs,
      });
      return { transcriber, summary: { engine: 'whisper', model: asr.whisperModel } };
    }
  }
}

/** What GET / and the start-up line say about the synthesizer. */
/** Why whisper could not start, for anyone who asks `GET /`: the error's kind, without the server's paths or URLs. */
function publicFallbackReason(model: string, error: unknown): string {
  switch (error instanceof SpeechbridgeError ? error.code : undefined) {
    case 'download_failed':
      return `the model ${model} is not in the model cache and could not be downloaded`;
    case 'checksum_mismatch':
      return `the downloaded model ${model} did not match its published checksum`;
    case 'model_not_found':
      return `the model ${model} is neither a known model name nor an existing file`;
    default:
      return `the model ${model} could not be loaded`;
  }
}

/**
 * The OpenAI Realtime transcription upstream, probed once before the server starts (connect,
 * session.update → session.updated, close): a wrong key, an unreachable host or a model the
 * upstream does not offer stops start-up with what to fix rather than failing the first turn.
 */
async function openAIRealtime(config: Config): Promise<BuiltTranscriber> {
  const { OpenAIRealtimeTranscriber } = await import('../providers/openai/openai-realtime-transcriber.ts');
  const realtime = config.asr.realtime;
  const transcriber = new OpenAIRealtimeTranscriber({
    url: realtime.url,
    apiKey: realtime.apiKey,
    model: realtime.model,
    turnDetection: realtime.turnDetection,
    timeoutMs: config.requestTimeoutMs,
    maxTranscriptBytes: config.limits.maxTranscriptionBytes,
    settingNames: { apiKey: realtime.apiKeyName },
  });
  try {
    await transcriber.check();
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new SpeechbridgeError(
      error instanceof SpeechbridgeError ? error.code : 'upstream_error',
      `the speech recognition upstream (ASR_ENGINE=openai-realtime) failed its start-up check: ${reason}`,
      { cause: error },
    );
  }
  return { transcriber, summary: { engine: 'openai-realtime', model: realtime.model } };
}

async function pocketsphinx(config: Config): Promise<Transcriber> {
  const { checkPocketsphinx, createPocketsphinxTranscriber } = await import('../providers/local/pocketsphinx-transcriber.ts');
  await checkPocketsphinx();
  const grammar = config.asr.pocketsphinxGrammarPath ? await readFile(config.asr.pocketsphinxGrammarPath, 'utf8') : undefined;
  return createPocketsphinxTranscriber({ grammar, keywords: config.asr.pocketsphinxKeywords, timeoutMs: config.requestTimeoutMs });
}

export function buildResponder(config: Config): Responder {
  if (config.llm.engine === 'echo') return new EchoResponder();
  return new OpenAIResponder({
    baseURL: config.llm.baseURL ?? OPENAI_DEFAULT_BASE,
    apiKey: config.llm.apiKey,
    apiKeyName: 'OPENAI_API_KEY',
    model: config.llm.model,
    timeoutMs: config.requestTimeoutMs,
    responseTimeoutMs: config.limits.responseTimeoutMs,
    maxOutputChars: config.limits.maxResponseChars,
    maxOutputTokens: config.limits.maxResponseTokens,
    defaultSystemPrompt: config.llm.systemPrompt,
  });
}
