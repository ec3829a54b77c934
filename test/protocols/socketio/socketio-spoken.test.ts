/**
 * Spoken turns through the Socket.IO /realtime door on real engines: WebRTC VAD, pocketsphinx
 * with a JSGF command grammar, the echo responder and espeak-ng. The phrases are spoken by
 * Debian's espeak-ng command line and sent as 24 kHz PCM16 in 20 ms base64 chunks.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { durationMs, rmsDbfs } from '../../../src/audio/pcm.ts';
import { resample } from '../../../src/audio/resample.ts';
import { EchoResponder } from '../../../src/providers/local/echo-responder.ts';
import { EspeakSynthesizer } from '../../../src/providers/local/espeak-synthesizer.ts';
import { createPocketsphinxTranscriber, type PocketsphinxTranscriber } from '../../../src/providers/local/pocketsphinx-transcriber.ts';
import type { RunningServer } from '../../../src/server/app.ts';
import { startTestServer } from '../../helpers/server.ts';
import { COMMAND_GRAMMAR, requireTool } from '../../helpers/spoken.ts';
import { chunks, joinedAudio, phraseAudio, RealtimeSocket, type ServerMessage } from './socketio-harness.ts';

const GRAMMAR_WORDS = new Set(['turn', 'on', 'off', 'the', 'light', 'radio', 'heater']);

let server: RunningServer;
let transcriber: PocketsphinxTranscriber;
let synthesizer: EspeakSynthesizer;

before(async () => {
  await requireTool('pocketsphinx_continuous', 'apt-get install pocketsphinx pocketsphinx-en-us');
  await requireTool('espeak-ng', 'apt-get install espeak-ng');
  transcriber = await createPocketsphinxTranscriber({ grammar: COMMAND_GRAMMAR, timeoutMs: 20_000 });
  synthesizer = await EspeakSynthesizer.create({ workers: 1 });
  server = await startTestServer({ transcriber, responder: new EchoResponder(), synthesizer });
});

after(async () => {
  await server?.close();
  await synthesizer?.close();
});

async function connect(transports: string[] = ['websocket']): Promise<RealtimeSocket> {
  const client = await RealtimeSocket.connect(server.url, { transports });
  await client.next('connected');
  return client;
}

function indexOf(client: RealtimeSocket, message: ServerMessage): number {
  return client.messages.indexOf(message);
}

test('a spoken turn: turn.start, live partials, the exact transcript, the spoken answer in small hops, turn_done', async () => {
  const phrase = 'turn on the light';
  const client = await connect();
  // A 1.5 s end of turn keeps the turn open long enough for an interim pass of pocketsphinx to
  // finish on a loaded machine (a pass still running when the turn ends is dropped).
  await client.socket.emitWithAck('update_session', { session: { turn_detection: { end_ms: 1500 } } });
  await client.streamAudio(chunks(await phraseAudio(phrase, 300, 2000)));

  const start = await client.next((message) => message.type === 'event' && message.content?.type === 'turn.start');
  const final = await client.next('transcript_final', 20_000);
  const done = await client.next('turn_done', 30_000);
  assert.equal(final.content, phrase);
  assert.ok(indexOf(client, start) < indexOf(client, final) && indexOf(client, final) < indexOf(client, done));

  // Interim transcripts: the text so far while the turn was being spoken.
  const partials = client.ofType('transcript_temp');
  assert.ok(partials.length >= 1, `partial transcripts while speaking: ${client.types().join(', ')}`);
  for (const partial of partials) {
    assert.equal(typeof partial.content, 'string');
    const words = (partial.content as string).split(' ');
    assert.ok(words.length > 0 && words.every((word) => GRAMMAR_WORDS.has(word)), `words of the grammar: ${partial.content}`);
    assert.ok(indexOf(client, partial) > indexOf(client, start) && indexOf(client, partial) < indexOf(client, final), 'partials come inside the turn');
  }

  const hops = client.ofType('audio');
  assert.ok(hops.length >= 5, `the answer comes in hops: ${hops.length}`);
  for (const hop of hops) {
    const bytes = Buffer.from(hop.content, 'base64').byteLength;
    assert.ok(bytes > 0 && bytes <= 4800 && bytes % 2 === 0, `a hop of at most 100 ms of 24 kHz PCM16: ${bytes} bytes`);
    assert.ok(indexOf(client, hop) > indexOf(client, final) && indexOf(client, hop) < indexOf(client, done));
  }
  const answer = joinedAudio(hops);
  assert.ok(durationMs(answer) > 500, `a spoken answer: ${durationMs(answer)} ms`);
  assert.ok(rmsDbfs(answer.samples) > -35, `not silence: ${rmsDbfs(answer.samples).toFixed(1)} dBFS`);
  // The echo responder says the transcript back: pocketsphinx hears the phrase in the answer.
  assert.equal((await transcriber.transcribe(await resample(answer, 16000))).text, phrase);
  assert.deepEqual(client.ofType('error'), []);
  client.close();
});

test('audio with commit: true ends the turn before the VAD does, and it is answered', async () => {
  const phrase = 'turn off the radio';
  const client = await connect(['polling']);
  // No silence after the phrase: the VAD turn is still open when the commit arrives.
  client.sendAudio(chunks(await phraseAudio(phrase, 300, 0)), true);
  const final = await client.next('transcript_final', 20_000);
  await client.next('turn_done', 30_000);
  assert.equal(final.content, phrase);
  assert.ok(client.ofType('audio').length > 0);
  assert.equal(client.ofType('turn_done').length, 1, 'one answer for one turn');
  assert.deepEqual(client.ofType('error'), []);
  client.close();
});

test('with turn detection off, `commit` ends the turn and it is answered', async () => {
  const phrase = 'turn on the heater';
  const client = await connect();
  client.emit('update_session', { session: { turn_detection: null } });
  client.sendAudio(chunks(await phraseAudio(phrase)));
  await client.socket.emitWithAck('commit');
  const final = await client.next('transcript_final', 20_000);
  await client.next('turn_done', 30_000);
  assert.equal(final.content, phrase);
  assert.equal(client.ofType('event').length, 0, 'no VAD turn.start with turn detection off');
  assert.ok(rmsDbfs(joinedAudio(client.ofType('audio')).samples) > -35);
  client.close();
});

test('update_session start_ms is applied: a phrase shorter than it opens no turn, and one opens after lowering it', async () => {
  const audio = chunks(await phraseAudio('turn off the light'));
  const client = await connect();
  const turnStarts = () => client.messages.filter((message) => message.type === 'event' && message.content?.type === 'turn.start').length;
  await client.socket.emitWithAck('update_session', { session: { turn_detection: { type: 'server_vad', start_ms: 2000 } } });
  client.sendAudio(audio.slice(0, -1));
  // The acknowledgement comes after the server has run the VAD over every chunk before it.
  assert.deepEqual(await client.socket.emitWithAck('audio', { audio: audio.at(-1) }), { ok: true });
  assert.equal(turnStarts(), 0, 'no turn: no 2 s stretch of speech');

  await client.socket.emitWithAck('update_session', { session: { turn_detection: { start_ms: 100, end_ms: 400 } } });
  client.sendAudio(audio.slice(0, -1));
  await client.socket.emitWithAck('audio', { audio: audio.at(-1) });
  assert.equal(turnStarts(), 1);
  assert.equal((await client.next('transcript_final', 20_000)).content, 'turn off the light');
  await client.next('turn_done', 30_000);
  client.close();
});

test('update_session voice is applied: the same answer in another voice sounds different', async () => {
  const audio = chunks(await phraseAudio('turn on the radio', 300, 0));
  const answers = [];
  for (const voice of ['onyx', 'shimmer']) {
    const client = await connect();
    client.emit('update_session', { session: { voice } });
    client.sendAudio(audio, true);
    assert.equal((await client.next('transcript_final', 20_000)).content, 'turn on the radio');
    await client.next('turn_done', 30_000);
    assert.deepEqual(client.ofType('error'), []);
    answers.push(joinedAudio(client.ofType('audio')));
    client.close();
  }
  const [low, high] = answers;
  assert.ok(rmsDbfs(low.samples) > -35 && rmsDbfs(high.samples) > -35);
  assert.notDeepEqual(low.samples, high.samples, 'onyx (a male espeak variant) and shimmer (a female one) differ');
  // shimmer is the higher voice: more zero crossings per second.
  assert.ok(zeroCrossingRate(high.samples) > zeroCrossingRate(low.samples), `${zeroCrossingRate(high.samples)} vs ${zeroCrossingRate(low.samples)}`);
});

function zeroCrossingRate(samples: Int16Array): number {
  let crossings = 0;
  for (let i = 1; i < samples.length; i++) if (samples[i - 1] < 0 !== samples[i] < 0) crossings++;
  return (crossings * 24000) / samples.length;
}
