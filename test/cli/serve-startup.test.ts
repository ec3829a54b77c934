/**
 * What `speechbridge serve` says when it starts, as a person reads it: the engines in use and
 * the demo page's address once each, the reason for the offline fallback once, no line per
 * network interface; JSON lines for collectors, readable lines on request (LOG_FORMAT).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { resolveLogFormat } from '../../src/server/logging.ts';
import { requireTool } from '../helpers/spoken.ts';
import { startServe, type LogLine } from './serve-process.ts';

let workDir: string;
/** An address where nothing listens: the model download fails at once, as on an offline machine. */
let offlineModelUrl: string;

before(async () => {
  await requireTool('pocketsphinx_continuous', 'apt-get install pocketsphinx pocketsphinx-en-us');
  workDir = await mkdtemp(path.join(os.tmpdir(), 'speechbridge-serve-'));
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  offlineModelUrl = `http://127.0.0.1:${(probe.address() as { port: number }).port}/models`;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
});

after(async () => {
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

const listening = (line: LogLine) => line.msg.startsWith('speechbridge listening on ');

test('offline with the default engines: the fallback and its reason once, the engines once, the address and demo page once', async () => {
  const serve = startServe(['--port', '0'], { MODEL_CACHE_DIR: path.join(workDir, 'models'), WHISPER_MODEL_BASE_URL: offlineModelUrl });
  try {
    const ready = await serve.waitForLine(listening);
    const lines = serve.lines();

    const fallback = lines.filter((line) => /falling back/.test(line.msg));
    assert.equal(fallback.length, 1, serve.stderr());
    assert.equal(fallback[0].level, 40);
    assert.equal(fallback[0].msg, 'whisper base.en is not available; falling back to pocketsphinx (low accuracy for free speech)');
    assert.match(String(fallback[0].reason), /^could not download http:\/\/127\.0\.0\.1:\d+\/models\/ggml-base\.en\.bin: /);
    assert.equal(lines.filter((line) => JSON.stringify(line).includes('could not download')).length, 1, 'the reason is given once');

    const engines = lines.filter((line) => line.msg.startsWith('engines: '));
    assert.equal(engines.length, 1);
    assert.equal(
      engines[0].msg,
      'engines: speech recognition pocketsphinx en-us (fallback: whisper base.en unavailable) · replies echo · speech synthesis espeak-ng (voice alloy) · VAD webrtc-vad (aggressiveness 2)',
    );
    assert.deepEqual((engines[0].engines as { transcriber: unknown }).transcriber, {
      engine: 'pocketsphinx',
      model: 'en-us',
      note: 'fallback: whisper base.en unavailable',
      fallback: { from: 'whisper base.en', reason: 'the model base.en is not in the model cache and could not be downloaded' },
    });

    const url = String(ready.url);
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(ready.msg, `speechbridge listening on ${url} (no token needed) — demo page: ${url}/demo/`);
    assert.equal(lines.filter(listening).length, 1);
    assert.equal(lines.filter((line) => /Server listening at/.test(line.msg)).length, 0, 'no line per network interface');
    assert.equal(lines.filter((line) => line.msg.includes('/demo/')).length, 1, 'the demo page is named once');

    const demo = await fetch(`${url}/demo/`);
    assert.equal(demo.status, 200);
    assert.match(await demo.text(), /<html/i);
  } finally {
    assert.equal(await serve.stop(), 0);
  }
});

test('LOG_FORMAT=pretty: readable lines with time and level, no JSON; auto picks pretty only on a terminal', async () => {
  assert.equal(resolveLogFormat('auto', { isTTY: true }), 'pretty');
  assert.equal(resolveLogFormat('auto', { isTTY: false }), 'json');
  assert.equal(resolveLogFormat('json', { isTTY: true }), 'json');
  const serve = startServe(['--port', '0', '--asr', 'pocketsphinx', '--log-format', 'pretty'], { LOG_FORMAT: undefined });
  try {
    const deadline = Date.now() + 60_000;
    while (!/listening on/.test(serve.stderr()) && Date.now() < deadline && serve.child.exitCode === null)
      await new Promise((resolve) => setTimeout(resolve, 50));
    const text = serve.stderr();
    assert.match(
      text,
      /^\[\d\d:\d\d:\d\d\] INFO: engines: speech recognition pocketsphinx en-us · replies echo · speech synthesis espeak-ng \(voice alloy\) · VAD webrtc-vad \(aggressiveness 2\)$/m,
    );
    assert.match(
      text,
      /^\[\d\d:\d\d:\d\d\] INFO: speechbridge listening on http:\/\/127\.0\.0\.1:\d+ \(no token needed\) — demo page: http:\/\/127\.0\.0\.1:\d+\/demo\/$/m,
    );
    assert.doesNotMatch(text, /^\{"level"/m, 'no JSON lines');
    assert.doesNotMatch(text, new RegExp(String.raw`\u001b\[`), 'no colour codes when stderr is not a terminal');
  } finally {
    assert.equal(await serve.stop(), 0);
  }
});
