/**
 * The command line's build (scripts/build.ts → dist/) and how bin/speechbridge.js chooses
 * between it and the TypeScript sources: the build runs as plain JavaScript while it matches the
 * sources, and any source added, removed or changed since sends the command back to the
 * sources (through tsx). Which code ran is read from a stack trace (LOG_LEVEL=debug prints it).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { freshBuiltEntry, MANIFEST_NAME } from '../../bin/build-freshness.js';
import { buildDist } from '../../scripts/build.ts';
import { repoRoot } from '../helpers/shared.ts';
import { runCli } from './cli-harness.ts';

const run = promisify(execFile);

let workDir: string;

before(async () => {
  workDir = await mkdtemp(path.join(os.tmpdir(), 'speechbridge-build-'));
});

after(async () => {
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

/** A small project: TypeScript importing TypeScript (statically and dynamically) and a worker script in JavaScript. */
async function writeProject(root: string): Promise<void> {
  await mkdir(path.join(root, 'src', 'cli'), { recursive: true });
  await mkdir(path.join(root, 'src', 'words'), { recursive: true });
  await writeFile(
    path.join(root, 'tsconfig.json'),
    '{ "compilerOptions": { "target": "ES2022", "module": "NodeNext", "allowImportingTsExtensions": true } }\n',
  );
  await writeFile(path.join(root, 'src', 'words', 'greeting.ts'), "export const greeting: string = 'hello';\n");
  await writeFile(path.join(root, 'src', 'words', 'worker.mjs'), "export const where = 'worker';\n");
  await writeFile(
    path.join(root, 'src', 'cli', 'main.ts'),
    [
      "import { greeting } from '../words/greeting.ts';",
      "import type { Later } from '../words/later.ts';",
      "const { later }: { later: Later } = await import('../words/later.ts');",
      "const { where } = await import(new URL('../words/worker.mjs', import.meta.url).href);",
      'console.log(`${greeting} ${later} from ${where}`);',
      '',
    ].join('\n'),
  );
  await writeFile(path.join(root, 'src', 'words', 'later.ts'), "export type Later = string;\nexport const later: Later = 'there';\n");
}

test('a build runs as plain JavaScript, and stays in use only while every source is as it was built', async () => {
  const root = path.join(workDir, 'project');
  await writeProject(root);
  assert.equal(freshBuiltEntry(root), undefined, 'no build yet');

  const result = await buildDist(root);
  assert.deepEqual({ compiled: result.compiled, copied: result.copied }, { compiled: 3, copied: 1 });
  const entry = freshBuiltEntry(root);
  assert.equal(entry, path.join(root, 'dist', 'cli', 'main.js'));
  // Plain node, no loader: relative imports point at the compiled files.
  const { stdout } = await run(process.execPath, [entry!]);
  assert.equal(stdout, 'hello there from worker\n');
  assert.ok(!existsSync(path.join(root, `dist.building-${process.pid}`)), 'the staging folder is gone');

  // A change in content (same size, a later time): stale.
  const greeting = path.join(root, 'src', 'words', 'greeting.ts');
  await writeFile(greeting, "export const greeting: string = 'howdy';\n");
  const later = new Date(Date.now() + 5_000);
  await utimes(greeting, later, later);
  assert.equal(freshBuiltEntry(root), undefined, 'an edited source makes the build stale');
  await buildDist(root);
  assert.equal((await run(process.execPath, [freshBuiltEntry(root)!])).stdout, 'howdy there from worker\n');

  await writeFile(path.join(root, 'src', 'words', 'extra.ts'), 'export const extra = 1;\n');
  assert.equal(freshBuiltEntry(root), undefined, 'an added source makes the build stale');
  await buildDist(root);
  assert.ok(freshBuiltEntry(root));

  await rm(path.join(root, 'src', 'words', 'extra.ts'));
  assert.equal(freshBuiltEntry(root), undefined, 'a removed source makes the build stale');
  await buildDist(root);
  assert.ok(!existsSync(path.join(root, 'dist', 'words', 'extra.js')), 'a rebuild holds no file of a removed source');

  await writeFile(
    path.join(root, 'tsconfig.json'),
    '{ "compilerOptions": { "target": "ES2020", "module": "NodeNext", "allowImportingTsExtensions": true } }\n',
  );
  assert.equal(freshBuiltEntry(root), undefined, 'a changed tsconfig.json makes the build stale');
});

/** Which tree the command ran from, read from the stack of a failure inside the say command. */
async function treeThatRan(): Promise<'dist' | 'src'> {
  const exit = await runCli(['say', 'hi', '-o', path.join(workDir, 'out.xyz')], { LOG_LEVEL: 'debug' }).exited;
  assert.equal(exit.code, 2, exit.stderr);
  assert.match(exit.stderr, /^speechbridge: unknown output extension \.xyz/);
  const frame = /[/\\](dist|src)[/\\]cli[/\\]say-command\.(js|ts)/.exec(exit.stderr);
  assert.ok(frame, `a stack frame in say-command: ${exit.stderr}`);
  assert.equal(frame[1] === 'dist' ? 'js' : 'ts', frame[2]);
  return frame[1] as 'dist' | 'src';
}

test('speechbridge runs the repository’s build while it is current, and the sources once it is not', async () => {
  await buildDist(repoRoot);
  assert.equal(await treeThatRan(), 'dist');
  const version = (JSON.parse(await readFile(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;
  const built = await runCli(['--version']).exited;
  assert.equal(built.stdout, `${version}\n`, 'the build finds package.json from its own place');

  // As if a source had been edited after the build: its recorded stamp no longer matches.
  const manifestFile = path.join(repoRoot, 'dist', MANIFEST_NAME);
  const manifest = await readFile(manifestFile, 'utf8');
  const parsed = JSON.parse(manifest) as { sources: Record<string, string> };
  parsed.sources['src/cli/say-command.ts'] = '0:0';
  await writeFile(manifestFile, JSON.stringify(parsed));
  try {
    assert.equal(await treeThatRan(), 'src');
  } finally {
    await writeFile(manifestFile, manifest);
  }
  assert.equal(await treeThatRan(), 'dist');
});
