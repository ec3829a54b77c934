/** Locates ../shared (real recordings and model files) for tests and benchmarks. */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export function sharedDir(): string {
  return process.env.SPEECHBRIDGE_SHARED_DIR ?? path.resolve(repoRoot, '../shared');
}

function mustExist(file: string, what: string): string {
  if (!existsSync(file)) {
    throw new Error(`${what} not found at ${file}: set SPEECHBRIDGE_SHARED_DIR to the folder holding audio/ and models/ (see README, Tests).`);
  }
  return file;
}

export function sharedAudioPath(name: string): string {
  return mustExist(path.join(sharedDir(), 'audio', name), `recording ${name}`);
}

export function sharedModelPath(name: string): string {
  return mustExist(path.join(sharedDir(), 'models', name), `model file ${name}`);
}
