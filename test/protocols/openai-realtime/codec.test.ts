import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeBase64Audio } from '../../../src/audio/base64.ts';
import { muLawDecode, muLawEncode } from '../../../src/audio/g711.ts';
import type { ConversationItem, EngineEvent, EngineInput, ResponseInfo, SessionConfig } from '../../../src/engine/events.ts';
import { RealtimeCodec, type ServerEvent } from '../../../src/protocols/openai-realtime/codec.ts';

// The agents SDK's own server-event schemas: an event they do not parse is silently dropped by it.
const agentsEvents = (await import(new URL('../../../node_modules/@openai/agents-realtime/dist/openaiRealtimeEvents.mjs', import.meta.url).href)) as {
  parseRealtimeEvent(message: { data: string }): { data: { type: string } | null; isGeneric: boolean };
};

function codec(dialect: 'ga' | 'beta' = 'ga', kind: 'conversation' | 'transcription' = 'conversation'): RealtimeCodec {
  return new RealtimeCodec({ dialect, kind, expiresAtMs: Date.UTC(2030, 0, 1) });
}

function input(result: ReturnType<RealtimeCodec['decode']>): EngineInput {
  assert.equal(result.type, 'input', result.type === 'error' ? JSON.stringify(result.event) : '');
  return (result as { input: EngineInput }).input;
}

function wireError(result: ReturnType<RealtimeCodec['decode']>): {
  type: string;
  code: string;
  message: string;
  param: string | null;
  event_id: string | null;
} {
  assert.equal(result.type, 'error', 'expected an error event');
  const event = (result as { event: ServerEvent }).event;
  assert.equal(event.type, 'error');
  assert.match(event.event_id, /^event_/);
  return event.error as never;
}

const config: SessionConfig = {
  kind: 'conversation',
  model: 'llama3',
  instructions: 'Be brief.',
  outputModalities: ['audio'],
  mode: 'reply',
  voice: 'alloy',
  speed: 1,
  inputSampleRate: 24000,
  outputSampleRate: 24000,
  interimTranscripts: false,
  interimDeltas: true,
  transcriptLogprobs: false,
  interimPasses: 'auto',
  turnTimings: false,
  turnDetection: {
    type: 'server_vad',
    engine: 'webrtc',
    aggressiveness: 2,
    threshold: 0.5,
    startMs: 120,
    endMs: 450,
    padMs: 180,
    maxMs: 5000,
    createResponse: true,
    interruptResponse: true,
    idleTimeoutMs: null,
  },
  transcription: { model: 'whisper-1', language: 'en' },
  tools: [],
  toolChoice: 'auto',
  maxOutputTokens: null,
};

const assistantItem: ConversationItem = {
  id: 'item_a',
  type: 'message',
  role: 'assistant',
  status: 'completed',
  content: [{ type: 'output_audio', transcript: 'Hello there.' }],
};

function response(status: ResponseInfo['status'], statusDetails: ResponseInfo['statusDetails'] = null): ResponseInfo {
  return {
    id: 'resp_1',
    status,
    statusDetails,
    output: [assistantItem],
    outputModalities: ['audio'],
    inConversation: true,
    metadata: null,
    usage: { inputTokens: 3, outputTokens: 2, inputTextTokens: 3, inputAudioTokens: 0, outputTextTokens: 2, outputAudioTokens: 0 },
    voice: 'alloy',
    maxOutputTokens: null,
    answersItemId: null,
  };
}

const ref = { responseId: 'resp_1', itemId: 'item_a', outputIndex: 0, contentIndex: 0 };

