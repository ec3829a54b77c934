/**
 * Whole turns through the gateway protocol on `/`, on real engines: WebRTC VAD, pocketsphinx
 * with the command grammar, the echo responder (mode rewrite says back what was heard) and
 * espeak-ng. Audio goes in as binary frames, as base64 `audio` messages, and as G.711 μ-law;
 * what comes back is checked as a client hears it, and the reply audio is transcribed again.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { aLawDecode } from '../../../src/audio/g711.ts';
import { rmsDbfs, type PcmAudio } from '../../../src/audio/pcm.ts';
import { resample } from '../../../src/audio/resample.ts';
import { EchoResponder } from '../../../src/providers/local/echo-responder.ts';
import { ScriptedTranscriber } from '../../../src/providers/testing/scripted-transcriber.ts';
import type { RunningServer } from '../../../src/server/app.ts';
import { startTestServer } from '../../helpers/server.ts';
import { GatewayClient, gatewayUrl, pcmBytes, phraseAudio, type RealEngines, realEngines, samplesOf, ulawBytes } from './gateway-harness.ts';

let engines: RealEngines;
let server: RunningServer;

before(async () => {
  engines = await realEngines();
  server = await startTestServer({ transcriber: engines.transcriber, responder: new EchoResponder(), synthesizer: engines.synthesizer });
});

after(async () => {
  await server?.close();
  await engines?.synthesizer.close();
});

/** The messages of one finished turn, in the order the protocol promises. */
function assertTurnOrder(client: GatewayClient): void {
  const sequence = client.sequence().filter((type) => type !== 'stt_partial');
  const first = (type: string) => sequence.indexOf(type);
  assert.deepEqual(sequence.slice(0, 2), ['ready', 'stt_final'], sequence.join(', '));
  assert.ok(first('stt_final') < first('tts_start'), sequence.join(', '));
  assert.ok(first('tts_start') < first('audio'), sequence.join(', '));
  assert.ok(sequence.lastIndexOf('audio') < first('text_final'), sequence.join(', '));
  assert.equal(sequence.at(-1), 'tts_end', sequence.join(', '));
  assert.ok(!sequence.includes('error'), sequence.join(', '));
}

async function assertSpokenReply(samples: Int16Array, sampleRate: number, phrase: string): Promise<void> {
  const replyMs = (samples.length * 1000) / sampleRate;
  assert.ok(replyMs > 500, `reply is ${replyMs} ms`);
  assert.ok(rmsDbfs(samples) > -35, `reply level ${rmsDbfs(samples).toFixed(1)} dBFS`);
  const reheard = await engines.transcriber.transcribe({ samples, sampleRate });
  assert.equal(reheard.text, phrase, 'pocketsphinx hears the reply audio say the phrase');
}

test('binary PCM frames at 24 kHz: stt_final, text_final, tts_start, PCM audio frames, tts_end, then end closes 1000', async () => {
  const phrase = 'turn on the light';
  const audio = await phraseAudio(phrase, 24000, 300, 1000);
  const client = await GatewayClient.connect(gatewayUrl(server.url));
  client.send({ type: 'start' });
  const ready = await client.next('ready');
  assert.equal(ready.stt_input_format, 'pcm_24000');
  assert.equal(ready.tts_output_format, 'pcm_24000');
  assert.equal(ready.input_sample_rate, 24000);

  client.sendFrames(pcmBytes(audio), 48);
  const final = await client.next('stt_final');
  assert.equal(final.text, phrase);
  client.send({ type: 'end' });
  const closed = await client.closed;

  assert.equal(closed.code, 1000);
  assertTurnOrder(client);
  const ttsStart = client.messages.find((message) => message.type === 'tts_start')!;
  assert.equal(ttsStart.format, 'pcm_24000');
  assert.equal(ttsStart.sample_rate, 24000);
  const textFinal = client.messages.find((message) => message.type === 'text_final')!;
  assert.equal(textFinal.text, phrase, 'the echo responder rewrites a turn into its own words');
  assert.equal(textFinal.turn_id, final.turn_id);
  assert.equal(client.messages.find((message) => message.type === 'tts_end')!.turn_id, final.turn_id);
  await assertSpokenReply(samplesOf(client.audioBytes()), 24000, phrase);
});

