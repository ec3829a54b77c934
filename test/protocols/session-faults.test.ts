/**
 * The error boundary of each door, against the real server: a transcriber returns, once, a
 * transcript that throws when anything reads it (a value no serialiser can handle, as a
 * broken provider could hand back). The door's own code throws while sending it on. That
 * one session ends with an `error` internal_error and close 1011 (Socket.IO: a disconnect),
 * the fault is counted in /metrics by door, and a second session opened before the fault
 * runs a turn afterwards.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { PcmAudio } from '../../src/audio/pcm.ts';
import { int16ToBytes } from '../../src/audio/pcm.ts';
import { resample } from '../../src/audio/resample.ts';
import { readWav } from '../../src/audio/wav.ts';
import { EchoResponder } from '../../src/providers/local/echo-responder.ts';
import { ScriptedSynthesizer } from '../../src/providers/testing/scripted-synthesizer.ts';
import { ScriptedTranscriber } from '../../src/providers/testing/scripted-transcriber.ts';
import type { RunningServer } from '../../src/server/app.ts';
import { pcmFrames, RealtimeClient, withSilence } from '../e2e/realtime-harness.ts';
import { startTestServer } from '../helpers/server.ts';
import { speakPhrase } from '../helpers/spoken.ts';
import { GatewayClient, gatewayUrl } from './gateway/gateway-harness.ts';
import { RealtimeSocket } from './socketio/socketio-harness.ts';
import { TranscriptionClient } from './transcriptions/transcriptions-harness.ts';

const PHRASE = 'turn on the light';

/** A transcript whose every read throws, except trim() (the engine trims transcripts), which returns it again. */
function unreadableTranscript(): string {
  const value: object = new Proxy(
    {},
    {
      get(_target, key) {
        if (key === 'trim') return () => value;
        throw new Error(`injected: the transcript cannot be read (${String(key)})`);
      },
    },
  );
  return value as unknown as string;
}

let poisonNext = false;
let server: RunningServer;
let speech16k: PcmAudio;

before(async () => {
  const transcriber: ScriptedTranscriber = new ScriptedTranscriber({
    // Interim passes (best effort) may be dropped unread, so only a turn's final transcription takes the poison.
    texts: (_audio, index) => {
      if (!poisonNext || transcriber.calls[index]?.options.bestEffort) return PHRASE;
      poisonNext = false;
      return unreadableTranscript();
    },
  });
  server = await startTestServer({ transcriber, responder: new EchoResponder(), synthesizer: new ScriptedSynthesizer() });
  speech16k = readWav((await speakPhrase(PHRASE)).bytes);
});

after(async () => {
  await server?.close();
});

async function speechAt(sampleRate: number): Promise<PcmAudio> {
  return withSilence(await resample(speech16k, sampleRate), 300, 1200);
}

