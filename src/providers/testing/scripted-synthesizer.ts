/**
 * A Synthesizer that yields a tone or silence whose length follows the text (msPerChar per
 * character, divided by speed), in fixed hops after a fixed latency, for testing audio
 * streaming, pacing and cancellation exactly. It never stands in for a real voice.
 */
import type { PcmAudio } from '../../audio/pcm.ts';
import { throwIfAborted } from '../../errors/abort.ts';
import { SpeechbridgeError } from '../../errors/registry.ts';
import type { SynthesizeRequest, Synthesizer, SynthesizerCapabilities } from '../contracts.ts';
import { OPENAI_VOICES } from '../openai/voices.ts';
import { delay, injectedError, watchAbort, type CallRecord, type InjectedFailure } from './script.ts';

export interface ScriptedSynthesizerFailure extends InjectedFailure {
  /** Hops sent before the failure; default 0. */
  afterHops?: number;
}

export interface ScriptedSynthesizerOptions {
  /** Default 24000. */
  sampleRate?: number;
  /** Wait before the first hop; default 0. */
  latencyMs?: number;
  /** Wait before each later hop; default 0. */
  hopLatencyMs?: number;
  /** Audio per yielded chunk; default 20 ms. */
  hopMs?: number;
  /** Audio per character of text at speed 1; default 60 ms (about 15 characters a second). */
  msPerChar?: number;
  /** Default 'tone'. */
  sound?: 'tone' | 'silence';
  /** Default 440 Hz at a quarter of full scale (−15 dBFS RMS). */
  toneHz?: number;
  /** Accepted voices (others: unknown_voice); default OpenAI's. */
  voices?: readonly string[];
  failure?: ScriptedSynthesizerFailure;
  /** Declares textStreaming and takes a response's text piece by piece (synthesizeStream); default false. */
  textStreaming?: boolean;
}

export interface SynthesizerCall extends CallRecord {
  text: string;
  voice: string;
  speed: number;
  model?: string;
  /** Hops yielded. */
  hops: number;
  /** synthesizeStream: the pieces of text in the order they came, each with the hops yielded before it. */
  pieces?: Array<{ text: string; hopsBefore: number }>;
}

const TONE_AMPLITUDE = 0.25 * 32767;

export class ScriptedSynthesizer implements Synthesizer {
  readonly name = 'scripted-synthesizer';
  readonly capabilities: SynthesizerCapabilities;
  readonly calls: SynthesizerCall[] = [];
  private readonly options: ScriptedSynthesizerOptions;
  /** One second of the tone, when it repeats every second (a whole number of hertz). */
  private toneSecond?: Int16Array;

  constructor(options: ScriptedSynthesizerOptions = {}) {
    this.options = options;
    const voices = options.voices ?? OPENAI_VOICES;
    this.capabilities = {
      streaming: true,
      textStreaming: options.textStreaming ?? false,
      sampleRate: options.sampleRate ?? 24000,
      voices,
      defaultVoice: voices[0] ?? 'alloy',
    };
  }

  /** Samples the fake yields for a text at a speed, for tests to compare against. */
  expectedSamples(text: string, speed = 1): number {
    const ms = (text.length * (this.options.msPerChar ?? 60)) / speed;
    return Math.round((ms * this.capabilities.sampleRate) / 1000);
  }

