/**
 * Runs a synthesizer and resamples its stream once to the caller's rate, so every consumer
 * (HTTP speech, realtime sessions) gets PCM16 at the rate it needs. With an audio limit, a
 * synthesizer that sends more audio than the limit stops there: the stream is left (which
 * cancels an upstream's body and aborts its request) and fails with upstream_response_too_large.
 */
import { createStreamResampler } from '../audio/resample.ts';
import { SpeechbridgeError } from '../errors/registry.ts';
import type { PcmAudio } from '../audio/pcm.ts';
import type { SynthesizeRequest, Synthesizer } from './contracts.ts';
import { formatMs } from './upstream-limits.ts';

export interface AudioLimit {
  maxMs: number;
  /** What the limit is for, in the message: "one sentence", "one request". */
  per: string;
  /** The setting that holds it, e.g. MAX_SENTENCE_AUDIO_SECONDS. */
  setting: string;
}

export function synthesizeAt(synthesizer: Synthesizer, sampleRate: number, request: SynthesizeRequest, limit?: AudioLimit): AsyncIterable<Int16Array> {
  return atRate(synthesizer, () => synthesizer.synthesize(request), sampleRate, limit);
}

/**
 * The same for a response's text as it is written (Synthesizer.synthesizeStream): one stream of
 * audio for the whole text. Only for synthesizers whose capabilities say textStreaming.
 */
export function synthesizeStreamAt(
  synthesizer: Synthesizer,
  sampleRate: number,
  text: AsyncIterable<string>,
  request: Omit<SynthesizeRequest, 'text'>,
  limit?: AudioLimit,
): AsyncIterable<Int16Array> {
  const stream = synthesizer.synthesizeStream;
  if (!synthesizer.capabilities.textStreaming || !stream) throw new Error(`synthesizer ${synthesizer.name} does not take streamed text`);
  return atRate(synthesizer, () => stream.call(synthesizer, text, request), sampleRate, limit);
}

async function* atRate(synthesizer: Synthesizer, open: () => AsyncIterable<PcmAudio>, sampleRate: number, limit?: AudioLimit): AsyncIterable<Int16Array> {
  const sourceRate = synthesizer.capabilities.sampleRate;
  const maxSamples = limit ? Math.floor((limit.maxMs * sourceRate) / 1000) : Infinity;
  let received = 0;
  const check = (samples: number) => {
    received += samples;
    if (received > maxSamples && limit) {
      throw new SpeechbridgeError(
        'upstream_response_too_large',
        `${synthesizer.upstream ?? synthesizer.name} sent more than ${formatMs(limit.maxMs)} of audio for ${limit.per} (${limit.setting}); synthesis was stopped`,
      );
    }
  };
  if (sourceRate === sampleRate) {
    for await (const chunk of open()) {
      check(chunk.samples.length);
      yield chunk.samples;
    }
    return;
  }
  const resampler = await createStreamResampler(sourceRate, sampleRate);
  try {
    for await (const chunk of open()) {
      if (chunk.sampleRate !== sourceRate) throw new Error(`synthesizer ${synthesizer.name} yielded ${chunk.sampleRate} Hz, declared ${sourceRate} Hz`);
      check(chunk.samples.length);
      const out = resampler.push(chunk.samples);
      if (out.length > 0) yield out;
    }
    const tail = resampler.flush();
    if (tail.length > 0) yield tail;
  } finally {
    resampler.close();
  }
}
