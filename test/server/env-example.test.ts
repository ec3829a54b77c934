/**
 * .env.example lists every variable the configuration reads, once, and each value in it is
 * the default: copying it to .env changes nothing until a line is edited.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import dotenv from 'dotenv';
import { ENV_SCHEMA, loadConfig } from '../../src/server/config.ts';
import { expandHome } from '../../src/providers/model-store.ts';
import { repoRoot } from '../helpers/shared.ts';

/** Read outside ENV_SCHEMA: by the audio layer when it starts ffmpeg. */
const OTHER_VARIABLES = ['FFMPEG_PATH'];

test('every variable, once, and nothing else', async () => {
  const text = await readFile(path.join(repoRoot, '.env.example'), 'utf8');
  const assigned = text
    .split('\n')
    .filter((line) => /^[A-Z0-9_]+=/.test(line))
    .map((line) => line.slice(0, line.indexOf('=')));
  assert.deepEqual([...assigned].sort(), [...Object.keys(ENV_SCHEMA.shape), ...OTHER_VARIABLES].sort());
  assert.equal(new Set(assigned).size, assigned.length, 'no variable twice');
  // Each has a comment above it, or shares one with the variables just before it.
  assert.ok(text.split('\n').filter((line) => line.startsWith('# ')).length >= 30);
});

test('its values are the defaults', async () => {
  const example = dotenv.parse(await readFile(path.join(repoRoot, '.env.example')));
  const defaults = loadConfig({});
  const fromExample = loadConfig(example);
  assert.equal(path.resolve(expandHome(fromExample.asr.modelCacheDir)), defaults.asr.modelCacheDir);
  assert.deepEqual({ ...fromExample, asr: { ...fromExample.asr, modelCacheDir: defaults.asr.modelCacheDir } }, defaults);
  assert.equal(example.FFMPEG_PATH, '');
});
