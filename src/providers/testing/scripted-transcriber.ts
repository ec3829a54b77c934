/**
 * A Transcriber that returns scripted text after a fixed latency, for testing the gateway's
 * own logic (turns, events, errors) fast and exactly. It never stands in for a real engine.
 * With `streaming`, transcribeStream releases one word as a delta per incoming audio chunk,
 * the rest once the audio ends, then the completed transcription.
 */
import type { PcmAudio } from '../../audio/pcm.ts';
import { durationMs } from '../../audio/pcm.ts';
import type { TokenLogprob, TranscribeOptions, Transcriber, TranscriberCapabilities, Transcription, TranscriptStreamEvent } from '../contracts.ts';
import { throwIfAborted } from '../../errors/abort.ts';
import { delay, injectedError, pickScripted, watchAbort, type CallRecord, type InjectedFailure, type Scripted } from './script.ts';

export interface ScriptedTranscriberOptions {
  /** The text per call (default 'hello world'); a function gets the audio (absent when streaming). */
  texts?: Scripted<string, PcmAudio | undefined>;
  /**
   * Wait before the result (after the audio ends when streaming); default 0. A function gets
   * the audio's length in ms, for a recognizer that takes longer on longer turns (batch calls).
   */
  latencyMs?: number | ((audioMs: number) => number);
  /** Reported language; default 'en'. */
  language?: string;
  /** Declares streaming and provides transcribeStream. */
  streaming?: boolean;
  failure?: InjectedFailure;
  /** Declared input rate; default 16000. */
  sampleRate?: number;
  /** Declares logprobs: each word of the text is a token (with its leading space), logprob −0.01 × its position. */
  logprobs?: boolean;
}

export interface TranscriberCall extends CallRecord {
  audioMs: number;
  options: Omit<TranscribeOptions, 'signal'>;
  text?: string;
}

export class ScriptedTranscriber implements Transcriber {
  readonly name = 'scripted-transcriber';
  readonly capabilities: TranscriberCapabilities;
  readonly calls: TranscriberCall[] = [];
  readonly transcribeStream?: (audio: AsyncIterable<PcmAudio>, options?: TranscribeOptions) => AsyncIterable<TranscriptStreamEvent>;
  private readonly options: ScriptedTranscriberOptions;

  constructor(options: ScriptedTranscriberOptions = {}) {
    this.options = options;
    this.capabilities = {
      streaming: options.streaming ?? false,
      languageDetection: true,
      segments: true,
      sampleRate: options.sampleRate ?? 16000,
      languages: 'any',
      logprobs: options.logprobs ?? false,
    };
    if (options.streaming) this.transcribeStream = (audio, streamOptions) => this.stream(audio, streamOptions);
  }

  async transcribe(audio: PcmAudio, options: TranscribeOptions = {}): Promise<Transcription> {
    const call = this.record(durationMs(audio), options);
    const callIndex = this.calls.length - 1;
    const unwatch = watchAbort(call, options.signal);
    try {
      await delay(this.latencyFor(call.audioMs), options.signal);
      this.failIfScripted(call);
      const text = pickScripted(this.options.texts ?? 'hello world', audio, callIndex);
      call.text = text;
      call.completed = true;
      return this.transcription(text, call.audioMs, options.language, options.logprobs);
    } finally {
      unwatch();
    }
  }

  private latencyFor(audioMs: number): number {
    const latency = this.options.latencyMs ?? 0;
    return typeof latency === 'function' ? latency(audioMs) : latency;
  }

  private async *stream(audio: AsyncIterable<PcmAudio>, options: TranscribeOptions = {}): AsyncIterable<TranscriptStreamEvent> {
    const call = this.record(0, options);
    const callIndex = this.calls.length - 1;
    const unwatch = watchAbort(call, options.signal);
    try {
      const text = pickScripted(this.options.texts ?? 'hello world', undefined, callIndex);
      const words = text.split(/\s+/).filter(Boolean);
      let released = 0;
      const delta = (): TranscriptStreamEvent => ({ type: 'delta', text: (released === 0 ? '' : ' ') + words[released++] });
      for await (const chunk of audio) {
        throwIfAborted(options.signal);
        call.audioMs += durationMs(chunk);
        if (released < words.length) yield delta();
      }
      await delay(this.latencyFor(call.audioMs), options.signal);
      this.failIfScripted(call);
      while (released < words.length) yield delta();
      throwIfAborted(options.signal);
      call.text = text;
      call.completed = true;
      yield { type: 'completed', transcription: this.transcription(text, call.audioMs, options.language, options.logprobs) };
    } finally {
      unwatch();
    }
  }

  private record(audioMs: number, options: TranscribeOptions): TranscriberCall {
    const { signal: _signal, ...rest } = options;
    const call: TranscriberCall = { audioMs, options: rest, aborted: false, completed: false };
    this.calls.push(call);
    return call;
  }

  private failIfScripted(call: TranscriberCall): void {
    const error = injectedError(this.options.failure, this.calls.indexOf(call) + 1, 'transcribe');
    if (!error) return;
    call.failedWith = error.code;
    throw error;
  }

  private transcription(text: string, audioMs: number, language: string | undefined, logprobs = false): Transcription {
    return {
      text,
      language: language ?? this.options.language ?? 'en',
      durationMs: audioMs,
      segments: text ? [{ startMs: 0, endMs: Math.round(audioMs), text }] : [],
      ...(logprobs && this.options.logprobs && { logprobs: wordTokens(text) }),
    };
  }
}

function wordTokens(text: string): TokenLogprob[] {
  return text
    .split(/\s+/)
    .filter(Boolean)
    .map((word, index) => {
      const token = ` ${word}`;
      return { token, logprob: -0.01 * (index + 1), bytes: [...Buffer.from(token, 'utf8')] };
    });
}
