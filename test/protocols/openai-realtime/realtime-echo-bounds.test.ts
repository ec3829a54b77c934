/**
 * What /v1/realtime echoes back stays within bounds: session fields it does not act on
 * (tracing, prompt, truncation, tool parameters) are taken only in their documented shapes,
 * deep or oversize values are refused with an error naming the field before anything stores
 * them, and a client updating its session at the size limits is never closed as a slow
 * consumer for the echoes.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { REALTIME_FIELD_LIMITS } from '../../../src/protocols/openai-realtime/client-events.ts';
import { ScriptedResponder } from '../../../src/providers/testing/scripted-responder.ts';
import { ScriptedSynthesizer } from '../../../src/providers/testing/scripted-synthesizer.ts';
import { ScriptedTranscriber } from '../../../src/providers/testing/scripted-transcriber.ts';
import { RealtimeClient } from '../../e2e/realtime-harness.ts';
import { assembleProviders, startTestServer, type TestServer } from '../../helpers/server.ts';

let server: TestServer;

before(async () => {
  server = await startTestServer(
    assembleProviders({ transcriber: new ScriptedTranscriber(), responder: new ScriptedResponder(), synthesizer: new ScriptedSynthesizer() }),
  );
});

after(async () => {
  await server?.close();
});

async function session(): Promise<RealtimeClient> {
  const client = await RealtimeClient.connect(server.realtimeUrl);
  await client.next('session.created');
  return client;
}

/** Sends a session.update and returns the error it gets (nothing else may come first). */
async function refusal(
  client: RealtimeClient,
  update: Record<string, unknown>,
  eventId: string,
): Promise<{ code: string; param: string | null; message: string }> {
  const after = client.events.length;
  client.send({ type: 'session.update', event_id: eventId, session: { type: 'realtime', ...update } });
  const reply = await client.next((event) => event.type === 'error' || event.type === 'session.updated', 5000, after);
  assert.equal(reply.type, 'error', `refused: ${JSON.stringify(update).slice(0, 80)}`);
  assert.equal(reply.error.event_id, eventId);
  return reply.error;
}

const deep = (levels: number) => JSON.parse('['.repeat(levels) + ']'.repeat(levels)) as unknown;

test('deep or malformed echoed fields are refused with the field named, and nothing of them is echoed later', async () => {
  const client = await session();
  for (const [field, value, param] of [
    ['truncation', deep(100), 'session.truncation'],
    ['prompt', { id: 'pmpt_1', variables: { a: deep(100) } }, 'session.prompt.variables'],
    ['tracing', { metadata: deep(100) }, 'session.tracing.metadata'],
    ['tools', [{ type: 'function', name: 'f', parameters: { properties: deep(100) } }], 'session.tools[0].parameters'],
  ] as const) {
    const error = await refusal(client, { [field]: value }, `deep_${field}`);
    assert.equal(error.code, 'invalid_value');
    assert.equal(error.param, param);
    assert.match(error.message, /deeper than 64 levels/);
  }
  for (const [update, param] of [
    [{ truncation: { type: 'retention_ratio', retention_ratio: 2 } }, 'session.truncation'],
    [{ truncation: 'sometimes' }, 'session.truncation'],
    [{ prompt: 'not an object' }, 'session.prompt'],
    [{ tracing: { workflow_name: 'w'.repeat(300) } }, 'session.tracing'],
    [{ include: Array.from({ length: 17 }, () => 'item.input_audio_transcription.logprobs') }, 'session.include'],
  ] as const) {
    const error = await refusal(client, update, 'shape');
    assert.equal(error.code, 'invalid_value');
    assert.ok(error.param?.startsWith(param), `${error.param} names ${param}`);
  }

  // A key the documented shape does not have is refused by name, as OpenAI refuses it.
  for (const [update, param] of [
    [{ truncation: { type: 'retention_ratio', retention_ratio: 0.8, extra: 'x' } }, 'session.truncation.extra'],
    [
      { prompt: { id: 'pmpt_1', variables: { photo: { type: 'input_image', image_url: 'https://example.com/a.png', extra: 1 } } } },
      'session.prompt.variables.photo.extra',
    ],
    [{ tracing: { workflow_name: 'support', extra: true } }, 'session.tracing.extra'],
  ] as const) {
    const error = await refusal(client, update, 'extra');
    assert.deepEqual([error.code, error.param], ['unknown_parameter', param]);
  }

  // Documented shapes are echoed.
  client.send({
    type: 'session.update',
    session: {
      type: 'realtime',
      truncation: { type: 'retention_ratio', retention_ratio: 0.8, token_limits: { post_instructions: 1000 } },
      prompt: { id: 'pmpt_1', version: '2', variables: { city: 'Paris', photo: { type: 'input_image', image_url: 'https://example.com/a.png' } } },
      tracing: { workflow_name: 'support', metadata: { team: 'a' } },
    },
  });
  const updated = await client.next('session.updated');
  assert.deepEqual(updated.session.truncation, { type: 'retention_ratio', retention_ratio: 0.8, token_limits: { post_instructions: 1000 } });
  assert.deepEqual(updated.session.prompt, {
    id: 'pmpt_1',
    version: '2',
    variables: { city: 'Paris', photo: { type: 'input_image', image_url: 'https://example.com/a.png' } },
  });
  assert.deepEqual(updated.session.tracing, { workflow_name: 'support', metadata: { team: 'a' } });
  await client.close();
});

test('instructions and tools over their limits are refused; updates at the limits are echoed without closing a reading client', async () => {
  const client = await session();
  const tooLong = await refusal(client, { instructions: 'x'.repeat(1024 * 1024) }, 'mb_instructions');
  assert.equal(tooLong.param, 'session.instructions');
  const tools = Array.from({ length: 100 }, (_, index) => ({ type: 'function', name: `tool_${index}`, description: 'd'.repeat(4000) }));
  assert.equal((await refusal(client, { tools }, 'many_tools')).param, 'session.tools');

  // Ten updates at the instructions limit in one burst: ten echoes of 100 KB each.
  const instructions = 'i'.repeat(REALTIME_FIELD_LIMITS.instructionsChars);
  const after = client.events.length;
  for (let i = 0; i < 10; i++) client.send({ type: 'session.update', session: { type: 'realtime', instructions } });
  await client.next(() => client.events.slice(after).filter((event) => event.type === 'session.updated').length === 10, 10_000, after);
  assert.equal(client.events.slice(after).filter((event) => event.type === 'error').length, 0);
  assert.equal(client.events.at(-1)?.session.instructions.length, REALTIME_FIELD_LIMITS.instructionsChars);
  assert.equal(client.socket.readyState, client.socket.OPEN);
  await client.close();
});

test('an event_id over its limit is refused and not echoed back', async () => {
  const client = await session();
  client.send({ type: 'input_audio_buffer.clear', event_id: 'e'.repeat(100_000) });
  const error = await client.next('error');
  assert.equal(error.error.param, 'event_id');
  assert.equal(error.error.event_id, null);
  assert.ok(JSON.stringify(error).length < 1000);
  await client.close();
});
