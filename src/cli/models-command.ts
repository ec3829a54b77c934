/** `speechbridge models list | pull <name> | add <file>`: the whisper model cache. */
import { Command, Option } from 'commander';
import { configFromCommand } from './environment.ts';

export function registerModelsCommand(program: Command): void {
  const models = program.command('models').description('list, download or import whisper models (cached in MODEL_CACHE_DIR)');
  const cacheOption = () => new Option('--model-cache-dir <dir>', 'model cache folder (MODEL_CACHE_DIR)');

  const list = models
    .command('list')
    .description('list cached models and the names that can be pulled')
    .addOption(cacheOption())
    .addOption(new Option('--json', 'print JSON'));
  list.action(async (options: { json?: boolean }) => {
    const config = await configFromCommand(list, { modelCacheDir: 'MODEL_CACHE_DIR' });
    const { listModels } = await import('../providers/model-store.ts');
    const listing = await listModels(config.asr.modelCacheDir);
    if (options.json) {
      process.stdout.write(`${JSON.stringify(listing)}\n`);
      return;
    }
    process.stdout.write(`cache: ${listing.cacheDir}\n`);
    if (listing.cached.length === 0) process.stdout.write('  no cached models\n');
    for (const model of listing.cached)
      process.stdout.write(`  ${model.name.padEnd(22)} ${(model.sizeBytes / 1e6).toFixed(1).padStart(8)} MB  ${model.file}\n`);
    for (const model of listing.partial)
      process.stdout.write(`  ${model.name.padEnd(22)} ${(model.sizeBytes / 1e6).toFixed(1).padStart(8)} MB  (partial download; pull resumes it)\n`);
    process.stdout.write(`can be pulled: ${listing.known.join(', ')}\n`);
  });

  const pull = models
    .command('pull')
    .description('download a named model (tiny.en, base.en, small…) into the cache, with a progress bar and a checksum check')
    .argument('<name>', 'model name')
    .addOption(cacheOption())
    .addOption(new Option('--base-url <url>', 'where to download from (WHISPER_MODEL_BASE_URL)'));
  pull.action(async (name: string) => {
    const config = await configFromCommand(pull, { modelCacheDir: 'MODEL_CACHE_DIR', baseUrl: 'WHISPER_MODEL_BASE_URL' });
    const { cliProgress, resolveModel } = await import('../providers/model-store.ts');
    const bar = cliProgress(`ggml-${name}.bin`);
    try {
      const file = await resolveModel(name, {
        cacheDir: config.asr.modelCacheDir,
        baseUrl: config.asr.modelBaseUrl,
        download: true,
        onProgress: bar.onProgress,
      });
      bar.stop();
      process.stdout.write(`${file}\n`);
    } catch (error) {
      bar.stop();
      throw error;
    }
  });

  const add = models
    .command('add')
    .description('import a downloaded ggml model file into the cache (for machines without internet): named after the published model it matches, or --name')
    .argument('<file>', 'a whisper.cpp ggml model, e.g. ggml-base.en.bin')
    .addOption(new Option('--name <name>', 'the name to use it by (WHISPER_MODEL=<name>); needed when the file is not a published model'))
    .addOption(cacheOption())
    .addOption(new Option('--json', 'print JSON'));
  add.addHelpText(
    'after',
    '\nExample, with a file fetched on another machine:\n  speechbridge models add ~/Downloads/ggml-base.en.bin\n  WHISPER_MODEL=base.en speechbridge serve',
  );
  add.action(async (file: string, options: { name?: string; json?: boolean }) => {
    const config = await configFromCommand(add, { modelCacheDir: 'MODEL_CACHE_DIR' });
    const { importModel } = await import('../providers/model-import.ts');
    const imported = await importModel(file, { cacheDir: config.asr.modelCacheDir, name: options.name });
    if (options.json) {
      process.stdout.write(
        `${JSON.stringify({ name: imported.name, file: imported.file, size_bytes: imported.sizeBytes, sha1: imported.sha1, published: imported.published ?? null, already_cached: imported.alreadyCached })}\n`,
      );
      return;
    }
    const how = imported.published ? `whisper.cpp's ${imported.published} (SHA-1 matches)` : `named ${imported.name}`;
    process.stdout.write(
      `${imported.alreadyCached ? 'already in the cache' : 'added'}: ${imported.file}, ${how}\nuse it with WHISPER_MODEL=${imported.name} (or --whisper-model ${imported.name})\n`,
    );
  });
}
