/**
 * Responses through the engine with scripted providers: lifecycle and its one response.done,
 * cancel, close, failures, tool calls, text-only output, out-of-band responses, truncation,
 * audio hops and the order of first audio against the LLM stream.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ManualClock } from '../../src/engine/clock.ts';
import type { EngineInput, NewItem } from '../../src/engine/events.ts';
import type { RespondRequest, Responder, ResponderEvent } from '../../src/providers/contracts.ts';
import { ScriptedResponder } from '../../src/providers/testing/scripted-responder.ts';
import { ScriptedSynthesizer } from '../../src/providers/testing/scripted-synthesizer.ts';
import { compress, startHarness } from './engine-harness.ts';

const MANUAL = { turnDetection: 'none' as const };

function userText(text: string): NewItem {
  return { type: 'message', role: 'user', content: [{ type: 'input_text', text }] };
}

/** Adds a user message and asks for a response. */
function ask(harness: { handle(input: EngineInput): void }, text: string, eventId?: string): void {
  harness.handle({ type: 'item.create', item: userText(text) });
  harness.handle({ type: 'response.create', ...(eventId && { eventId }) });
}

describe('response lifecycle', () => {
  test('only one response at a time: a second response.create is refused until the first is done', async () => {
    const harness = await startHarness({ defaults: MANUAL, responder: new ScriptedResponder({ deltaLatencyMs: 5 }) });
    ask(harness, 'hello');
    harness.handle({ type: 'response.create', eventId: 'second' });
    const error = harness.all('error')[0];
    assert.equal(error.code, 'conversation_already_has_active_response');
    assert.equal(error.eventId, 'second');
    const first = await harness.next('response.done');
    harness.handle({ type: 'response.create' });
    const second = await harness.next('response.done', (event) => event.response.id !== first.response.id);
    await harness.close();
    assert.equal(first.response.status, 'completed');
    assert.equal(second.response.status, 'completed');
    assert.equal(harness.all('response.created').length, 2);
  });

  test('response.cancel ends the response as cancelled (client_cancelled) and aborts the LLM call', async () => {
    const harness = await startHarness({
      defaults: MANUAL,
      responder: new ScriptedResponder({ script: { text: 'One sentence here. Another one follows. And a third.' }, deltaLatencyMs: 10 }),
    });
    ask(harness, 'talk');
    const created = await harness.next('response.created');
    await harness.next('audio.delta');
    harness.handle({ type: 'response.cancel' });
    const done = harness.all('response.done');
    assert.equal(done.length, 1, 'response.done is emitted by the cancel itself');
    await harness.close();

    assert.equal(done[0].response.id, created.response.id);
    assert.equal(done[0].response.status, 'cancelled');
    assert.deepEqual(done[0].response.statusDetails, { type: 'cancelled', reason: 'client_cancelled' });
    assert.equal(harness.responder.calls[0].aborted, true);
    assert.equal(harness.responder.calls[0].completed, false);
    assert.equal(harness.all('response.done').length, 1);
    const doneIndex = harness.events.indexOf(done[0]);
    assert.deepEqual(harness.log.slice(doneIndex + 1), [], 'nothing after response.done');
    // The closing events come before response.done, with the item incomplete.
    assert.deepEqual(compress(harness.log.slice(doneIndex - 6, doneIndex + 1)), [
      'audio.done',
      'audio_transcript.done',
      'content_part.done',
      'item.done',
      'output_item.done',
      'turn.timings',
      'response.done',
    ]);
    assert.equal(done[0].response.output[0].status, 'incomplete');
  });

  test('response.cancel with nothing active is response_cancel_not_active; naming another response is response_not_found', async () => {
    const harness = await startHarness({ defaults: MANUAL, responder: new ScriptedResponder({ deltaLatencyMs: 20 }) });
    harness.handle({ type: 'response.cancel', eventId: 'c1', responseId: 'resp_nope' });
    harness.handle({ type: 'response.cancel', eventId: 'c2' });
    ask(harness, 'hello');
    const created = await harness.next('response.created');
    harness.handle({ type: 'response.cancel', eventId: 'c3', responseId: 'resp_other' });
    harness.handle({ type: 'response.cancel', eventId: 'c4', responseId: created.response.id });
    const done = await harness.next('response.done');
    await harness.close();
    assert.deepEqual(
      harness.all('error').map((error) => [error.code, error.eventId, error.param]),
      [
        ['response_cancel_not_active', 'c1', null],
        ['response_cancel_not_active', 'c2', null],
        ['response_not_found', 'c3', 'responseId'],
      ],
    );
    assert.equal(done.response.status, 'cancelled');
  });

  test('close during a response: one response.done (cancelled, disconnected) before close resolves, then silence', async () => {
    const synthesizer = new ScriptedSynthesizer({ hopLatencyMs: 5 });
    const harness = await startHarness({ defaults: MANUAL, synthesizer, responder: new ScriptedResponder({ deltaLatencyMs: 5 }) });
    ask(harness, 'hello');
    await harness.next('audio.delta');
    await harness.close();
    const done = harness.all('response.done');
    assert.equal(done.length, 1);
    assert.deepEqual(done[0].response.statusDetails, { type: 'cancelled', reason: 'disconnected' });
    assert.equal(harness.log.at(-1), 'response.done');
    assert.equal(synthesizer.calls[0].aborted, true, 'the synthesis in flight was aborted');
    const count = harness.events.length;
    harness.handle({ type: 'response.create' });
    assert.equal(harness.events.length, count, 'a closed engine emits nothing');
  });

  test('a responder failure mid-stream ends the response failed with its code', async () => {
    const harness = await startHarness({
      defaults: MANUAL,
      responder: new ScriptedResponder({ script: { text: 'Partial words then' }, failure: { code: 'upstream_error', message: 'llm broke', afterDeltas: 2 } }),
    });
    ask(harness, 'hello');
    const done = await harness.next('response.done');
    await harness.close();
    assert.equal(done.response.status, 'failed');
    assert.deepEqual(done.response.statusDetails, { type: 'failed', error: { code: 'upstream_error', message: 'llm broke' } });
    assert.equal(harness.all('response.done').length, 1);
    assert.equal(done.response.output[0].status, 'incomplete');
  });

  test('a synthesizer failure ends the response failed and stops the LLM', async () => {
    const harness = await startHarness({
      defaults: MANUAL,
      responder: new ScriptedResponder({ script: { text: 'First sentence. Second sentence. Third.' }, deltaLatencyMs: 5 }),
      synthesizer: new ScriptedSynthesizer({ failure: { code: 'upstream_unreachable', onCall: 1, afterHops: 1 } }),
    });
    ask(harness, 'hello');
    const done = await harness.next('response.done');
    await harness.close();
    assert.equal(done.response.statusDetails?.type === 'failed' && done.response.statusDetails.error.code, 'upstream_unreachable');
    assert.equal(harness.responder.calls[0].aborted, true);
  });

  test('a response still running after responseTimeoutMs fails with upstream_timeout and aborts the provider', async () => {
    const clock = new ManualClock();
    const harness = await startHarness({
      clock,
      defaults: { ...MANUAL, limits: { responseTimeoutMs: 1000 } },
      responder: new ScriptedResponder({ firstTokenLatencyMs: 60_000 }),
    });
    ask(harness, 'hello');
    await harness.until(() => harness.responder.calls.length === 1, 'the LLM call');
    clock.advance(999);
    assert.equal(harness.all('response.done').length, 0);
    clock.advance(1);
    const done = await harness.next('response.done');
    await harness.close();
    assert.equal(done.response.statusDetails?.type === 'failed' && done.response.statusDetails.error.code, 'upstream_timeout');
    const message = done.response.statusDetails?.type === 'failed' ? done.response.statusDetails.error.message : '';
    assert.match(message, /longer than 1 s in total \(RESPONSE_TIMEOUT\); still waiting for the LLM at scripted-responder/);
    assert.equal(harness.responder.calls[0].aborted, true);
  });

  test('a sentence with more audio than maxSentenceAudioMs fails the response and stops synthesis; the next response works', async () => {
    const harness = await startHarness({
      defaults: { ...MANUAL, limits: { maxSentenceAudioMs: 500 } },
      responder: new ScriptedResponder({ script: [{ text: 'A sentence far too long to say.' }, { text: 'Short.' }] }),
    });
    ask(harness, 'hello');
    const done = await harness.next('response.done');
    assert.equal(done.response.status, 'failed');
    const error = done.response.statusDetails?.type === 'failed' ? done.response.statusDetails.error : null;
    assert.equal(error?.code, 'upstream_response_too_large');
    assert.match(error?.message ?? '', /scripted-synthesizer sent more than 500 ms of audio for one sentence \(MAX_SENTENCE_AUDIO_SECONDS\)/);
    // The synthesizer's stream was left after about 500 ms of its 1860 ms.
    const call = harness.synthesizer.calls[0];
    assert.equal(call.completed, false);
    assert.ok(call.hops < 40, `${call.hops} hops of 20 ms were synthesized`);
    const audioMs = (harness.all('audio.delta').reduce((sum, event) => sum + event.audio.length, 0) * 1000) / 24000;
    assert.ok(audioMs <= 500, `${audioMs} ms of audio left for a 500 ms bound`);

    const from = harness.events.length;
    ask(harness, 'again');
    const next = await harness.next('response.done', () => true, from);
    await harness.close();
    assert.equal(next.response.status, 'completed');
  });

  test('sentences adding up to more than maxResponseAudioMs fail the response at the sentence that passes it', async () => {
    const harness = await startHarness({
      defaults: { ...MANUAL, limits: { maxResponseAudioMs: 2000 } },
      responder: new ScriptedResponder({ script: { text: 'First sentence. Second sentence. Third sentence. Fourth one.' } }),
    });
    ask(harness, 'hello');
    const done = await harness.next('response.done');
    await harness.close();
    const error = done.response.statusDetails?.type === 'failed' ? done.response.statusDetails.error : null;
    assert.equal(error?.code, 'upstream_response_too_large');
    assert.match(error?.message ?? '', /more than 2 s of audio for one response \(MAX_RESPONSE_AUDIO_SECONDS\)/);
    const audioMs = (harness.all('audio.delta').reduce((sum, event) => sum + event.audio.length, 0) * 1000) / 24000;
    assert.ok(audioMs > 1000 && audioMs <= 2000, `${audioMs} ms of audio left for a 2 s bound`);
    assert.equal(harness.synthesizer.calls.length, 3, 'synthesis stopped at the third sentence');
  });

  test('finish reason length ends the response incomplete (max_output_tokens)', async () => {
    const harness = await startHarness({ defaults: MANUAL, responder: new ScriptedResponder({ script: { text: 'Cut short', finishReason: 'length' } }) });
    harness.handle({ type: 'item.create', item: userText('hi') });
    harness.handle({ type: 'response.create', response: { maxOutputTokens: 2 } });
    const done = await harness.next('response.done');
    await harness.close();
    assert.deepEqual(done.response.statusDetails, { type: 'incomplete', reason: 'max_output_tokens' });
    assert.equal(done.response.maxOutputTokens, 2);
    assert.equal(harness.responder.requests[0].maxOutputTokens, 2);
    assert.deepEqual(done.response.usage && [done.response.usage.inputTokens, done.response.usage.outputTokens], [1, 2]);
  });
});

