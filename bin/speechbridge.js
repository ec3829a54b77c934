#!/usr/bin/env node
// Runs the command line from dist/ (plain JavaScript, made by `npm run build`) when it is a
// build of the sources as they are now, and otherwise runs the TypeScript sources through tsx's
// loader: a checkout with no build, or with an edited source, still runs as written, only
// slower to start: tsx is about two thirds of the start-up (bin/build-freshness.js).
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { freshBuiltEntry } from './build-freshness.js';

const built = freshBuiltEntry(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..'));
if (built) {
  await import(pathToFileURL(built).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
