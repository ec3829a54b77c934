/**
 * Whether dist/ (scripts/build.ts: the TypeScript sources compiled to plain JavaScript, one file
 * each) is a build of the sources as they are now. The build records the size and modification
 * time of every file under src/ and of tsconfig.json; a file added, removed or changed since
 * makes the build stale, and the command line then runs the sources through tsx instead, so an
 * edited checkout always runs what it says. Checking costs a few milliseconds (about 250 stat
 * calls); tsx's loader, which a current build saves, is about two thirds of a command's start-up.
 *
 * Plain JavaScript on purpose: bin/speechbridge.js reads it before any TypeScript can load.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

/** The record of what a build was made from, inside the build's folder. */
export const MANIFEST_NAME = 'build-manifest.json';

/** What the build's folder holds: the command line's entry, as dist/cli/main.js. */
export const BUILT_ENTRY = path.join('cli', 'main.js');

/** "size:mtimeMs" of each file under src/ (keyed "src/…", '/'-separated) and of tsconfig.json. */
export function sourceStamps(root) {
  const stamps = {};
  const walk = (folder, prefix) => {
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      const relative = `${prefix}/${entry.name}`;
      if (entry.isDirectory()) walk(path.join(folder, entry.name), relative);
      else stamps[relative] = stamp(path.join(folder, entry.name));
    }
  };
  walk(path.join(root, 'src'), 'src');
  stamps['tsconfig.json'] = stamp(path.join(root, 'tsconfig.json'));
  return stamps;
}

function stamp(file) {
  try {
    const stats = statSync(file);
    return `${stats.size}:${stats.mtimeMs}`;
  } catch {
    return 'missing';
  }
}

/**
 * The built entry (an absolute path) when `distDir` holds a build of `root`'s sources as they
 * are now; undefined when there is no build, an unreadable one, or a stale one.
 */
export function freshBuiltEntry(root, distDir = path.join(root, 'dist')) {
  let recorded;
  try {
    recorded = JSON.parse(readFileSync(path.join(distDir, MANIFEST_NAME), 'utf8')).sources;
  } catch {
    return undefined;
  }
  if (!recorded || typeof recorded !== 'object') return undefined;
  let current;
  try {
    current = sourceStamps(root);
  } catch {
    // No src/ to compare with: the build cannot be shown current.
    return undefined;
  }
  const names = Object.keys(current);
  if (names.length !== Object.keys(recorded).length) return undefined;
  for (const name of names) if (recorded[name] !== current[name]) return undefined;
  return path.join(distDir, BUILT_ENTRY);
}
