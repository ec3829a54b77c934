/**
 * Turn detection off (`turn_detection: null`: the client commits) with a streaming recognizer:
 * a real speechbridge and a /v1/realtime transcription client (`?intent=transcription`) that
 * appends a real recording in real time and then commits, as push-to-talk clients do.
 * - Gradium upstream (text while the audio streams): transcription deltas reach the client
 *   while it is still appending, before its commit, all naming the item the commit then
 *   creates; the commit is answered by one completed transcript from the same upstream stream
 *   (one Gradium socket for the turn, holding the turn's audio once: no second upload).
 * - OpenAI Realtime upstream (text only after a commit): the turn's audio is already upstream
 *   when the client commits; the commit is one upstream commit of that audio, answered by one
 *   completed transcript; a clear stops the turn and nothing of it is committed upstream.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { PcmAudio } from '../../src/audio/pcm.ts';
import { startServer, type RunningServer } from '../../src/server/app.ts';
import { loadConfig } from '../../src/server/config.ts';
import { createProviders } from '../../src/server/provider-factory.ts';
import type { Providers } from '../../src/server/providers.ts';
import { createLogger } from '../../src/server/logging.ts';
import { GRADIUM_TEST_KEY, startGradiumUpstream, type GradiumUpstream } from '../helpers/gradium-upstream.ts';
import { startRealtimeUpstream, type RealtimeUpstream } from '../helpers/openai-realtime-upstream.ts';
import { RealtimeClient, pcmFrames, recording, streamRealtime, withSilence } from './realtime-harness.ts';

const CANOE = 'The birch canoe slid on the smooth planks';

let speech: PcmAudio;

async function serverWith(env: Record<string, string>): Promise<{ server: RunningServer; providers: Providers }> {
  const config = loadConfig({ SERVER_NAME: '127.0.0.1', SERVER_PORT: '0', LOG_LEVEL: 'silent', REQUEST_TIMEOUT: '5', ...env });
  const logger = createLogger('silent');
  const providers = await createProviders(config, logger);
  return { server: await startServer({ config, providers, logger }), providers };
}

/** A transcription session with turn detection off. */
async function manualClient(server: RunningServer): Promise<RealtimeClient> {
  const client = await RealtimeClient.connect(`${server.url.replace(/^http/, 'ws')}/v1/realtime?intent=transcription`);
  await client.next('session.created');
  client.send({ type: 'session.update', session: { type: 'transcription', audio: { input: { turn_detection: null } } } });
  await client.next('session.updated');
  return client;
}

const isDelta = (event: { type: string }) => event.type === 'conversation.item.input_audio_transcription.delta';

before(async () => {
  speech = withSilence(await recording('en_harvard_birch_canoe.wav', 24000), 300, 300);
});

describe('turn detection off, Gradium as the recognizer', () => {
  let upstream: GradiumUpstream;
  let running: { server: RunningServer; providers: Providers };

  before(async () => {
    upstream = await startGradiumUpstream({ transcript: CANOE, msPerWord: 300 });
    running = await serverWith({ ASR_ENGINE: 'gradium', GRADIUM_API_KEY: GRADIUM_TEST_KEY, GRADIUM_BASE_URL: upstream.baseUrl });
  });

  after(async () => {
    await running?.server.close();
    await running?.providers.close();
    await upstream?.close();
  });

  test('deltas flow while the client appends; its commit gets one final from the same stream, with no second upload', async () => {
    const sockets = () => upstream.connections.filter((connection) => connection.path === '/api/speech/asr');
    const socketsBefore = sockets().length;
    const client = await manualClient(running.server);
    try {
      await streamRealtime((audio) => client.send({ type: 'input_audio_buffer.append', audio }), pcmFrames(speech));
      const beforeCommit = client.events.length;
      client.send({ type: 'input_audio_buffer.commit' });
      const committed = await client.next('input_audio_buffer.committed', 5000, beforeCommit);
      const completed = await client.next('conversation.item.input_audio_transcription.completed', 10_000);
      assert.equal(completed.transcript, CANOE);
      assert.equal(completed.item_id, committed.item_id);

      const deltasBeforeCommit = client.events.slice(0, beforeCommit).filter(isDelta);
      assert.ok(deltasBeforeCommit.length >= 3, `deltas while the client appended: ${client.types().join(', ')}`);
      const deltas = client.events.filter(isDelta);
      assert.ok(
        deltas.every((delta) => delta.item_id === committed.item_id),
        'every delta names the item the commit created',
      );
      assert.equal(
        deltas
          .map((delta) => delta.delta)
          .join('')
          .trim(),
        CANOE,
      );
      assert.equal(client.events.filter((event) => event.type === 'conversation.item.input_audio_transcription.completed').length, 1);
      assert.equal(client.events.filter((event) => event.type === 'input_audio_buffer.speech_started').length, 0, 'no VAD');

      assert.equal(sockets().length, socketsBefore + 1, 'one upstream stream for the turn');
      const streamed = sockets().at(-1)!;
      // Gradium's `pcm` input is 24 kHz.
      const upstreamMs = (streamed.audio.reduce((sum, samples) => sum + samples.length, 0) * 1000) / 24000;
      const clientMs = (speech.samples.length * 1000) / speech.sampleRate;
      // The recognizer's 320 ms of leading silence on top of the turn, and no second copy of it.
      assert.ok(upstreamMs > clientMs - 250 && upstreamMs < clientMs + 600, `the upstream got the turn once: ${upstreamMs} ms for ${clientMs} ms spoken`);
    } finally {
      await client.close();
    }
  });
});

