/**
 * Runs a synthesizer and resamples its stream once to the caller's rate, so every consumer
 * (HTTP speech, realtime sessions) gets PCM16 at the rate it needs.
 */
import { createStreamResampler } from '../audio/resample.ts';
import type { SynthesizeRequest, Synthesizer } from './contracts.ts';

export async function* synthesizeAt(synthesizer: Synthesizer, sampleRate: number, request: SynthesizeRequest): AsyncIterable<Int16Array> {
  const sourceRate = synthesizer.capabilities.sampleRate;
  if (sourceRate === sampleRate) {
    for await (const chunk of synthesizer.synthesize(request)) yield chunk.samples;
    return;
  }
  const resampler = await createStreamResampler(sourceRate, sampleRate);
  try {
    for await (const chunk of synthesizer.synthesize(request)) {
      if (chunk.sampleRate !== sourceRate) throw new Error(`synthesizer ${synthesizer.name} yielded ${chunk.sampleRate} Hz, declared ${sourceRate} Hz`);
      const out = resampler.push(chunk.samples);
      if (out.length > 0) yield out;
    }
    const tail = resampler.flush();
    if (tail.length > 0) yield tail;
  } finally {
    resampler.close();
  }
}
