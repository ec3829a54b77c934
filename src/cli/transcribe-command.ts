/** `speechbridge transcribe <file…>`: transcribe audio files of any container, print text, language and timings. */
import { readFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { SpeechbridgeError } from '../errors/registry.ts';
import { languageCode } from '../providers/languages.ts';
import { checkAudioFile } from './clients/audio-file-source.ts';
import { ENGINE_FLAGS, configFromCommand } from './environment.ts';
import { engineOptions } from './engine-options.ts';

export function registerTranscribeCommand(program: Command): void {
  const command = program
    .command('transcribe')
    .description('transcribe audio files (WAV, MP3, WebM/Opus, Ogg, M4A, FLAC…) with the configured engine')
    .argument('<files...>', 'audio files')
    .addOption(new Option('-l, --language <code>', 'spoken language (ISO-639-1); default: detect when the engine can'))
    .addOption(new Option('--prompt <text>', 'context or spelling hints for the engine'))
    .addOption(new Option('--json', 'print one JSON object per file'));
  engineOptions(command);
  command.action(async (files: string[], options: { language?: string; prompt?: string; json?: boolean }) => {
    const config = await configFromCommand(command, ENGINE_FLAGS, { LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' });
    const language = options.language ? languageCode(options.language) : undefined;
    if (options.language && !language) {
      throw new SpeechbridgeError('invalid_value', `unknown language ${JSON.stringify(options.language)}: use an ISO-639-1 code such as en or fr`, {
        param: 'language',
      });
    }
    // Every file is checked before the model loads, so a typo fails at once.
    for (const file of files) await checkAudioFile(file);
    const [{ decodeAudio }, { durationMs }, { buildTranscriber }, { createCliLogger }] = await Promise.all([
      import('../audio/decode.ts'),
      import('../audio/pcm.ts'),
      import('../server/provider-factory.ts'),
      import('../server/logging.ts'),
    ]);
    const logger = createCliLogger(config.logLevel);
    const loadStarted = performance.now();
    const { transcriber, summary } = await buildTranscriber(config, logger);
    const loadMs = performance.now() - loadStarted;
    try {
      for (const file of files) {
        const started = performance.now();
        const audio = await decodeAudio(await readFile(file), { sampleRate: transcriber.capabilities.sampleRate });
        const decodedAt = performance.now();
        const result = await transcriber.transcribe(audio, { language, prompt: options.prompt });
        const finishedAt = performance.now();
        const timings = {
          audio_ms: Math.round(durationMs(audio)),
          decode_ms: Math.round(decodedAt - started),
          transcribe_ms: Math.round(finishedAt - decodedAt),
          real_time_factor: Number(((finishedAt - decodedAt) / durationMs(audio)).toFixed(3)),
        };
        if (options.json) {
          process.stdout.write(
            `${JSON.stringify({ file, text: result.text, language: result.language ?? null, engine: summary.engine, model: summary.model ?? null, segments: result.segments, timings, model_load_ms: Math.round(loadMs) })}\n`,
          );
        } else {
          process.stdout.write(
            `${file}\n  text: ${result.text}\n  language: ${result.language ?? 'unknown'}\n  engine: ${summary.engine}${summary.model ? ` (${summary.model})` : ''}\n  audio ${timings.audio_ms} ms, decode ${timings.decode_ms} ms, transcribe ${timings.transcribe_ms} ms, RTF ${timings.real_time_factor}\n`,
          );
        }
      }
    } finally {
      await transcriber.close?.();
    }
  });
}