/** One engine event of every kind a response produces. */
const responseEvents: EngineEvent[] = [
  { type: 'response.created', response: response('in_progress') },
  { type: 'item.added', item: { ...assistantItem, status: 'in_progress', content: [] }, previousItemId: 'item_u' },
  { type: 'output_item.added', responseId: 'resp_1', outputIndex: 0, item: { ...assistantItem, status: 'in_progress', content: [] } },
  { type: 'content_part.added', part: { type: 'output_audio', transcript: '' }, ...ref },
  { type: 'audio_transcript.delta', delta: 'Hello', ...ref },
  { type: 'audio.delta', audio: new Int16Array([1, -2, 300]), ...ref },
  { type: 'audio.done', ...ref },
  { type: 'audio_transcript.done', transcript: 'Hello there.', ...ref },
  { type: 'content_part.done', part: { type: 'output_audio', transcript: 'Hello there.' }, ...ref },
  { type: 'text.delta', delta: 'Hi', ...ref },
  { type: 'text.done', text: 'Hi', ...ref },
  { type: 'function_call.arguments.delta', responseId: 'resp_1', itemId: 'item_f', outputIndex: 1, callId: 'call_1', delta: '{"a"' },
  { type: 'function_call.arguments.done', responseId: 'resp_1', itemId: 'item_f', outputIndex: 1, callId: 'call_1', name: 'lookup', arguments: '{"a":1}' },
  { type: 'output_item.done', responseId: 'resp_1', outputIndex: 0, item: assistantItem },
  { type: 'item.done', item: assistantItem, previousItemId: 'item_u' },
  { type: 'response.done', response: response('completed') },
];

/** One engine event of every kind outside responses. */
const sessionEvents: EngineEvent[] = [
  { type: 'session.updated', session: config },
  { type: 'speech.started', audioStartMs: 120, speechStartMs: 420, itemId: 'item_u' },
  { type: 'speech.stopped', audioEndMs: 980, speechEndMs: 480, itemId: 'item_u' },
  { type: 'input.committed', itemId: 'item_u', previousItemId: null },
  { type: 'input.cleared' },
  { type: 'item.retrieved', item: { id: 'item_u', type: 'message', role: 'user', status: 'completed', content: [{ type: 'input_audio', transcript: null }] } },
  { type: 'item.deleted', itemId: 'item_u' },
  { type: 'item.truncated', itemId: 'item_a', contentIndex: 0, audioEndMs: 300 },
  { type: 'transcript.interim', itemId: 'item_u', text: 'hello wor' },
  { type: 'transcript.delta', itemId: 'item_u', contentIndex: 0, delta: 'hel' },
  { type: 'transcript.completed', itemId: 'item_u', contentIndex: 0, transcript: 'hello', audioMs: 860 },
  { type: 'transcript.failed', itemId: 'item_u', contentIndex: 0, error: { code: 'engine_failed', message: 'boom' } },
  { type: 'error', code: 'item_not_found', message: 'no item', param: 'item_id', eventId: 'client_7' },
];

// ── Client events → engine inputs ───────────────────────────────────────────────────────

test('a GA session.update maps every field onto the engine update and switches the input format', () => {
  const realtime = codec();
  const update = input(
    realtime.decode(
      JSON.stringify({
        type: 'session.update',
        event_id: 'client_1',
        session: {
          type: 'realtime',
          model: 'llama3:8b',
          instructions: 'Speak French.',
          output_modalities: ['text'],
          audio: {
            input: {
              format: { type: 'audio/pcmu' },
              transcription: { model: 'whisper-1', language: 'fr', prompt: 'bonjour' },
              noise_reduction: { type: 'near_field' },
              turn_detection: {
                type: 'server_vad',
                threshold: 0.7,
                prefix_padding_ms: 250,
                silence_duration_ms: 600,
                create_response: false,
                interrupt_response: false,
                idle_timeout_ms: 6000,
                max_ms: 8000,
                start_ms: 80,
              },
            },
            output: { format: { type: 'audio/pcm', rate: 24000 }, voice: { id: 'voice_x' }, speed: 1.25 },
          },
          tools: [{ type: 'function', name: 'lookup', description: 'Finds things.', parameters: { type: 'object' } }],
          tool_choice: { type: 'function', name: 'lookup' },
          max_output_tokens: 'inf',
          tracing: 'auto',
          include: ['item.input_audio_transcription.logprobs'],
          truncation: 'auto',
          speechbridge: { mode: 'translate', target_language: 'de', interim_transcripts: true },
        },
      }),
    ),
  );
  assert.deepEqual(update, {
    type: 'session.update',
    eventId: 'client_1',
    session: {
      kind: 'conversation',
      model: 'llama3:8b',
      instructions: 'Speak French.',
      outputModalities: ['text'],
      inputSampleRate: 8000,
      outputSampleRate: 24000,
      voice: 'voice_x',
      speed: 1.25,
      maxOutputTokens: null,
      tools: [{ type: 'function', name: 'lookup', description: 'Finds things.', parameters: { type: 'object' } }],
      toolChoice: { type: 'function', name: 'lookup' },
      mode: 'translate',
      targetLanguage: 'de',
      interimTranscripts: true,
      interimDeltas: false,
      transcriptLogprobs: true,
      transcription: { model: 'whisper-1', language: 'fr', prompt: 'bonjour' },
      turnDetection: {
        type: 'server_vad',
        threshold: 0.7,
        startMs: 80,
        endMs: 600,
        padMs: 250,
        maxMs: 8000,
        createResponse: false,
        interruptResponse: false,
        idleTimeoutMs: 6000,
      },
    },
  });
  assert.deepEqual(realtime.inputFormat, { encoding: 'g711_ulaw', sampleRate: 8000 });
  // The echoed fields come back in the session object as the client set them.
  const [created] = realtime.sessionCreated({ ...config, inputSampleRate: 8000 });
  const session = created.session as Record<string, unknown>;
  assert.equal(session.tracing, 'auto');
  assert.deepEqual(session.include, ['item.input_audio_transcription.logprobs']);
  assert.deepEqual((session.audio as { input: { noise_reduction: unknown } }).input.noise_reduction, { type: 'near_field' });
  assert.equal(session.model, 'llama3:8b', 'the model the client asked for');
});

