/**
 * /v1/realtime transcription events as OpenAI defines them, over a real socket:
 * conversation.item.input_audio_transcription.delta from the interim passes while the user
 * speaks (unless the client picked speechbridge's own partial event), `logprobs` with
 * `include: ["item.input_audio_transcription.logprobs"]` where the recognizer gives them — a
 * scripted one and an OpenAI-compatible upstream asked with include[]=logprobs — and refused
 * by name where it gives none; `...transcription.segment` events from the diarization upstream
 * (DIAR_URL) for a diarize transcription model; reasoning effort and parallel tool calls
 * passed to an OpenAI-compatible chat upstream. The socket stays open throughout.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { durationMs } from '../../../src/audio/pcm.ts';
import { OpenAIResponder } from '../../../src/providers/openai/openai-responder.ts';
import { OpenAITranscriber } from '../../../src/providers/openai/openai-transcriber.ts';
import { ScriptedResponder } from '../../../src/providers/testing/scripted-responder.ts';
import { ScriptedSynthesizer } from '../../../src/providers/testing/scripted-synthesizer.ts';
import { ScriptedTranscriber } from '../../../src/providers/testing/scripted-transcriber.ts';
import { pcmFrames, RealtimeClient, recording, streamRealtime, type WireEvent, withSilence } from '../../e2e/realtime-harness.ts';
import { assembleProviders, startTestServer, type TestServer } from '../../helpers/server.ts';
import { startChatCompletionsUpstream, type ChatCompletionsUpstream } from '../../helpers/chat-completions-upstream.ts';

const SENTENCE = 'the birch canoe slid on the smooth planks';
const DIARIZED = 'multi_en_3spk_leopard_diarization';
/** Its words, from the fixture manifest, and its speaker turns (seconds), from its RTTM sidecar. */
const DIARIZED_TEXT =
  "and so it begins this is what a crocodile sounds like it's like meditating in the water and it's like ladies and gentlemen please fasten your seat belts we are expecting some turbulence thank you";
const DIARIZED_TURNS = [
  { start: 1.7, end: 3.9, speaker: 'spk1' },
  { start: 6.2, end: 11.1, speaker: 'spk2' },
  { start: 12.8, end: 19.3, speaker: 'spk3' },
];
const LOGPROBS = 'item.input_audio_transcription.logprobs';

/** Text that grows with the audio heard, a word per 300 ms, so every interim pass extends the last. */
const growing = new ScriptedTranscriber({
  logprobs: true,
  texts: (audio) =>
    SENTENCE.split(' ')
      .slice(0, Math.max(1, Math.floor((audio ? durationMs(audio) : 0) / 300)))
      .join(' '),
});

interface SeenUpload {
  headers: IncomingMessage['headers'];
  body: Buffer;
}

let spokenServer: TestServer;
let plainServer: TestServer;
let diarizedServer: TestServer;
let upstreamServer: TestServer;
let diarizer: { server: Server; url: string; uploads: SeenUpload[]; fail: boolean };
let transcriptionUpstream: { server: Server; url: string; uploads: string[] };
let chat: ChatCompletionsUpstream;
let spokenFrames: string[];

const scriptedAnswer = () => ({ responder: new ScriptedResponder({ script: { text: 'An answer.' } }), synthesizer: new ScriptedSynthesizer() });

