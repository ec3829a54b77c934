/**
 * `speechbridge stream` with what users bring: recordings over an hour long, files with no
 * speech, -o where no reply comes, URLs copied with another protocol's path or without a
 * scheme, a server behind TLS with a self-signed certificate, and a server that takes the
 * socket but never starts a session. Real server on port 0 with real engines, real CLI.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { access, mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect, type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { promisify } from 'node:util';
import { WebSocketServer } from 'ws';
import { ScriptedTranscriber } from '../../src/providers/testing/scripted-transcriber.ts';
import { startTestServer } from '../helpers/server.ts';
import { speakPhrase } from '../helpers/spoken.ts';
import { jsonEvents, runCli, startCliServer, type CliServer } from './cli-harness.ts';

const PHRASE = 'turn on the light';
const run = promisify(execFile);

let cli: CliServer;
let workDir: string;
let phraseFile: string;

before(async () => {
  cli = await startCliServer();
  workDir = await mkdtemp(path.join(os.tmpdir(), 'speechbridge-stream-edge-'));
  phraseFile = (await speakPhrase(PHRASE, 'wav')).file;
});

after(async () => {
  await cli?.close();
  for (const dir of [workDir, phraseFile && path.dirname(phraseFile)]) if (dir) await rm(dir, { recursive: true, force: true });
});

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

test('stream of a recording over an hour long (stereo FLAC) is decoded as it is sent, not refused for its length', async () => {
  const file = path.join(workDir, 'hour.flac');
  await run('ffmpeg', [
    '-loglevel',
    'error',
    '-i',
    phraseFile,
    '-f',
    'lavfi',
    '-t',
    '3700',
    '-i',
    'anullsrc=r=44100:cl=stereo',
    '-filter_complex',
    '[0:a]aformat=channel_layouts=stereo,aresample=44100[p];[p][1:a]concat=n=2:v=0:a=1',
    '-c:a',
    'flac',
    file,
  ]);
  const exit = await runCli(['stream', file, '--url', cli.wsUrl, '--protocol', 'transcriptions', '--fast', '--json']).exited;
  assert.equal(exit.code, 0, `exit code; stderr: ${exit.stderr}`);
  const summary = jsonEvents(exit.stdout).at(-1);
  assert.deepEqual(summary?.transcripts, [PHRASE]);
  assert.equal(summary?.ended, 'end of audio');
});

test('stream -o: refused with --mode transcribe before connecting; a file with no speech leaves no WAV behind and says so', async () => {
  const refused = path.join(workDir, 'transcribe-reply.wav');
  const transcribe = await runCli(['stream', phraseFile, '--url', cli.wsUrl, '--mode', 'transcribe', '--fast', '-o', refused]).exited;
  assert.equal(transcribe.code, 2, `exit code; stderr: ${transcribe.stderr}`);
  assert.match(transcribe.stderr, /^speechbridge: -o saves the reply audio, and --mode transcribe gets text only/m);
  assert.equal(transcribe.stdout, '');
  assert.equal(await exists(refused), false);

  const silence = path.join(workDir, 'silence.wav');
  await run('ffmpeg', ['-loglevel', 'error', '-f', 'lavfi', '-t', '2', '-i', 'anullsrc=r=16000:cl=mono', silence]);
  const output = path.join(workDir, 'no-reply.wav');
  const quiet = await runCli(['stream', silence, '--url', cli.wsUrl, '--fast', '-o', output, '--json']).exited;
  assert.equal(quiet.code, 0, `exit code; stderr: ${quiet.stderr}`);
  assert.match(quiet.stderr, /no reply audio came: .*no-reply\.wav was not written/);
  const events = jsonEvents(quiet.stdout);
  assert.equal(events.at(-1)?.type, 'summary');
  assert.equal(events.at(-1)?.reply_file, undefined);
  assert.equal(await exists(output), false, 'no empty WAV is left behind');
});

test('stream -o into a folder that does not exist, a missing file, a directory: refused before connecting, with a message and no stack trace', async () => {
  const cases: Array<{ args: string[]; message: RegExp }> = [
    {
      args: [phraseFile, '-o', path.join(workDir, 'missing', 'reply.wav')],
      message: /^speechbridge: cannot write the reply audio to .*reply\.wav: the folder .*missing does not exist$/m,
    },
    { args: [path.join(workDir, 'nope.wav')], message: /^speechbridge: cannot read .*nope\.wav: no such file$/m },
    { args: [workDir], message: /^speechbridge: cannot read .*: it is a directory, not an audio file$/m },
  ];
  for (const { args, message } of cases) {
    const exit = await runCli(['stream', ...args, '--url', cli.wsUrl, '--fast']).exited;
    assert.equal(exit.code, 2, `exit code; stderr: ${exit.stderr}`);
    assert.match(exit.stderr, message);
    assert.doesNotMatch(exit.stderr, /at .*\.ts:\d+/, 'no stack trace');
    assert.equal(exit.stdout, '', 'nothing connected');
  }
});

test("stream --url copied with another protocol's endpoint, or given as host:port, reaches --protocol's endpoint", async () => {
  const port = new URL(cli.wsUrl).port;
  const copied = await runCli([
    'stream',
    phraseFile,
    '--url',
    `http://127.0.0.1:${port}/v1/realtime`,
    '--protocol',
    'transcriptions',
    '--fast',
    '--timeout',
    '10',
  ]).exited;
  assert.equal(copied.code, 0, `exit code; stderr: ${copied.stderr}`);
  assert.match(copied.stdout, new RegExp(`^you: ${PHRASE}$`, 'm'));
  const bare = await runCli(['stream', phraseFile, '--url', `127.0.0.1:${port}`, '--protocol', 'gateway', '--fast', '--timeout', '10']).exited;
  assert.equal(bare.code, 0, `exit code; stderr: ${bare.stderr}`);
  assert.match(bare.stdout, new RegExp(`^reply: ${PHRASE}$`, 'm'));
});

test('stream to a server that takes the socket but never starts a session gives up after --timeout, naming the flag', async () => {
  // Something else listening on the port: a WebSocket server that accepts and says nothing.
  const silent = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise<void>((resolve) => silent.once('listening', () => resolve()));
  try {
    const url = `ws://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    const exit = await runCli(['stream', phraseFile, '--url', url, '--fast', '--timeout', '2']).exited;
    assert.equal(exit.code, 1, `exit code; stderr: ${exit.stderr}`);
    assert.match(
      exit.stderr,
      /^speechbridge: the server took the connection but did not start a session within 2 s \(--timeout\): check --url and --protocol$/m,
    );
  } finally {
    for (const client of silent.clients) client.terminate();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  }
});

test('stream over wss:// to a self-signed certificate: says how to trust it, and NODE_EXTRA_CA_CERTS does', async () => {
  const key = path.join(workDir, 'key.pem');
  const cert = path.join(workDir, 'cert.pem');
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    '1',
    '-subj',
    '/CN=localhost',
    '-addext',
    'subjectAltName=DNS:localhost,IP:127.0.0.1',
  ]);
  const upstreamPort = Number(new URL(cli.wsUrl).port);
  // TLS in front of the real server, as a reverse proxy terminating TLS would be.
  const proxy: TlsServer = createTlsServer({ key: await readFile(key), cert: await readFile(cert) }, (socket) => {
    const upstream = connect(upstreamPort, '127.0.0.1');
    socket.pipe(upstream).pipe(socket);
    socket.on('error', () => upstream.destroy());
    upstream.on('error', () => socket.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  try {
    const url = `wss://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    const untrusted = await runCli(['stream', phraseFile, '--url', url, '--mode', 'transcribe', '--fast']).exited;
    assert.equal(untrusted.code, 1, `exit code; stderr: ${untrusted.stderr}`);
    assert.match(
      untrusted.stderr,
      /^speechbridge: cannot connect to wss:.*: the server's TLS certificate is not trusted \(self[- ]signed certificate\); .*NODE_EXTRA_CA_CERTS=/m,
    );
    const trusted = await runCli(['stream', phraseFile, '--url', url, '--mode', 'transcribe', '--fast'], { NODE_EXTRA_CA_CERTS: cert }).exited;
    assert.equal(trusted.code, 0, `exit code; stderr: ${trusted.stderr}`);
    assert.match(trusted.stdout, new RegExp(`^you: ${PHRASE}$`, 'm'));
  } finally {
    await new Promise<void>((resolve) => proxy.close(() => resolve()));
  }
});

test('stream when the server reports an error for the turn: the error on stderr, no reply counted, exit 1, over each protocol', async () => {
  // A recognizer that fails every call: the failure is what is under test.
  const server = await startTestServer({ transcriber: new ScriptedTranscriber({ failure: { code: 'engine_failed', message: 'the recognizer crashed' } }) });
  try {
    for (const protocol of ['realtime', 'gateway', 'transcriptions']) {
      const exit = await runCli(['stream', phraseFile, '--url', server.url, '--protocol', protocol, '--fast', '--json']).exited;
      assert.equal(exit.code, 1, `${protocol} exit code; stderr: ${exit.stderr}`);
      assert.match(exit.stderr, /^speechbridge: server error: .*the recognizer crashed$/m, protocol);
      assert.doesNotMatch(exit.stderr, /\{"type"/, `${protocol}: the server's message, not its JSON`);
      const summary = jsonEvents(exit.stdout).at(-1);
      assert.equal(summary?.type, 'summary');
      assert.equal(summary?.replies, 0, protocol);
      assert.ok(summary?.errors >= 1, protocol);
    }
  } finally {
    await server.close();
  }
});

test('stream when the server goes away while the last results are awaited: says so, prints the summary, exit 1, over each protocol', async () => {
  // A recognizer that takes a minute: the server is shut down while the client waits for its result.
  for (const protocol of ['realtime', 'gateway', 'transcriptions']) {
    const server = await startTestServer({ transcriber: new ScriptedTranscriber({ latencyMs: 60_000 }) });
    const cliRun = runCli(['stream', phraseFile, '--url', server.url, '--protocol', protocol, '--fast']);
    try {
      await cliRun.waitForStdout(/^connected/m);
      // --fast sends the phrase within milliseconds; the turn is then waiting on the recognizer.
      await new Promise((resolve) => setTimeout(resolve, 1500));
    } finally {
      await server.close();
    }
    const exit = await cliRun.exited;
    assert.equal(exit.code, 1, `${protocol} exit code; stderr: ${exit.stderr}`);
    assert.match(exit.stderr, /^speechbridge: the server closed the connection before the last results came \(100\d/m, protocol);
    assert.match(exit.stdout, /^summary \(server closed the connection\): 0 turns/m, protocol);
  }
});

test('stream --json | head -1: the reader going away ends the session quietly (exit 141, as on SIGPIPE), no stack trace', async () => {
  const cliRun = runCli(['stream', phraseFile, '--url', cli.wsUrl, '--json']);
  await cliRun.waitForStdout(/"type":"ready"/);
  // What `head -1` does once it has its line: closes the pipe.
  cliRun.child.stdout.destroy();
  const exit = await cliRun.exited;
  assert.equal(exit.signal, null, `stderr: ${exit.stderr}`);
  assert.equal(exit.code, 141, `exit code; stderr: ${exit.stderr}`);
  assert.doesNotMatch(exit.stderr, /EPIPE|at .*\.ts:\d+/, 'no crash');
});
