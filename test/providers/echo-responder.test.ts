import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RespondRequest, ResponderEvent } from '../../src/providers/contracts.ts';
import { EchoResponder } from '../../src/providers/local/echo-responder.ts';

async function collect(events: AsyncIterable<ResponderEvent>): Promise<ResponderEvent[]> {
  const out: ResponderEvent[] = [];
  for await (const event of events) out.push(event);
  return out;
}

const conversation: RespondRequest['messages'] = [
  { role: 'user', content: 'first question here' },
  { role: 'assistant', content: 'an answer' },
  { role: 'user', content: '  Say this back,   please  ' },
];

test('streams the last user message word by word, then done with word counts', async () => {
  const events = await collect(new EchoResponder().respond({ mode: 'reply', messages: conversation }));
  const deltas = events.filter((event) => event.type === 'text.delta').map((event) => (event.type === 'text.delta' ? event.text : ''));
  assert.deepEqual(deltas, ['Say ', 'this ', 'back,   ', 'please']);
  assert.equal(deltas.join(''), 'Say this back,   please');
  assert.deepEqual(events.at(-1), { type: 'done', finishReason: 'stop', usage: { inputTokens: 9, outputTokens: 4 } });
});

test('translate and rewrite modes echo the text unchanged', async () => {
  for (const mode of ['translate', 'rewrite'] as const) {
    const events = await collect(new EchoResponder().respond({ mode, targetLanguage: 'fr', messages: [{ role: 'user', content: 'um hello there' }] }));
    const text = events.map((event) => (event.type === 'text.delta' ? event.text : '')).join('');
    assert.equal(text, 'um hello there', mode);
  }
});

test('no user message gives an empty reply that still ends with done', async () => {
  const events = await collect(new EchoResponder().respond({ mode: 'reply', messages: [{ role: 'assistant', content: 'hi' }] }));
  assert.deepEqual(events, [{ type: 'done', finishReason: 'stop', usage: { inputTokens: 1, outputTokens: 0 } }]);
});

test('an abort between words ends the stream with an AbortError', async () => {
  const controller = new AbortController();
  const seen: string[] = [];
  await assert.rejects(
    (async () => {
      for await (const event of new EchoResponder().respond({
        mode: 'reply',
        messages: [{ role: 'user', content: 'one two three four five' }],
        signal: controller.signal,
      })) {
        if (event.type === 'text.delta') seen.push(event.text);
        if (seen.length === 2) controller.abort();
      }
    })(),
    { name: 'AbortError' },
  );
  assert.deepEqual(seen, ['one ', 'two ']);
});

test('an abort from a timer lands while the words stream', async () => {
  const controller = new AbortController();
  const long = Array.from({ length: 50_000 }, (_, i) => `w${i}`).join(' ');
  setTimeout(() => controller.abort(), 5);
  let words = 0;
  await assert.rejects(
    (async () => {
      for await (const event of new EchoResponder().respond({ mode: 'reply', messages: [{ role: 'user', content: long }], signal: controller.signal })) {
        if (event.type === 'text.delta') words++;
      }
    })(),
    { name: 'AbortError' },
  );
  assert.ok(words < 50_000, `all ${words} words were sent despite the abort`);
});
