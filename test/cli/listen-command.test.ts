/**
 * `speechbridge listen` run as a child process against the real server on port 0 with real
 * engines: raw PCM piped on stdin (the way it is tested and used in pipelines), Ctrl+C
 * (SIGINT) ending the session cleanly, and a microphone that cannot be opened.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { decodeAudio } from '../../src/audio/decode.ts';
import { int16ToBytes } from '../../src/audio/pcm.ts';
import { withSilence } from '../e2e/realtime-harness.ts';
import { speakPhrase } from '../helpers/spoken.ts';
import { jsonEvents, readWavFile, runCli, startCliServer, type CliServer } from './cli-harness.ts';

const PHRASE = 'turn off the heater';

let cli: CliServer;
let workDir: string;
let phraseDir: string;
/** The phrase as raw PCM16 at 24 kHz (listen's default --rate), then 1 s of silence. */
let pcm24k: Buffer;
/** The same at 16 kHz, for --rate 16000. */
let pcm16k: Buffer;

before(async () => {
  cli = await startCliServer();
  workDir = await mkdtemp(path.join(os.tmpdir(), 'speechbridge-listen-'));
  const phrase = await speakPhrase(PHRASE, 'wav');
  phraseDir = path.dirname(phrase.file);
  pcm24k = int16ToBytes(withSilence(await decodeAudio(phrase.bytes, { sampleRate: 24_000 }), 0, 1000).samples);
  pcm16k = int16ToBytes(withSilence(await decodeAudio(phrase.bytes, { sampleRate: 16_000 }), 0, 1000).samples);
});

after(async () => {
  await cli?.close();
  for (const dir of [workDir, phraseDir]) if (dir) await rm(dir, { recursive: true, force: true });
});

test('listen --input -: PCM piped on stdin is transcribed and answered; Ctrl+C then ends with a summary and exit code 0', async () => {
  const output = path.join(workDir, 'listen-reply.wav');
  const run = runCli(['listen', '--input', '-', '--url', cli.wsUrl, '--no-play', '-o', output]);
  // stdin stays open, as a live pipe does: only Ctrl+C ends this session.
  run.child.stdin.write(pcm24k);
  await run.waitForStdout(/^\(reply audio [0-9.]+ s\)$/m);
  run.child.kill('SIGINT');
  const exit = await run.exited;
  assert.equal(exit.code, 0, `exit code; stderr: ${exit.stderr}`);
  assert.match(exit.stdout, new RegExp(`^you: ${PHRASE}$`, 'm'));
  assert.match(exit.stdout, new RegExp(`^reply: ${PHRASE}$`, 'm'));
  assert.match(exit.stdout, /^summary \(Ctrl\+C\): 1 turn, 1 reply, [0-9.]+ s of reply audio → .*listen-reply\.wav, 0 errors$/m);
  assert.match(exit.stderr, /finishing \(Ctrl\+C again to quit at once\)/);
  const reply = await readWavFile(output);
  assert.ok(reply.seconds > 0.4, `reply audio lasts ${reply.seconds} s`);
  assert.ok(reply.dbfs > -40, `reply audio is not silent (${reply.dbfs.toFixed(1)} dBFS)`);
});

test('listen: Ctrl+C in the middle of a turn commits it, waits for its transcript, and exits 0', async () => {
  const run = runCli(['listen', '--input', '-', '--url', cli.wsUrl, '--no-play', '--mode', 'transcribe', '--json']);
  // The phrase without its trailing silence: the turn is still open when Ctrl+C comes.
  const speechOnly = pcm24k.subarray(0, pcm24k.length - 24_000 * 2);
  run.child.stdin.write(speechOnly);
  await run.waitForStdout(/"type":"ready"/);
  // Time for the server to take the audio and open the turn; the transcript can only come from the commit.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  assert.doesNotMatch(run.stdout(), /transcript\.final/, 'no transcript before Ctrl+C');
  run.child.kill('SIGINT');
  const exit = await run.exited;
  assert.equal(exit.code, 0, `exit code; stderr: ${exit.stderr}`);
  const events = jsonEvents(exit.stdout);
  assert.deepEqual(
    events.filter((event) => event.type === 'transcript.final').map((event) => event.text),
    [PHRASE],
  );
  assert.equal(events.at(-1)?.type, 'summary');
  assert.equal(events.at(-1)?.ended, 'Ctrl+C');
});