describe('response output', () => {
  test('text-only: text deltas and an output_text part, no synthesis', async () => {
    const harness = await startHarness({ defaults: MANUAL, responder: new ScriptedResponder({ script: { text: 'Just text. Two sentences.' } }) });
    harness.handle({ type: 'item.create', item: userText('hi') });
    harness.handle({ type: 'response.create', response: { outputModalities: ['text'] } });
    const done = await harness.next('response.done');
    await harness.close();
    assert.deepEqual(compress(harness.log), [
      'item.added',
      'item.done',
      'response.created',
      'output_item.added',
      'item.added',
      'content_part.added',
      'text.delta',
      'text.done',
      'content_part.done',
      'item.done',
      'output_item.done',
      'turn.timings',
      'response.done',
    ]);
    assert.equal(
      harness
        .all('text.delta')
        .map((event) => event.delta)
        .join(''),
      'Just text. Two sentences.',
    );
    assert.equal(harness.all('text.done')[0].text, 'Just text. Two sentences.');
    assert.deepEqual(done.response.output[0].type === 'message' && done.response.output[0].content, [
      { type: 'output_text', text: 'Just text. Two sentences.' },
    ]);
    assert.equal(harness.synthesizer.calls.length, 0);
  });

  test('audio leaves in 50 ms hops (the last may be shorter), and all the synthesized audio arrives', async () => {
    const text = 'A first sentence. Then a second one, longer than the first. End.';
    const harness = await startHarness({ defaults: MANUAL, responder: new ScriptedResponder({ script: { text } }) });
    ask(harness, 'hello');
    await harness.next('response.done');
    await harness.close();
    const hops = harness.all('audio.delta').map((event) => event.audio.length);
    const hopSamples = (24000 * 50) / 1000;
    assert.ok(
      hops.slice(0, -1).every((length) => length === hopSamples),
      `hops ${hops.join(',')}`,
    );
    assert.ok(hops.at(-1)! > 0 && hops.at(-1)! <= hopSamples);
    const sentences = ['A first sentence.', 'Then a second one, longer than the first.', 'End.'];
    const expected = sentences.reduce((sum, sentence) => sum + harness.synthesizer.expectedSamples(sentence), 0);
    assert.equal(
      hops.reduce((sum, length) => sum + length, 0),
      expected,
    );
    assert.deepEqual(
      harness.synthesizer.calls.map((call) => call.text),
      sentences,
    );
    assert.deepEqual(
      harness.all('audio_transcript.delta').map((event) => event.delta),
      ['A first sentence.', ' Then a second one, longer than the first.', ' End.'],
    );
  });

  test('hop length follows limits.audioHopMs and the output rate', async () => {
    const harness = await startHarness({ defaults: { ...MANUAL, outputSampleRate: 16000, limits: { audioHopMs: 20 } } });
    ask(harness, 'hello');
    await harness.next('response.done');
    await harness.close();
    const hops = harness.all('audio.delta').map((event) => event.audio.length);
    assert.ok(hops.length > 2);
    assert.ok(
      hops.slice(0, -1).every((length) => length === 320),
      `hops ${hops.join(',')}`,
    );
  });

  test('the first audio leaves before the LLM has finished when it streams several sentences', async () => {
    const scripted = new ScriptedResponder({ script: { text: 'First sentence. Second sentence. Third sentence. Fourth.' }, deltaLatencyMs: 2 });
    let log: string[] = [];
    // Marks the end of the LLM stream in the same log as the engine's events.
    const marking: Responder = {
      name: 'marking',
      capabilities: scripted.capabilities,
      async *respond(request: RespondRequest): AsyncIterable<ResponderEvent> {
        for await (const event of scripted.respond(request)) {
          if (event.type === 'done') log.push('llm.finished');
          yield event;
        }
      },
    };
    const harness = await startHarness({ defaults: MANUAL, responder: marking });
    log = harness.log;
    ask(harness, 'hello');
    await harness.next('response.done');
    await harness.close();
    const firstAudio = harness.log.indexOf('audio.delta');
    const finished = harness.log.indexOf('llm.finished');
    assert.ok(firstAudio >= 0 && finished >= 0);
    assert.ok(firstAudio < finished, `first audio.delta at ${firstAudio}, LLM finished at ${finished}`);
  });

  test('the LLM gets the session settings and the conversation as messages', async () => {
    const harness = await startHarness({
      defaults: { ...MANUAL, model: 'test-model' },
      session: { instructions: 'Be brief.', temperature: 0.7, mode: 'translate', targetLanguage: 'fr' },
    });
    harness.handle({ type: 'item.create', item: { type: 'message', role: 'system', content: [{ type: 'input_text', text: 'Context.' }] } });
    ask(harness, 'good morning');
    await harness.next('response.done');
    await harness.close();
    const request = harness.responder.requests[0];
    assert.deepEqual(
      {
        mode: request.mode,
        targetLanguage: request.targetLanguage,
        instructions: request.instructions,
        model: request.model,
        temperature: request.temperature,
      },
      { mode: 'translate', targetLanguage: 'fr', instructions: 'Be brief.', model: 'test-model', temperature: 0.7 },
    );
    assert.deepEqual(request.messages, [
      { role: 'system', content: 'Context.' },
      { role: 'user', content: 'good morning' },
    ]);
  });
});

