/**
 * /v1/realtime timing fields and item order as OpenAI defines them, over a real socket with the
 * real WebRTC VAD on a recording: speech_started.audio_start_ms includes the prefix padding,
 * speech_stopped.audio_end_ms the silence that ended the turn, the idle timeout's span is the
 * idle window, and an assistant item's conversation.item.done precedes its
 * response.output_item.done. The socket stays open throughout.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { readWav } from '../../../src/audio/wav.ts';
import { ScriptedResponder } from '../../../src/providers/testing/scripted-responder.ts';
import { ScriptedSynthesizer } from '../../../src/providers/testing/scripted-synthesizer.ts';
import { ScriptedTranscriber } from '../../../src/providers/testing/scripted-transcriber.ts';
import { pcmFrames, RealtimeClient, recording, streamRealtime, withSilence } from '../../e2e/realtime-harness.ts';
import { assembleProviders, startTestServer, type TestServer } from '../../helpers/server.ts';
import { sharedAudioPath } from '../../helpers/shared.ts';
import { energyBounds } from '../../vad/speech-audio.ts';

const CLIP = 'en_harvard_birch_canoe.wav';
const LEAD_MS = 800;
const TAIL_MS = 1200;
/** The VAD decides on 20 ms frames and needs startMs of voice; the energy bounds are a reference, not the VAD. */
const TOLERANCE_MS = 120;

let server: TestServer;
let frames: string[];
let speech: { startMs: number; endMs: number };

before(async () => {
  server = await startTestServer(
    assembleProviders({
      transcriber: new ScriptedTranscriber({ texts: 'the birch canoe' }),
      responder: new ScriptedResponder({ script: { text: 'A short spoken answer.' } }),
      synthesizer: new ScriptedSynthesizer(),
    }),
  );
  frames = pcmFrames(withSilence(await recording(CLIP), LEAD_MS, TAIL_MS));
  const bounds = energyBounds(readWav(await readFile(sharedAudioPath(CLIP))).samples);
  speech = { startMs: LEAD_MS + bounds.startMs, endMs: LEAD_MS + bounds.endMs };
});

after(async () => {
  await server?.close();
});

async function connect(): Promise<RealtimeClient> {
  const client = await RealtimeClient.connect(server.realtimeUrl);
  await client.next('session.created');
  return client;
}

async function update(client: RealtimeClient, session: Record<string, unknown>): Promise<void> {
  const from = client.events.length;
  client.send({ type: 'session.update', session: { type: 'realtime', ...session } });
  const reply = await client.next((event) => event.type === 'session.updated' || event.type === 'error', 5000, from);
  assert.equal(reply.type, 'session.updated', JSON.stringify(reply.error ?? {}));
}

async function stillOpen(client: RealtimeClient): Promise<void> {
  assert.equal(client.socket.readyState, client.socket.OPEN);
  const from = client.events.length;
  client.send({ type: 'input_audio_buffer.clear' });
  await client.next('input_audio_buffer.cleared', 5000, from);
}

test('speech_started includes the prefix padding and speech_stopped the end silence', async () => {
  const client = await connect();
  const paddingMs = 300;
  const silenceMs = 500;
  await update(client, {
    audio: { input: { turn_detection: { type: 'server_vad', prefix_padding_ms: paddingMs, silence_duration_ms: silenceMs, create_response: false } } },
  });
  for (const audio of frames) client.send({ type: 'input_audio_buffer.append', audio });
  const started = await client.next('input_audio_buffer.speech_started');
  const stopped = await client.next('input_audio_buffer.speech_stopped');
  const committed = await client.next('input_audio_buffer.committed');

  assert.ok(
    Math.abs(started.audio_start_ms - (speech.startMs - paddingMs)) <= TOLERANCE_MS,
    `audio_start_ms ${started.audio_start_ms}: speech begins at ${speech.startMs} ms, less ${paddingMs} ms of padding`,
  );
  assert.ok(
    Math.abs(stopped.audio_end_ms - (speech.endMs + silenceMs)) <= TOLERANCE_MS,
    `audio_end_ms ${stopped.audio_end_ms}: speech ends at ${speech.endMs} ms, then ${silenceMs} ms of silence`,
  );
  assert.deepEqual(Object.keys(started).sort(), ['audio_start_ms', 'event_id', 'item_id', 'type']);
  assert.deepEqual(Object.keys(stopped).sort(), ['audio_end_ms', 'event_id', 'item_id', 'type']);
  assert.deepEqual([stopped.item_id, committed.item_id], [started.item_id, started.item_id]);
  await stillOpen(client);
  await client.close();
});

