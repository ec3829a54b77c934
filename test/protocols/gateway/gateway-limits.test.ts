/**
 * The gateway's share of the server limits (REALTIME_* settings): idle sessions close, a
 * client that stops reading is cut off at the outbound backlog limit with its response
 * cancelled upstream, and a shutdown closes sessions with 1001. Scripted providers set the
 * timing; the speech that opens a turn is real (espeak-ng), for the real VAD.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { ScriptedResponder } from '../../../src/providers/testing/scripted-responder.ts';
import { ScriptedSynthesizer } from '../../../src/providers/testing/scripted-synthesizer.ts';
import { ScriptedTranscriber } from '../../../src/providers/testing/scripted-transcriber.ts';
import { startTestServer } from '../../helpers/server.ts';
import { GatewayClient, gatewayUrl, pcmBytes, phraseAudio } from './gateway-harness.ts';

test('REALTIME_IDLE_TIMEOUT_SECONDS closes a gateway session that sends nothing with an error and 1000', async () => {
  const server = await startTestServer({}, { REALTIME_IDLE_TIMEOUT_SECONDS: '0.5' });
  try {
    const client = await GatewayClient.connect(gatewayUrl(server.url));
    client.send({ type: 'start' });
    await client.next('ready');
    const closed = await client.closed;
    assert.deepEqual([closed.code, closed.reason], [1000, 'session_idle']);
    assert.equal(client.messages.at(-1)?.code, 'session_idle');
  } finally {
    await server.close();
  }
});

test('a client that stops reading is cut off at the backlog limit and its response is cancelled upstream', async () => {
  // 300 characters at 1 s each: a 5-minute answer, 14 MB of 24 kHz PCM, far past the 64 KB
  // limit plus what the kernel's socket buffers hold.
  const synthesizer = new ScriptedSynthesizer({ msPerChar: 1000, hopMs: 100 });
  const engines = {
    transcriber: new ScriptedTranscriber({ texts: 'turn on the light' }),
    responder: new ScriptedResponder({ script: { text: 'a'.repeat(300) }, deltaChars: 300 }),
    synthesizer,
  };
  // The audio bounds are raised: the answer's 200-character sentences run past
  // MAX_SENTENCE_AUDIO_SECONDS, and this test is about the client's backlog, not the synthesizer.
  const server = await startTestServer(engines, {
    REALTIME_MAX_BUFFERED_KB: '64',
    REALTIME_SLOW_CONSUMER_SECONDS: '1',
    MAX_SENTENCE_AUDIO_SECONDS: '600',
    MAX_RESPONSE_AUDIO_SECONDS: '600',
  });
  try {
    const client = await GatewayClient.connect(gatewayUrl(server.url));
    client.send({ type: 'start' });
    await client.next('ready');
    client.sendFrames(pcmBytes(await phraseAudio('turn on the light', 24000, 300, 1000)), 48);
    await client.next('tts_start');
    client.socket.pause();
    const deadline = Date.now() + 15_000;
    while (!synthesizer.calls[0]?.aborted) {
      assert.ok(Date.now() < deadline, 'the server never applied its slow-consumer policy');
      await sleep(100);
    }
    assert.equal(synthesizer.calls[0].completed, false);
    client.socket.resume();
    const closed = await client.closed;
    assert.notEqual(closed.code, 1000);
  } finally {
    await server.close();
  }
});

test('a server shutdown during a turn tells the client how the turn ended and closes with 1001', async () => {
  const engines = {
    transcriber: new ScriptedTranscriber({ texts: 'turn on the light' }),
    responder: new ScriptedResponder({ script: { text: 'One. Two. Three. Four. Five. Six.' }, deltaLatencyMs: 300 }),
  };
  const server = await startTestServer(engines);
  const client = await GatewayClient.connect(gatewayUrl(server.url));
  client.send({ type: 'start' });
  await client.next('ready');
  client.sendFrames(pcmBytes(await phraseAudio('turn on the light', 24000, 300, 1000)), 48);
  const final = await client.next('stt_final');
  await server.close();
  const closed = await client.closed;
  assert.equal(closed.code, 1001);
  const error = client.messages.find((message) => message.type === 'error');
  assert.equal(error?.turn_id, final.turn_id);
  // As the other doors say of a shutdown: the engine is not available any more.
  assert.equal(error?.code, 'engine_unavailable');
  assert.match(error?.message ?? '', /closed before the response finished/);
});