before(async () => {
  spokenFrames = pcmFrames(withSilence(await recording('en_harvard_birch_canoe.wav'), 600, 1200));
  spokenServer = await startTestServer(assembleProviders({ transcriber: growing, ...scriptedAnswer() }));
  plainServer = await startTestServer(assembleProviders({ transcriber: new ScriptedTranscriber({ texts: 'hello there' }), ...scriptedAnswer() }));

  diarizer = { ...(await listen((request, body) => diarizerAnswer(request, body))), uploads: [], fail: false };
  diarizedServer = await startTestServer(assembleProviders({ transcriber: new ScriptedTranscriber({ texts: DIARIZED_TEXT }), ...scriptedAnswer() }), {
    DIAR_URL: diarizer.url,
    DIARIZATION_TOKEN: 'diar-secret',
  });

  transcriptionUpstream = { ...(await listen((_request, body) => transcriptionAnswer(body))), uploads: [] };
  chat = await startChatCompletionsUpstream({
    reply: (request) =>
      'reasoning_effort' in request.body && request.body.model === 'chat-model-without-reasoning'
        ? { status: 400, message: 'Unrecognized request argument supplied: reasoning_effort' }
        : 'A reply from the chat upstream.',
  });
  upstreamServer = await startTestServer(
    assembleProviders({
      transcriber: new OpenAITranscriber({ baseURL: transcriptionUpstream.url, model: 'gpt-4o-transcribe', timeoutMs: 10_000 }),
      responder: new OpenAIResponder({ baseURL: chat.baseURL, model: 'chat-model', timeoutMs: 10_000 }),
      synthesizer: new ScriptedSynthesizer(),
    }),
  );
});

after(async () => {
  for (const server of [spokenServer, plainServer, diarizedServer, upstreamServer]) await server?.close();
  await chat?.close();
  for (const local of [diarizer, transcriptionUpstream]) {
    local?.server.closeAllConnections();
    await new Promise((resolve) => local?.server.close(resolve));
  }
});

