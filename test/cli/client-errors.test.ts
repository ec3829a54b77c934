/**
 * How `stream` and `listen` fail when the server is not there or refuses the token: a message
 * that says what to do, and a non-zero exit code. And their --help, which must name the
 * token's environment variable.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { speakPhrase } from '../helpers/spoken.ts';
import { runCli, startCliServer, type CliServer } from './cli-harness.ts';

const TOKEN = 'cli-test-token';
const PHRASE = 'turn on the radio';

let cli: CliServer;
let phrase: string;
/** A port that was free a moment ago and that nothing listens on. */
let closedPort: number;

before(async () => {
  cli = await startCliServer({ API_TOKENS: TOKEN });
  phrase = (await speakPhrase(PHRASE, 'mp3')).file;
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  closedPort = (probe.address() as { port: number }).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
});

after(async () => {
  await cli?.close();
  if (phrase) await rm(path.dirname(phrase), { recursive: true, force: true });
});

for (const protocol of ['realtime', 'gateway', 'transcriptions']) {
  test(`stream --protocol ${protocol} to a server that is not running: "cannot reach speechbridge", exit 1`, async () => {
    const url = `ws://127.0.0.1:${closedPort}`;
    const exit = await runCli(['stream', phrase, '--url', url, '--protocol', protocol, '--fast']).exited;
    assert.equal(exit.code, 1, `exit code; stderr: ${exit.stderr}`);
    assert.match(
      exit.stderr,
      new RegExp(`^speechbridge: cannot reach speechbridge at ws://127\\.0\\.0\\.1:${closedPort}/\\S*: is it running\\? \\(ECONNREFUSED`, 'm'),
    );
    assert.equal(exit.stdout, '');
  });
}

test('listen --input - to a server that is not running: the same message, exit 1', async () => {
  const run = runCli(['listen', '--input', '-', '--url', `ws://127.0.0.1:${closedPort}`, '--no-play']);
  run.child.stdin.end();
  const exit = await run.exited;
  assert.equal(exit.code, 1, `exit code; stderr: ${exit.stderr}`);
  assert.match(exit.stderr, /^speechbridge: cannot reach speechbridge at .*: is it running\?/m);
});

test('stream without a token to a server that requires one: "the server refused the token", how to give one, exit 1', async () => {
  const exit = await runCli(['stream', phrase, '--url', cli.wsUrl, '--fast']).exited;
  assert.equal(exit.code, 1, `exit code; stderr: ${exit.stderr}`);
  assert.match(
    exit.stderr,
    /^speechbridge: the server refused the token \(HTTP 401: missing API token.*\); the server requires a token: pass --token <token> or set SPEECHBRIDGE_TOKEN$/m,
  );
});

test('stream with a wrong token from SPEECHBRIDGE_TOKEN, over each protocol: refused, exit 1', async () => {
  for (const protocol of ['realtime', 'gateway', 'transcriptions']) {
    const exit = await runCli(['stream', phrase, '--url', cli.wsUrl, '--protocol', protocol, '--fast'], { SPEECHBRIDGE_TOKEN: 'not-the-token' }).exited;
    assert.equal(exit.code, 1, `${protocol} exit code; stderr: ${exit.stderr}`);
    assert.match(exit.stderr, /^speechbridge: the server refused the token \(HTTP 401: invalid API token\); check --token or SPEECHBRIDGE_TOKEN/m, protocol);
  }
});

test('listen with a wrong --token: refused, exit 1', async () => {
  const run = runCli(['listen', '--input', '-', '--url', cli.wsUrl, '--token', 'wrong', '--no-play']);
  run.child.stdin.end();
  const exit = await run.exited;
  assert.equal(exit.code, 1, `exit code; stderr: ${exit.stderr}`);
  assert.match(exit.stderr, /^speechbridge: the server refused the token \(HTTP 401/m);
});

test('the right token from SPEECHBRIDGE_TOKEN is accepted', async () => {
  const exit = await runCli(['stream', phrase, '--url', cli.wsUrl, '--fast', '--mode', 'transcribe'], { SPEECHBRIDGE_TOKEN: TOKEN }).exited;
  assert.equal(exit.code, 0, `exit code; stderr: ${exit.stderr}`);
  assert.match(exit.stdout, new RegExp(`^you: ${PHRASE}$`, 'm'));
});

test('stream --help and listen --help list their options and say where the token comes from', async () => {
  const stream = await runCli(['stream', '--help']).exited;
  assert.equal(stream.code, 0);
  for (const flag of ['--url', '--protocol', '--mode', '--token', '--fast', '--json', '--output', '--timeout'])
    assert.match(stream.stdout, new RegExp(flag), flag);
  assert.match(stream.stdout, /SPEECHBRIDGE_TOKEN/);
  const listen = await runCli(['listen', '--help']).exited;
  assert.equal(listen.code, 0);
  for (const flag of ['--device', '--duration', '--mode', '--list-devices', '--input', '--no-play', '--token'])
    assert.match(listen.stdout, new RegExp(flag), flag);
  assert.match(listen.stdout, /SPEECHBRIDGE_TOKEN/);
});

test('stream when the server goes away mid-file: says the server closed the connection, prints the summary, exit 1', async () => {
  const { startTestServer } = await import('../helpers/server.ts');
  const server = await startTestServer({});
  const run = runCli(['stream', phrase, '--url', server.url.replace(/^http/, 'ws')]);
  await run.waitForStdout(/^connected/m);
  await server.close();
  const exit = await run.exited;
  assert.equal(exit.code, 1, `exit code; stderr: ${exit.stderr}`);
  assert.match(exit.stdout, /^summary \(server closed the connection\): 0 turns/m);
  assert.match(exit.stderr, /^speechbridge: the server closed the connection before the file was sent \(1001/m);
});