async function faultCount(door: string): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = text.split('\n').find((row) => row.startsWith(`speechbridge_session_faults_total{door="${door}"}`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

test('gateway: an exception in the door ends that session with internal_error and 1011; the other session runs its turn', async () => {
  const before = await faultCount('gateway');
  const bystander = await GatewayClient.connect(gatewayUrl(server.url));
  bystander.send({ type: 'start' });
  await bystander.next('ready');
  const victim = await GatewayClient.connect(gatewayUrl(server.url));
  victim.send({ type: 'start' });
  await victim.next('ready');

  poisonNext = true;
  const speech = Buffer.from(int16ToBytes((await speechAt(24000)).samples));
  victim.sendFrames(speech, 48);
  const error = await victim.next('error');
  assert.equal(error.code, 'internal_error');
  assert.match(error.message, /unexpected failure/);
  assert.equal((await victim.closed).code, 1011);
  assert.equal(await faultCount('gateway'), before + 1);

  bystander.sendFrames(speech, 48);
  assert.equal((await bystander.next('stt_final')).text, PHRASE);
  bystander.send({ type: 'end' });
  assert.equal((await bystander.closed).code, 1000);
  assert.equal(bystander.messages.find((message) => message.type === 'text_final')?.text, PHRASE);
});

test('/v1/transcriptions: an exception in the door ends that session with internal_error and 1011; the other session gets its final', async () => {
  const before = await faultCount('transcriptions');
  const url = `${server.url.replace(/^http/, 'ws')}/v1/transcriptions`;
  const start = { format: 'pcm16', sample_rate: 16000 };
  const bystander = await TranscriptionClient.started(url, start);
  const victim = await TranscriptionClient.started(url, start);

  poisonNext = true;
  const speech = Buffer.from(int16ToBytes((await speechAt(16000)).samples));
  victim.sendBinary(speech);
  victim.send({ action: 'stop' });
  const error = await victim.nextError();
  assert.equal(error.code, 'internal_error');
  assert.equal((await victim.closed).code, 1011);
  assert.equal(await faultCount('transcriptions'), before + 1);

  bystander.sendBinary(speech);
  bystander.send({ action: 'stop' });
  assert.equal((await bystander.closed).code, 1000);
  assert.deepEqual(bystander.finals(), [PHRASE]);
});

test('/v1/realtime: an exception in the door ends that session with an internal_error event and 1011; the other session is answered', async () => {
  const before = await faultCount('realtime');
  const url = `${server.url.replace(/^http/, 'ws')}/v1/realtime`;
  const manual = { type: 'session.update', session: { type: 'realtime', audio: { input: { turn_detection: null } } } };
  const bystander = await RealtimeClient.connect(url);
  await bystander.next('session.created');
  bystander.send(manual);
  await bystander.next('session.updated');
  const victim = await RealtimeClient.connect(url);
  await victim.next('session.created');
  victim.send(manual);
  await victim.next('session.updated');

  poisonNext = true;
  const frames = pcmFrames(await speechAt(24000));
  for (const audio of frames) victim.send({ type: 'input_audio_buffer.append', audio });
  victim.send({ type: 'input_audio_buffer.commit' });
  const error = await victim.next((event) => event.type === 'error' && event.error.code === 'internal_error');
  assert.equal(error.error.type, 'server_error');
  assert.equal((await victim.closed).code, 1011);
  assert.equal(await faultCount('realtime'), before + 1);

  for (const audio of frames) bystander.send({ type: 'input_audio_buffer.append', audio });
  bystander.send({ type: 'input_audio_buffer.commit' });
  bystander.send({ type: 'response.create' });
  const transcript = await bystander.next('conversation.item.input_audio_transcription.completed', 10_000);
  assert.equal(transcript.transcript, PHRASE);
  const done = await bystander.next('response.done', 10_000);
  assert.equal(done.response.status, 'completed');
  await bystander.close();
});

test('Socket.IO: an exception in the door ends that session with internal_error and a disconnect; the other session is answered', async () => {
  const before = await faultCount('socketio');
  const manual = { session: { turn_detection: null } };
  const bystander = await RealtimeSocket.connect(server.url);
  await bystander.next('connected');
  bystander.emit('update_session', manual);
  const victim = await RealtimeSocket.connect(server.url);
  await victim.next('connected');
  victim.emit('update_session', manual);

  poisonNext = true;
  const frames = pcmFrames(await speechAt(24000));
  const disconnected = new Promise<string>((resolve) => victim.socket.once('disconnect', (reason) => resolve(reason)));
  victim.sendAudio(frames, true);
  const error = await victim.next('error');
  assert.equal(error.code, 'internal_error');
  assert.equal(await disconnected, 'io server disconnect');
  assert.equal(await faultCount('socketio'), before + 1);

  bystander.sendAudio(frames, true);
  assert.equal((await bystander.next('transcript_final')).content, PHRASE);
  await bystander.next('turn_done');
  assert.ok(bystander.ofType('audio').length > 0, 'the answer has audio');
  bystander.close();
});