/** A local HTTP server answering `answer(request, body)` as JSON (status 200 unless the answer says). */
async function listen(answer: (request: IncomingMessage, body: Buffer) => { status?: number; json: unknown }): Promise<{ server: Server; url: string }> {
  const server = createServer((request, response) => {
    const parts: Buffer[] = [];
    request.on('data', (part: Buffer) => parts.push(part));
    request.on('end', () => {
      const { status = 200, json } = answer(request, Buffer.concat(parts));
      response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(json));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

function diarizerAnswer(request: IncomingMessage, body: Buffer): { status?: number; json: unknown } {
  diarizer.uploads.push({ headers: request.headers, body });
  if (diarizer.fail) return { status: 500, json: { error: 'the diarization model is not loaded' } };
  return { json: { segments: DIARIZED_TURNS } };
}

/**
 * As OpenAI's /v1/audio/transcriptions answers a gpt-4o-transcribe model: `json` only (no
 * verbose_json), and logprobs only when asked with include[]=logprobs.
 */
function transcriptionAnswer(body: Buffer): { status?: number; json: unknown } {
  const form = body.toString('latin1');
  transcriptionUpstream.uploads.push(form.replace(/RIFF[\s\S]*?\r\n--/, '<audio>\r\n--'));
  const field = (name: string) => new RegExp(`name="${name.replace(/[[\]]/g, '\\$&')}"\\r\\n\\r\\n([^\\r]*)`).exec(form)?.[1];
  if (field('response_format') !== 'json') {
    return {
      status: 400,
      json: {
        error: {
          message: "response_format 'verbose_json' is not compatible with model 'gpt-4o-transcribe'",
          type: 'invalid_request_error',
          param: 'response_format',
          code: 'unsupported_value',
        },
      },
    };
  }
  const tokens = ['hello', ' there'];
  return {
    json: {
      text: 'hello there',
      ...(field('include[]') === 'logprobs' && {
        logprobs: tokens.map((token, index) => ({ token, logprob: -0.25 * (index + 1), bytes: [...Buffer.from(token)] })),
      }),
    },
  };
}

async function connect(server: TestServer): Promise<RealtimeClient> {
  const client = await RealtimeClient.connect(server.realtimeUrl);
  await client.next('session.created');
  return client;
}

async function update(client: RealtimeClient, session: Record<string, unknown>): Promise<WireEvent> {
  const from = client.events.length;
  client.send({ type: 'session.update', session: { type: 'realtime', ...session } });
  const reply = await client.next((event) => event.type === 'session.updated' || event.type === 'error', 5000, from);
  assert.equal(reply.type, 'session.updated', JSON.stringify(reply.error ?? {}));
  return reply;
}

async function stillOpen(client: RealtimeClient): Promise<void> {
  assert.equal(client.socket.readyState, client.socket.OPEN);
  const from = client.events.length;
  client.send({ type: 'input_audio_buffer.clear' });
  await client.next('input_audio_buffer.cleared', 5000, from);
}

/** Speaks the sentence in real time (the interim passes need the time a speaker takes); returns the committed turn's events. */
async function speak(client: RealtimeClient): Promise<{ itemId: string; completed: WireEvent; between: WireEvent[] }> {
  const from = client.events.length;
  await streamRealtime((audio) => client.send({ type: 'input_audio_buffer.append', audio }), spokenFrames);
  const completed = await client.next('conversation.item.input_audio_transcription.completed', 10_000, from);
  const started = await client.next('input_audio_buffer.speech_started', 10, from);
  const between = client.events.slice(client.events.indexOf(started), client.events.indexOf(completed));
  return { itemId: started.item_id, completed, between };
}

const transcriptionEvents = (events: WireEvent[], kind: string) =>
  events.filter((event) => event.type === `conversation.item.input_audio_transcription.${kind}`);

test('input_audio_transcription.delta events from the interim passes: append-only text of the spoken item', async () => {
  const client = await connect(spokenServer);
  await update(client, { audio: { input: { turn_detection: { type: 'server_vad', create_response: false } } } });
  const { itemId, completed, between } = await speak(client);
  const deltas = transcriptionEvents(between, 'delta');

  assert.ok(deltas.length >= 2, `a 2.5 s sentence gives several deltas; got ${deltas.length}`);
  for (const delta of deltas) {
    assert.deepEqual(Object.keys(delta).sort(), ['content_index', 'delta', 'event_id', 'item_id', 'type']);
    assert.deepEqual([delta.item_id, delta.content_index], [itemId, 0]);
  }
  assert.ok(between.indexOf(deltas[0]) < between.findIndex((event) => event.type === 'input_audio_buffer.speech_stopped'), 'deltas come while the user speaks');
  assert.ok(completed.transcript.startsWith(deltas.map((event) => event.delta).join('')), 'the deltas spell the start of the final transcript');
  assert.equal(completed.transcript, SENTENCE);
  assert.equal(transcriptionEvents(client.events, 'partial').length, 0, "speechbridge's partial event only when asked for");
  assert.equal('logprobs' in completed, false, 'no logprobs unless included');
  await stillOpen(client);
  await client.close();
});

test('speechbridge.interim_transcripts picks the whole-text partial event instead of the deltas', async () => {
  const client = await connect(spokenServer);
  const reply = await update(client, {
    audio: { input: { turn_detection: { type: 'server_vad', create_response: false } } },
    speechbridge: { interim_transcripts: true },
  });
  assert.equal(reply.session.speechbridge.interim_transcripts, true);
  const { itemId, between } = await speak(client);
  const partials = transcriptionEvents(between, 'partial');
  assert.ok(partials.length >= 2, `partials: ${partials.length}`);
  assert.ok(partials.every((event) => event.item_id === itemId && SENTENCE.startsWith(event.transcript)));
  assert.equal(transcriptionEvents(between, 'delta').length, 0);
  await stillOpen(client);
  await client.close();
});

test('include logprobs: each delta and the completed transcript carry the tokens they add', async () => {
  const client = await connect(spokenServer);
  const reply = await update(client, { include: [LOGPROBS], audio: { input: { turn_detection: { type: 'server_vad', create_response: false } } } });
  assert.deepEqual(reply.session.include, [LOGPROBS]);
  const { completed, between } = await speak(client);
  const deltas = transcriptionEvents(between, 'delta');
  assert.ok(deltas.length >= 2);
  for (const delta of deltas) {
    assert.equal(
      delta.logprobs
        .map((entry: { token: string }) => entry.token)
        .join('')
        .trimStart(),
      delta.delta.trimStart(),
      'the tokens of this delta',
    );
    for (const entry of delta.logprobs) assert.deepEqual(Object.keys(entry).sort(), ['bytes', 'logprob', 'token']);
  }
  assert.deepEqual(
    completed.logprobs,
    SENTENCE.split(' ').map((word, index) => ({ token: ` ${word}`, logprob: -0.01 * (index + 1), bytes: [...Buffer.from(` ${word}`)] })),
  );
  await stillOpen(client);
  await client.close();
});

test('include logprobs with a recognizer that gives none is unsupported_feature naming session.include', async () => {
  const client = await connect(plainServer);
  client.send({ type: 'session.update', event_id: 'evt_logprobs', session: { type: 'realtime', include: [LOGPROBS] } });
  const error = await client.next('error');
  assert.deepEqual(
    { type: error.error.type, code: error.error.code, param: error.error.param, event_id: error.error.event_id },
    { type: 'invalid_request_error', code: 'unsupported_feature', param: 'session.include', event_id: 'evt_logprobs' },
  );
  assert.match(error.error.message, /scripted-transcriber gives no token log probabilities/);
  await stillOpen(client);
  await client.close();
});

test('an OpenAI-compatible upstream is asked for logprobs with include[]=logprobs and json, and they come back', async () => {
  const client = await connect(upstreamServer);
  await update(client, { include: [LOGPROBS], audio: { input: { turn_detection: null } } });
  const tone = new Int16Array(24 * 500).map((_, i) => Math.round(3000 * Math.sin(i / 8)));
  for (const audio of pcmFrames({ samples: tone, sampleRate: 24000 })) client.send({ type: 'input_audio_buffer.append', audio });
  client.send({ type: 'input_audio_buffer.commit' });
  const completed = await client.next('conversation.item.input_audio_transcription.completed', 10_000);
  assert.equal(completed.transcript, 'hello there');
  assert.deepEqual(completed.logprobs, [
    { token: 'hello', logprob: -0.25, bytes: [...Buffer.from('hello')] },
    { token: ' there', logprob: -0.5, bytes: [...Buffer.from(' there')] },
  ]);
  const upload = transcriptionUpstream.uploads.at(-1)!;
  assert.match(upload, /name="model"\r\n\r\ngpt-4o-transcribe\r\n/);
  assert.match(upload, /name="response_format"\r\n\r\njson\r\n/);
  assert.match(upload, /name="include\[\]"\r\n\r\nlogprobs\r\n/);
  await stillOpen(client);
  await client.close();
});

test('reasoning effort and parallel tool calls reach the chat upstream; one that refuses reasoning_effort is asked again without it', async () => {
  const client = await connect(upstreamServer);
  const tools = [{ type: 'function', name: 'lookup', description: 'Finds things.', parameters: { type: 'object', properties: {} } }];
  await update(client, {
    output_modalities: ['text'],
    reasoning: { effort: 'low' },
    parallel_tool_calls: false,
    tools,
    audio: { input: { turn_detection: null } },
  });
  client.send({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hello' }] } });
  let from = client.events.length;
  client.send({ type: 'response.create' });
  const first = await client.next('response.done', 10_000, from);
  assert.equal(first.response.status, 'completed');
  const sent = chat.requests.at(-1)!.body;
  assert.deepEqual([sent.reasoning_effort, sent.parallel_tool_calls], ['low', false]);

  await update(client, { model: 'chat-model-without-reasoning' });
  const before = chat.requests.length;
  from = client.events.length;
  client.send({ type: 'response.create' });
  const second = await client.next('response.done', 10_000, from);
  assert.equal(second.response.status, 'completed', JSON.stringify(second.response.status_details));
  const retried = chat.requests.slice(before).map((request) => 'reasoning_effort' in request.body);
  assert.deepEqual(retried, [true, false], 'refused once, then sent without it');
  await stillOpen(client);
  await client.close();
});

test('a diarize transcription model gives input_audio_transcription.segment events from DIAR_URL before the transcript', async () => {
  const client = await connect(diarizedServer);
  await update(client, { audio: { input: { transcription: { model: 'gpt-4o-transcribe-diarize' }, turn_detection: null } } });
  const audio = await recording(`${DIARIZED}.wav`);
  for (const frame of pcmFrames(audio, 100)) client.send({ type: 'input_audio_buffer.append', audio: frame });
  const from = client.events.length;
  client.send({ type: 'input_audio_buffer.commit' });
  const committed = await client.next('input_audio_buffer.committed', 5000, from);
  const completed = await client.next('conversation.item.input_audio_transcription.completed', 10_000, from);
  const segments = transcriptionEvents(client.events.slice(from), 'segment');

  assert.deepEqual(
    segments.map((event) => event.speaker),
    ['spk1', 'spk2', 'spk3'],
  );
  for (const segment of segments) {
    assert.deepEqual(Object.keys(segment).sort(), ['content_index', 'end', 'event_id', 'id', 'item_id', 'speaker', 'start', 'text', 'type']);
    assert.deepEqual([segment.item_id, segment.content_index], [committed.item_id, 0]);
    assert.match(segment.id, /^seg_/);
    assert.ok(segment.start >= 0 && segment.end > segment.start && segment.end <= 19.9, `${segment.start}–${segment.end} s`);
  }
  assert.equal(new Set(segments.map((segment) => segment.id)).size, 3, 'distinct ids');
  assert.ok(segments[0].end <= segments[1].start && segments[1].end <= segments[2].start, 'in time order');
  assert.equal(segments.map((segment) => segment.text).join(' '), DIARIZED_TEXT, 'the transcript, cut at the speaker changes');
  assert.ok(client.events.indexOf(segments[2]) < client.events.indexOf(completed), 'segments before the completed transcript');
  assert.equal(completed.transcript, DIARIZED_TEXT);

  const upload = diarizer.uploads.at(-1)!;
  assert.equal(upload.headers.authorization, 'Bearer diar-secret');
  const wav = upload.body.subarray(upload.body.indexOf('RIFF'));
  assert.ok(Math.abs(wav.readUInt32LE(40) / 32 - durationMs(audio)) < 50, 'the committed turn goes up as 16 kHz WAV');
  await stillOpen(client);
  await client.close();
});

test('a failing diarization is an error event naming the item; the transcript still completes', async () => {
  const client = await connect(diarizedServer);
  await update(client, { audio: { input: { transcription: { model: 'gpt-4o-transcribe-diarize' }, turn_detection: null } } });
  diarizer.fail = true;
  try {
    for (const frame of pcmFrames(await recording('en_harvard_birch_canoe.wav'), 100)) client.send({ type: 'input_audio_buffer.append', audio: frame });
    const from = client.events.length;
    client.send({ type: 'input_audio_buffer.commit' });
    const committed = await client.next('input_audio_buffer.committed', 5000, from);
    const completed = await client.next('conversation.item.input_audio_transcription.completed', 10_000, from);
    const error = client.events.slice(from).find((event) => event.type === 'error')!;
    assert.equal(error.error.code, 'upstream_error');
    assert.match(error.error.message, new RegExp(`speaker segments of item ${committed.item_id}: .*HTTP 500`));
    assert.equal(transcriptionEvents(client.events.slice(from), 'segment').length, 0);
    assert.equal(completed.item_id, committed.item_id);
  } finally {
    diarizer.fail = false;
  }
  await stillOpen(client);
  await client.close();
});

test('a diarize model without DIAR_URL is unsupported_feature naming the transcription model', async () => {
  const client = await connect(plainServer);
  client.send({
    type: 'session.update',
    event_id: 'evt_diarize',
    session: { type: 'realtime', audio: { input: { transcription: { model: 'gpt-4o-transcribe-diarize' } } } },
  });
  const error = await client.next('error');
  assert.deepEqual(
    { type: error.error.type, code: error.error.code, param: error.error.param, event_id: error.error.event_id },
    { type: 'invalid_request_error', code: 'unsupported_feature', param: 'session.audio.input.transcription.model', event_id: 'evt_diarize' },
  );
  assert.match(error.error.message, /DIAR_URL/);
  await stillOpen(client);
  await client.close();
});