test('a beta session.update maps the beta spellings onto the same engine fields', () => {
  const update = input(
    codec('beta').decode(
      JSON.stringify({
        type: 'session.update',
        session: {
          modalities: ['text', 'audio'],
          voice: 'verse',
          input_audio_format: 'g711_alaw',
          output_audio_format: 'g711_ulaw',
          input_audio_transcription: null,
          turn_detection: { type: 'semantic_vad', eagerness: 'high' },
          temperature: 0.6,
          max_response_output_tokens: 300,
        },
      }),
    ),
  );
  assert.deepEqual(update, {
    type: 'session.update',
    eventId: undefined,
    session: {
      outputModalities: ['text', 'audio'],
      voice: 'verse',
      inputSampleRate: 8000,
      outputSampleRate: 8000,
      temperature: 0.6,
      maxOutputTokens: 300,
      transcription: {},
      turnDetection: { type: 'semantic_vad', eagerness: 'high' },
    },
  });
});

test('session.type and the beta transcription_session.update name the session kind, which stays what the session opened as', () => {
  const transcription = codec('ga', 'transcription');
  assert.deepEqual(input(transcription.decode('{"type":"session.update","session":{"type":"transcription"}}')), {
    type: 'session.update',
    eventId: undefined,
    session: { kind: 'transcription' },
  });
  transcription.encode({ type: 'session.updated', session: { ...config, kind: 'transcription' } });
  assert.equal(transcription.kind, 'transcription');
  const switched = wireError(codec('ga').decode('{"type":"session.update","event_id":"s1","session":{"type":"transcription"}}'));
  assert.deepEqual([switched.code, switched.param, switched.event_id], ['invalid_value', 'session.type', 's1']);
  assert.match(switched.message, /realtime session and stays one.*intent=transcription/);
  const back = wireError(transcription.decode('{"type":"session.update","session":{"type":"realtime"}}'));
  assert.deepEqual([back.code, back.param], ['invalid_value', 'session.type']);
  const beta = codec('beta', 'transcription');
  const update = input(
    beta.decode('{"type":"transcription_session.update","session":{"input_audio_format":"g711_ulaw","input_audio_transcription":{"language":"en"}}}'),
  );
  assert.deepEqual(update, {
    type: 'session.update',
    eventId: undefined,
    session: { kind: 'transcription', inputSampleRate: 8000, transcription: { language: 'en' } },
  });
  const [updated] = beta.encode({ type: 'session.updated', session: { ...config, kind: 'transcription', inputSampleRate: 8000 } });
  assert.equal(updated.type, 'transcription_session.updated');
  assert.equal((updated.session as { input_audio_format: string }).input_audio_format, 'g711_ulaw');
});