describe('tool calls', () => {
  test('a function call streams as an item, and its output continues the conversation', async () => {
    const responder = new ScriptedResponder({
      script: (request) =>
        request.messages.at(-1)?.role === 'tool'
          ? { text: 'It is sunny in Paris.' }
          : { toolCalls: [{ name: 'get_weather', arguments: '{"city":"Paris"}', callId: 'call_abc' }] },
    });
    const harness = await startHarness({
      defaults: MANUAL,
      responder,
      session: { tools: [{ type: 'function', name: 'get_weather', parameters: { type: 'object' } }] },
    });
    ask(harness, 'weather in Paris?');
    const first = await harness.next('response.done');
    assert.equal(first.response.status, 'completed');
    const call = first.response.output[0];
    assert.ok(call.type === 'function_call');
    assert.deepEqual([call.name, call.callId, call.arguments, call.status], ['get_weather', 'call_abc', '{"city":"Paris"}', 'completed']);
    assert.equal(
      harness
        .all('function_call.arguments.delta')
        .map((event) => event.delta)
        .join(''),
      '{"city":"Paris"}',
    );
    const argumentsDone = harness.all('function_call.arguments.done')[0];
    assert.deepEqual([argumentsDone.name, argumentsDone.arguments, argumentsDone.itemId], ['get_weather', '{"city":"Paris"}', call.id]);
    assert.deepEqual(responder.requests[0].tools, [{ name: 'get_weather', parameters: { type: 'object' } }]);
    assert.equal(harness.synthesizer.calls.length, 0, 'a tool call has nothing to say');

    harness.handle({ type: 'item.create', item: { type: 'function_call_output', callId: 'call_abc', output: '{"sky":"sunny"}' } });
    harness.handle({ type: 'response.create' });
    const second = await harness.next('response.done', (event) => event.response.id !== first.response.id);
    await harness.close();
    assert.equal(second.response.status, 'completed');
    assert.deepEqual(responder.requests[1].messages, [
      { role: 'user', content: 'weather in Paris?' },
      { role: 'assistant', content: '', toolCalls: [{ callId: 'call_abc', name: 'get_weather', arguments: '{"city":"Paris"}' }] },
      { role: 'tool', callId: 'call_abc', content: '{"sky":"sunny"}' },
    ]);
    assert.equal(harness.all('audio_transcript.done').at(-1)?.transcript, 'It is sunny in Paris.');
  });
});