test('listen --input - --protocol transcriptions --rate 16000: the end of the pipe ends the session', async () => {
  const run = runCli(['listen', '--input', '-', '--rate', '16000', '--protocol', 'transcriptions', '--url', cli.wsUrl, '--no-play']);
  run.child.stdin.end(pcm16k);
  const exit = await run.exited;
  assert.equal(exit.code, 0, `exit code; stderr: ${exit.stderr}`);
  assert.match(exit.stdout, new RegExp(`^you: ${PHRASE}$`, 'm'));
  assert.match(exit.stdout, /^summary \(end of input\): 1 turn, 0 replies/m);
});

test('listen --input <file> reads raw PCM from a file (gateway protocol)', async () => {
  const file = path.join(workDir, 'phrase.pcm');
  await writeFile(file, pcm24k);
  const exit = await runCli(['listen', '--input', file, '--protocol', 'gateway', '--url', cli.wsUrl, '--no-play', '--json']).exited;
  assert.equal(exit.code, 0, `exit code; stderr: ${exit.stderr}`);
  const events = jsonEvents(exit.stdout);
  assert.equal(events.find((event) => event.type === 'transcript.final')?.text, PHRASE);
  assert.equal(events.find((event) => event.type === 'reply.text')?.text, PHRASE);
});

test('listen --duration stops listening after that long, finishes the session and exits 0', async () => {
  const run = runCli(['listen', '--input', '-', '--duration', '4', '--mode', 'transcribe', '--url', cli.wsUrl, '--no-play', '--json']);
  // The pipe stays open: only --duration ends this session.
  run.child.stdin.write(pcm24k);
  const exit = await run.exited;
  assert.equal(exit.code, 0, `exit code; stderr: ${exit.stderr}`);
  const summary = jsonEvents(exit.stdout).at(-1);
  assert.equal(summary?.type, 'summary');
  assert.equal(summary?.ended, 'duration reached');
  assert.deepEqual(summary?.transcripts, [PHRASE]);
});

test('listen --list-devices lists the capture devices, or says there is none and how to go on', async () => {
  const exit = await runCli(['listen', '--list-devices']).exited;
  const alsa = await readFile('/proc/asound/pcm', 'utf8').catch(() => '');
  if (/capture/.test(alsa)) {
    assert.equal(exit.code, 0, `exit code; stderr: ${exit.stderr}`);
    assert.match(exit.stdout, /Use --device <card number>/);
  } else {
    assert.equal(exit.code, 1, `exit code; stdout: ${exit.stdout}`);
    assert.match(exit.stderr, /^speechbridge: no capture device found: ALSA lists none on this machine .*--input -/m);
  }
});

test('listen plays the replies: the player gets the reply audio as raw PCM16 at its sample rate', async () => {
  // A stand-in for sox's `play` (a sound card is not something CI has): it records its arguments and what it is fed.
  const tools = await mkdtemp(path.join(workDir, 'player-'));
  const played = path.join(tools, 'played.raw');
  await writeFile(path.join(tools, 'play'), `#!/bin/sh\necho "$@" > "${played}.args"\ncat > "${played}"\n`, { mode: 0o755 });
  const run = runCli(['listen', '--input', '-', '--player', 'play', '--url', cli.wsUrl, '--json'], {
    PATH: `${tools}${path.delimiter}${process.env.PATH ?? ''}`,
  });
  run.child.stdin.end(pcm24k);
  const exit = await run.exited;
  assert.equal(exit.code, 0, `exit code; stderr: ${exit.stderr}`);
  const summary = jsonEvents(exit.stdout).at(-1);
  assert.ok(summary?.reply_audio_seconds > 0.4, `reply audio seconds: ${summary?.reply_audio_seconds}`);
  assert.equal((await readFile(`${played}.args`, 'utf8')).trim(), '-q -t raw -r 24000 -e signed -b 16 -c 1 -L -');
  const bytes = await readFile(played);
  // The summary rounds to the millisecond: 24 samples at 24 kHz.
  const expectedSamples = summary?.reply_audio_seconds * 24_000;
  assert.ok(
    Math.abs(bytes.length / 2 - expectedSamples) <= 24,
    `every reply sample reached the player: ${bytes.length / 2} samples, expected ${expectedSamples}`,
  );
});

