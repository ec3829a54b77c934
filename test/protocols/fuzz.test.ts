/**
 * Seeded fuzzing of every door on one real server: every field of every client message (read
 * from the doors' own zod schemas, test/helpers/zod-fields.ts) given values its schema must
 * refuse, JSON nesting from 65 to thousands of levels at every field, strings past their
 * limits, truncated and non-JSON text, binary garbage, unknown message types and messages
 * over REALTIME_MAX_MESSAGE_MB. Each fuzzed message must be answered with its own error
 * (never internal_error), the fuzzed session must stay usable, and a second, well-behaved
 * session on the same server runs turns the whole time. A crash of the server is a crash of
 * this process.
 *
 * FUZZ_SEED picks another sequence (the seed is in each test's name); FUZZ_MESSAGES sets the
 * messages per door (default 2000).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { z } from 'zod';
import type { PcmAudio } from '../../src/audio/pcm.ts';
import { int16ToBytes } from '../../src/audio/pcm.ts';
import { resample } from '../../src/audio/resample.ts';
import { readWav } from '../../src/audio/wav.ts';
import { ERROR_CODES, type ErrorCode } from '../../src/errors/registry.ts';
import { CLIENT_MESSAGE_SCHEMAS as GATEWAY_SCHEMAS } from '../../src/protocols/gateway/codec.ts';
import { CLIENT_EVENT_SCHEMAS } from '../../src/protocols/openai-realtime/client-events.ts';
import { audioSchema as socketIoAudioSchema, updateSessionSchema } from '../../src/protocols/socketio/codec.ts';
import { clientMessage as transcriptionsSchema } from '../../src/protocols/transcriptions/codec.ts';
import { EchoResponder } from '../../src/providers/local/echo-responder.ts';
import { ScriptedSynthesizer } from '../../src/providers/testing/scripted-synthesizer.ts';
import { ScriptedTranscriber } from '../../src/providers/testing/scripted-transcriber.ts';
import type { RunningServer } from '../../src/server/app.ts';
import { pcmFrames, RealtimeClient, withSilence } from '../e2e/realtime-harness.ts';
import { startTestServer } from '../helpers/server.ts';
import { speakPhrase } from '../helpers/spoken.ts';
import { Fuzz, fieldCases, garbageCases, planOf, type TextCase } from '../helpers/fuzz-messages.ts';
import { badValuesOf, fieldsOf, withValueAt } from '../helpers/zod-fields.ts';
import { GatewayClient, gatewayUrl } from './gateway/gateway-harness.ts';
import { RealtimeSocket } from './socketio/socketio-harness.ts';
import { TranscriptionClient } from './transcriptions/transcriptions-harness.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed);
const MESSAGES_PER_DOOR = Number(process.env.FUZZ_MESSAGES ?? 2000);
const PHRASE = 'turn on the light';
/** 0.25 MB: oversize messages stay cheap; ws closes only past twice this. */
const MAX_MESSAGE_BYTES = Math.round(0.25 * 1024 * 1024);

function assertClientError(code: unknown, label: string): void {
  assert.ok(typeof code === 'string' && Object.hasOwn(ERROR_CODES, code), `${label}: an error with a registered code, got ${String(code)}`);
  assert.notEqual(code, 'internal_error', `${label}: answered as an internal failure`);
  const category = ERROR_CODES[code as ErrorCode].category;
  assert.ok(category === 'invalid_request' || category === 'not_found', `${label}: ${code} is a client error`);
}

/** Runs `turn` again and again until `fuzzing()` is false, then once more; returns how many completed. */
function keepTakingTurns(fuzzing: () => boolean, turn: () => Promise<void>): Promise<number> {
  const turns = takeTurns(fuzzing, turn);
  // Awaited at the end of the test; a test that fails first must not leave it unhandled.
  turns.catch(() => {});
  return turns;
}