test('turn_detection null turns detection off, and OpenAI speech-model names do not replace the LLM model', () => {
  const realtime = codec();
  const update = input(
    realtime.decode(
      JSON.stringify({ type: 'session.update', session: { type: 'realtime', model: 'gpt-realtime-2.1', audio: { input: { turn_detection: null } } } }),
    ),
  );
  assert.deepEqual(update, { type: 'session.update', eventId: undefined, session: { kind: 'conversation', turnDetection: null } });
  // The speech model's name is still what the session reports as its model, once the engine took the update.
  const [updated] = realtime.encode({ type: 'session.updated', session: config });
  assert.equal((updated.session as { model: string }).model, 'gpt-realtime-2.1');
});

test('appended audio decodes as PCM16 by default and as μ-law to 8 kHz after the format changes', () => {
  const realtime = codec();
  const samples = new Int16Array([0, 1000, -1000, 32767, -32768]);
  const pcm = input(realtime.decode(JSON.stringify({ type: 'input_audio_buffer.append', audio: encodeBase64Audio(samples, 'pcm16') })));
  assert.deepEqual(pcm, { type: 'audio.append', eventId: undefined, audio: samples });

  input(
    realtime.decode(
      JSON.stringify({ type: 'session.update', event_id: 'fmt', session: { type: 'realtime', audio: { input: { format: { type: 'audio/pcmu' } } } } }),
    ),
  );
  const codes = muLawEncode(samples);
  const ulaw = input(realtime.decode(JSON.stringify({ type: 'input_audio_buffer.append', audio: Buffer.from(codes).toString('base64') })));
  assert.deepEqual((ulaw as { audio: Int16Array }).audio, muLawDecode(codes));
});

test('a refused session.update restores the previous audio format', () => {
  const realtime = codec();
  input(
    realtime.decode(
      JSON.stringify({
        type: 'session.update',
        event_id: 'fmt',
        session: { type: 'realtime', audio: { input: { format: { type: 'audio/pcmu' } }, output: { voice: 'nobody' } } },
      }),
    ),
  );
  assert.equal(realtime.inputFormat.encoding, 'g711_ulaw');
  realtime.handled({ accepted: false, error: { code: 'unknown_voice', message: 'no voice nobody', param: 'session.voice' } });
  assert.deepEqual(realtime.inputFormat, { encoding: 'pcm16', sampleRate: 24000 });
});

test('conversation items, truncation and responses map to engine inputs', () => {
  const realtime = codec();
  assert.deepEqual(
    input(
      realtime.decode(
        JSON.stringify({
          type: 'conversation.item.create',
          event_id: 'c1',
          previous_item_id: 'item_0',
          item: {
            type: 'message',
            role: 'user',
            content: [
              { type: 'input_text', text: 'hi' },
              { type: 'input_audio', audio: 'AAABAA==', transcript: 'x' },
            ],
          },
        }),
      ),
    ),
    {
      type: 'item.create',
      eventId: 'c1',
      previousItemId: 'item_0',
      item: {
        type: 'message',
        role: 'user',
        content: [
          { type: 'input_text', text: 'hi' },
          { type: 'input_audio', audio: new Int16Array([0, 1]), transcript: 'x' },
        ],
      },
    },
  );
  assert.deepEqual(
    input(
      realtime.decode(JSON.stringify({ type: 'conversation.item.create', item: { type: 'function_call_output', call_id: 'call_1', output: '{"ok":true}' } })),
    ),
    {
      type: 'item.create',
      eventId: undefined,
      item: { type: 'function_call_output', callId: 'call_1', output: '{"ok":true}' },
    },
  );
  assert.deepEqual(input(realtime.decode(JSON.stringify({ type: 'conversation.item.truncate', item_id: 'item_a', content_index: 0, audio_end_ms: 1500 }))), {
    type: 'item.truncate',
    eventId: undefined,
    itemId: 'item_a',
    contentIndex: 0,
    audioEndMs: 1500,
  });
  assert.deepEqual(
    input(
      realtime.decode(
        JSON.stringify({
          type: 'response.create',
          response: {
            instructions: 'Shout.',
            output_modalities: ['text'],
            conversation: 'none',
            input: [
              { type: 'item_reference', id: 'item_0' },
              { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'again' }] },
            ],
            metadata: { topic: 'test' },
            max_output_tokens: 50,
            audio: { output: { voice: 'echo' } },
          },
        }),
      ),
    ),
    {
      type: 'response.create',
      eventId: undefined,
      response: {
        instructions: 'Shout.',
        outputModalities: ['text'],
        inConversation: false,
        input: [
          { type: 'item_reference', id: 'item_0' },
          { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'again' }] },
        ],
        voice: 'echo',
        maxOutputTokens: 50,
        metadata: { topic: 'test' },
      },
    },
  );
  assert.deepEqual(input(realtime.decode('{"type":"response.cancel","response_id":"resp_9"}')), {
    type: 'response.cancel',
    eventId: undefined,
    responseId: 'resp_9',
  });
  assert.deepEqual(input(realtime.decode('{"type":"input_audio_buffer.commit","event_id":"e"}')), { type: 'audio.commit', eventId: 'e' });
});