test('listen records the microphone through sox (--device 1 is ALSA plughw:1,0), and Ctrl+C stops the recorder', async () => {
  // A stand-in for sox (a microphone is not something CI has): it records its arguments, "records" the phrase, then waits.
  const tools = await mkdtemp(path.join(workDir, 'recorder-'));
  const pcmFile = path.join(tools, 'phrase.pcm');
  await writeFile(pcmFile, pcm24k);
  await writeFile(path.join(tools, 'sox'), `#!/bin/sh\necho "$@" > "${tools}/args"\ncat "${pcmFile}"\nexec sleep 60\n`, { mode: 0o755 });
  const run = runCli(['listen', '--recorder', 'sox', '--device', '1', '--url', cli.wsUrl, '--no-play'], {
    PATH: `${tools}${path.delimiter}${process.env.PATH ?? ''}`,
  });
  await run.waitForStdout(new RegExp(`^you: ${PHRASE}$`, 'm'));
  run.child.kill('SIGINT');
  const exit = await run.exited;
  assert.equal(exit.code, 0, `exit code; stderr: ${exit.stderr}`);
  assert.equal((await readFile(path.join(tools, 'args'), 'utf8')).trim(), '-q -t alsa plughw:1,0 -t raw -r 24000 -e signed -b 16 -c 1 -L -');
  assert.match(exit.stdout, /^summary \(Ctrl\+C\): 1 turn/m);
});

test('listen with no recorder installed says which tools to install and exits non-zero', async () => {
  const emptyPath = await mkdtemp(path.join(workDir, 'no-tools-'));
  const exit = await runCli(['listen', '--url', cli.wsUrl, '--no-play'], { PATH: emptyPath }).exited;
  assert.equal(exit.code, 1, `exit code; stderr: ${exit.stderr}`);
  assert.match(exit.stderr, /^speechbridge: no recorder found: listen records with sox or arecord; install sox .*--input -$/m);
  assert.equal(exit.stdout, '', 'nothing connected, nothing printed');
});

test('listen with a capture device that does not exist names the recorder and the device, and exits non-zero', async () => {
  const exit = await runCli(['listen', '--recorder', 'sox', '--device', 'hw:97,0', '--url', cli.wsUrl, '--no-play']).exited;
  assert.equal(exit.code, 1, `exit code; stderr: ${exit.stderr}`);
  assert.match(
    exit.stderr,
    /^speechbridge: sox could not record from device hw:97,0 \(.+\): connect a microphone or pick another with --device \(see listen --list-devices\)/m,
  );
  assert.doesNotMatch(exit.stdout, /connected/, 'the recorder is checked before connecting');
});

