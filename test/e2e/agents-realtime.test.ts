/**
 * `@openai/agents-realtime`, unchanged: a RealtimeSession over OpenAIRealtimeWebSocket({ url })
 * against the real server. A voice turn on real engines (WebRTC VAD, pocketsphinx with a JSGF
 * grammar, the echo responder, espeak-ng), then a tool call round trip and an interruption on
 * scripted providers, where the LLM's tool call and the answer's length must be exact.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { OpenAIRealtimeWebSocket, RealtimeAgent, RealtimeSession, tool, type RealtimeItem } from '@openai/agents-realtime';
import { z } from 'zod';
import { EchoResponder } from '../../src/providers/local/echo-responder.ts';
import { EspeakSynthesizer } from '../../src/providers/local/espeak-synthesizer.ts';
import { createPocketsphinxTranscriber } from '../../src/providers/local/pocketsphinx-transcriber.ts';
import { ScriptedResponder } from '../../src/providers/testing/scripted-responder.ts';
import { ScriptedSynthesizer } from '../../src/providers/testing/scripted-synthesizer.ts';
import { ScriptedTranscriber } from '../../src/providers/testing/scripted-transcriber.ts';
import type { Providers } from '../../src/server/providers.ts';
import { EventLog, recording, spoken, streamRealtime, withSilence, type WireEvent } from './realtime-harness.ts';
import { assembleProviders, startTestServer, type TestServer } from '../helpers/server.ts';

const TOKEN = 'agents-test-token';
const cleanups: Array<() => Promise<void>> = [];

after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function serve(engines: Providers): Promise<TestServer> {
  const server = await startTestServer(engines, { API_TOKENS: TOKEN });
  cleanups.push(() => server.close());
  return server;
}

interface AgentRun {
  session: RealtimeSession;
  log: EventLog;
  errors: unknown[];
}

async function connectAgent(server: TestServer, agent: RealtimeAgent): Promise<AgentRun> {
  const session = new RealtimeSession(agent, {
    transport: new OpenAIRealtimeWebSocket({ url: server.realtimeUrl }),
    model: 'gpt-realtime',
    tracingDisabled: true,
  });
  const log = new EventLog();
  const errors: unknown[] = [];
  session.on('transport_event', (event) => log.push(event as unknown as WireEvent));
  session.on('error', (error) => errors.push(error));
  await session.connect({ apiKey: TOKEN });
  cleanups.push(async () => session.close());
  await log.next('session.updated');
  return { session, log, errors };
}

/** PCM16 frames of 20 ms as ArrayBuffers, as a microphone capture hands them to sendAudio. */
function frames(samples: Int16Array, frameSamples = 480): ArrayBuffer[] {
  const out: ArrayBuffer[] = [];
  for (let start = 0; start < samples.length; start += frameSamples) {
    const frame = samples.slice(start, start + frameSamples);
    out.push(frame.buffer);
  }
  return out;
}

function messages<Role extends 'user' | 'assistant'>(history: RealtimeItem[], role: Role): Array<Extract<RealtimeItem, { type: 'message'; role: Role }>> {
  return history.filter((item): item is Extract<RealtimeItem, { type: 'message'; role: Role }> => item.type === 'message' && item.role === role);
}

test('a voice turn: the history the SDK builds from our events holds the user transcript and the spoken reply', async () => {
  const phrase = 'turn on the kitchen lights';
  const synthesizer = await EspeakSynthesizer.create({ workers: 1 });
  cleanups.push(() => synthesizer.close());
  const transcriber = await createPocketsphinxTranscriber({
    grammar: `public <command> = ${phrase} | open the garage door | what time is it;`,
    timeoutMs: 20_000,
  });
  const server = await serve(assembleProviders({ transcriber, responder: new EchoResponder(), synthesizer }));
  const { session, log, errors } = await connectAgent(server, new RealtimeAgent({ name: 'Echo', instructions: 'Repeat what you hear.' }));

  const speech = withSilence(await spoken(synthesizer, phrase), 300, 1200);
  const audioFrames = frames(speech.samples);
  let index = 0;
  await streamRealtime(
    () => session.sendAudio(audioFrames[index++]),
    audioFrames.map(() => ''),
  );

  const done = await log.next('response.done', 15_000);
  assert.equal(done.response.status, 'completed');
  const history = session.history;
  const [user] = messages(history, 'user');
  const [assistant] = messages(history, 'assistant');
  assert.ok(user && assistant, `history has a user and an assistant message: ${JSON.stringify(history)}`);
  assert.deepEqual(
    user.content.map((part) => (part.type === 'input_audio' ? part.transcript : null)),
    [phrase],
  );
  assert.deepEqual(
    assistant.content.map((part) => (part.type === 'output_audio' ? part.transcript : null)),
    [phrase],
  );
  assert.equal(assistant.status, 'completed');
  assert.ok(history.indexOf(user) < history.indexOf(assistant), 'the user turn comes first');
  assert.deepEqual(errors, []);
});

