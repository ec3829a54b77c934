/**
 * How every command fails on a usage mistake, a file it cannot read, or a port it cannot
 * have: one line on stderr saying what is wrong and what to do, no stack trace, and an exit
 * code (2 for a bad flag or file, 1 for a port in use).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { runCli } from './cli-harness.ts';

let workDir: string;

before(async () => {
  workDir = await mkdtemp(path.join(os.tmpdir(), 'speechbridge-usage-'));
});

after(async () => {
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

/** Runs the command and checks the one-line contract: exit code, the line, nothing else. */
async function oneLineFailure(args: string[], exitCode: number, line: RegExp, env: Record<string, string | undefined> = {}): Promise<void> {
  const exit = await runCli(args, env).exited;
  assert.equal(exit.code, exitCode, `exit code of speechbridge ${args.join(' ')}; stderr: ${exit.stderr}`);
  const lines = exit.stderr.split('\n').filter((text) => text !== '');
  assert.equal(lines.length, 1, `one line expected, got:\n${exit.stderr}`);
  assert.match(lines[0], line);
  assert.doesNotMatch(exit.stderr, /\bat .*\.(ts|js):\d+|node:internal/, 'no stack trace');
  assert.equal(exit.stdout, '');
}

test('an unknown flag: one line naming it, the nearest flag and where the help is; exit 2', async () => {
  await oneLineFailure(['serve', '--prot', '8080'], 2, /^speechbridge: unknown option '--prot' \(Did you mean --port\?\) — see speechbridge serve --help$/);
  await oneLineFailure(
    ['models', 'add', 'x.bin', '--nam', 'y'],
    2,
    /^speechbridge: unknown option '--nam' \(Did you mean --name\?\) — see speechbridge models add --help$/,
  );
});

test('a value outside a flag’s choices, an unknown command, a missing argument: one line each, exit 2', async () => {
  await oneLineFailure(
    ['say', 'hi', '--tts', 'festival'],
    2,
    /^speechbridge: option '--tts <engine>' argument 'festival' is invalid\. Allowed choices are auto, espeak, openai, gradium, wyoming\. — see speechbridge say --help$/,
  );
  await oneLineFailure(['transcibe', 'a.wav'], 2, /^speechbridge: unknown command 'transcibe' \(Did you mean transcribe\?\) — see speechbridge --help$/);
  await oneLineFailure(['vad'], 2, /^speechbridge: missing required argument 'file' — see speechbridge vad --help$/);
});

test('--help and --version still exit 0', async () => {
  const help = await runCli(['serve', '--help']).exited;
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--tls-self-signed/);
  const version = await runCli(['--version']).exited;
  assert.equal(version.code, 0);
  assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
});

test('a missing input file, a folder, a missing TLS file: one line naming it, exit 2', async () => {
  const missing = path.join(workDir, 'nope.wav');
  await oneLineFailure(['transcribe', missing], 2, new RegExp(`^speechbridge: cannot read ${missing}: no such file$`));
  await oneLineFailure(['vad', workDir], 2, /^speechbridge: cannot read .*: it is a directory, not an audio file$/);
  await oneLineFailure(['models', 'add', missing], 2, new RegExp(`^speechbridge: cannot read ${missing}: no such file$`));
  const cert = path.join(workDir, 'cert.pem');
  await oneLineFailure(['serve', '--port', '0'], 2, new RegExp(`^speechbridge: cannot open ${cert}: no such file or folder$`), {
    TLS_CERT: cert,
    TLS_KEY: path.join(workDir, 'key.pem'),
  });
});

test('say with an output extension it cannot write: one line, exit 2, before any engine loads', async () => {
  await oneLineFailure(['say', 'hi', '-o', path.join(workDir, 'out.xyz')], 2, /^speechbridge: unknown output extension \.xyz: use \.wav, .*$/);
});

test('serve on a port in use: one line saying so and how to pick another, exit 1, before the engines load', async () => {
  const holder: Server = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  const port = (holder.address() as { port: number }).port;
  try {
    const started = Date.now();
    await oneLineFailure(
      ['serve', '--host', '127.0.0.1', '--port', String(port)],
      1,
      new RegExp(
        `^speechbridge: port ${port} is already in use on 127\\.0\\.0\\.1: stop the program listening there, or pick another port with --port \\(SERVER_PORT\\)$`,
      ),
    );
    // Before the engines: whisper's model would otherwise be looked for (and downloaded) first.
    assert.ok(Date.now() - started < 30_000);
  } finally {
    await new Promise<void>((resolve) => holder.close(() => resolve()));
  }
});

test('serve on an address that is not this machine’s: one line, exit 1', async () => {
  // 198.51.100.0/24 is TEST-NET-2 (RFC 5737): documentation only, no machine has it.
  await oneLineFailure(
    ['serve', '--host', '198.51.100.123', '--port', '18999'],
    1,
    /^speechbridge: cannot listen on 198\.51\.100\.123: it is not an address of this machine; check --host \(SERVER_NAME\)$/,
  );
});

test('a bad setting in the environment names the variable; exit 2', async () => {
  const exit = await runCli(['serve'], { SERVER_PORT: 'eighty' }).exited;
  assert.equal(exit.code, 2, exit.stderr);
  assert.match(exit.stderr, /^speechbridge: invalid configuration, fix these variables \(environment, \.env or flags\):\n {2}SERVER_PORT="eighty": /);
  assert.doesNotMatch(exit.stderr, /\bat .*\.(ts|js):\d+/);
});