async function takeTurns(fuzzing: () => boolean, turn: () => Promise<void>): Promise<number> {
  let turns = 0;
  while (fuzzing()) {
    await turn();
    turns++;
    // A turn a second: a user's pace, leaving the machine to the fuzzing.
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  await turn();
  return turns + 1;
}

let server: RunningServer;
let speech: PcmAudio;

before(async () => {
  server = await startTestServer(
    { transcriber: new ScriptedTranscriber({ texts: PHRASE }), responder: new EchoResponder(), synthesizer: new ScriptedSynthesizer() },
    { REALTIME_MAX_MESSAGE_MB: String(MAX_MESSAGE_BYTES / (1024 * 1024)) },
  );
  speech = withSilence(readWav((await speakPhrase(PHRASE)).bytes), 300, 1200);
});

after(async () => {
  await server?.close();
});

async function speechAt(sampleRate: number): Promise<Buffer> {
  return Buffer.from(int16ToBytes((await resample(speech, sampleRate)).samples));
}

function tone(ms: number): PcmAudio {
  const samples = new Int16Array((24000 * ms) / 1000);
  for (let i = 0; i < samples.length; i++) samples[i] = Math.round(8000 * Math.sin((2 * Math.PI * 300 * i) / 24000));
  return { samples, sampleRate: 24000 };
}

test(`gateway door: ${MESSAGES_PER_DOOR} fuzzed messages each get an error, and another session keeps working (seed ${SEED})`, async () => {
  const fuzz = new Fuzz(SEED);
  const valid = [{ type: 'start' }, { type: 'audio', audio: '' }, { type: 'end' }];
  const fields = (messages: Array<keyof typeof GATEWAY_SCHEMAS>) =>
    messages.flatMap((type) =>
      fieldCases(
        fuzz,
        type,
        GATEWAY_SCHEMAS[type],
        valid.find((message) => message.type === type)!,
      ),
    );
  const garbage = (count: number) => garbageCases(fuzz, 'type', valid, count, MAX_MESSAGE_BYTES);
  // Before start: any field of any message, and binary frames (audio before start).
  const beforeStart = planOf(
    fuzz,
    [...fields(['start', 'audio', 'end']), ...Array.from({ length: 50 }, () => ({ label: 'binary before start', frame: fuzz.bytes(fuzz.int(1, 4000)) }))],
    garbage,
    MESSAGES_PER_DOOR / 2,
  );
  // Streaming: a second start (valid or not) and bad audio; binary frames are audio now.
  const streaming = planOf(
    fuzz,
    [
      ...fields(['start', 'audio']),
      { label: 'a second valid start', frame: '{"type":"start"}' },
      { label: 'odd base64 audio', frame: '{"type":"audio","audio":"AA=="}' },
    ],
    garbage,
    MESSAGES_PER_DOOR / 2,
  );

  const bystander = await GatewayClient.connect(gatewayUrl(server.url));
  bystander.send({ type: 'start' });
  await bystander.next('ready');
  const speechBytes = await speechAt(24000);
  let fuzzing = true;
  const turns = keepTakingTurns(
    () => fuzzing,
    async () => {
      const after = bystander.messages.length;
      bystander.sendFrames(speechBytes, 48);
      assert.equal((await bystander.next('stt_final', 20_000, after)).text, PHRASE);
      await bystander.next('tts_end', 20_000, after);
    },
  );

  const client = await GatewayClient.connect(gatewayUrl(server.url));
  const sendAll = async (cases: TextCase[]) => {
    for (const { label, frame } of cases) {
      const after = client.messages.length;
      if (typeof frame === 'string') client.send(frame);
      else client.sendBinary(frame);
      const error = await client.next('error', 5000, after).catch((failure: Error) => assert.fail(`${label}: ${failure.message}`));
      assertClientError(error.code, label);
    }
  };
  await sendAll(beforeStart);
  client.send({ type: 'start' });
  await client.next('ready');
  await sendAll(streaming);
  fuzzing = false;

  assert.ok((await turns) >= 2);
  assert.equal(client.messages.filter((message) => message.type === 'error').length, beforeStart.length + streaming.length);
  // The fuzzed session still runs a turn.
  client.sendFrames(speechBytes, 48);
  assert.equal((await client.next('stt_final', 20_000)).text, PHRASE);
  client.send({ type: 'end' });
  assert.equal((await client.closed).code, 1000);
  await bystander.close();
});

test(`/v1/transcriptions door: ${MESSAGES_PER_DOOR} fuzzed messages each get an error, and another session keeps working (seed ${SEED})`, async () => {
  const fuzz = new Fuzz(SEED + 1);
  const start = { action: 'start', format: 'pcm16', sample_rate: 16000 };
  const valid = [start, { action: 'stop' }, { action: 'end' }];
  const fields = fieldCases(fuzz, 'message', transcriptionsSchema, start);
  const garbage = (count: number) => garbageCases(fuzz, 'action', valid, count, MAX_MESSAGE_BYTES);
  const beforeStart = planOf(
    fuzz,
    [...fields, ...Array.from({ length: 50 }, () => ({ label: 'binary before start', frame: fuzz.bytes(fuzz.int(1, 4000)) }))],
    garbage,
    MESSAGES_PER_DOOR / 2,
  );
  const running = planOf(fuzz, [...fields, { label: 'a second valid start', frame: JSON.stringify(start) }], garbage, MESSAGES_PER_DOOR / 2);
  const url = `${server.url.replace(/^http/, 'ws')}/v1/transcriptions`;

  const bystander = await TranscriptionClient.started(url, start);
  const speechBytes = await speechAt(16000);
  let fuzzing = true;
  const turns = keepTakingTurns(
    () => fuzzing,
    async () => {
      const finals = bystander.finals().length;
      bystander.sendBinary(speechBytes);
      await bystander.next(() => bystander.finals().length > finals, 20_000);
      assert.equal(bystander.finals().at(-1), PHRASE);
    },
  );

  const client = await TranscriptionClient.connect(url);
  const errors = () => client.messages.filter((message) => 'error' in message).length;
  const sendAll = async (cases: TextCase[]) => {
    for (const { label, frame } of cases) {
      const after = client.messages.length;
      if (typeof frame === 'string') client.sendText(frame);
      else client.sendBinary(frame);
      const error = await client.next((message) => 'error' in message, 5000, after).catch((failure: Error) => assert.fail(`${label}: ${failure.message}`));
      assertClientError(error.code, label);
    }
  };
  await sendAll(beforeStart);
  client.send(start);
  await client.next((message) => 'session_id' in message);
  await sendAll(running);
  fuzzing = false;

  assert.ok((await turns) >= 2);
  assert.equal(errors(), beforeStart.length + running.length);
  client.sendBinary(speechBytes);
  client.send({ action: 'stop' });
  assert.equal((await client.closed).code, 1000);
  assert.deepEqual(client.finals(), [PHRASE]);
  bystander.send({ action: 'stop' });
  assert.equal((await bystander.closed).code, 1000);
});

test(`/v1/realtime door: ${MESSAGES_PER_DOOR} fuzzed events each get an error, and another session keeps working (seed ${SEED})`, async () => {
  const fuzz = new Fuzz(SEED + 2);
  const bases: Record<string, Record<string, unknown>> = {
    'session.update': { type: 'session.update', session: {} },
    'transcription_session.update': { type: 'transcription_session.update', session: {} },
    'input_audio_buffer.append': { type: 'input_audio_buffer.append', audio: '' },
    'input_audio_buffer.commit': { type: 'input_audio_buffer.commit' },
    'input_audio_buffer.clear': { type: 'input_audio_buffer.clear' },
    'conversation.item.create': { type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [] } },
    'conversation.item.retrieve': { type: 'conversation.item.retrieve', item_id: 'item_1' },
    'conversation.item.delete': { type: 'conversation.item.delete', item_id: 'item_1' },
    'conversation.item.truncate': { type: 'conversation.item.truncate', item_id: 'item_1', content_index: 0, audio_end_ms: 0 },
    'response.create': { type: 'response.create' },
    'response.cancel': { type: 'response.cancel' },
  };
  assert.deepEqual(Object.keys(bases).sort(), Object.keys(CLIENT_EVENT_SCHEMAS).sort(), 'a base message for every client event');
  let eventIds = 0;
  const cases = Object.entries(CLIENT_EVENT_SCHEMAS).flatMap(([type, schema]) =>
    fieldCases(fuzz, type, schema, bases[type], (message) =>
      typeof message === 'object' && message !== null && !Array.isArray(message) && !('event_id' in message)
        ? { event_id: `fuzz_${eventIds++}`, ...message }
        : message,
    ),
  );
  // Events that parse but name what does not exist, and binary frames (refused unread: invalid_event).
  cases.push(
    { label: 'retrieve of an unknown item', frame: JSON.stringify({ type: 'conversation.item.retrieve', item_id: 'item_none' }) },
    { label: 'cancel of an unknown response', frame: JSON.stringify({ type: 'response.cancel', response_id: 'resp_none' }) },
    { label: 'empty commit', frame: JSON.stringify({ type: 'input_audio_buffer.commit' }) },
    ...Array.from({ length: 100 }, () => ({ label: 'binary garbage', frame: fuzz.bytes(fuzz.int(1, 4000)) })),
  );
  const plan = planOf(fuzz, cases, (count) => garbageCases(fuzz, 'type', Object.values(bases), count, MAX_MESSAGE_BYTES), MESSAGES_PER_DOOR);
  const url = `${server.url.replace(/^http/, 'ws')}/v1/realtime`;
  const manual = { type: 'session.update', session: { type: 'realtime', audio: { input: { turn_detection: null } } } };

  const bystander = await RealtimeClient.connect(url);
  await bystander.next('session.created');
  bystander.send(manual);
  await bystander.next('session.updated');
  const frames = pcmFrames(tone(500));
  let fuzzing = true;
  const turns = keepTakingTurns(
    () => fuzzing,
    async () => {
      const after = bystander.events.length;
      for (const audio of frames) bystander.send({ type: 'input_audio_buffer.append', audio });
      bystander.send({ type: 'input_audio_buffer.commit' });
      bystander.send({ type: 'response.create' });
      const done = await bystander.next('response.done', 20_000, after);
      assert.equal(done.response.status, 'completed');
    },
  );

  const client = await RealtimeClient.connect(url);
  await client.next('session.created');
  const errors = () => client.events.filter((event) => event.type === 'error').length;
  for (const { label, frame } of plan) {
    const after = client.events.length;
    client.socket.send(frame, { binary: typeof frame !== 'string' });
    const event = await client.next('error', 5000, after).catch((failure: Error) => assert.fail(`${label}: ${failure.message}`));
    assertClientError(event.error.code, label);
  }
  fuzzing = false;

  assert.ok((await turns) >= 2);
  assert.equal(errors(), plan.length);
  // Nothing fuzzed was taken: the session is as created, and still takes a valid update.
  assert.equal(client.events.filter((event) => event.type === 'session.updated').length, 0);
  client.send({ type: 'session.update', session: { type: 'realtime', instructions: 'Still here.' } });
  assert.equal((await client.next('session.updated')).session.instructions, 'Still here.');
  await client.close();
  await bystander.close();
});