describe('truncate', () => {
  test('cuts the assistant transcript to the sentences whose audio had started', async () => {
    const sentences = ['Alpha one.', 'Bravo two is longer.', 'Charlie.'];
    const harness = await startHarness({ defaults: MANUAL, responder: new ScriptedResponder({ script: { text: sentences.join(' ') } }) });
    ask(harness, 'hello');
    const done = await harness.next('response.done');
    const itemId = done.response.output[0].id;
    const msOf = (text: string) => (harness.synthesizer.expectedSamples(text) * 1000) / 24000;
    const secondStartsMs = msOf(sentences[0]);
    const thirdStartsMs = secondStartsMs + msOf(sentences[1]);
    const totalMs = thirdStartsMs + msOf(sentences[2]);

    harness.handle({ type: 'item.truncate', eventId: 'too_far', itemId, contentIndex: 0, audioEndMs: totalMs + 1 });
    harness.handle({ type: 'item.truncate', eventId: 'not_audio', itemId, contentIndex: 1, audioEndMs: 10 });
    harness.handle({ type: 'item.truncate', itemId, contentIndex: 0, audioEndMs: secondStartsMs + 1 });
    harness.handle({ type: 'item.retrieve', itemId });
    harness.handle({ type: 'item.truncate', itemId, contentIndex: 0, audioEndMs: secondStartsMs });
    harness.handle({ type: 'item.retrieve', itemId });
    await harness.close();

    assert.deepEqual(
      harness.all('error').map((error) => [error.eventId, error.code, error.param]),
      [
        ['too_far', 'invalid_value', 'audioEndMs'],
        ['not_audio', 'invalid_value', 'contentIndex'],
      ],
    );
    assert.deepEqual(
      harness.all('item.truncated').map((event) => event.audioEndMs),
      [secondStartsMs + 1, secondStartsMs],
    );
    const transcripts = harness
      .all('item.retrieved')
      .map((event) => event.item.type === 'message' && event.item.content[0].type === 'output_audio' && event.item.content[0].transcript);
    assert.deepEqual(transcripts, ['Alpha one. Bravo two is longer.', 'Alpha one.']);
    // The next response reads the truncated text.
    const lastItem = harness.engine.items.at(-1)!;
    assert.equal(lastItem.id, itemId);
  });
});

