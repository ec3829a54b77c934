/**
 * Imports a whisper ggml file fetched elsewhere (a machine with internet, a USB stick) into
 * the model cache, for offline machines: `speechbridge models add ggml-base.en.bin`. The file
 * must be a complete whisper.cpp ggml model. It takes the name of the published model whose
 * SHA-1 it has (so WHISPER_MODEL=base.en then finds it), or a name given with --name; a
 * published name is never given to a file that is not that model.
 */
import { createHash } from 'node:crypto';
import { copyFile, mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { SpeechbridgeError } from '../errors/registry.ts';
import { checkGgmlModel, modelNameFor } from './ggml-model-file.ts';
import { KNOWN_MODELS, expandHome, hashFile, modelFileName, type ModelChecksum } from './model-store.ts';

export interface ImportModelOptions {
  cacheDir: string;
  /** The cache name to use; required when the file is not a published model. */
  name?: string;
  /** Extra or overriding checksums by name, as for resolveModel. */
  checksums?: Readonly<Record<string, ModelChecksum>>;
}

export interface ImportedModel {
  name: string;
  file: string;
  sizeBytes: number;
  sha1: string;
  /** The published model the file's checksum matched, if any. */
  published?: string;
  /** The same file was already in the cache under this name. */
  alreadyCached: boolean;
}

/** Letters, digits, dots, dashes and underscores; not a path, and not ending in .bin (that reads as a path). */
const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export async function importModel(source: string, options: ImportModelOptions): Promise<ImportedModel> {
  const refuse = (message: string, param = 'file') => new SpeechbridgeError('invalid_value', message, { param });
  const info = await stat(source).catch((error: NodeJS.ErrnoException) => {
    throw refuse(`cannot read ${source}: ${error.code === 'ENOENT' ? 'no such file' : error.code === 'EACCES' ? 'permission denied' : error.message}`);
  });
  if (!info.isFile()) throw refuse(`cannot read ${source}: it is not a file`);
  if (options.name !== undefined && (!NAME_PATTERN.test(options.name) || options.name.endsWith('.bin'))) {
    throw refuse(`--name ${JSON.stringify(options.name)}: use letters, digits, dots, dashes and underscores, without .bin (e.g. small.en-q5_1)`, 'name');
  }
  const check = await checkGgmlModel(source);
  if (!check.ok) throw refuse(`${source} cannot be used as a whisper model: ${check.problem}`);

  const sha1 = await sha1Of(source);
  const checksums = { ...KNOWN_MODELS, ...options.checksums };
  const published = Object.entries(checksums).find(
    ([, sum]) => sum.sha1?.toLowerCase() === sha1 && (sum.sizeBytes === undefined || sum.sizeBytes === info.size),
  )?.[0];
  const looksLike = modelNameFor(check.hparams);
  if (options.name && options.name in checksums && options.name !== published) {
    throw refuse(
      `--name ${options.name} is the name of whisper.cpp's published model, and this file is not it (SHA-1 ${sha1}); choose another name, e.g. --name ${looksLike}-custom`,
      'name',
    );
  }
  const name = options.name ?? published;
  if (!name) {
    const suggestion = looksLike in checksums ? `${looksLike}-custom` : looksLike;
    throw refuse(
      `${source} is a whisper model the size of ${looksLike}, but not one whisper.cpp publishes (SHA-1 ${sha1} matches no known sum): give it a name with --name, e.g. --name ${suggestion}`,
      'name',
    );
  }

  const cacheDir = path.resolve(expandHome(options.cacheDir));
  const target = path.join(cacheDir, modelFileName(name));
  const existing = await stat(target).catch(() => undefined);
  if (existing) {
    if (existing.isFile() && existing.size === info.size && (await sha1Of(target)) === sha1) {
      return { name, file: target, sizeBytes: info.size, sha1, published, alreadyCached: true };
    }
    throw refuse(`${target} is already in the cache and is a different file: remove it first, or choose another --name`, 'name');
  }
  await mkdir(cacheDir, { recursive: true });
  // Copied beside the target and renamed, so the cache never holds half a model under its name.
  const partial = `${target}.${process.pid}.import`;
  try {
    await copyFile(source, partial);
    await rename(partial, target);
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
  return { name, file: target, sizeBytes: info.size, sha1, published, alreadyCached: false };
}

async function sha1Of(file: string): Promise<string> {
  const sha1 = createHash('sha1');
  await hashFile(file, { sha1 }, undefined);
  return sha1.digest('hex');
}
