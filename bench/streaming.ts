/**
 * Streaming against batch recognition, as a /v1/realtime client feels it: speech stop → final
 * transcript, and speech stop → first reply audio. speechbridge runs with ASR_ENGINE=gradium
 * and TTS_ENGINE=gradium against the local Gradium server (test/helpers/gradium-upstream.ts)
 * given the latencies measured on the real service: `ready` 75 ms after setup (50–100 ms),
 * text 0.56 s behind the audio, `flushed` 250 ms after the flush, first TTS audio 250 ms after
 * the text (100–400 ms). The replies are the local echo responder's (no LLM latency).
 *
 * - streaming: the recognizer as it declares itself; the turn streams to Gradium while it is
 *   spoken and the commit only flushes.
 * - batch: the same recognizer with its streaming hidden, as the gateway used every recognizer
 *   before: after the commit, a new socket (setup, `ready`), the whole turn, then the flush.
 *
 * "Speech stop" is when the client receives input_audio_buffer.speech_stopped (the commit); the
 * recording is streamed in real time (20 ms frames) with 1.2 s of silence after it. Prints the
 * median over RUNS turns per arm, and the min–max. Run with `node --import tsx bench/streaming.ts [runs]`.
 * The fake Gradium decodes an uploaded turn instantly; a real service working at its real-time
 * pace would make the batch arm slower by up to the turn's length.
 */
import { performance } from 'node:perf_hooks';
import { EspeakSynthesizer } from '../src/providers/local/espeak-synthesizer.ts';
import type { Transcriber } from '../src/providers/contracts.ts';
import { startServer, type RunningServer } from '../src/server/app.ts';
import { loadConfig } from '../src/server/config.ts';
import { createProviders } from '../src/server/provider-factory.ts';
import type { Providers } from '../src/server/providers.ts';
import { createLogger } from '../src/server/logging.ts';
import { GRADIUM_TEST_KEY, startGradiumUpstream } from '../test/helpers/gradium-upstream.ts';
import { pcmFrames, RealtimeClient, recording, withSilence, type WireEvent } from '../test/e2e/realtime-harness.ts';
import { median } from './median.ts';

const RUNS = Number(process.argv[2] ?? 5);
const TEXT = 'The birch canoe slid on the smooth planks';

/** The recognizer with its streaming hidden: the engine transcribes each committed turn in one call. */
function asBatch(transcriber: Transcriber): Transcriber {
  return {
    name: transcriber.name,
    ...(transcriber.upstream !== undefined && { upstream: transcriber.upstream }),
    capabilities: { ...transcriber.capabilities, streaming: false },
    transcribe: (audio, options) => transcriber.transcribe(audio, options),
  };
}

async function oneTurn(server: RunningServer, frames: string[]): Promise<{ finalMs: number; audioMs: number }> {
  const client = await RealtimeClient.connect(`${server.url.replace(/^http/, 'ws')}/v1/realtime`);
  const arrivals = new Map<string, number>();
  client.socket.on('message', (data) => {
    const event = JSON.parse(data.toString()) as WireEvent;
    if (!arrivals.has(event.type)) arrivals.set(event.type, performance.now());
  });
  try {
    await client.next('session.created');
    const start = performance.now();
    for (const [index, frame] of frames.entries()) {
      const wait = start + index * 20 - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      client.send({ type: 'input_audio_buffer.append', audio: frame });
    }
    await client.next('conversation.item.input_audio_transcription.completed', 20_000);
    await client.next('response.output_audio.delta', 20_000);
    const stopped = arrivals.get('input_audio_buffer.speech_stopped')!;
    return {
      finalMs: arrivals.get('conversation.item.input_audio_transcription.completed')! - stopped,
      audioMs: arrivals.get('response.output_audio.delta')! - stopped,
    };
  } finally {
    await client.close();
  }
}

const espeak = await EspeakSynthesizer.create({ workers: 1 });
const upstream = await startGradiumUpstream({
  synthesizer: espeak,
  transcript: TEXT,
  msPerWord: 300,
  readyDelayMs: 75,
  textDelayMs: 560,
  flushDelayMs: 250,
  ttsFirstAudioDelayMs: 250,
});
const config = loadConfig({
  SERVER_NAME: '127.0.0.1',
  SERVER_PORT: '0',
  LOG_LEVEL: 'silent',
  ASR_ENGINE: 'gradium',
  TTS_ENGINE: 'gradium',
  GRADIUM_API_KEY: GRADIUM_TEST_KEY,
  GRADIUM_BASE_URL: upstream.baseUrl,
});
const logger = createLogger('silent');
const providers = await createProviders(config, logger);
const frames = pcmFrames(withSilence(await recording('en_harvard_birch_canoe.wav', 24000), 300, 1200));

console.log(`speech stop → final transcript / first reply audio, ms; median (min–max) of ${RUNS} turns; Gradium test server at the measured latencies`);
for (const arm of ['streaming', 'batch'] as const) {
  const armProviders: Providers = {
    ...providers,
    transcriber: arm === 'batch' ? asBatch(providers.transcriber) : providers.transcriber,
    close: async () => {},
  };
  const server = await startServer({ config, providers: armProviders, logger });
  try {
    await oneTurn(server, frames); // warm-up
    const finals: number[] = [];
    const audios: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      const { finalMs, audioMs } = await oneTurn(server, frames);
      finals.push(finalMs);
      audios.push(audioMs);
    }
    const range = (values: number[]) => `${Math.round(median(values))} (${Math.round(Math.min(...values))}–${Math.round(Math.max(...values))})`;
    console.log(`${arm.padEnd(10)} final transcript ${range(finals).padEnd(16)} first reply audio ${range(audios)}`);
  } finally {
    await server.close();
  }
}
await providers.close();
await upstream.close();
await espeak.close();
