/**
 * /v1/realtime fails the way OpenAI's GA server fails, over a real socket: each refusal is an
 * `error` event with OpenAI's type, code and param and the client's event_id, the socket stays
 * open, and the next event works. Fields OpenAI defines that no engine here acts on are kept
 * and reported back; the ones an engine can use (transcription keywords and languages) reach
 * the recognizer.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { encodeBase64Audio } from '../../../src/audio/base64.ts';
import { ScriptedResponder } from '../../../src/providers/testing/scripted-responder.ts';
import { ScriptedSynthesizer } from '../../../src/providers/testing/scripted-synthesizer.ts';
import { ScriptedTranscriber } from '../../../src/providers/testing/scripted-transcriber.ts';
import { RealtimeClient, type WireEvent } from '../../e2e/realtime-harness.ts';
import { assembleProviders, startTestServer, type TestServer } from '../../helpers/server.ts';
import { rawUpgrade } from '../../helpers/raw-http.ts';

let server: TestServer;
const transcriber = new ScriptedTranscriber({ texts: 'hello there' });

before(async () => {
  server = await startTestServer(
    assembleProviders({
      transcriber,
      responder: new ScriptedResponder({ script: { text: 'A short spoken answer.' } }),
      synthesizer: new ScriptedSynthesizer(),
    }),
  );
});

after(async () => {
  await server?.close();
});

async function connect(query = '', headers: Record<string, string> = {}): Promise<RealtimeClient> {
  const client = await RealtimeClient.connect(`${server.realtimeUrl}${query}`, { headers });
  await client.next('session.created');
  return client;
}

let eventIds = 0;

/** Sends `event` with a fresh event_id; returns its error, after checking type, code, param and the echoed id. */
async function refused(client: RealtimeClient, event: Record<string, unknown>, code: string, param: string | null): Promise<WireEvent['error']> {
  const eventId = `evt_${++eventIds}`;
  const from = client.events.length;
  client.send({ ...event, event_id: eventId });
  const reply = await client.next((wire) => wire.type === 'error' || wire.type === 'session.updated', 5000, from);
  assert.equal(reply.type, 'error', `refused: ${JSON.stringify(event).slice(0, 120)}`);
  assert.deepEqual(
    { type: reply.error.type, code: reply.error.code, param: reply.error.param, event_id: reply.error.event_id },
    { type: 'invalid_request_error', code, param, event_id: eventId },
    reply.error.message,
  );
  assert.ok(reply.error.message.length > 10, `a message that says what is wrong: ${reply.error.message}`);
  return reply.error;
}

/** The socket is still open and the session still answers. */
async function stillWorks(client: RealtimeClient): Promise<void> {
  assert.equal(client.socket.readyState, client.socket.OPEN);
  const from = client.events.length;
  client.send({ type: 'input_audio_buffer.clear', event_id: 'still_here' });
  await client.next('input_audio_buffer.cleared', 5000, from);
}

async function updated(client: RealtimeClient, session: Record<string, unknown>): Promise<Record<string, any>> {
  const from = client.events.length;
  client.send({ type: 'session.update', session });
  const reply = await client.next((wire) => wire.type === 'error' || wire.type === 'session.updated', 5000, from);
  assert.equal(reply.type, 'session.updated', JSON.stringify(reply.error ?? {}));
  return reply.session;
}

const quietTone = (samples: number) => new Int16Array(samples).map((_, i) => Math.round(2000 * Math.sin(i / 10)));

// ── session.update validation ───────────────────────────────────────────────────────────

test('an unknown session field is unknown_parameter naming it, at any depth', async () => {
  const client = await connect();
  await refused(client, { type: 'session.update', session: { type: 'realtime', instructionz: 'Be brief.' } }, 'unknown_parameter', 'session.instructionz');
  const nested = await refused(
    client,
    { type: 'session.update', session: { type: 'realtime', audio: { input: { transcription: { model: 'whisper-1', enabled: true } } } } },
    'unknown_parameter',
    'session.audio.input.transcription.enabled',
  );
  assert.equal(nested.message, "Unknown parameter: 'session.audio.input.transcription.enabled'.");
  await refused(
    client,
    { type: 'session.update', session: { type: 'realtime', speechbridge: { moode: 'reply' } } },
    'unknown_parameter',
    'session.speechbridge.moode',
  );
  await stillWorks(client);
  await client.close();
});

