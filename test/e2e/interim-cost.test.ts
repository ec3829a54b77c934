/**
 * What interim partials cost on a batch upstream billed per use (WHISPER_URL): a capturing
 * OpenAI-compatible server records every upload, and the audio it received is set against the
 * audio spoken (a real recording streamed in real time on Socket.IO and /v1/transcriptions,
 * both of which show partials by default).
 * - INTERIM_PASSES unset (auto): no interim pass goes upstream; the upstream gets each turn once
 *   (the speech plus the turn's padding and end silence, under 1.5× the speech).
 * - INTERIM_PASSES=on: the turn so far is uploaded again every 700 ms, over twice the audio
 *   spoken, and partials appear.
 * SHOW_COST=1 prints the ratios (README, "Interim transcripts and cost").
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { encodeBase64Audio } from '../../src/audio/base64.ts';
import { int16ToBytes, type PcmAudio } from '../../src/audio/pcm.ts';
import { ScriptedTranscriber } from '../../src/providers/testing/scripted-transcriber.ts';
import { ScriptedSynthesizer } from '../../src/providers/testing/scripted-synthesizer.ts';
import { startServer, type RunningServer } from '../../src/server/app.ts';
import { loadConfig } from '../../src/server/config.ts';
import { createProviders } from '../../src/server/provider-factory.ts';
import type { Providers } from '../../src/server/providers.ts';
import { createLogger } from '../../src/server/logging.ts';
import { startAudioUpstream, type AudioUpstream } from '../helpers/engine-audio-upstream.ts';
import { RealtimeSocket } from '../protocols/socketio/socketio-harness.ts';
import { TranscriptionClient } from '../protocols/transcriptions/transcriptions-harness.ts';
import { recording, withSilence } from './realtime-harness.ts';

const WAV_HEADER_BYTES = 44;
/** The OpenAI-compatible transcriber uploads 16 kHz 16-bit WAV. */
const UPLOAD_BYTES_PER_SECOND = 32_000;

let upstream: AudioUpstream;
let speech: PcmAudio;

before(async () => {
  upstream = await startAudioUpstream({
    transcriber: new ScriptedTranscriber({ texts: 'the birch canoe slid on the smooth planks' }),
    synthesizer: new ScriptedSynthesizer(),
  });
  speech = await recording('en_harvard_birch_canoe.wav', 24000);
});

after(async () => {
  await upstream?.close();
});

async function serve(env: Record<string, string>): Promise<{ server: RunningServer; providers: Providers }> {
  const config = loadConfig({
    SERVER_NAME: '127.0.0.1',
    SERVER_PORT: '0',
    LOG_LEVEL: 'silent',
    WHISPER_URL: upstream.baseURL,
    AUDIO_API_KEY: 'sk-test',
    ...env,
  });
  const logger = createLogger('silent');
  const providers = await createProviders(config, logger);
  return { server: await startServer({ config, providers, logger }), providers };
}

async function paced(audio: PcmAudio, send: (frame: Int16Array) => void): Promise<void> {
  const size = audio.sampleRate / 50;
  const start = performance.now();
  for (let index = 0; index * size < audio.samples.length; index++) {
    const wait = start + index * 20 - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    send(audio.samples.subarray(index * size, (index + 1) * size));
  }
}

/** Streams the recording on a door; returns the partials shown and the seconds uploaded meanwhile. */
async function measure(door: 'socketio' | 'transcriptions', server: RunningServer): Promise<{ partials: number; uploadedSeconds: number }> {
  const from = upstream.requests.length;
  const audio = withSilence(speech, 300, 1200);
  let partials: number;
  if (door === 'socketio') {
    const client = await RealtimeSocket.connect(server.url);
    try {
      await paced(audio, (frame) => client.emit('audio', { audio: encodeBase64Audio(frame, 'pcm16') }));
      await client.next('transcript_final', 20_000);
      partials = client.ofType('transcript_temp').length;
    } finally {
      client.close();
    }
  } else {
    const client = await TranscriptionClient.started(`${server.url.replace(/^http/, 'ws')}/v1/transcriptions`, { format: 'pcm16', sample_rate: 24000 });
    try {
      await paced(audio, (frame) => client.sendBinary(int16ToBytes(frame)));
      await client.next((message) => 'final' in message, 20_000);
      partials = client.messages.filter((message) => 'partial' in message).length;
    } finally {
      client.socket.close(1000);
      await client.closed;
    }
  }
  const uploads = upstream.requests.slice(from).filter((request) => request.path === '/v1/audio/transcriptions');
  const uploadedSeconds = uploads.reduce((sum, request) => sum + ((request.fileBytes ?? 0) - WAV_HEADER_BYTES) / UPLOAD_BYTES_PER_SECOND, 0);
  return { partials, uploadedSeconds };
}

for (const [label, env, expectPasses] of [
  ['INTERIM_PASSES unset (auto)', {}, false],
  ['INTERIM_PASSES=on', { INTERIM_PASSES: 'on' }, true],
] as const) {
  test(`an upstream billed per use, ${label}: ${expectPasses ? 'interim passes re-send the turn' : 'each turn is sent once'}`, async () => {
    const { server, providers } = await serve(env);
    try {
      const spokenSeconds = speech.samples.length / speech.sampleRate;
      for (const door of ['socketio', 'transcriptions'] as const) {
        const { partials, uploadedSeconds } = await measure(door, server);
        const ratio = uploadedSeconds / spokenSeconds;
        if (process.env.SHOW_COST)
          console.log(
            `${label} ${door}: ${uploadedSeconds.toFixed(2)} s sent for ${spokenSeconds.toFixed(2)} s spoken = ${ratio.toFixed(2)}×, ${partials} partials`,
          );
        if (expectPasses) {
          assert.ok(ratio > 2, `${door}: ${ratio.toFixed(2)}× the audio spoken`);
          assert.ok(partials > 0, `${door}: partials shown`);
        } else {
          assert.ok(ratio >= 1 && ratio < 1.5, `${door}: ${ratio.toFixed(2)}× the audio spoken`);
          assert.equal(partials, 0, `${door}: no partials without passes`);
        }
      }
    } finally {
      await server.close();
      await providers.close();
    }
  });
}