test('speech_started.audio_start_ms is floored at 0 when the padding reaches back past the start', async () => {
  const client = await connect();
  await update(client, { audio: { input: { turn_detection: { type: 'server_vad', prefix_padding_ms: LEAD_MS + 1000, create_response: false } } } });
  for (const audio of frames) client.send({ type: 'input_audio_buffer.append', audio });
  const started = await client.next('input_audio_buffer.speech_started');
  assert.equal(started.audio_start_ms, 0);
  await client.next('input_audio_buffer.committed');
  await stillOpen(client);
  await client.close();
});

test("the idle timeout's span is the input audio from the end of the answer to the timeout", async () => {
  const client = await connect();
  const idleMs = 1000;
  await update(client, { output_modalities: ['text'], audio: { input: { turn_detection: { type: 'server_vad', idle_timeout_ms: idleMs } } } });
  // Input audio before the answer: the idle window starts after it.
  const beforeMs = 400;
  for (const audio of pcmFrames({ samples: new Int16Array(24 * beforeMs), sampleRate: 24000 })) client.send({ type: 'input_audio_buffer.append', audio });
  client.send({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hello' }] } });
  client.send({ type: 'response.create' });
  const done = await client.next('response.done');
  // A microphone keeps sending silence in real time while nobody speaks.
  const silence = pcmFrames({ samples: new Int16Array(24 * (idleMs + 1000)), sampleRate: 24000 });
  const from = client.events.length;
  const streaming = streamRealtime((audio) => client.send({ type: 'input_audio_buffer.append', audio }), silence);
  const triggered = await client.next('input_audio_buffer.timeout_triggered', 5000, from);
  await streaming;
  const committed = await client.next('input_audio_buffer.committed', 5000, from);

  assert.equal(done.response.status, 'completed');
  assert.deepEqual(Object.keys(triggered).sort(), ['audio_end_ms', 'audio_start_ms', 'event_id', 'item_id', 'type']);
  // The 24 → 16 kHz resampler holds a few ms back; real-time pacing on a loaded machine adds jitter.
  assert.ok(Math.abs(triggered.audio_start_ms - beforeMs) <= 60, `the window starts at the ${beforeMs} ms sent before the answer: ${triggered.audio_start_ms}`);
  const windowMs = triggered.audio_end_ms - triggered.audio_start_ms;
  assert.ok(Math.abs(windowMs - idleMs) <= 250, `the window is about idle_timeout_ms long: ${triggered.audio_start_ms}–${triggered.audio_end_ms} ms`);
  assert.equal(committed.item_id, triggered.item_id);
  await stillOpen(client);
  await client.close();
});

test("an assistant item's conversation.item.done comes just before its response.output_item.done", async () => {
  const client = await connect();
  await update(client, { audio: { input: { turn_detection: null } } });
  client.send({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hello' }] } });
  client.send({ type: 'response.create' });
  const done = await client.next('response.done');
  const assistantId = done.response.output[0].id;
  const closing = client.events
    .filter((event) => event.item?.id === assistantId || event.item_id === assistantId || event.type === 'response.done')
    .map((event) => event.type)
    .slice(-5);
  assert.deepEqual(closing, [
    'response.output_audio_transcript.done',
    'response.content_part.done',
    'conversation.item.done',
    'response.output_item.done',
    'response.done',
  ]);
  const itemDone = client.events.find((event) => event.type === 'conversation.item.done' && event.item.id === assistantId)!;
  const outputDone = client.events.find((event) => event.type === 'response.output_item.done')!;
  assert.equal(client.events.indexOf(outputDone), client.events.indexOf(itemDone) + 1, 'adjacent');
  assert.deepEqual(itemDone.item, outputDone.item, 'the same finished item');
  assert.equal(itemDone.item.status, 'completed');
  await stillOpen(client);
  await client.close();
});