test('a tool call round trip: the scripted LLM calls the agent tool, its output goes back, the follow-up answer completes', async () => {
  const responder = new ScriptedResponder({
    script: (request) => {
      const last = request.messages.at(-1);
      if (last?.role === 'tool') return { text: `It is ${last.content.replace(/"/g, '')} in Paris.` };
      return { toolCalls: [{ name: 'get_weather', arguments: '{"city":"Paris"}', callId: 'call_weather_1' }] };
    },
  });
  const server = await serve(assembleProviders({ transcriber: new ScriptedTranscriber(), responder, synthesizer: new ScriptedSynthesizer() }));
  const asked: string[] = [];
  const getWeather = tool({
    name: 'get_weather',
    description: 'The weather in a city.',
    parameters: z.object({ city: z.string() }),
    execute: async ({ city }) => {
      asked.push(city);
      return 'sunny';
    },
  });
  const { session, log, errors } = await connectAgent(server, new RealtimeAgent({ name: 'Weather', instructions: 'Use tools.', tools: [getWeather] }));
  session.sendMessage('What is the weather in Paris?');

  const callDone = await log.next('response.function_call_arguments.done', 10_000);
  assert.deepEqual([callDone.name, callDone.arguments, callDone.call_id], ['get_weather', '{"city":"Paris"}', 'call_weather_1']);
  const answer = await log.next(
    (event) => event.type === 'response.done' && event.response.output.some((item: { type: string }) => item.type === 'message'),
    10_000,
  );
  assert.equal(answer.response.status, 'completed');
  assert.deepEqual(asked, ['Paris'], 'the agent ran its tool once with the arguments the LLM sent');
  assert.equal(answer.response.output[0].content[0].transcript, 'It is sunny in Paris.');
  const toolMessage = responder.requests[1].messages.find((message) => message.role === 'tool');
  assert.ok(
    toolMessage && toolMessage.role === 'tool' && toolMessage.callId === 'call_weather_1' && toolMessage.content.includes('sunny'),
    'the tool output reached the LLM',
  );
  assert.deepEqual(
    responder.requests[0].tools?.map((definition) => definition.name),
    ['get_weather'],
    'the agent tools reached the LLM',
  );
  const call = session.history.find((item) => item.type === 'function_call');
  assert.ok(
    call && call.type === 'function_call' && call.name === 'get_weather' && call.output?.includes('sunny'),
    `history records the call: ${JSON.stringify(session.history)}`,
  );
  assert.deepEqual(errors, []);
});

test('an interruption: speech during a spoken answer cancels it and the SDK truncation comes back as conversation.item.truncated', async () => {
  // Ten sentences paced in real time (one 20 ms hop per 20 ms): the answer is still playing when the user speaks.
  const story = 'This is one sentence of a long story. '.repeat(10).trim();
  const synthesizer = new ScriptedSynthesizer({ hopLatencyMs: 20 });
  const server = await serve(
    assembleProviders({
      transcriber: new ScriptedTranscriber({ texts: 'stop please' }),
      responder: new ScriptedResponder({ script: { text: story } }),
      synthesizer,
    }),
  );
  const { session, log, errors } = await connectAgent(server, new RealtimeAgent({ name: 'Storyteller', instructions: 'Tell stories.' }));
  session.sendMessage('Tell me a story.');
  const firstAudio = await log.next('response.output_audio.delta', 10_000);

  const speech = await recording('en_one_two_three.wav', 24000, 800);
  for (const frame of frames(speech.samples)) session.sendAudio(frame);

  const started = await log.next('input_audio_buffer.speech_started', 10_000);
  const truncated = await log.next('conversation.item.truncated', 10_000);
  const cancelled = await log.next((event) => event.type === 'response.done' && event.response.id === firstAudio.response_id, 10_000);
  assert.equal(truncated.item_id, firstAudio.item_id, 'the answer being played is the item truncated');
  assert.equal(truncated.content_index, firstAudio.content_index);
  const receivedMs = log.events
    .filter((event) => event.type === 'response.output_audio.delta' && event.item_id === firstAudio.item_id)
    .reduce((sum, event) => sum + Buffer.from(event.delta, 'base64').length / 48, 0);
  assert.ok(truncated.audio_end_ms >= 0 && truncated.audio_end_ms <= receivedMs + 1, `truncated at ${truncated.audio_end_ms} ms of ${receivedMs} ms received`);
  assert.deepEqual([cancelled.response.status, cancelled.response.status_details], ['cancelled', { type: 'cancelled', reason: 'turn_detected' }]);
  assert.ok(log.indexOf(started) < log.indexOf(truncated));
  assert.equal(
    synthesizer.calls.some((call) => call.aborted),
    true,
    'the cancelled answer stopped upstream',
  );
  assert.deepEqual(errors, []);
});