test('bad client events become error events naming the code, the field and the client event id', () => {
  const realtime = codec();
  const cases: Array<[string, string, string | null, string | null]> = [
    ['{"type": "session.update",', 'invalid_json', null, null],
    ['[1,2]', 'invalid_value', 'type', null],
    ['{"type":"session.teleport","event_id":"e1"}', 'invalid_value', 'type', 'e1'],
    ['{"type":"conversation.item.delete","event_id":"e2"}', 'invalid_value', 'item_id', 'e2'],
    [
      '{"type":"session.update","event_id":"e3","session":{"audio":{"input":{"turn_detection":{"type":"server_vad","silence_duration_ms":"long"}}}}}',
      'invalid_value',
      'session.audio.input.turn_detection.silence_duration_ms',
      'e3',
    ],
    [
      '{"type":"session.update","session":{"type":"realtime","tools":[{"type":"mcp","server_label":"x"}]}}',
      'unsupported_tool_type',
      'session.tools[0].type',
      null,
    ],
    ['{"type":"session.update","session":{"type":"realtime","tools":[{"type":"web_search","name":"x"}]}}', 'invalid_value', 'session.tools[0].type', null],
    ['{"type":"input_audio_buffer.append","event_id":"e4","audio":"not base64!"}', 'invalid_value', 'audio', 'e4'],
    ['{"type":"input_audio_buffer.append","event_id":"e5","audio":"AAAA"}', 'invalid_value', 'audio', 'e5'],
    [
      '{"type":"conversation.item.create","item":{"type":"message","role":"assistant","content":[{"type":"input_audio","audio":"AAAA"}]}}',
      'invalid_value',
      'item.content[0].type',
      null,
    ],
  ];
  for (const [message, code, param, eventId] of cases) {
    const error = wireError(realtime.decode(message));
    assert.deepEqual([error.code, error.param, error.event_id], [code, param, eventId], message);
    assert.equal(error.type, 'invalid_request_error');
    assert.ok(error.message.length > 10, `a message that says what is wrong: ${error.message}`);
  }
  // The odd byte count is named in the message.
  assert.match(wireError(realtime.decode('{"type":"input_audio_buffer.append","audio":"AAAA"}')).message, /2 bytes|even/);
});

// ── Engine events → server events ───────────────────────────────────────────────────────

test('every GA server event carries an event_id and parses in the agents SDK without being dropped', () => {
  const realtime = codec();
  const wire = [...realtime.sessionCreated(config), ...[...sessionEvents, ...responseEvents].flatMap((event) => realtime.encode(event))];
  const ids = new Set(wire.map((event) => event.event_id));
  assert.equal(ids.size, wire.length, 'event ids are unique');
  // The partial transcript is speechbridge's own event, sent only to sessions that ask for it.
  for (const event of wire.filter((event) => event.type !== 'conversation.item.input_audio_transcription.partial')) {
    const parsed = agentsEvents.parseRealtimeEvent({ data: JSON.stringify(event) });
    assert.equal(parsed.isGeneric, false, `the agents SDK drops ${event.type}: ${JSON.stringify(event).slice(0, 300)}`);
  }
  assert.deepEqual(wire.map((event) => event.type).slice(0, 3), ['session.created', 'conversation.created', 'session.updated']);
  assert.ok(wire.some((event) => event.type === 'rate_limits.updated'));
});

