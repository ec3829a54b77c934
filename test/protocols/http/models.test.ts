/**
 * GET /v1/models with the official `openai` SDK: the configured engines' models and OpenAI's
 * endpoint names are listed, one can be retrieved, and an unknown one is a 404 the SDK raises.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import OpenAI, { NotFoundError } from 'openai';
import type { RunningServer } from '../../../src/server/app.ts';
import { assembleProviders, startTestServer } from '../../helpers/server.ts';

let server: RunningServer;

before(async () => {
  const engines = assembleProviders({});
  engines.summary.responder.model = 'llama3.1:8b';
  server = await startTestServer(engines, { API_TOKENS: 'models-token' });
});

after(async () => {
  await server?.close();
});

test('the SDK lists the models, retrieves one, and gets NotFoundError for an unknown one', async () => {
  const client = new OpenAI({ apiKey: 'models-token', baseURL: `${server.url}/v1` });
  const ids: string[] = [];
  for await (const model of client.models.list()) ids.push(model.id);
  for (const id of ['llama3.1:8b', 'whisper-1', 'tts-1', 'gpt-4o-mini-tts', 'gpt-realtime']) assert.ok(ids.includes(id), `${id} in ${ids.join(', ')}`);
  assert.equal(new Set(ids).size, ids.length, 'no duplicates');
  const one = await client.models.retrieve('whisper-1');
  assert.deepEqual([one.id, one.object, one.owned_by], ['whisper-1', 'model', 'speechbridge']);
  await assert.rejects(client.models.retrieve('no-such-model'), (error: Error) => error instanceof NotFoundError && /GET \/v1\/models/.test(error.message));
  await assert.rejects(
    new OpenAI({ apiKey: 'wrong', baseURL: `${server.url}/v1` }).models.list(),
    (error: Error & { status?: number }) => error.status === 401,
  );
});
