/**
 * Token log probabilities from a streaming upstream: a real speechbridge with
 * ASR_ENGINE=openai-realtime against the local OpenAI Realtime transcription server, and a
 * /v1/realtime client that asks for `include: ["item.input_audio_transcription.logprobs"]`.
 * The upstream session is asked for them in turn (its `session.update` carries the include),
 * and each transcription delta the client gets carries the tokens of its text, the completed
 * transcript all of them, as OpenAI sends them.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startConfiguredServer, type TestServer } from '../helpers/server.ts';
import { startRealtimeUpstream, type RealtimeUpstream } from '../helpers/openai-realtime-upstream.ts';
import { RealtimeClient, pcmFrames, recording, streamRealtime, withSilence } from './realtime-harness.ts';

const CANOE = 'The birch canoe slid on the smooth planks';
const LOGPROBS = 'item.input_audio_transcription.logprobs';

let upstream: RealtimeUpstream;
let server: TestServer;

before(async () => {
  upstream = await startRealtimeUpstream({ script: () => ({ transcript: CANOE }) });
  server = await startConfiguredServer({
    REQUEST_TIMEOUT: '5',
    ASR_ENGINE: 'openai-realtime',
    OPENAI_REALTIME_URL: upstream.url,
    AUDIO_API_KEY: 'sk-test-key',
  });
});

after(async () => {
  await server?.close();
  await upstream?.close();
});

test('include logprobs: the upstream is asked for them, and each delta and the completed transcript carry their tokens', async () => {
  const client = await RealtimeClient.connect(`${server.url.replace(/^http/, 'ws')}/v1/realtime?intent=transcription`);
  try {
    await client.next('session.created');
    client.send({ type: 'session.update', session: { type: 'transcription', include: [LOGPROBS] } });
    const updated = await client.next('session.updated');
    assert.deepEqual(updated.session.include, [LOGPROBS]);
    const speech = withSilence(await recording('en_harvard_birch_canoe.wav', 24000), 300, 1200);
    await streamRealtime((audio) => client.send({ type: 'input_audio_buffer.append', audio }), pcmFrames(speech));
    const completed = await client.next('conversation.item.input_audio_transcription.completed', 20_000);
    assert.equal(completed.transcript, CANOE);

    // The session's own upstream connection (the first one was the start-up probe).
    const connection = upstream.items.at(-1)!.connection;
    const upstreamUpdate = upstream.received.find((event) => event.connection === connection && event.type === 'session.update');
    assert.deepEqual(upstreamUpdate?.session.include, [LOGPROBS], 'the upstream session was asked for logprobs');
    const words = CANOE.split(' ').map((word, index) => (index === 0 ? word : ` ${word}`));
    const tokens = words.map((token, index) => ({ token, logprob: -0.01 * (index + 1), bytes: [...Buffer.from(token)] }));
    const deltas = client.events.filter((event) => event.type === 'conversation.item.input_audio_transcription.delta');
    assert.equal(deltas.map((delta) => delta.delta).join(''), CANOE);
    for (const delta of deltas) {
      assert.equal(delta.logprobs.map((entry: { token: string }) => entry.token).join(''), delta.delta, 'the tokens of this delta');
    }
    assert.deepEqual(
      deltas.flatMap((delta) => delta.logprobs),
      tokens,
    );
    assert.deepEqual(completed.logprobs, tokens);
  } finally {
    await client.close();
  }
});