test('base64 audio messages, and end right after the speech: the open turn is finished and answered before the close', async () => {
  const phrase = 'turn on the radio';
  // No silence after the phrase: only `end` can finish this turn.
  const audio = await phraseAudio(phrase, 24000, 300, 0);
  const client = await GatewayClient.connect(gatewayUrl(server.url));
  client.send({ type: 'start', input_format: 'pcm', output_format: 'pcm_16000' });
  const ready = await client.next('ready');
  assert.equal(ready.tts_output_format, 'pcm_16000');
  const bytes = pcmBytes(audio);
  for (let start = 0; start < bytes.byteLength; start += 960) client.send({ type: 'audio', audio: bytes.subarray(start, start + 960).toString('base64') });
  client.send({ type: 'end' });
  const closed = await client.closed;

  assert.equal(closed.code, 1000);
  assertTurnOrder(client);
  assert.equal(client.messages.find((message) => message.type === 'stt_final')!.text, phrase);
  assert.equal(client.messages.find((message) => message.type === 'text_final')!.text, phrase);
  const ttsStart = client.messages.find((message) => message.type === 'tts_start')!;
  assert.deepEqual([ttsStart.format, ttsStart.sample_rate], ['pcm_16000', 16000]);
  await assertSpokenReply(samplesOf(client.audioBytes()), 16000, phrase);
});

/**
 * pocketsphinx's en-us model needs wideband speech and hears nothing in 8 kHz audio (tried with
 * its filter-bank flags too), so the text here comes from a transcriber that records the audio
 * it gets; the test checks that audio is the speech sent, and that A-law audio comes back.
 */
test('binary PCM frames of odd sizes, split inside samples as a pipe reads them, are joined into one stream and transcribed', async () => {
  const phrase = 'turn off the radio';
  const bytes = pcmBytes(await phraseAudio(phrase, 16000, 300, 1000));
  const client = await GatewayClient.connect(gatewayUrl(server.url));
  client.send({ type: 'start', input_format: 'pcm_16000' });
  await client.next('ready');
  for (let start = 0; start < bytes.byteLength; start += 999) client.sendBinary(bytes.subarray(start, start + 999));
  const final = await client.next('stt_final');
  assert.equal(final.text, phrase);
  client.send({ type: 'end' });
  assert.equal((await client.closed).code, 1000);
  assert.ok(!client.sequence().includes('error'), client.sequence().join(', '));
});

test('G.711 μ-law at 8 kHz in, A-law out: the transcriber gets the speech sent and the reply is A-law audio', async () => {
  const audio = await phraseAudio('turn on the heater', 8000, 300, 1000);
  const heard: PcmAudio[] = [];
  const transcriber = new ScriptedTranscriber({
    texts: (turn) => {
      if (turn) heard.push(turn);
      return 'turn on the heater';
    },
  });
  const telephone = await startTestServer({ transcriber, responder: new EchoResponder(), synthesizer: engines.synthesizer });
  try {
    const client = await GatewayClient.connect(gatewayUrl(telephone.url));
    client.send({ type: 'start', input_format: 'ulaw', output_format: 'alaw' });
    const ready = await client.next('ready');
    assert.deepEqual(
      [ready.stt_input_format, ready.tts_output_format, ready.input_sample_rate, ready.output_sample_rate],
      ['ulaw_8000', 'alaw_8000', 8000, 8000],
    );
    client.sendFrames(ulawBytes(audio), 8);
    assert.equal((await client.next('stt_final')).text, 'turn on the heater');
    client.send({ type: 'end' });
    assert.equal((await client.closed).code, 1000);

    assertTurnOrder(client);
    assert.equal(client.messages.filter((message) => message.type === 'stt_final').length, 1, `one turn; received ${client.sequence().join(', ')}`);
    // The last call is the committed turn's; earlier ones are stt_partial passes.
    const turn = heard.at(-1)!;
    const speech = await resample({ samples: audio.samples, sampleRate: 8000 }, turn.sampleRate);
    const score = similarity(turn.samples, speech.samples);
    assert.ok(score > 0.9, `the turn the transcriber got is the μ-law speech sent (correlation ${score.toFixed(3)})`);
    const ttsStart = client.messages.find((message) => message.type === 'tts_start')!;
    assert.deepEqual([ttsStart.format, ttsStart.sample_rate], ['alaw_8000', 8000]);
    // One byte per 8 kHz sample.
    const reply = aLawDecode(client.audioBytes());
    assert.ok(reply.length / 8 > 500, `reply is ${reply.length / 8} ms`);
    assert.ok(rmsDbfs(reply) > -35, `reply level ${rmsDbfs(reply).toFixed(1)} dBFS`);
  } finally {
    await telephone.close();
  }
});