describe('turn detection off, OpenAI Realtime as the recognizer', () => {
  let upstream: RealtimeUpstream;
  let running: { server: RunningServer; providers: Providers };

  before(async () => {
    upstream = await startRealtimeUpstream({ script: () => ({ transcript: CANOE }) });
    running = await serverWith({ ASR_ENGINE: 'openai-realtime', OPENAI_REALTIME_URL: upstream.url, AUDIO_API_KEY: 'sk-test-key' });
  });

  after(async () => {
    await running?.server.close();
    await running?.providers.close();
    await upstream?.close();
  });

  test('the audio is upstream before the commit; the commit is one upstream commit answered by one final; a clear commits nothing', async () => {
    const itemsBefore = upstream.items.length;
    const client = await manualClient(running.server);
    try {
      // A first turn the client thinks better of: cleared.
      await streamRealtime((audio) => client.send({ type: 'input_audio_buffer.append', audio }), pcmFrames(speech).slice(0, 25));
      client.send({ type: 'input_audio_buffer.clear' });
      await client.next('input_audio_buffer.cleared');

      await streamRealtime((audio) => client.send({ type: 'input_audio_buffer.append', audio }), pcmFrames(speech));
      // The second turn's appends reach the upstream as they are sent (the last one may still be on its way).
      const cleared = upstream.received.findIndex((event) => event.type === 'input_audio_buffer.clear');
      assert.ok(cleared >= 0, 'the cleared turn was cleared upstream');
      const upstreamBytes = () =>
        upstream.received
          .slice(cleared)
          .filter((event) => event.type === 'input_audio_buffer.append')
          .reduce((sum, event) => sum + (event.bytes ?? 0), 0);
      const turnBytes = speech.samples.length * 2;
      const deadline = Date.now() + 2000;
      while (upstreamBytes() < turnBytes && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
      assert.equal(upstream.received.filter((event) => event.type === 'input_audio_buffer.commit').length, 0, 'nothing committed upstream yet');
      const appendedBeforeCommit = upstreamBytes();
      client.send({ type: 'input_audio_buffer.commit' });
      const completed = await client.next('conversation.item.input_audio_transcription.completed', 10_000);
      assert.equal(completed.transcript, CANOE);
      assert.equal(upstream.items.length, itemsBefore + 1, 'one upstream item: the cleared turn was never committed');
      const item = upstream.items.at(-1)!;
      assert.equal(item.by, 'client');
      // The item is the second turn's audio only, all of it upstream before the client's commit.
      assert.ok(item.audio.length <= appendedBeforeCommit, `${item.audio.length} bytes committed, ${appendedBeforeCommit} appended before the commit`);
      assert.ok(item.audio.length > turnBytes - 24000 && item.audio.length <= turnBytes, `the turn went up once: ${item.audio.length} of ${turnBytes} bytes`);
      assert.equal(client.events.filter((event) => event.type === 'conversation.item.input_audio_transcription.completed').length, 1);
    } finally {
      await client.close();
    }
  });
});
