/** `speechbridge models list | pull <name>`: the whisper model cache. */
import { Command, Option } from 'commander';
import { cliProgress, listModels, resolveModel } from '../providers/model-store.ts';
import { configFromCommand } from './environment.ts';

export function registerModelsCommand(program: Command): void {
  const models = program.command('models').description('list or download whisper models (cached in MODEL_CACHE_DIR)');
  const cacheOption = () => new Option('--model-cache-dir <dir>', 'model cache folder (MODEL_CACHE_DIR)');

  const list = models.command('list').description('list cached models and the names that can be pulled').addOption(cacheOption()).addOption(new Option('--json', 'print JSON'));
  list.action(async (options: { json?: boolean }) => {
    const config = configFromCommand(list, { modelCacheDir: 'MODEL_CACHE_DIR' });
    const listing = await listModels(config.asr.modelCacheDir);
    if (options.json) {
      process.stdout.write(`${JSON.stringify(listing)}\n`);
      return;
    }
    process.stdout.write(`cache: ${listing.cacheDir}\n`);
    if (listing.cached.length === 0) process.stdout.write('  no cached models\n');
    for (const model of listing.cached) process.stdout.write(`  ${model.name.padEnd(22)} ${(model.sizeBytes / 1e6).toFixed(1).padStart(8)} MB  ${model.file}\n`);
    for (const model of listing.partial) process.stdout.write(`  ${model.name.padEnd(22)} ${(model.sizeBytes / 1e6).toFixed(1).padStart(8)} MB  (partial download; pull resumes it)\n`);
    process.stdout.write(`can be pulled: ${listing.known.join(', ')}\n`);
  });

  const pull = models
    .command('pull')
    .description('download a named model (tiny.en, base.en, small…) into the cache, with a progress bar and a checksum check')
    .argument('<name>', 'model name')
    .addOption(cacheOption())
    .addOption(new Option('--base-url <url>', 'where to download from (WHISPER_MODEL_BASE_URL)'));
  pull.action(async (name: string) => {
    const config = configFromCommand(pull, { modelCacheDir: 'MODEL_CACHE_DIR', baseUrl: 'WHISPER_MODEL_BASE_URL' });
    const bar = cliProgress(`ggml-${name}.bin`);
    try {
      const file = await resolveModel(name, { cacheDir: config.asr.modelCacheDir, baseUrl: config.asr.modelBaseUrl, download: true, onProgress: bar.onProgress });
      bar.stop();
      process.stdout.write(`${file}\n`);
    } catch (error) {
      bar.stop();
      throw error;
    }
  });
}