/** Peak normalized cross-correlation of a turn against the speech it was cut from (1 = the same waveform). */
function similarity(turn: Int16Array, speech: Int16Array): number {
  const energy = (samples: Int16Array, from: number, length: number) => {
    let sum = 0;
    for (let i = from; i < from + length; i++) sum += samples[i] * samples[i];
    return sum;
  };
  // Aligned by the first loud sample of each, then searched 200 samples either way.
  const onset = (samples: Int16Array) => samples.findIndex((sample) => Math.abs(sample) > 1000);
  const guess = onset(speech) - onset(turn);
  const length = Math.min(turn.length, 16000);
  const turnEnergy = energy(turn, 0, length);
  let best = 0;
  for (let offset = Math.max(0, guess - 200); offset <= guess + 200 && offset + length <= speech.length; offset++) {
    let dot = 0;
    for (let i = 0; i < length; i++) dot += turn[i] * speech[offset + i];
    best = Math.max(best, dot / Math.sqrt(turnEnergy * energy(speech, offset, length) || 1));
  }
  return best;
}

test('two turns sent back to back: each gets its own stt_final, a rewrite of that turn alone, and tts_end, in order', async () => {
  const phrases = ['turn on the light', 'turn on the radio'];
  const client = await GatewayClient.connect(gatewayUrl(server.url));
  client.send({ type: 'start' });
  await client.next('ready');
  // The second turn arrives while the first is still being answered.
  for (const phrase of phrases) client.sendFrames(pcmBytes(await phraseAudio(phrase, 24000, 300, 1000)), 48);
  await client.next((message) => message.type === 'tts_end' && client.messages.filter((seen) => seen.type === 'tts_end').length === 2, 30_000);
  client.send({ type: 'end' });
  assert.equal((await client.closed).code, 1000);

  const finals = client.messages.filter((message) => message.type === 'stt_final');
  const rewrites = client.messages.filter((message) => message.type === 'text_final');
  assert.deepEqual(
    finals.map((message) => message.text),
    phrases,
  );
  assert.deepEqual(
    rewrites.map((message) => message.text),
    phrases,
  );
  assert.deepEqual(
    rewrites.map((message) => message.turn_id),
    finals.map((message) => message.turn_id),
  );
  assert.notEqual(finals[0].turn_id, finals[1].turn_id);
  assert.deepEqual(
    client.messages.filter((message) => message.type === 'tts_end').map((message) => message.turn_id),
    finals.map((message) => message.turn_id),
  );
  assert.deepEqual(
    client.messages.filter((message) => message.type === 'tts_start').map((message) => message.turn_id),
    finals.map((message) => message.turn_id),
  );
  assert.ok(!client.sequence().includes('error'), client.sequence().join(', '));
});

test('audio streamed in real time gets stt_partial text of each turn while it is spoken', async () => {
  const phrases = ['turn off the radio', 'turn on the light'];
  const bytes = Buffer.concat([pcmBytes(await phraseAudio(phrases[0], 24000, 300, 300)), pcmBytes(await phraseAudio(phrases[1], 24000, 0, 800))]);
  const client = await GatewayClient.connect(gatewayUrl(server.url));
  client.send({ type: 'start' });
  await client.next('ready');
  const frame = 960;
  const startedAt = performance.now();
  for (let index = 0; index * frame < bytes.byteLength; index++) {
    const wait = startedAt + index * 20 - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    client.sendBinary(bytes.subarray(index * frame, (index + 1) * frame));
  }
  client.send({ type: 'end' });
  assert.equal((await client.closed).code, 1000);

  const finals = client.messages.filter((message) => message.type === 'stt_final');
  assert.deepEqual(
    finals.map((final) => final.text),
    phrases,
    client.sequence().join(', '),
  );
  // At least one partial over the two turns: a pass that is still running when its turn ends is
  // dropped, so on a busy machine a short turn may have none.
  const partials = client.messages.filter((message) => message.type === 'stt_partial');
  assert.ok(partials.length >= 1, `stt_partial while speaking; received ${client.sequence().join(', ')}`);
  for (const partial of partials) {
    const final = finals.find((candidate) => candidate.turn_id === partial.turn_id);
    assert.ok(final, `the partial belongs to a turn: ${partial.turn_id}`);
    assert.ok(client.messages.indexOf(partial) < client.messages.indexOf(final), "partials come before their turn's final text");
    assert.ok(typeof partial.text === 'string' && partial.text.length > 0);
  }
});
