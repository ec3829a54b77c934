/**
 * `speechbridge serve --tls-self-signed` and `speechbridge cert`, used as the README says: the
 * server makes (or reuses) a local certificate, serves wss with it and prints the
 * NODE_EXTRA_CA_CERTS line; the README's own example program, run with exactly that line in a
 * child process, talks to the server through the official openai SDK's OpenAIRealtimeWS.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { repoRoot } from '../helpers/shared.ts';
import { requireTool } from '../helpers/spoken.ts';
import { runCli } from './cli-harness.ts';
import { startServe, type ServeProcess } from './serve-process.ts';

/** Stands in for the user's home: the certificate is kept under it. */
let home: string;
/** Inside the repository, so the example's `import 'openai'` resolves as it does for a user. */
let exampleDir: string;

before(async () => {
  await requireTool('pocketsphinx_continuous', 'apt-get install pocketsphinx pocketsphinx-en-us');
  home = await mkdtemp(path.join(os.tmpdir(), 'speechbridge-home-'));
  await mkdir(path.join(repoRoot, '.cache'), { recursive: true });
  exampleDir = await mkdtemp(path.join(repoRoot, '.cache', 'sdk-example-'));
});

after(async () => {
  if (home) await rm(home, { recursive: true, force: true });
  if (exampleDir) await rm(exampleDir, { recursive: true, force: true });
});

/** The README's `app.mjs`: the js code block that uses OpenAIRealtimeWS. */
async function readmeExample(): Promise<string> {
  const readme = await readFile(path.join(repoRoot, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((match) => match[1]).filter((code) => code.includes('OpenAIRealtimeWS'));
  assert.equal(blocks.length, 1, 'the README has one OpenAIRealtimeWS example');
  return blocks[0];
}

function runShell(line: string, cwd: string, env: Record<string, string | undefined>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const fullEnv = { ...process.env, ...env };
  delete fullEnv.NODE_EXTRA_CA_CERTS;
  const child = spawn('sh', ['-c', line], { cwd, env: fullEnv as Record<string, string>, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  return once(child, 'close').then(([code]) => {
    clearTimeout(killer);
    return { code: code as number | null, stdout, stderr };
  });
}

test('speechbridge cert makes the certificate once, keeps it private, and reuses it', async () => {
  const first = await runCli(['cert', '--json'], { HOME: home }).exited;
  assert.equal(first.code, 0, first.stderr);
  const made = JSON.parse(first.stdout) as { cert: string; key: string; names: string[]; valid_to: string; created: boolean; trust: string };
  assert.equal(made.cert, path.join(home, '.cache', 'speechbridge', 'tls', 'localhost-cert.pem'));
  assert.deepEqual(made.names, ['localhost', '127.0.0.1', '::1']);
  assert.equal(made.created, true);
  assert.equal(made.trust, `NODE_EXTRA_CA_CERTS=${made.cert} node app.mjs`);
  assert.equal((await stat(made.key)).mode & 0o777, 0o600, 'the key is readable by its owner only');
  assert.ok(new Date(made.valid_to).getTime() - Date.now() > 300 * 86_400_000);

  const again = await runCli(['cert', '--json'], { HOME: home }).exited;
  const kept = JSON.parse(again.stdout) as { cert: string; created: boolean };
  assert.deepEqual([kept.cert, kept.created], [made.cert, false]);

  const text = await runCli(['cert'], { HOME: home }).exited;
  assert.match(text.stdout, /^kept a self-signed certificate for localhost, 127\.0\.0\.1, ::1, valid until \d{4}-\d\d-\d\d$/m);
  assert.match(text.stdout, new RegExp(`^ {2}NODE_EXTRA_CA_CERTS=${made.cert.replace(/[.]/g, '\\.')} node app\\.mjs$`, 'm'));
});

test('serve --tls-self-signed: wss, the printed NODE_EXTRA_CA_CERTS line, and the README example runs with it', async () => {
  const serve: ServeProcess = startServe(['--port', '0', '--tls-self-signed', '--asr', 'pocketsphinx'], { HOME: home });
  try {
    const ready = await serve.waitForLine((line) => line.msg.startsWith('speechbridge listening on '));
    const url = String(ready.url);
    assert.match(url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(ready.tls, true);
    const certificateLine = await serve.waitForLine((line) => line.msg.includes('NODE_EXTRA_CA_CERTS='));
    const certPath = path.join(home, '.cache', 'speechbridge', 'tls', 'localhost-cert.pem');
    const trust = /trust it with: (NODE_EXTRA_CA_CERTS=\S+ node app\.mjs)$/.exec(certificateLine.msg)?.[1];
    assert.equal(trust, `NODE_EXTRA_CA_CERTS=${certPath} node app.mjs`);

    const port = new URL(url).port;
    const example = await readmeExample();
    assert.ok(example.includes('https://localhost:8080/v1'), 'the example talks to the default port');
    await writeFile(path.join(exampleDir, 'app.mjs'), example.replace('localhost:8080', `localhost:${port}`));

    const trusted = await runShell(trust!, exampleDir, {});
    assert.equal(trusted.code, 0, `the example failed: ${trusted.stderr}`);
    assert.equal(trusted.stdout, 'Hello there.\n');

    // The same program without the line is refused by TLS: the line is what makes it work.
    const untrusted = await runShell('node app.mjs', exampleDir, {});
    assert.notEqual(untrusted.code, 0);
    assert.match(untrusted.stderr, /self[- ]signed certificate/i);
    assert.equal(untrusted.stdout, '');
  } finally {
    assert.equal(await serve.stop(), 0);
  }
});

test('--tls-self-signed together with TLS_CERT/TLS_KEY is refused: one line, exit 2', async () => {
  const exit = await runCli(['serve', '--port', '0', '--tls-self-signed'], { HOME: home, TLS_CERT: '/etc/hostname', TLS_KEY: '/etc/hostname' }).exited;
  assert.equal(exit.code, 2, exit.stderr);
  assert.equal(exit.stderr, 'speechbridge: --tls-self-signed and TLS_CERT/TLS_KEY both name a certificate: use one of them\n');
});