test('our documented extensions stay accepted: speechbridge, the VAD knobs and 16 kHz PCM', async () => {
  const client = await connect();
  const session = await updated(client, {
    type: 'realtime',
    audio: {
      input: {
        format: { type: 'audio/pcm', rate: 16000 },
        turn_detection: { type: 'server_vad', aggressiveness: 3, start_ms: 80, end_ms: 700, pad_ms: 200, max_ms: 9000 },
      },
    },
    speechbridge: { mode: 'reply', interim_transcripts: true, interim_passes: 'on', turn_timings: true },
  });
  assert.deepEqual(session.audio.input.format, { type: 'audio/pcm', rate: 16000 });
  assert.deepEqual([session.audio.input.turn_detection.aggressiveness, session.audio.input.turn_detection.silence_duration_ms], [3, 700]);
  assert.deepEqual(session.speechbridge, { mode: 'reply', interim_transcripts: true, interim_passes: 'on', turn_timings: true });
  await client.close();
});

test('a beta field in a GA session is unknown_parameter, naming the GA field to use', async () => {
  const client = await connect();
  const modalities = await refused(
    client,
    { type: 'session.update', session: { type: 'realtime', modalities: ['text'] } },
    'unknown_parameter',
    'session.modalities',
  );
  assert.match(modalities.message, /session\.output_modalities/);
  await refused(
    client,
    { type: 'session.update', session: { type: 'realtime', input_audio_format: 'g711_ulaw' } },
    'unknown_parameter',
    'session.input_audio_format',
  );
  const voice = await refused(client, { type: 'session.update', session: { type: 'realtime', voice: 'verse' } }, 'unknown_parameter', 'session.voice');
  assert.match(voice.message, /session\.audio\.output\.voice/);
  // The refused updates changed nothing: the input format is still PCM.
  const session = await updated(client, { type: 'realtime' });
  assert.deepEqual(session.audio.input.format, { type: 'audio/pcm', rate: 24000 });
  await stillWorks(client);
  await client.close();
});

test('a GA session.update without session.type is missing_required_parameter', async () => {
  const client = await connect();
  const error = await refused(client, { type: 'session.update', session: { instructions: 'Be brief.' } }, 'missing_required_parameter', 'session.type');
  assert.match(error.message, /Missing required parameter: 'session\.type'/);
  await stillWorks(client);
  await client.close();
});

test('bad enum values are invalid_value: truncation, include items, both output modalities at once', async () => {
  const client = await connect();
  await refused(client, { type: 'session.update', session: { type: 'realtime', truncation: 'sometimes' } }, 'invalid_value', 'session.truncation');
  await refused(
    client,
    { type: 'session.update', session: { type: 'realtime', include: ['item.input_audio_transcription.words'] } },
    'invalid_value',
    'session.include[0]',
  );
  const both = await refused(
    client,
    { type: 'session.update', session: { type: 'realtime', output_modalities: ['text', 'audio'] } },
    'invalid_value',
    'session.output_modalities',
  );
  assert.match(both.message, /both at once/);
  await refused(client, { type: 'response.create', response: { output_modalities: ['text', 'audio'] } }, 'invalid_value', 'response.output_modalities');
  await stillWorks(client);
  await client.close();
});

test('a session stays the type it opened as: realtime ↔ transcription is refused both ways', async () => {
  const realtime = await connect();
  const toTranscription = await refused(realtime, { type: 'session.update', session: { type: 'transcription' } }, 'invalid_value', 'session.type');
  assert.match(toTranscription.message, /intent=transcription/);
  await stillWorks(realtime);
  await realtime.close();

  const transcription = await connect('?intent=transcription');
  await refused(transcription, { type: 'session.update', session: { type: 'realtime' } }, 'invalid_value', 'session.type');
  // A GA transcription session has no conversation fields.
  await refused(
    transcription,
    { type: 'session.update', session: { type: 'transcription', instructions: 'Talk.' } },
    'unknown_parameter',
    'session.instructions',
  );
  assert.equal((await updated(transcription, { type: 'transcription' })).type, 'transcription');
  await transcription.close();
});