  async *synthesize(request: SynthesizeRequest): AsyncIterable<PcmAudio> {
    const voice = request.voice ?? this.capabilities.defaultVoice;
    const speed = request.speed ?? 1;
    const call: SynthesizerCall = {
      text: request.text,
      voice,
      speed,
      ...(request.model !== undefined && { model: request.model }),
      hops: 0,
      aborted: false,
      completed: false,
    };
    this.calls.push(call);
    const callNumber = this.calls.length;
    const unwatch = watchAbort(call, request.signal);
    try {
      if (!this.capabilities.voices.includes(voice)) {
        throw new SpeechbridgeError('unknown_voice', `the scripted synthesizer has no voice "${voice}"`, { param: 'voice' });
      }
      const failure = injectedError(this.options.failure, callNumber, 'synthesize');
      const failAfter = this.options.failure?.afterHops ?? 0;
      const sampleRate = this.capabilities.sampleRate;
      const total = this.expectedSamples(request.text, speed);
      const hop = Math.max(1, Math.round(((this.options.hopMs ?? 20) * sampleRate) / 1000));
      for (let start = 0; start < total; start += hop) {
        if (failure && call.hops >= failAfter) break;
        await delay(call.hops === 0 ? (this.options.latencyMs ?? 0) : (this.options.hopLatencyMs ?? 0), request.signal);
        call.hops++;
        yield { samples: this.render(start, Math.min(hop, total - start)), sampleRate };
      }
      if (failure) {
        await delay(call.hops === 0 ? (this.options.latencyMs ?? 0) : 0, request.signal);
        call.failedWith = failure.code;
        throw failure;
      }
      throwIfAborted(request.signal);
      call.completed = true;
    } finally {
      unwatch();
    }
  }

  /** One call for a response's text as it is written: each piece's audio as soon as the piece comes. */
  async *synthesizeStream(text: AsyncIterable<string>, request: Omit<SynthesizeRequest, 'text'>): AsyncIterable<PcmAudio> {
    const voice = request.voice ?? this.capabilities.defaultVoice;
    const speed = request.speed ?? 1;
    const pieces: NonNullable<SynthesizerCall['pieces']> = [];
    const call: SynthesizerCall = {
      text: '',
      voice,
      speed,
      ...(request.model !== undefined && { model: request.model }),
      hops: 0,
      pieces,
      aborted: false,
      completed: false,
    };
    this.calls.push(call);
    const unwatch = watchAbort(call, request.signal);
    try {
      const sampleRate = this.capabilities.sampleRate;
      const hop = Math.max(1, Math.round(((this.options.hopMs ?? 20) * sampleRate) / 1000));
      let offset = 0;
      for await (const piece of text) {
        pieces.push({ text: piece, hopsBefore: call.hops });
        call.text += piece;
        const total = this.expectedSamples(piece, speed);
        for (let start = 0; start < total; start += hop) {
          await delay(call.hops === 0 ? (this.options.latencyMs ?? 0) : (this.options.hopLatencyMs ?? 0), request.signal);
          call.hops++;
          yield { samples: this.render(offset + start, Math.min(hop, total - start)), sampleRate };
        }
        offset += total;
      }
      throwIfAborted(request.signal);
      call.completed = true;
    } finally {
      unwatch();
    }
  }

  private render(start: number, length: number): Int16Array {
    const samples = new Int16Array(length);
    if ((this.options.sound ?? 'tone') === 'silence') return samples;
    const toneHz = this.options.toneHz ?? 440;
    const sampleRate = this.capabilities.sampleRate;
    const step = (2 * Math.PI * toneHz) / sampleRate;
    if (!Number.isInteger(toneHz)) {
      for (let i = 0; i < length; i++) samples[i] = Math.round(TONE_AMPLITUDE * Math.sin((start + i) * step));
      return samples;
    }
    // A whole number of hertz repeats every second: one second is computed once and copied from
    // (a load test's server then spends its time on the gateway, not on sines).
    if (!this.toneSecond) {
      this.toneSecond = new Int16Array(sampleRate);
      for (let i = 0; i < sampleRate; i++) this.toneSecond[i] = Math.round(TONE_AMPLITUDE * Math.sin(i * step));
    }
    for (let written = 0; written < length;) {
      const from = (start + written) % sampleRate;
      const count = Math.min(length - written, sampleRate - from);
      samples.set(this.toneSecond.subarray(from, from + count), written);
      written += count;
    }
    return samples;
  }
}
