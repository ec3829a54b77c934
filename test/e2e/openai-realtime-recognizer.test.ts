/**
 * The OpenAI Realtime recognizer end to end: a real speechbridge with ASR_ENGINE=openai-realtime
 * against the local OpenAI Realtime transcription server, and clients that send μ-law as a phone
 * bridge does — /v1/realtime (GA `audio/pcmu`) and the gateway on `/` (`input_format: ulaw`,
 * binary frames). What is observed:
 * - the client gets its transcript;
 * - the upstream was told `audio/pcmu` and its committed item holds a run of exactly the bytes
 *   the client sent: neither resampled nor re-encoded (the silence is sent as μ-law's negative
 *   zero, 0x7F, which a decode and re-encode would turn into 0xFF); with turn detection off the
 *   item is the client's appended bytes exactly, from the first byte to the last;
 * - a client that switches to PCM16 between turns gets the next turn transcribed on the same
 *   upstream connection, the upstream told `audio/pcm` before that turn's audio, and no upstream
 *   item mixes the two formats;
 * - a /v1/realtime client that asks for `include: ["item.input_audio_transcription.logprobs"]`
 *   gets the upstream session asked for them in turn (its `session.update` carries the include),
 *   each transcription delta with the tokens of its text and the completed transcript with all
 *   of them, as OpenAI sends them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { muLawEncode } from '../../src/audio/g711.ts';
import type { PcmAudio } from '../../src/audio/pcm.ts';
import { startConfiguredServer, type TestServer } from '../helpers/server.ts';
import { startRealtimeUpstream, type RealtimeUpstream } from '../helpers/openai-realtime-upstream.ts';
import { GatewayClient, gatewayUrl } from '../protocols/gateway/gateway-harness.ts';
import { RealtimeClient, pcmFrames, recording, streamRealtime, withSilence } from './realtime-harness.ts';

const CANOE = 'The birch canoe slid on the smooth planks';
const LOGPROBS = 'item.input_audio_transcription.logprobs';
/** 20 ms of G.711: 8 kHz, one byte per sample. */
const G711_FRAME_BYTES = 160;

let upstream: RealtimeUpstream;
let server: TestServer;
let speech8k: PcmAudio;
let speech24k: PcmAudio;

/** The recording in μ-law with 300 ms of silence before and 1.2 s after (past the VAD's end of turn), the silence as 0x7F. */
function muLawTurn(): Buffer {
  const silence = (ms: number) => Buffer.alloc(ms * 8, 0x7f);
  return Buffer.concat([silence(300), Buffer.from(muLawEncode(speech8k.samples)), silence(1200)]);
}

async function paced(bytes: Buffer, send: (frame: Buffer) => void): Promise<void> {
  const start = performance.now();
  for (let offset = 0, index = 0; offset < bytes.length; offset += G711_FRAME_BYTES, index++) {
    const wait = start + index * 20 - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    send(bytes.subarray(offset, offset + G711_FRAME_BYTES));
  }
}

function assertPassedThrough(item: RealtimeUpstream['items'][number], clientBytes: Buffer): void {
  assert.deepEqual(item.formats, ['audio/pcmu'], 'the upstream read the item as μ-law');
  assert.ok(item.audio.length >= speech8k.samples.length, `the item holds the whole utterance: ${item.audio.length} bytes`);
  assert.ok(clientBytes.indexOf(item.audio) >= 0, 'the item is a run of exactly the bytes the client sent');
  assert.ok(item.audio.includes(0x7f), "the padding's negative zeros went up as they were");
}