test('interim transcripts: the speechbridge session flag, and the whole text so far as a partial event', () => {
  const realtime = codec();
  const [partial] = realtime.encode({ type: 'transcript.interim', itemId: 'item_u', text: 'turn on the' });
  assert.deepEqual(partial, {
    type: 'conversation.item.input_audio_transcription.partial',
    event_id: partial.event_id,
    item_id: 'item_u',
    content_index: 0,
    transcript: 'turn on the',
  });
  const [created] = realtime.sessionCreated({ ...config, interimTranscripts: true });
  assert.deepEqual((created.session as { speechbridge: unknown }).speechbridge, {
    mode: 'reply',
    interim_transcripts: true,
    interim_passes: 'auto',
    turn_timings: false,
  });
  const refused = wireError(
    realtime.decode(JSON.stringify({ type: 'session.update', event_id: 'c9', session: { speechbridge: { interim_transcripts: 'yes' } } })),
  );
  assert.equal(refused.param, 'session.speechbridge.interim_transcripts');
  const badPasses = wireError(
    realtime.decode(JSON.stringify({ type: 'session.update', event_id: 'c10', session: { speechbridge: { interim_passes: 'sometimes' } } })),
  );
  assert.equal(badPasses.param, 'session.speechbridge.interim_passes');
});

test('turn timings go out as speechbridge.turn.timings only to a session that asked (speechbridge.turn_timings)', () => {
  const timings: EngineEvent = {
    type: 'turn.timings',
    timings: { itemId: 'item_u', responseId: 'resp_1', transcriptionMs: 312.4, firstTokenMs: 40.6, firstAudioMs: null, totalMs: 380.2 },
  };
  for (const dialect of ['ga', 'beta'] as const) {
    const realtime = codec(dialect);
    realtime.sessionCreated(config);
    assert.deepEqual(realtime.encode(timings), [], `a ${dialect} session that did not ask gets nothing`);

    const update = realtime.decode(JSON.stringify({ type: 'session.update', session: { type: 'realtime', speechbridge: { turn_timings: true } } }));
    assert.equal(update.type, 'input');
    assert.deepEqual((update as { input: { session: unknown } }).input.session, { kind: 'conversation', turnTimings: true });
    const [updated] = realtime.encode({ type: 'session.updated', session: { ...config, turnTimings: true } });
    assert.equal((updated.session as { speechbridge: { turn_timings: boolean } }).speechbridge.turn_timings, true);
    const [event, ...rest] = realtime.encode(timings);
    assert.deepEqual(rest, []);
    assert.deepEqual(event, {
      type: 'speechbridge.turn.timings',
      event_id: event.event_id,
      item_id: 'item_u',
      response_id: 'resp_1',
      transcription_ms: 312,
      first_token_ms: 41,
      first_audio_ms: null,
      total_ms: 380,
    });
  }
  const refused = wireError(codec().decode(JSON.stringify({ type: 'session.update', session: { speechbridge: { turn_timings: 1 } } })));
  assert.equal(refused.param, 'session.speechbridge.turn_timings');
});

test('GA output events name the response, item, output and content indexes', () => {
  const realtime = codec();
  const [delta] = realtime.encode({ type: 'audio.delta', audio: new Int16Array([5, -5]), ...ref, outputIndex: 2, contentIndex: 1 });
  assert.deepEqual(delta, {
    type: 'response.output_audio.delta',
    event_id: delta.event_id,
    response_id: 'resp_1',
    item_id: 'item_a',
    output_index: 2,
    content_index: 1,
    delta: Buffer.from(new Int16Array([5, -5]).buffer).toString('base64'),
  });
  const [text] = realtime.encode({ type: 'text.delta', delta: 'x', ...ref });
  assert.equal(text.type, 'response.output_text.delta');
  const [part] = realtime.encode({ type: 'content_part.added', part: { type: 'output_audio', transcript: '' }, ...ref });
  assert.deepEqual(part.part, { type: 'audio', transcript: '' });
});