describe('out-of-band responses', () => {
  test('conversation none: reads its own input, writes nothing to the conversation', async () => {
    const harness = await startHarness({ defaults: MANUAL, responder: new ScriptedResponder({ script: { text: 'Summary.' } }) });
    harness.handle({ type: 'item.create', item: userText('the conversation') });
    const before = harness.engine.items;
    harness.handle({
      type: 'response.create',
      response: { inConversation: false, input: [userText('summarize this')], outputModalities: ['text'], metadata: { topic: 'summary' } },
    });
    const done = await harness.next('response.done');
    await harness.close();
    assert.equal(done.response.inConversation, false);
    assert.deepEqual(done.response.metadata, { topic: 'summary' });
    assert.equal(done.response.status, 'completed');
    assert.deepEqual(harness.engine.items, before);
    assert.deepEqual(harness.responder.requests[0].messages, [{ role: 'user', content: 'summarize this' }]);
    const itemEvents = harness.log.slice(harness.log.indexOf('response.created')).filter((type) => type === 'item.added' || type === 'item.done');
    assert.deepEqual(itemEvents, []);
    assert.equal(harness.all('output_item.added').length, 1);
  });

  test('an item_reference in the input names a conversation item; an unknown one is item_not_found', async () => {
    const harness = await startHarness({ defaults: MANUAL, responder: new ScriptedResponder({ script: { text: 'Ok.' } }) });
    harness.handle({ type: 'item.create', item: { ...userText('remember me'), id: 'item_keep' } });
    harness.handle({ type: 'response.create', eventId: 'bad', response: { inConversation: false, input: [{ type: 'item_reference', id: 'item_gone' }] } });
    harness.handle({
      type: 'response.create',
      response: { inConversation: false, input: [{ type: 'item_reference', id: 'item_keep' }, userText('and this')] },
    });
    await harness.next('response.done');
    await harness.close();
    assert.deepEqual(
      harness.all('error').map((error) => [error.eventId, error.code, error.param]),
      [['bad', 'item_not_found', 'response.input[0].id']],
    );
    assert.deepEqual(harness.responder.requests[0].messages, [
      { role: 'user', content: 'remember me' },
      { role: 'user', content: 'and this' },
    ]);
  });
});