before(async () => {
  speech8k = await recording('en_harvard_birch_canoe.wav', 8000);
  speech24k = await recording('en_harvard_birch_canoe.wav', 24000);
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

describe('G.711 to the OpenAI Realtime recognizer', () => {
  test('/v1/realtime in audio/pcmu: the transcript comes back and the upstream got the μ-law bytes as sent; PCM16 after a format change', async () => {
    const itemsBefore = upstream.items.length;
    const connectionsBefore = upstream.connections.length;
    const client = await RealtimeClient.connect(`${server.url.replace(/^http/, 'ws')}/v1/realtime`);
    try {
      await client.next('session.created');
      client.send({ type: 'session.update', session: { type: 'realtime', output_modalities: ['text'], audio: { input: { format: { type: 'audio/pcmu' } } } } });
      await client.next('session.updated');
      const clientBytes = muLawTurn();
      await paced(clientBytes, (frame) => client.send({ type: 'input_audio_buffer.append', audio: frame.toString('base64') }));
      const first = await client.next('conversation.item.input_audio_transcription.completed', 20_000);
      assert.equal(first.transcript, CANOE);
      assert.equal(upstream.items.length, itemsBefore + 1, 'one upstream item for the turn');
      assertPassedThrough(upstream.items[itemsBefore], clientBytes);

      // The client goes to PCM16 at 24 kHz for its next turn.
      client.send({ type: 'session.update', session: { type: 'realtime', audio: { input: { format: { type: 'audio/pcm', rate: 24000 } } } } });
      await client.next(
        (event) => event.type === 'session.updated' && event.session.audio.input.format.type === 'audio/pcm',
        5000,
        client.events.indexOf(first),
      );
      const after = client.events.length;
      await streamRealtime((audio) => client.send({ type: 'input_audio_buffer.append', audio }), pcmFrames(withSilence(speech24k, 300, 1200)));
      const second = await client.next('conversation.item.input_audio_transcription.completed', 20_000, after);
      assert.equal(second.transcript, CANOE);
      assert.notEqual(second.item_id, first.item_id);
      const pcmItem = upstream.items[itemsBefore + 1];
      assert.deepEqual(pcmItem.formats, ['audio/pcm'], 'the PCM16 turn was read as PCM16, nothing of it as μ-law');
      assert.ok(pcmItem.audio.length >= speech24k.samples.length * 2, `the PCM16 turn went up whole: ${pcmItem.audio.length} bytes`);
      assert.equal(upstream.connections.length, connectionsBefore + 1, 'both turns on one upstream connection');
      const formats = upstream.received
        .filter((event) => event.connection === connectionsBefore && event.type === 'session.update')
        .map((event) => event.session.audio.input.format.type);
      assert.deepEqual(formats, ['audio/pcmu', 'audio/pcm'], 'the upstream was told each turn’s format before its audio');
    } finally {
      await client.close();
    }
  });

  test('/v1/realtime in audio/pcmu with turn detection off: the committed upstream item is exactly the bytes the client appended', async () => {
    const itemsBefore = upstream.items.length;
    const client = await RealtimeClient.connect(`${server.url.replace(/^http/, 'ws')}/v1/realtime?intent=transcription`);
    try {
      await client.next('session.created');
      client.send({ type: 'session.update', session: { type: 'transcription', audio: { input: { format: { type: 'audio/pcmu' }, turn_detection: null } } } });
      await client.next('session.updated');
      const clientBytes = muLawTurn();
      await paced(clientBytes, (frame) => client.send({ type: 'input_audio_buffer.append', audio: frame.toString('base64') }));
      client.send({ type: 'input_audio_buffer.commit' });
      const completed = await client.next('conversation.item.input_audio_transcription.completed', 20_000);
      assert.equal(completed.transcript, CANOE);
      assert.equal(upstream.items.length, itemsBefore + 1);
      const item = upstream.items[itemsBefore];
      assert.deepEqual(item.formats, ['audio/pcmu']);
      assert.ok(item.audio.equals(clientBytes), `the item is the client's ${clientBytes.length} bytes, byte for byte (got ${item.audio.length})`);
    } finally {
      await client.close();
    }
  });

  test('the gateway with input_format ulaw: stt_final comes back and the upstream got the μ-law bytes as sent', async () => {
    const itemsBefore = upstream.items.length;
    const client = await GatewayClient.connect(gatewayUrl(server.url));
    try {
      client.send({ type: 'start', input_format: 'ulaw' });
      const ready = await client.next('ready');
      assert.equal(ready.stt_input_format, 'ulaw_8000');
      const clientBytes = muLawTurn();
      await paced(clientBytes, (frame) => client.sendBinary(frame));
      const final = await client.next((message) => message.type === 'stt_final' || message.type === 'error', 20_000);
      assert.equal(final.type, 'stt_final', JSON.stringify(final));
      assert.equal(final.text, CANOE);
      assert.equal(upstream.items.length, itemsBefore + 1);
      assertPassedThrough(upstream.items[itemsBefore], clientBytes);
    } finally {
      await client.close();
    }
  });
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
