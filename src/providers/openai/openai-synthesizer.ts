/**
 * Synthesizer over an OpenAI-compatible `POST {TTS_API_URL}/audio/speech` with
 * response_format 'pcm' (raw PCM16 little-endian mono at 24 kHz, OpenAI's format). The body is
 * read as it arrives and each network chunk is yielded at once, so audio starts playing while
 * the upstream is still synthesizing. A chunk can end in the middle of a sample; the odd byte
 * is carried into the next chunk.
 *
 * REQUEST_TIMEOUT bounds the wait for the first bytes and every gap after them, RESPONSE_TIMEOUT
 * the whole call, however steadily it drips. A 200 whose body holds no audio is a failure
 * (upstream_bad_response), not a silent success. How much audio may come is the caller's bound
 * (synthesizeAt's audioLimit): leaving the stream early cancels the body and aborts the request.
 */
import type OpenAI from 'openai';
import { APIError } from 'openai';
import type { PcmAudio } from '../../audio/pcm.ts';
import { abortError, throwIfAborted } from '../../errors/abort.ts';
import { SpeechbridgeError } from '../../errors/registry.ts';
import type { SynthesizeRequest, Synthesizer, SynthesizerCapabilities } from '../contracts.ts';
import { defaultUpstreamLimits } from '../upstream-limits.ts';
import { createOpenAIClient } from './client.ts';
import { badResponse, displayURL, upstreamError, type UpstreamContext } from './errors.ts';
import { startIdleDeadline } from './idle-deadline.ts';
import { OPENAI_VOICES } from './voices.ts';

/** OpenAI's 'pcm' response format. */
export const OPENAI_PCM_SAMPLE_RATE = 24000;

export interface OpenAISynthesizerOptions {
  /** TTS_API_URL, e.g. https://api.openai.com/v1. */
  baseURL: string;
  apiKey?: string;
  /** Named in auth failures, e.g. 'TTS_API_KEY'. */
  apiKeyName?: string;
  /** Default 'gpt-4o-mini-tts'; a request's model wins. */
  model?: string;
  /** Default 'alloy'. */
  defaultVoice?: string;
  /** Voices to advertise; default OpenAI's. Any voice is passed on: the upstream decides. */
  voices?: readonly string[];
  /** DEFAULT_TTS_INSTRUCTIONS: used when a request has none. */
  defaultInstructions?: string;
  /** REQUEST_TIMEOUT in ms: the longest wait for the first bytes and between chunks. */
  timeoutMs: number;
  /** RESPONSE_TIMEOUT in ms: the whole call; default 4 × timeoutMs. */
  responseTimeoutMs?: number;
  /** For tests and proxies. */
  fetch?: typeof fetch;
}

export class OpenAISynthesizer implements Synthesizer {
  readonly name = 'openai-synthesizer';
  readonly capabilities: SynthesizerCapabilities;
  readonly upstream: string;
  private readonly client: OpenAI;
  private readonly model: string;
  private readonly defaultInstructions?: string;
  private readonly timeoutMs: number;
  private readonly responseTimeoutMs: number;
  private readonly context: UpstreamContext;

  constructor(options: OpenAISynthesizerOptions) {
    this.client = createOpenAIClient(options);
    this.upstream = displayURL(options.baseURL);
    this.model = options.model ?? 'gpt-4o-mini-tts';
    this.defaultInstructions = options.defaultInstructions;
    this.timeoutMs = options.timeoutMs;
    this.responseTimeoutMs = options.responseTimeoutMs ?? defaultUpstreamLimits(options.timeoutMs).responseTimeoutMs;
    this.capabilities = {
      streaming: true,
      sampleRate: OPENAI_PCM_SAMPLE_RATE,
      voices: options.voices ?? OPENAI_VOICES,
      defaultVoice: options.defaultVoice ?? 'alloy',
    };
    this.context = {
      baseURL: options.baseURL,
      operation: 'speech',
      apiKey: options.apiKey,
      apiKeyName: options.apiKeyName,
      timeoutMs: options.timeoutMs,
    };
  }

  async *synthesize(request: SynthesizeRequest): AsyncIterable<PcmAudio> {
    throwIfAborted(request.signal);
    if (!request.text.trim()) return;
    const voice = request.voice ?? this.capabilities.defaultVoice;
    const model = request.model ?? this.model;
    const instructions = request.instructions ?? this.defaultInstructions;
    const deadline = startIdleDeadline({ idleMs: this.timeoutMs, totalMs: this.responseTimeoutMs }, request.signal);
    let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
    try {
      const response = await this.client.audio.speech.create(
        {
          model,
          voice,
          input: request.text,
          response_format: 'pcm',
          ...(request.speed !== undefined ? { speed: request.speed } : {}),
          // tts-1 and tts-1-hd take no instructions; only the newer speech models do.
          ...(instructions && !model.startsWith('tts-1') ? { instructions } : {}),
        },
        { signal: deadline.signal },
      );
      deadline.touch();
      const contentType = response.headers.get('content-type') ?? '';
      if (/json|^text\//i.test(contentType)) throw badResponse(this.context, `expected raw PCM audio, got ${contentType}`);
      if (!response.body) throw badResponse(this.context, 'the response has no body');
      reader = response.body.getReader();
      let carry: number | undefined;
      let bytes = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        deadline.touch();
        bytes += value.byteLength;
        const chunk = toSamples(value, carry);
        carry = chunk.carry;
        if (chunk.samples.length > 0) yield { samples: chunk.samples, sampleRate: OPENAI_PCM_SAMPLE_RATE };
      }
      // A final odd byte is half a sample from a truncated body: dropped, it cannot be played.
      if (deadline.signal.aborted) throw abortError();
      if (bytes < 2) throw badResponse(this.context, `HTTP ${response.status} with no audio in the body`);
    } catch (error) {
      if (error instanceof APIError && error.status === 400 && error.param === 'voice') {
        throw new SpeechbridgeError('unknown_voice', `${displayURL(this.context.baseURL)} has no voice "${voice}"`, { param: 'voice', cause: error });
      }
      throw upstreamError(error, this.context, deadline);
    } finally {
      deadline.dispose();
      // Stops the download when the caller stopped reading early (no-op after the end).
      await reader?.cancel().catch(() => {});
    }
  }
}

/** PCM16 LE bytes → samples, with the odd byte of the previous chunk in front. */
function toSamples(bytes: Uint8Array, carry: number | undefined): { samples: Int16Array; carry: number | undefined } {
  const total = bytes.length + (carry === undefined ? 0 : 1);
  const sampleCount = Math.floor(total / 2);
  const samples = new Int16Array(sampleCount);
  const byteAt = (index: number) => (carry === undefined ? bytes[index] : index === 0 ? carry : bytes[index - 1]);
  for (let i = 0; i < sampleCount; i++) {
    const low = byteAt(2 * i);
    const high = byteAt(2 * i + 1);
    samples[i] = (high << 8) | low;
  }
  return { samples, carry: total % 2 === 1 ? byteAt(total - 1) : undefined };
}
