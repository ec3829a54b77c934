/**
 * `speechbridge stream` run as a child process against the real server on port 0 with real
 * engines (WebRTC VAD, pocketsphinx with the command grammar, echo responder, espeak-ng), over
 * each of its three protocols. The echo responder says back what it heard, so the reply WAV
 * is transcribed back and must say the phrase too.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { resample } from '../../src/audio/resample.ts';
import { speakPhrase } from '../helpers/spoken.ts';
import { jsonEvents, readWavFile, runCli, startCliServer, type CliServer } from './cli-harness.ts';

const PHRASE = 'turn on the light';
const OTHER_PHRASE = 'turn off the radio';
const SLOW_PHRASE = 'turn on the heater';

let cli: CliServer;
let workDir: string;
let webm: string;
let mp3: string;
let slowMp3: string;

before(async () => {
  cli = await startCliServer();
  workDir = await mkdtemp(path.join(os.tmpdir(), 'speechbridge-stream-'));
  webm = (await speakPhrase(PHRASE, 'webm')).file;
  mp3 = (await speakPhrase(OTHER_PHRASE, 'mp3')).file;
  // Spoken slowly (about 2.5 s): long enough for partial text while it is streamed at speaking pace.
  slowMp3 = (await speakPhrase(SLOW_PHRASE, 'mp3', 80)).file;
});

after(async () => {
  await cli?.close();
  for (const dir of [workDir, webm && path.dirname(webm), mp3 && path.dirname(mp3), slowMp3 && path.dirname(slowMp3)])
    if (dir) await rm(dir, { recursive: true, force: true });
});

/** What the reply WAV says, by the server's own recognizer. */
async function replySays(file: string): Promise<{ text: string; seconds: number; dbfs: number }> {
  const { audio, seconds, dbfs } = await readWavFile(file);
  const result = await cli.transcriber.transcribe(await resample(audio, 16_000));
  return { text: result.text.trim(), seconds, dbfs };
}

test('stream --protocol realtime --fast: a WebM phrase is transcribed, answered, and the reply saved to a WAV that says it', async () => {
  const output = path.join(workDir, 'realtime-reply.wav');
  const run = await runCli(['stream', webm, '--url', cli.wsUrl, '--protocol', 'realtime', '--fast', '-o', output]).exited;
  assert.equal(run.code, 0, `exit code; stderr: ${run.stderr}`);
  assert.match(run.stdout, new RegExp(`^you: ${PHRASE}$`, 'm'));
  assert.match(run.stdout, new RegExp(`^reply: ${PHRASE}$`, 'm'));
  assert.match(run.stdout, /^summary \(end of audio\): 1 turn, 1 reply, [0-9.]+ s of reply audio → .*realtime-reply\.wav, 0 errors$/m);
  assert.match(run.stdout, new RegExp(`^  1\\. ${PHRASE}$`, 'm'));
  const reply = await replySays(output);
  assert.ok(reply.seconds > 0.4, `reply audio lasts ${reply.seconds} s`);
  assert.ok(reply.dbfs > -40, `reply audio is not silent (${reply.dbfs.toFixed(1)} dBFS)`);
  assert.equal(reply.text, PHRASE);
});

test('stream --json in real time: a slowly spoken MP3 phrase gives one JSON event per line, in order (partial text before the final), and a summary event', async () => {
  const run = await runCli(['stream', slowMp3, '--url', cli.wsUrl, '--json']).exited;
  assert.equal(run.code, 0, `exit code; stderr: ${run.stderr}`);
  const events = jsonEvents(run.stdout);
  const types = events.map((event) => event.type);
  assert.equal(types[0], 'ready');
  const final = events.find((event) => event.type === 'transcript.final');
  assert.equal(final?.text, SLOW_PHRASE);
  // Sent at speaking pace, the turn's partial text arrives while it is spoken, before its final.
  const partial = types.indexOf('transcript.partial');
  assert.ok(partial > 0 && partial < types.indexOf('transcript.final'), `a partial before the final: ${types.join(', ')}`);
  const firstAudio = types.indexOf('reply.audio');
  assert.ok(firstAudio > types.indexOf('transcript.final'), `reply audio follows the transcript: ${types.join(', ')}`);
  assert.ok(types.indexOf('reply.done') > firstAudio);
  const summary = events.at(-1);
  assert.equal(summary?.type, 'summary');
  assert.equal(summary?.turns, 1);
  assert.deepEqual(summary?.transcripts, [SLOW_PHRASE]);
  assert.ok(summary?.reply_audio_seconds > 0.4, `reply audio seconds: ${summary?.reply_audio_seconds}`);
  assert.equal(summary?.ended, 'end of audio');
});