test('listen: SIGTERM during reply playback stops the player at once, prints the summary and exits 143', async () => {
  // A stand-in for sox's `play` that holds what it is fed (a sound card is not something CI has).
  const tools = await mkdtemp(path.join(workDir, 'term-player-'));
  await writeFile(path.join(tools, 'play'), `#!/bin/sh\nexec cat > "${tools}/played.raw"\n`, { mode: 0o755 });
  const run = runCli(['listen', '--input', '-', '--player', 'play', '--url', cli.wsUrl, '--json'], {
    PATH: `${tools}${path.delimiter}${process.env.PATH ?? ''}`,
  });
  // stdin stays open: only the signal ends this session.
  run.child.stdin.write(pcm24k);
  await run.waitForStdout(/"type":"reply\.audio"/);
  run.child.kill('SIGTERM');
  const exit = await run.exited;
  assert.equal(exit.signal, null, `ended by its own exit, not killed by the signal; stderr: ${exit.stderr}`);
  assert.equal(exit.code, 143, `exit code; stderr: ${exit.stderr}`);
  const summary = jsonEvents(exit.stdout).at(-1);
  assert.equal(summary?.type, 'summary');
  assert.equal(summary?.ended, 'interrupted');
  assert.deepEqual(summary?.transcripts, [PHRASE]);
});

test('listen: Ctrl+C before the microphone gave any audio ends at once without connecting, exit 0', async () => {
  // A recorder that opens but gives no audio yet (a device still waking up), and a server that is not there.
  const tools = await mkdtemp(path.join(workDir, 'quiet-recorder-'));
  await writeFile(path.join(tools, 'sox'), `#!/bin/sh\ntouch "${tools}/started"\nexec sleep 60\n`, { mode: 0o755 });
  const run = runCli(['listen', '--recorder', 'sox', '--url', 'ws://127.0.0.1:9', '--no-play'], { PATH: `${tools}${path.delimiter}${process.env.PATH ?? ''}` });
  // The recorder runs once listen is waiting for its first audio (and handles Ctrl+C).
  for (
    let waited = 0;
    !(await readFile(path.join(tools, 'started')).then(
      () => true,
      () => false,
    ));
    waited += 50
  ) {
    assert.ok(waited < 20_000, `the recorder was not started; stderr: ${run.stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  run.child.kill('SIGINT');
  const exit = await run.exited;
  assert.equal(exit.code, 0, `exit code; stderr: ${exit.stderr}`);
  assert.doesNotMatch(exit.stderr, /cannot reach/, 'no connection is attempted');
  assert.match(exit.stdout, /^summary \(Ctrl\+C\): 0 turns/m);
});

test('listen --input with a file that does not exist, or a directory: refused before connecting, with a message and no stack trace', async () => {
  for (const [input, message] of [
    [path.join(workDir, 'nope.pcm'), /^speechbridge: cannot read .*nope\.pcm: no such file$/m],
    [workDir, /^speechbridge: cannot read .*: it is a directory, not an audio file$/m],
  ] as const) {
    const exit = await runCli(['listen', '--input', input, '--url', cli.wsUrl, '--no-play']).exited;
    assert.equal(exit.code, 2, `exit code; stderr: ${exit.stderr}`);
    assert.match(exit.stderr, message);
    assert.doesNotMatch(exit.stderr, /at .*\.ts:\d+|errno/, 'no stack trace');
    assert.equal(exit.stdout, '', 'nothing connected');
  }
});

test('listen: a player killed mid-reply is reported once, and the session goes on to its summary, exit 0', async () => {
  // A stand-in for sox's `play` that takes a little audio and is then killed (a sound server restarting).
  const tools = await mkdtemp(path.join(workDir, 'dying-player-'));
  await writeFile(path.join(tools, 'play'), '#!/bin/sh\nhead -c 2000 > /dev/null\nkill -9 $$\n', { mode: 0o755 });
  const run = runCli(['listen', '--input', '-', '--player', 'play', '--url', cli.wsUrl], { PATH: `${tools}${path.delimiter}${process.env.PATH ?? ''}` });
  run.child.stdin.end(pcm24k);
  const exit = await run.exited;
  assert.equal(exit.code, 0, `exit code; stderr: ${exit.stderr}`);
  assert.equal(exit.stderr.match(/cannot play replies with play/g)?.length, 1, `reported once; stderr: ${exit.stderr}`);
  assert.match(exit.stdout, /^summary \(end of input\): 1 turn, 1 reply/m);
});
