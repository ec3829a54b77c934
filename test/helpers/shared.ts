/**
 * Locates test data. The recordings live in the repository (test/fixtures/audio, with their
 * licences), so a plain clone runs its tests; model files for benchmarks come from a shared
 * folder (../shared, or SPEECHBRIDGE_SHARED_DIR) when one is there, and tests generate the
 * zero-weight whisper models they need (test/helpers/zero-whisper-model.ts).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export const fixturesDir = path.join(repoRoot, 'test', 'fixtures');

export function sharedDir(): string {
  return process.env.SPEECHBRIDGE_SHARED_DIR ?? path.resolve(repoRoot, '../shared');
}

function mustExist(file: string, what: string, hint: string): string {
  if (!existsSync(file)) throw new Error(`${what} not found at ${file}: ${hint}`);
  return file;
}

/** A recording from test/fixtures/audio (see its README for what each is and its licence). */
export function sharedAudioPath(name: string): string {
  return mustExist(
    path.join(fixturesDir, 'audio', name),
    `recording ${name}`,
    'the recordings are part of the repository (test/fixtures/audio); restore it with git',
  );
}

/** A model file from the shared folder, for benchmarks; undefined when there is none. */
export function sharedModelPathIfPresent(name: string): string | undefined {
  const file = path.join(sharedDir(), 'models', name);
  return existsSync(file) ? file : undefined;
}
