/**
 * Results in the order the turns were spoken, on the wires that carry no turn id, over real
 * sockets: a recognizer that takes longer on longer turns (0.3 × the turn's length) gets a 5 s
 * turn force-cut by the VAD's max_ms and then the short rest of the sentence. The short turn
 * is recognised first; Socket.IO's transcript_final and /v1/transcriptions' {"final"} still
 * come out long turn first. The gateway's `end` and the transcription door's `stop` close the
 * session only once every turn has its result.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { PcmAudio } from '../../src/audio/pcm.ts';
import { ScriptedResponder } from '../../src/providers/testing/scripted-responder.ts';
import { ScriptedSynthesizer } from '../../src/providers/testing/scripted-synthesizer.ts';
import { ScriptedTranscriber } from '../../src/providers/testing/scripted-transcriber.ts';
import type { RunningServer } from '../../src/server/app.ts';
import { startTestServer } from '../helpers/server.ts';
import { GatewayClient, gatewayUrl, pcmBytes } from '../protocols/gateway/gateway-harness.ts';
import { RealtimeSocket } from '../protocols/socketio/socketio-harness.ts';
import { TranscriptionClient } from '../protocols/transcriptions/transcriptions-harness.ts';
import { pcmFrames, recording, withSilence } from './realtime-harness.ts';

/** One sentence read without a pause as long as END_MS: the VAD cuts it at MAX_MS, and the rest is the next turn. */
const CLIP = 'en_ls_1089-134686-0000.wav';
const SPOKEN_MS = 6500;
const MAX_MS = 5000;
const END_MS = 1500;
const LONG = 'the long turn';
const SHORT = 'the short turn';

let server: RunningServer;
let transcriber: ScriptedTranscriber;
/** Final transcriptions in the order the recognizer finished them (interim passes, shorter than a second, left out). */
const recognised: string[] = [];

/** The first SPOKEN_MS of the sentence at `sampleRate`, then silence that ends the last turn. */
async function sentence(sampleRate: number): Promise<PcmAudio> {
  const whole = await recording(CLIP, sampleRate);
  return withSilence({ samples: whole.samples.subarray(0, (sampleRate * SPOKEN_MS) / 1000), sampleRate }, 300, END_MS + 1000);
}

before(async () => {
  transcriber = new ScriptedTranscriber({
    texts: (audio) => (audio!.samples.length > audio!.sampleRate * 3 ? LONG : SHORT),
    latencyMs: (audioMs) => audioMs * 0.3,
  });
  const transcribe = transcriber.transcribe.bind(transcriber);
  transcriber.transcribe = async (audio, options) => {
    const result = await transcribe(audio, options);
    recognised.push(result.text);
    return result;
  };
  server = await startTestServer({
    transcriber,
    responder: new ScriptedResponder({ script: { text: 'Noted.' } }),
    synthesizer: new ScriptedSynthesizer(),
  });
});

after(async () => {
  await server?.close();
});

/** 20 ms binary frames, as a microphone client sends them. */
function frames(samples: Int16Array, samplesPerFrame: number): Buffer[] {
  const out: Buffer[] = [];
  for (let offset = 0; offset < samples.length; offset += samplesPerFrame) {
    out.push(pcmBytes({ samples: samples.subarray(offset, offset + samplesPerFrame), sampleRate: 0 }));
  }
  return out;
}

/** The recognizer finished the short turn before the long one, so the order below is the engine's doing. */
function assertShortRecognisedFirst(): void {
  const short = recognised.lastIndexOf(SHORT);
  const long = recognised.lastIndexOf(LONG);
  assert.ok(short >= 0 && long >= 0 && short < long, `recognised: ${recognised.join(', ')}`);
}

test('Socket.IO: transcript_final of a 5 s force-cut turn comes before the next short turn’s', async () => {
  recognised.length = 0;
  const client = await RealtimeSocket.connect(server.url, { transports: ['websocket'] });
  await client.next('connected');
  const accepted = await client.socket.emitWithAck('update_session', { session: { turn_detection: { type: 'server_vad', end_ms: END_MS, max_ms: MAX_MS } } });
  assert.deepEqual(accepted, { ok: true });
  client.sendAudio(pcmFrames(await sentence(24000)));
  await client.next(() => client.ofType('transcript_final').length === 2, 20_000);
  client.close();
  const finals = client.ofType('transcript_final').map((message) => message.content as string);
  assert.deepEqual(finals, [LONG, SHORT], client.types().join(', '));
  assertShortRecognisedFirst();
});

test('/v1/transcriptions: {"final"} in spoken order, and stop closes only after the last final', async () => {
  recognised.length = 0;
  const url = `${server.url.replace(/^http/, 'ws')}/v1/transcriptions`;
  const client = await TranscriptionClient.started(url, {
    sample_rate: 16000,
    format: 'pcm16',
    interim_results: false,
    vad: { end_ms: END_MS, max_ms: MAX_MS },
  });
  const audio = await sentence(16000);
  // No trailing silence: stop has to commit the short turn, which is still being spoken.
  for (const frame of frames(audio.samples.subarray(0, audio.samples.length - 16 * (END_MS + 1000)), 320)) client.sendBinary(frame);
  client.send({ action: 'stop' });
  const closed = await client.closed;
  assert.equal(closed.code, 1000);
  assert.deepEqual(client.finals(), [LONG, SHORT], JSON.stringify(client.messages));
  assertShortRecognisedFirst();
});

test('gateway: end closes 1000 only once every turn has its stt_final, text_final and tts_end, in spoken order', async () => {
  recognised.length = 0;
  const client = await GatewayClient.connect(gatewayUrl(server.url));
  // VAD settings are the server's here; the whole sentence at the default max_ms is cut into turns the same way.
  client.send({ type: 'start' });
  await client.next('ready');
  const audio = await sentence(24000);
  for (const frame of frames(audio.samples.subarray(0, audio.samples.length - 24 * (END_MS + 1000)), 480)) client.sendBinary(frame);
  client.send({ type: 'end' });
  const closed = await client.closed;
  assert.equal(closed.code, 1000);
  const finals = client.messages.filter((message) => message.type === 'stt_final');
  assert.ok(finals.length >= 2, client.sequence().join(', '));
  const turnIds = finals.map((message) => message.turn_id as string);
  for (const type of ['text_final', 'tts_end']) {
    assert.deepEqual(
      client.messages.filter((message) => message.type === type).map((message) => message.turn_id),
      turnIds,
      `${type} for every turn, in order: ${client.sequence().join(', ')}`,
    );
  }
  assert.ok(!client.sequence().includes('error'), client.sequence().join(', '));
});