test('the voice can change until the session has spoken; then a new voice is cannot_update_voice', async () => {
  const client = await connect();
  assert.equal((await updated(client, { type: 'realtime', audio: { output: { voice: 'coral' } } })).audio.output.voice, 'coral');
  client.send({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Say something.' }] } });
  client.send({ type: 'response.create' });
  await client.next('response.output_audio.delta');
  await client.next('response.done');
  const error = await refused(
    client,
    { type: 'session.update', session: { type: 'realtime', audio: { output: { voice: 'verse' } } } },
    'cannot_update_voice',
    'session.audio.output.voice',
  );
  assert.match(error.message, /coral/);
  // The voice it has is no change, and the rest of an update still applies.
  const session = await updated(client, { type: 'realtime', instructions: 'Still here.', audio: { output: { voice: 'coral' } } });
  assert.deepEqual([session.instructions, session.audio.output.voice], ['Still here.', 'coral']);
  await client.close();
});

test('session.model is always there: the model asked for by ?model= or session.model, else the configured one', async () => {
  const asked = await connect('?model=gpt-realtime');
  assert.equal(asked.events[0].session.model, 'gpt-realtime');
  assert.equal((await updated(asked, { type: 'realtime', model: 'llama3.1:8b' })).model, 'llama3.1:8b');
  await asked.close();
  // No LLM model is configured here (the scripted responder), so the gateway names its own pipeline.
  const plain = await connect();
  assert.equal(plain.events[0].session.model, 'speechbridge');
  await plain.close();
});

// ── Fields kept, reported back and passed on ───────────────────────────────────────────

test('reasoning, parallel_tool_calls, keywords, languages and noise strength are reported back as set', async () => {
  const client = await connect();
  const session = await updated(client, {
    type: 'realtime',
    reasoning: { effort: 'low' },
    parallel_tool_calls: false,
    audio: {
      input: {
        noise_reduction: { type: 'far_field', strength: 0.4 },
        transcription: { model: 'whisper-1', prompt: 'A call about deliveries.', keywords: ['Zanzibar', 'parcel locker'], languages: ['de'] },
      },
    },
  });
  assert.deepEqual(session.reasoning, { effort: 'low' });
  assert.equal(session.parallel_tool_calls, false);
  assert.deepEqual(session.audio.input.noise_reduction, { type: 'far_field', strength: 0.4 });
  assert.deepEqual(session.audio.input.transcription, {
    model: 'whisper-1',
    prompt: 'A call about deliveries.',
    keywords: ['Zanzibar', 'parcel locker'],
    languages: ['de'],
  });
  await refused(
    client,
    { type: 'session.update', session: { type: 'realtime', reasoning: { effort: 'extreme' } } },
    'invalid_value',
    'session.reasoning.effort',
  );
  await refused(
    client,
    { type: 'session.update', session: { type: 'realtime', audio: { input: { transcription: { language: 'fr', languages: ['de', 'en'] } } } } },
    'invalid_value',
    'session.audio.input.transcription.language',
  );
  // A refused update leaves what was reported as it was.
  assert.deepEqual((await updated(client, { type: 'realtime' })).reasoning, { effort: 'low' });
  await client.close();
});

test('keywords reach the recognizer in its prompt, and a single entry of languages as its language hint', async () => {
  const client = await connect();
  await updated(client, {
    type: 'realtime',
    audio: {
      input: {
        turn_detection: null,
        transcription: { prompt: 'A call about deliveries.', keywords: ['Zanzibar', 'parcel locker'], languages: ['de'] },
      },
    },
  });
  const calls = transcriber.calls.length;
  const tone = quietTone(4800);
  for (let start = 0; start < tone.length; start += 480)
    client.send({ type: 'input_audio_buffer.append', audio: encodeBase64Audio(tone.subarray(start, start + 480), 'pcm16') });
  client.send({ type: 'input_audio_buffer.commit' });
  await client.next('conversation.item.input_audio_transcription.completed');
  const call = transcriber.calls[calls];
  assert.equal(call.options.prompt, 'A call about deliveries. Zanzibar, parcel locker.');
  assert.equal(call.options.language, 'de');
  await client.close();
});

// ── Error codes as OpenAI's ─────────────────────────────────────────────────────────────

test('an unknown event type and bad base64 are invalid_value naming the field', async () => {
  const client = await connect();
  const unknown = await refused(client, { type: 'conversation.item.explode' }, 'invalid_value', 'type');
  assert.match(unknown.message, /Supported values are: 'session\.update'/);
  await refused(client, { type: 'input_audio_buffer.append', audio: 'not base64!' }, 'invalid_value', 'audio');
  await refused(client, { type: 'input_audio_buffer.append', audio: 'AAAA' }, 'invalid_value', 'audio');
  await stillWorks(client);
  await client.close();
});

test('retrieve, delete and truncate of an unknown item each have OpenAI’s code', async () => {
  const client = await connect();
  await refused(client, { type: 'conversation.item.retrieve', item_id: 'item_nope' }, 'item_retrieve_invalid_item_id', 'item_id');
  await refused(client, { type: 'conversation.item.delete', item_id: 'item_nope' }, 'item_delete_invalid_item_id', 'item_id');
  await refused(
    client,
    { type: 'conversation.item.truncate', item_id: 'item_nope', content_index: 0, audio_end_ms: 10 },
    'item_truncate_invalid_item_id',
    'item_id',
  );
  await stillWorks(client);
  await client.close();
});

test('response.cancel with no response in progress is response_cancel_not_active', async () => {
  const client = await connect();
  await refused(client, { type: 'response.cancel' }, 'response_cancel_not_active', null);
  await stillWorks(client);
  await client.close();
});

test('a binary frame is invalid_event and is not read, even when it holds a valid event', async () => {
  const client = await connect();
  const from = client.events.length;
  client.socket.send(Buffer.from(JSON.stringify({ type: 'session.update', event_id: 'in_binary', session: { type: 'realtime', instructions: 'Smuggled.' } })), {
    binary: true,
  });
  const error = await client.next('error', 5000, from);
  assert.deepEqual(
    [error.error.type, error.error.code, error.error.param, error.error.event_id],
    ['invalid_request_error', 'invalid_event', null, 'in_binary'],
  );
  client.socket.send(Buffer.from([0xff, 0x00, 0x7b]), { binary: true });
  const garbage = await client.next((event) => event.type === 'error' && client.events.indexOf(event) > client.events.indexOf(error));
  assert.deepEqual([garbage.error.code, garbage.error.event_id], ['invalid_event', null]);
  assert.notEqual((await updated(client, { type: 'realtime' })).instructions, 'Smuggled.');
  assert.equal(client.types().filter((type) => type === 'session.updated').length, 1, 'the binary update was never applied');
  await stillWorks(client);
  await client.close();
});

test('previous_item_id "root" inserts at the beginning; null appends', async () => {
  const client = await connect();
  const text = (value: string) => ({ type: 'message', role: 'user', content: [{ type: 'input_text', text: value }] });
  client.send({ type: 'conversation.item.create', item: { id: 'item_first', ...text('first') } });
  const first = await client.next((event) => event.type === 'conversation.item.added' && event.item.id === 'item_first');
  client.send({ type: 'conversation.item.create', previous_item_id: 'root', item: { id: 'item_root', ...text('at the start') } });
  const root = await client.next((event) => event.type === 'conversation.item.added' && event.item.id === 'item_root');
  client.send({ type: 'conversation.item.create', previous_item_id: null, item: { id: 'item_last', ...text('at the end') } });
  const last = await client.next((event) => event.type === 'conversation.item.added' && event.item.id === 'item_last');
  assert.deepEqual([first.previous_item_id, root.previous_item_id, last.previous_item_id], [null, null, 'item_first']);
  await client.close();
});

test('?call_id= is refused at the upgrade, not answered with an unrelated fresh session', async () => {
  const response = await rawUpgrade(Number(new URL(server.url).port), '/v1/realtime?call_id=rtc_123');
  assert.equal(response.status, 404);
  const body = JSON.parse(response.body) as { error: { code: string; param: string; message: string } };
  assert.deepEqual([body.error.code, body.error.param], ['not_found', 'call_id']);
  assert.match(body.error.message, /rtc_123.*no WebRTC or SIP calls/);
  await assert.rejects(RealtimeClient.connect(`${server.realtimeUrl}?call_id=rtc_123`), /HTTP 404/);
});

// ── Beta dialect, images and MCP ────────────────────────────────────────────────────────

test('beta session.created reports modalities ["text","audio"] and a model', async () => {
  const client = await connect('?model=gpt-4o-realtime-preview', { 'OpenAI-Beta': 'realtime=v1' });
  const created = client.events[0];
  assert.deepEqual([created.session.modalities, created.session.model], [['text', 'audio'], 'gpt-4o-realtime-preview']);
  // Beta spellings, and no session.type, are what a beta session takes.
  const session = await updated(client, { modalities: ['text'], voice: 'verse' });
  assert.deepEqual([session.modalities, session.voice], [['text'], 'verse']);
  await client.close();
});

test('an input_image content part is unsupported_content naming the part', async () => {
  const client = await connect();
  const item = {
    type: 'message',
    role: 'user',
    content: [
      { type: 'input_text', text: 'What is this?' },
      { type: 'input_image', image_url: 'data:image/png;base64,AAAA' },
    ],
  };
  await refused(client, { type: 'conversation.item.create', item }, 'unsupported_content', 'item.content[1].type');
  await refused(client, { type: 'response.create', response: { input: [item] } }, 'unsupported_content', 'response.input[0].content[1].type');
  await stillWorks(client);
  await client.close();
});

test('an MCP tool, or a tool choice naming one, is unsupported_tool_type', async () => {
  const client = await connect();
  const mcp = { type: 'mcp', server_label: 'docs', server_url: 'https://example.com/mcp' };
  await refused(client, { type: 'session.update', session: { type: 'realtime', tools: [mcp] } }, 'unsupported_tool_type', 'session.tools[0].type');
  await refused(
    client,
    { type: 'session.update', session: { type: 'realtime', tool_choice: { type: 'mcp', server_label: 'docs', name: 'search' } } },
    'unsupported_tool_type',
    'session.tool_choice.type',
  );
  await refused(
    client,
    { type: 'response.create', response: { tools: [{ type: 'function', name: 'ok' }, mcp] } },
    'unsupported_tool_type',
    'response.tools[1].type',
  );
  await stillWorks(client);
  await client.close();
});
