/**
 * `speechbridge models add <file>`: a ggml file fetched elsewhere goes into the model cache,
 * named after the published model its SHA-1 matches or by --name, and is then found by that
 * name; files that are not whole whisper models are refused with the reason.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFile, mkdtemp, open, readFile, rm, stat, truncate } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { checkGgmlModel, modelNameFor } from '../../src/providers/ggml-model-file.ts';
import { importModel } from '../../src/providers/model-import.ts';
import { resolveModel } from '../../src/providers/model-store.ts';
import { sharedAudioPath } from '../helpers/shared.ts';
import { zeroWhisperModel } from '../helpers/zero-whisper-model.ts';
import { runCli } from './cli-harness.ts';

let workDir: string;
let tinyEn: string;
let tinyEnSha1: string;

before(async () => {
  workDir = await mkdtemp(path.join(os.tmpdir(), 'speechbridge-models-add-'));
  tinyEn = await zeroWhisperModel('tiny.en');
  tinyEnSha1 = createHash('sha1')
    .update(await readFile(tinyEn))
    .digest('hex');
});

after(async () => {
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

function cacheDir(name: string): string {
  return path.join(workDir, name);
}

test('a model whisper.cpp does not publish needs --name: refused with its SHA-1 and a suggested name, exit 2', async () => {
  const exit = await runCli(['models', 'add', tinyEn, '--model-cache-dir', cacheDir('refused')]).exited;
  assert.equal(exit.code, 2, exit.stderr);
  assert.equal(
    exit.stderr,
    `speechbridge: ${tinyEn} is a whisper model the size of tiny.en, but not one whisper.cpp publishes (SHA-1 ${tinyEnSha1} matches no known sum): give it a name with --name, e.g. --name tiny.en-custom\n`,
  );
});

test('--name imports it: copied into the cache, listed, and found by that name; a second add says it is there', async () => {
  const cache = cacheDir('named');
  const exit = await runCli(['models', 'add', tinyEn, '--name', 'zero-tiny.en', '--model-cache-dir', cache]).exited;
  assert.equal(exit.code, 0, exit.stderr);
  const target = path.join(cache, 'ggml-zero-tiny.en.bin');
  assert.equal(exit.stdout, `added: ${target}, named zero-tiny.en\nuse it with WHISPER_MODEL=zero-tiny.en (or --whisper-model zero-tiny.en)\n`);
  assert.equal((await stat(target)).size, (await stat(tinyEn)).size);
  assert.equal(
    createHash('sha1')
      .update(await readFile(target))
      .digest('hex'),
    tinyEnSha1,
  );

  assert.equal(await resolveModel('zero-tiny.en', { cacheDir: cache, download: false }), target);
  const listing = await runCli(['models', 'list', '--json', '--model-cache-dir', cache]).exited;
  assert.deepEqual(
    (JSON.parse(listing.stdout) as { cached: Array<{ name: string }> }).cached.map((model) => model.name),
    ['zero-tiny.en'],
  );

  const again = await runCli(['models', 'add', tinyEn, '--name', 'zero-tiny.en', '--model-cache-dir', cache, '--json']).exited;
  assert.equal(again.code, 0, again.stderr);
  assert.equal((JSON.parse(again.stdout) as { already_cached: boolean }).already_cached, true);
});

test('a file whose SHA-1 is a published model’s takes that name', async () => {
  const cache = cacheDir('published');
  const imported = await importModel(tinyEn, { cacheDir: cache, checksums: { 'tiny.en': { sha1: tinyEnSha1 } } });
  assert.deepEqual([imported.name, imported.published, imported.alreadyCached], ['tiny.en', 'tiny.en', false]);
  assert.equal(imported.file, path.join(cache, 'ggml-tiny.en.bin'));
  assert.equal(await resolveModel('tiny.en', { cacheDir: cache, download: false, checksums: { 'tiny.en': { sha1: tinyEnSha1 } } }), imported.file);
});

test('a published name is never given to another file; names must not be paths', async () => {
  const taken = await runCli(['models', 'add', tinyEn, '--name', 'base.en', '--model-cache-dir', cacheDir('taken')]).exited;
  assert.equal(taken.code, 2);
  assert.match(
    taken.stderr,
    /^speechbridge: --name base\.en is the name of whisper\.cpp's published model, and this file is not it \(SHA-1 [0-9a-f]{40}\); choose another name, e.g\. --name tiny\.en-custom\n$/,
  );
  const pathLike = await runCli(['models', 'add', tinyEn, '--name', '../evil', '--model-cache-dir', cacheDir('taken')]).exited;
  assert.equal(pathLike.code, 2);
  assert.match(pathLike.stderr, /^speechbridge: --name "\.\.\/evil": use letters, digits, dots, dashes and underscores/);
});

test('not a model, a truncated download, a folder: refused with the reason, nothing added, exit 2', async () => {
  const cache = cacheDir('refused-files');
  const wav = sharedAudioPath('en_one_two_three.wav');
  const notModel = await runCli(['models', 'add', wav, '--name', 'x', '--model-cache-dir', cache]).exited;
  assert.equal(notModel.code, 2);
  assert.equal(
    notModel.stderr,
    `speechbridge: ${wav} cannot be used as a whisper model: it does not start with the ggml magic, so it is not a whisper.cpp ggml model (.bin)\n`,
  );

  const partial = path.join(workDir, 'ggml-tiny.en.bin');
  await copyFile(tinyEn, partial);
  await truncate(partial, 40_000_000);
  const truncated = await runCli(['models', 'add', partial, '--name', 'half', '--model-cache-dir', cache]).exited;
  assert.equal(truncated.code, 2);
  assert.match(
    truncated.stderr,
    /^speechbridge: .*ggml-tiny\.en\.bin cannot be used as a whisper model: it is incomplete: 40000000 bytes, and tensor \d+ alone needs the file to reach \d+ \(a download that broke off\?\)\n$/,
  );

  const folder = await runCli(['models', 'add', workDir, '--name', 'x', '--model-cache-dir', cache]).exited;
  assert.equal(folder.code, 2);
  assert.equal(folder.stderr, `speechbridge: cannot read ${workDir}: it is not a file\n`);
  await assert.rejects(stat(cache), { code: 'ENOENT' }, 'nothing was written to the cache');
});

test('the header reader: the published names files of each size would have; a cut inside the headers is caught', async () => {
  const check = await checkGgmlModel(await zeroWhisperModel('base.en'));
  assert.ok(check.ok);
  assert.equal(check.tensors, 245);
  assert.equal(modelNameFor(check.hparams), 'base.en');
  const multilingual = await checkGgmlModel(await zeroWhisperModel('tiny'));
  assert.ok(multilingual.ok && modelNameFor(multilingual.hparams) === 'tiny');
  assert.equal(
    modelNameFor({ ...check.hparams, audioLayers: 32, audioState: 1280, mels: 128, textLayers: 4, vocabulary: 51_866, fileType: 8 }),
    'large-v3-turbo-q5_0',
  );

  const head = path.join(workDir, 'head.bin');
  const handle = await open(head, 'w');
  await handle.write((await readFile(tinyEn)).subarray(0, 300_000));
  await handle.close();
  const cut = await checkGgmlModel(head);
  assert.deepEqual(cut, { ok: false, problem: 'it is incomplete: it ends inside its headers at 300000 bytes (a download that broke off?)' });
});
