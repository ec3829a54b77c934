import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { SpeechbridgeError } from '../../src/errors/registry.ts';
import type { ResponderEvent, RespondRequest } from '../../src/providers/contracts.ts';
import { buildResponder } from '../../src/server/provider-factory.ts';
import { loadConfig } from '../../src/server/config.ts';
import { ScriptedResponder } from '../../src/providers/testing/scripted-responder.ts';
import { messagesOf, startChatCompletionsUpstream, type ChatCompletionsUpstream } from './chat-completions-upstream.ts';

const upstreams: ChatCompletionsUpstream[] = [];
after(async () => {
  await Promise.all(upstreams.map((upstream) => upstream.close()));
});

async function started(...args: Parameters<typeof startChatCompletionsUpstream>): Promise<ChatCompletionsUpstream> {
  const upstream = await startChatCompletionsUpstream(...args);
  upstreams.push(upstream);
  return upstream;
}

/** The OpenAIResponder exactly as the server builds it from OPENAI_API_BASE. */
function responderFor(upstream: ChatCompletionsUpstream) {
  return buildResponder(loadConfig({ OPENAI_API_BASE: upstream.baseURL, OPENAI_API_MODEL: 'test-model', REQUEST_TIMEOUT: '10' }));
}

async function collect(events: AsyncIterable<ResponderEvent>): Promise<ResponderEvent[]> {
  const out: ResponderEvent[] = [];
  for await (const event of events) out.push(event);
  return out;
}

function textOf(events: ResponderEvent[]): string {
  return events.map((event) => (event.type === 'text.delta' ? event.text : '')).join('');
}

test('streams a ScriptedResponder reply to the real OpenAIResponder and records the request', async () => {
  const upstream = await started({ reply: new ScriptedResponder({ script: { text: 'Bonjour tout le monde.' }, deltaChars: 4 }) });
  const responder = responderFor(upstream);
  assert.equal(responder.name, 'openai-responder');
  const request: RespondRequest = { mode: 'translate', targetLanguage: 'fr', messages: [{ role: 'user', content: 'Hello everyone.' }] };
  const events = await collect(responder.respond(request));

  assert.equal(textOf(events), 'Bonjour tout le monde.');
  assert.ok(events.filter((event) => event.type === 'text.delta').length >= 5, 'the text arrives in several deltas');
  const done = events.at(-1);
  assert.equal(done?.type, 'done');
  assert.ok(done?.type === 'done' && done.usage && done.usage.outputTokens > 0, 'usage from the include_usage chunk');

  assert.equal(upstream.requests.length, 1);
  const seen = upstream.requests[0];
  assert.equal(seen.model, 'test-model');
  assert.equal(seen.stream, true);
  assert.match(messagesOf(seen, 'system')[0], /into French/);
  assert.deepEqual(messagesOf(seen, 'user'), ['Hello everyone.']);
  assert.match(String(seen.headers.authorization), /^Bearer /);
});

test('a function of the request decides the reply, tool calls included', async () => {
  const upstream = await started({
    reply: (request, index) =>
      index === 0 ? { toolCalls: [{ name: 'lookup', arguments: '{"city":"Paris"}', callId: 'call_a' }] } : `you said: ${messagesOf(request, 'user').at(-1)}`,
  });
  const responder = responderFor(upstream);
  const first = await collect(
    responder.respond({ mode: 'reply', messages: [{ role: 'user', content: 'weather?' }], tools: [{ name: 'lookup', parameters: { type: 'object' } }] }),
  );
  const calls = first.filter((event) => event.type === 'tool_call.delta');
  assert.equal(calls[0]?.type === 'tool_call.delta' && calls[0].name, 'lookup');
  assert.equal(calls.map((event) => (event.type === 'tool_call.delta' ? event.argumentsDelta : '')).join(''), '{"city":"Paris"}');
  const done = first.at(-1);
  assert.equal(done?.type === 'done' && done.finishReason, 'tool_calls');

  const second = await collect(responder.respond({ mode: 'reply', messages: [{ role: 'user', content: 'thanks' }] }));
  assert.equal(textOf(second), 'you said: thanks');
  assert.deepEqual(upstream.requests[0].body.tools, [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object' } } }]);
});

test('an HTTP error reply reaches the OpenAIResponder as an upstream_error', async () => {
  const upstream = await started({ reply: () => ({ status: 503, message: 'model is loading' }) });
  await assert.rejects(collect(responderFor(upstream).respond({ mode: 'reply', messages: [{ role: 'user', content: 'hi' }] })), (error: unknown) => {
    assert.ok(error instanceof SpeechbridgeError);
    assert.equal(error.code, 'upstream_error');
    assert.match(error.message, /HTTP 503.*model is loading/);
    return true;
  });
  assert.equal(upstream.requests.length, 1);
});

test('a non-streaming request gets one chat.completion body', async () => {
  const upstream = await started({ reply: 'Whole answer.' });
  const response = await fetch(`${upstream.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }] }),
  });
  assert.equal(response.status, 200);
  const body = (await response.json()) as { object: string; choices: { message: { content: string }; finish_reason: string }[] };
  assert.equal(body.object, 'chat.completion');
  assert.equal(body.choices[0].message.content, 'Whole answer.');
  assert.equal(body.choices[0].finish_reason, 'stop');
  assert.deepEqual(upstream.requests[0].messages, [{ role: 'user', content: 'hi' }]);
  assert.equal(upstream.requests[0].stream, false);

  const bad = await fetch(`${upstream.baseURL}/chat/completions`, { method: 'POST', body: '{"model":"m"}' });
  assert.equal(bad.status, 400);
  assert.equal(upstream.requests.length, 1, 'malformed requests are refused, not recorded');
});
