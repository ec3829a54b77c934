/**
 * The LLM side of the gateway: the session runs in mode rewrite against an OpenAI-compatible
 * chat completions server (a real HTTP server answering from a script) through the real
 * OpenAIResponder. The default rewrite prompt, or the `prompt` a client sends in `start`,
 * reaches the upstream as the system message, `openai_model` as the model, and text_final is
 * the upstream's answer, spoken by espeak-ng. Speech in is a command phrase for pocketsphinx.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { rmsDbfs } from '../../../src/audio/pcm.ts';
import { OpenAIResponder } from '../../../src/providers/openai/openai-responder.ts';
import { REWRITE_PROMPT } from '../../../src/providers/prompts.ts';
import type { RunningServer } from '../../../src/server/app.ts';
import { type ChatCompletionsUpstream, messagesOf, startChatCompletionsUpstream } from '../../helpers/chat-completions-upstream.ts';
import { startTestServer } from '../../helpers/server.ts';
import { GatewayClient, gatewayUrl, pcmBytes, phraseAudio, type RealEngines, realEngines, samplesOf } from './gateway-harness.ts';

const FAILING_PROMPT = 'Rewrite it, but this upstream refuses.';

let engines: RealEngines;
let upstream: ChatCompletionsUpstream;
let server: RunningServer;

before(async () => {
  engines = await realEngines();
  upstream = await startChatCompletionsUpstream({
    // A rewrite as an LLM makes it: the transcript capitalized and punctuated.
    reply: (request) => {
      if (messagesOf(request, 'system').includes(FAILING_PROMPT)) return { status: 500, message: 'the model is overloaded' };
      const said = messagesOf(request, 'user').at(-1) ?? '';
      return `${said.charAt(0).toUpperCase()}${said.slice(1)}.`;
    },
  });
  const responder = new OpenAIResponder({ baseURL: upstream.baseURL, apiKey: 'upstream-key', model: 'server-default-model', timeoutMs: 15_000 });
  // A server-wide reply prompt: the gateway's rewrite sessions must not use it.
  server = await startTestServer(
    { transcriber: engines.transcriber, responder, synthesizer: engines.synthesizer },
    { DEFAULT_SYSTEM_PROMPT: 'You are a cheerful assistant who answers questions.' },
  );
});

after(async () => {
  await server?.close();
  await upstream?.close();
  await engines?.synthesizer.close();
});

async function speakTurn(start: Record<string, unknown>, phrase: string): Promise<GatewayClient> {
  const client = await GatewayClient.connect(gatewayUrl(server.url));
  client.send({ type: 'start', ...start });
  await client.next('ready');
  client.sendFrames(pcmBytes(await phraseAudio(phrase, 24000, 300, 1000)), 48);
  await client.next('stt_final');
  client.send({ type: 'end' });
  assert.equal((await client.closed).code, 1000);
  return client;
}

test('default: the rewrite prompt and openai_model reach the upstream, and text_final is its rewrite, spoken', async () => {
  const before = upstream.requests.length;
  const client = await speakTurn({ openai_model: 'rewrite-model-1' }, 'turn on the light');

  assert.equal(client.messages[0].openai_model, 'rewrite-model-1', 'ready reports the model');
  const requests = upstream.requests.slice(before);
  assert.equal(requests.length, 1, 'one chat completion for one turn');
  assert.equal(requests[0].model, 'rewrite-model-1');
  assert.deepEqual(messagesOf(requests[0], 'system'), [REWRITE_PROMPT]);
  assert.deepEqual(messagesOf(requests[0], 'user'), ['turn on the light']);
  assert.equal(client.messages.find((message) => message.type === 'stt_final')!.text, 'turn on the light');
  assert.equal(client.messages.find((message) => message.type === 'text_final')!.text, 'Turn on the light.');
  const reply = samplesOf(client.audioBytes());
  assert.ok(rmsDbfs(reply) > -35, `reply level ${rmsDbfs(reply).toFixed(1)} dBFS`);
  assert.equal((await engines.transcriber.transcribe({ samples: reply, sampleRate: 24000 })).text, 'turn on the light', 'the audio speaks the rewrite');
  assert.ok(!client.sequence().includes('error'), client.sequence().join(', '));
});

test('prompt in start reaches the upstream as the instructions, in place of the rewrite prompt', async () => {
  const before = upstream.requests.length;
  const prompt = 'Rewrite the transcript as a polite request.';
  const client = await speakTurn({ prompt }, 'turn on the radio');

  const requests = upstream.requests.slice(before);
  assert.equal(requests.length, 1);
  assert.deepEqual(messagesOf(requests[0], 'system'), [prompt]);
  assert.equal(requests[0].model, 'server-default-model', 'without openai_model, the responder keeps its own');
  assert.equal(client.messages.find((message) => message.type === 'text_final')!.text, 'Turn on the radio.');
});

test('an upstream failure ends the turn with an error naming it; end still closes normally', async () => {
  const client = await speakTurn({ prompt: FAILING_PROMPT }, 'turn on the heater');

  const final = client.messages.find((message) => message.type === 'stt_final')!;
  assert.equal(final.text, 'turn on the heater');
  const error = client.messages.find((message) => message.type === 'error')!;
  assert.ok(error, `an error; received ${client.sequence().join(', ')}`);
  assert.equal(error.turn_id, final.turn_id);
  assert.match(error.message, /the response failed: .*overloaded/);
  assert.ok(!client.sequence().includes('text_final'), client.sequence().join(', '));
});