test('stream --mode transcribe: a transcription session, transcripts and no reply', async () => {
  const run = await runCli(['stream', webm, '--url', cli.wsUrl, '--mode', 'transcribe', '--fast', '--json']).exited;
  assert.equal(run.code, 0, `exit code; stderr: ${run.stderr}`);
  const events = jsonEvents(run.stdout);
  assert.deepEqual(
    events.filter((event) => event.type === 'transcript.final').map((event) => event.text),
    [PHRASE],
  );
  assert.equal(events.filter((event) => event.type === 'reply.audio').length, 0);
  assert.equal(events.at(-1)?.replies, 0);
});

for (const mode of ['echo', 'translate']) {
  test(`stream --mode ${mode}: the server takes the session settings and answers (the echo responder says back what it heard)`, async () => {
    const run = await runCli(['stream', webm, '--url', cli.wsUrl, '--mode', mode, '--target-language', 'en', '--fast', '--json']).exited;
    assert.equal(run.code, 0, `exit code; stderr: ${run.stderr}`);
    const events = jsonEvents(run.stdout);
    assert.equal(events.find((event) => event.type === 'reply.text')?.text, PHRASE);
    assert.equal(events.at(-1)?.errors, 0);
  });
}

test('stream --protocol gateway: start / binary audio / end for a WebM phrase, transcript and spoken reply saved', async () => {
  const output = path.join(workDir, 'gateway-reply.wav');
  const run = await runCli(['stream', webm, '--url', cli.wsUrl, '--protocol', 'gateway', '--fast', '-o', output, '--json']).exited;
  assert.equal(run.code, 0, `exit code; stderr: ${run.stderr}`);
  const events = jsonEvents(run.stdout);
  assert.equal(events.find((event) => event.type === 'transcript.final')?.text, PHRASE);
  assert.equal(events.find((event) => event.type === 'reply.text')?.text, PHRASE);
  assert.equal(events.find((event) => event.type === 'closed')?.code, 1000, 'the server closes the session after end');
  const summary = events.at(-1);
  assert.equal(summary?.turns, 1);
  assert.equal(summary?.replies, 1);
  const reply = await replySays(output);
  assert.ok(reply.dbfs > -40, `reply audio is not silent (${reply.dbfs.toFixed(1)} dBFS)`);
  assert.equal(reply.text, PHRASE);
});

test('stream --protocol transcriptions: the final transcript of an MP3 phrase, then the server closes after stop', async () => {
  const run = await runCli(['stream', mp3, '--url', cli.wsUrl, '--protocol', 'transcriptions', '--fast']).exited;
  assert.equal(run.code, 0, `exit code; stderr: ${run.stderr}`);
  assert.match(run.stdout, /^connected \(session sess_/m);
  assert.match(run.stdout, new RegExp(`^you: ${OTHER_PHRASE}$`, 'm'));
  assert.match(run.stdout, /^summary \(end of audio\): 1 turn, 0 replies, 0\.00 s of reply audio, 0 errors$/m);
});

test('stream --protocol transcriptions --mode assistant is refused before connecting', async () => {
  const run = await runCli(['stream', webm, '--url', cli.wsUrl, '--protocol', 'transcriptions', '--mode', 'assistant']).exited;
  assert.notEqual(run.code, 0);
  assert.match(run.stderr, /--protocol transcriptions only transcribes/);
});

test('stream of a file that is not audio says so and fails', async () => {
  const run = await runCli(['stream', path.join(import.meta.dirname, 'cli-harness.ts'), '--url', cli.wsUrl]).exited;
  assert.notEqual(run.code, 0);
  assert.match(run.stderr, /^speechbridge: /m);
  assert.doesNotMatch(run.stderr, /at .*\.ts:\d+/, 'no stack trace');
});