test('beta names, beta item content and response.cancelled before response.done', () => {
  const realtime = codec('beta');
  const types = (event: EngineEvent) => realtime.encode(event).map((wire) => wire.type);
  assert.deepEqual(types({ type: 'item.added', item: assistantItem, previousItemId: null }), ['conversation.item.created']);
  assert.deepEqual(types({ type: 'item.done', item: assistantItem, previousItemId: null }), []);
  assert.deepEqual(types({ type: 'text.delta', delta: 'x', ...ref }), ['response.text.delta']);
  assert.deepEqual(types({ type: 'audio.delta', audio: new Int16Array(2), ...ref }), ['response.audio.delta']);
  assert.deepEqual(types({ type: 'audio_transcript.done', transcript: 'x', ...ref }), ['response.audio_transcript.done']);
  assert.deepEqual(types({ type: 'response.done', response: response('cancelled', { type: 'cancelled', reason: 'client_cancelled' }) }), [
    'response.cancelled',
    'response.done',
    'rate_limits.updated',
  ]);
  assert.deepEqual(types({ type: 'response.done', response: response('completed') }), ['response.done', 'rate_limits.updated']);
  const [created] = realtime.encode({ type: 'item.added', item: assistantItem, previousItemId: null });
  assert.deepEqual((created.item as { content: unknown }).content, [{ type: 'audio', transcript: 'Hello there.' }]);
  const [done] = realtime.encode({ type: 'response.done', response: response('completed') });
  const wireResponse = done.response as Record<string, unknown>;
  // Beta says ["text","audio"] for a spoken answer (audio with its transcript).
  assert.deepEqual([wireResponse.modalities, wireResponse.voice, wireResponse.output_audio_format], [['text', 'audio'], 'alloy', 'pcm16']);
});

test('session objects have the GA shape, the beta shape, and the transcription shapes', () => {
  const [ga] = codec().sessionCreated(config);
  const gaSession = ga.session as Record<string, any>;
  assert.equal(gaSession.type, 'realtime');
  assert.equal(gaSession.object, 'realtime.session');
  assert.match(gaSession.id, /^sess_/);
  assert.deepEqual(gaSession.audio.input.format, { type: 'audio/pcm', rate: 24000 });
  assert.deepEqual(gaSession.audio.input.transcription, { model: 'whisper-1', language: 'en' });
  assert.equal(gaSession.audio.input.noise_reduction, null);
  assert.deepEqual(
    [
      gaSession.audio.input.turn_detection.type,
      gaSession.audio.input.turn_detection.silence_duration_ms,
      gaSession.audio.input.turn_detection.prefix_padding_ms,
    ],
    ['server_vad', 450, 180],
  );
  assert.deepEqual(gaSession.audio.output, { format: { type: 'audio/pcm', rate: 24000 }, voice: 'alloy', speed: 1 });
  assert.deepEqual(
    [gaSession.output_modalities, gaSession.max_output_tokens, gaSession.tool_choice, gaSession.instructions],
    [['audio'], 'inf', 'auto', 'Be brief.'],
  );

  const [beta] = codec('beta').sessionCreated({ ...config, outputSampleRate: 8000, turnDetection: { ...config.turnDetection, type: 'none' } });
  const betaSession = beta.session as Record<string, any>;
  assert.deepEqual(
    [betaSession.modalities, betaSession.input_audio_format, betaSession.output_audio_format, betaSession.turn_detection, betaSession.voice],
    [['text', 'audio'], 'pcm16', 'g711_ulaw', null, 'alloy'],
  );
  assert.equal(betaSession.model, 'llama3', 'the beta session names its model too');

  const transcription = codec('beta', 'transcription').sessionCreated({ ...config, kind: 'transcription' });
  assert.deepEqual(
    transcription.map((event) => event.type),
    ['transcription_session.created'],
  );
  const gaTranscription = codec('ga', 'transcription').sessionCreated({ ...config, kind: 'transcription' });
  assert.deepEqual(
    gaTranscription.map((event) => event.type),
    ['session.created'],
  );
  assert.equal((gaTranscription[0].session as { type: string }).type, 'transcription');
});