test(`Socket.IO door: ${MESSAGES_PER_DOOR} fuzzed events each get an error, and another session keeps working (seed ${SEED})`, async () => {
  const fuzz = new Fuzz(SEED + 3);
  interface EventCase {
    label: string;
    event: string;
    payload: unknown;
  }
  const fieldEvents = (event: string, schema: z.ZodType, base: Record<string, unknown>): EventCase[] =>
    fieldsOf(schema).flatMap((field) => [
      ...badValuesOf(field)
        .map((bad) => ({
          label: `${event} ${field.path.join('.') || '(payload)'} = ${JSON.stringify(bad).slice(0, 40)}`,
          event,
          payload: withValueAt(base, field.path, bad),
        }))
        .filter(({ payload }) => !schema.safeParse(payload).success),
      // Socket.IO's client serialises recursively: a few hundred levels, past the 64 the server takes.
      { label: `${event} ${field.path.join('.')} nested deep`, event, payload: withValueAt(base, field.path, JSON.parse(fuzz.deep(fuzz.int(65, 400)))) },
    ]);
  const cases: EventCase[] = [
    ...fieldEvents('update_session', updateSessionSchema, { session: {} }),
    ...fieldEvents('audio', socketIoAudioSchema, { audio: '' }),
    { label: 'update_session with an unknown field', event: 'update_session', payload: { session: {}, extra: 1 } },
    { label: 'odd base64 audio', event: 'audio', payload: { audio: 'AA==' } },
    ...Array.from({ length: 50 }, () => ({ label: 'odd binary audio', event: 'audio', payload: { audio: fuzz.bytes(2 * fuzz.int(0, 2000) + 1) } })),
    ...[1, true, null, ['a'], { text: 7 }, { other: 'x' }, 'x'.repeat(100_001)].map((payload) => ({
      label: `system_prompt ${JSON.stringify(payload).slice(0, 30)}`,
      event: 'system_prompt',
      payload,
    })),
  ];
  const garbage = (count: number): EventCase[] =>
    Array.from({ length: count }, () => {
      const kind = fuzz.int(0, 2);
      if (kind === 0)
        return { label: 'unknown event', event: fuzz.pick(['Audio', 'commit ', 'x'.repeat(fuzz.int(1, 5000)), 'message', '__proto__']), payload: {} };
      if (kind === 1)
        return { label: 'deep payload', event: fuzz.pick(['audio', 'update_session', 'system_prompt']), payload: JSON.parse(fuzz.deep(fuzz.int(65, 400))) };
      return { label: 'wrong payload', event: fuzz.pick(['audio', 'update_session']), payload: fuzz.pick([0, 'x', [], null, { audio: 5 }]) };
    });
  const plan = fuzz.shuffle([...cases, ...garbage(Math.max(0, MESSAGES_PER_DOOR - cases.length))]);

  const bystander = await RealtimeSocket.connect(server.url);
  await bystander.next('connected');
  bystander.emit('update_session', { session: { turn_detection: null } });
  const frames = pcmFrames(tone(500));
  let fuzzing = true;
  const turns = keepTakingTurns(
    () => fuzzing,
    async () => {
      const after = bystander.messages.length;
      bystander.sendAudio(frames, true);
      assert.equal((await bystander.next('transcript_final', 20_000, after)).content, PHRASE);
      await bystander.next('turn_done', 20_000, after);
    },
  );

  const client = await RealtimeSocket.connect(server.url);
  await client.next('connected');
  for (const { label, event, payload } of plan) {
    const reply = (await client.socket
      .timeout(5000)
      .emitWithAck(event, payload)
      .catch((failure: Error) => assert.fail(`${label}: no acknowledgement (${failure.message})`))) as { ok: boolean; error?: string };
    assert.equal(reply.ok, false, `${label}: refused`);
    assert.ok(client.socket.connected, `${label}: still connected`);
  }
  fuzzing = false;

  assert.ok((await turns) >= 2);
  // Every refusal also came as an error message; the last may still be on its way.
  const refused = await client.next(() => client.ofType('error').length >= plan.length, 5000).then(() => client.ofType('error'));
  assert.equal(refused.length, plan.length);
  for (const message of refused) assertClientError(message.code, message.content ?? '');
  // The fuzzed session still answers a turn.
  client.emit('update_session', { session: { turn_detection: null } });
  client.sendAudio(frames, true);
  assert.equal((await client.next('transcript_final', 20_000)).content, PHRASE);
  client.close();
  bystander.close();
  assert.equal((await fetch(`${server.url}/`)).status, 200);
});