test('engine errors keep their code and client event id and name the wire field', () => {
  const realtime = codec();
  const [error] = realtime.encode({ type: 'error', code: 'invalid_value', message: 'too short', param: 'session.turnDetection.endMs', eventId: 'c9' });
  assert.deepEqual(error.error, {
    type: 'invalid_request_error',
    code: 'invalid_value',
    message: 'too short',
    param: 'session.audio.input.turn_detection.silence_duration_ms',
    event_id: 'c9',
  });
  const [failed] = realtime.encode({ type: 'transcript.failed', itemId: 'item_u', contentIndex: 0, error: { code: 'upstream_timeout', message: 'slow' } });
  assert.deepEqual(failed.error, { type: 'server_error', code: 'upstream_timeout', message: 'slow' });
});

test('G.711 output formats encode audio deltas as one byte per sample', () => {
  const realtime = codec();
  input(realtime.decode(JSON.stringify({ type: 'session.update', session: { type: 'realtime', audio: { output: { format: { type: 'audio/pcmu' } } } } })));
  realtime.encode({ type: 'session.updated', session: { ...config, outputSampleRate: 8000 } });
  const samples = new Int16Array([0, 4000, -4000, 12000]);
  const [delta] = realtime.encode({ type: 'audio.delta', audio: samples, ...ref });
  const bytes = Buffer.from(delta.delta as string, 'base64');
  assert.equal(bytes.length, samples.length);
  assert.deepEqual(new Uint8Array(bytes), muLawEncode(samples));
});

test('reported-only fields stand once the engine takes the update; an update it refuses leaves them as they were', () => {
  const realtime = codec();
  realtime.sessionCreated(config);
  const reported = () => realtime.encode({ type: 'session.updated', session: config })[0].session as Record<string, unknown>;
  input(
    realtime.decode(JSON.stringify({ type: 'session.update', event_id: 'u1', session: { type: 'realtime', reasoning: { effort: 'high' }, tracing: 'auto' } })),
  );
  realtime.handled({ accepted: false, error: { code: 'invalid_value', message: 'the responder does not support mode "x"', param: 'session.mode' } });
  assert.deepEqual([reported().reasoning, reported().tracing], [undefined, null], 'the refused update reported nothing');
  input(
    realtime.decode(
      JSON.stringify({ type: 'session.update', event_id: 'u2', session: { type: 'realtime', reasoning: { effort: 'low' }, parallel_tool_calls: true } }),
    ),
  );
  const taken = realtime.encode({ type: 'session.updated', session: config })[0].session as Record<string, unknown>;
  assert.deepEqual([taken.reasoning, taken.parallel_tool_calls], [{ effort: 'low' }, true]);
});

test('transcription keywords go to the recognizer after the prompt, within the prompt’s length', () => {
  const realtime = codec();
  const session = (transcription: Record<string, unknown>) =>
    JSON.stringify({ type: 'session.update', session: { type: 'realtime', audio: { input: { transcription } } } });
  assert.deepEqual((input(realtime.decode(session({ keywords: ['Zanzibar', ' ', 'locker'], languages: ['fr', 'de'] }))) as { session: unknown }).session, {
    kind: 'conversation',
    transcription: { prompt: 'Zanzibar, locker.' },
  });
  assert.deepEqual((input(realtime.decode(session({ language: 'de', languages: ['fr', 'de'] }))) as { session: unknown }).session, {
    kind: 'conversation',
    transcription: { language: 'de' },
  });
  const long = wireError(realtime.decode(session({ prompt: 'p'.repeat(9_995), keywords: ['Zanzibar'] })));
  assert.deepEqual([long.code, long.param], ['invalid_value', 'session.audio.input.transcription.keywords']);
  const beta = wireError(codec('beta').decode(JSON.stringify({ type: 'session.update', session: { input_audio_transcription: { languages: ['english'] } } })));
  assert.deepEqual([beta.code, beta.param], ['invalid_value', 'session.input_audio_transcription.languages[0]']);
});
