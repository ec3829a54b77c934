/**
 * Transcriber over an OpenAI-compatible `POST {WHISPER_URL}/audio/transcriptions` (OpenAI,
 * faster-whisper servers, whisper.cpp's server, another speechbridge). Audio goes up as a
 * 16-bit WAV file at the rate it has (callers resample to capabilities.sampleRate, 16 kHz).
 *
 * It asks for `verbose_json` to get the detected language and segments. Upstreams that reject
 * it (gpt-4o-transcribe models, some servers) get one retry with `json`; once that works, this
 * instance asks for `json` from then on instead of paying the failed call every time.
 *
 * Token log probabilities: OpenAI gives them for its gpt-4o transcribe models, with `json`
 * only, when asked with `include[]=logprobs`; the capability is declared from the configured
 * model, and a request that asks for them is sent that way.
 *
 * The whole call, upload and answer, takes at most REQUEST_TIMEOUT, and the answer's body at
 * most MAX_TRANSCRIPTION_KB (read through a bounded fetch, so a larger one is cut off and its
 * request aborted rather than parsed).
 */
import type OpenAI from 'openai';
import { toFile } from 'openai';
import type { PcmAudio } from '../../audio/pcm.ts';
import { durationMs } from '../../audio/pcm.ts';
import { writeWav } from '../../audio/wav.ts';
import { throwIfAborted } from '../../errors/abort.ts';
import { SpeechbridgeError } from '../../errors/registry.ts';
import type { TokenLogprob, TranscribeOptions, Transcriber, TranscriberCapabilities, Transcription, TranscriptSegment } from '../contracts.ts';
import { startDeadline } from '../deadline.ts';
import { languageCode } from '../languages.ts';
import { defaultUpstreamLimits, formatBytes, LIMIT_SETTINGS } from '../upstream-limits.ts';
import { createOpenAIClient } from './client.ts';
import { badResponse, displayURL, isRejectedParameter, upstreamError, type UpstreamContext } from './errors.ts';

export interface OpenAITranscriberOptions {
  /** WHISPER_URL: the API root, e.g. https://api.openai.com/v1. */
  baseURL: string;
  apiKey?: string;
  /** Named in auth failures, e.g. 'AUDIO_API_KEY'. */
  apiKeyName?: string;
  /** Default 'whisper-1'; a request's model wins. */
  model?: string;
  /** REQUEST_TIMEOUT in ms. */
  timeoutMs: number;
  /** MAX_TRANSCRIPTION_KB in bytes; default 1 MB (src/providers/upstream-limits.ts). */
  maxResponseBytes?: number;
  /** For tests and proxies; wrapped in the body bound. */
  fetch?: typeof fetch;
}

type ResponseFormat = 'verbose_json' | 'json';

/** OpenAI's transcription models that give logprobs (gpt-4o-transcribe, gpt-4o-mini-transcribe and their dated versions; not the diarize one). */
export function modelGivesLogprobs(model: string): boolean {
  return /^gpt-4o(-mini)?-transcribe(?!-diarize)/.test(model);
}

export class OpenAITranscriber implements Transcriber {
  readonly name = 'openai-transcriber';
  readonly capabilities: TranscriberCapabilities;
  readonly upstream: string;
  private readonly client: OpenAI;
  private readonly model: string;
  private readonly timeoutMs: number;
  private readonly context: UpstreamContext;
  private format: ResponseFormat = 'verbose_json';

  constructor(options: OpenAITranscriberOptions) {
    this.upstream = displayURL(options.baseURL);
    const maxBytes = options.maxResponseBytes ?? defaultUpstreamLimits().maxTranscriptionBytes;
    const bodyLimit = {
      maxBytes,
      tooLarge: () =>
        new SpeechbridgeError(
          'upstream_response_too_large',
          `${this.upstream} sent a transcription response larger than ${formatBytes(maxBytes)} (${LIMIT_SETTINGS.maxTranscriptionBytes}); the request was aborted`,
        ),
    };
    this.client = createOpenAIClient({ ...options, bodyLimit });
    this.model = options.model ?? 'whisper-1';
    this.capabilities = {
      streaming: false,
      languageDetection: true,
      segments: true,
      sampleRate: 16000,
      languages: 'any',
      logprobs: modelGivesLogprobs(this.model),
    };
    this.timeoutMs = options.timeoutMs;
    this.context = {
      baseURL: options.baseURL,
      operation: 'transcription',
      apiKey: options.apiKey,
      apiKeyName: options.apiKeyName,
      timeoutMs: options.timeoutMs,
    };
  }

  async transcribe(audio: PcmAudio, options: TranscribeOptions = {}): Promise<Transcription> {
    throwIfAborted(options.signal);
    const wav = writeWav(audio);
    // Logprobs come only with json.
    if (options.logprobs)
      return this.request(wav, audio, options, 'json').catch((error: unknown) => {
        throw upstreamError(error, this.context);
      });
    try {
      return await this.request(wav, audio, options, this.format);
    } catch (error) {
      if (this.format !== 'verbose_json' || !isRejectedParameter(error)) throw upstreamError(error, this.context);
      const transcription = await this.request(wav, audio, options, 'json').catch((retryError: unknown) => {
        throw upstreamError(retryError, this.context);
      });
      this.format = 'json';
      return transcription;
    }
  }

  /** One upstream call; errors come back raw (except timeouts) so the caller can decide on a retry. */
  private async request(wav: Buffer, audio: PcmAudio, options: TranscribeOptions, format: ResponseFormat): Promise<Transcription> {
    const deadline = startDeadline(this.timeoutMs, options.signal);
    try {
      const file = await toFile(wav, 'audio.wav', { type: 'audio/wav' });
      const body: unknown = await this.client.audio.transcriptions.create(
        {
          file,
          model: options.model ?? this.model,
          response_format: format,
          ...(options.language ? { language: options.language } : {}),
          ...(options.prompt ? { prompt: options.prompt } : {}),
          ...(options.temperature !== undefined ? { temperature: options.temperature } : {}),
          ...(options.logprobs ? { include: ['logprobs' as const] } : {}),
        },
        { signal: deadline.signal },
      );
      return this.parse(body, audio, options.language);
    } catch (error) {
      if (deadline.signal.aborted) throw upstreamError(error, this.context, deadline);
      throw error;
    } finally {
      deadline.dispose();
    }
  }

  private parse(body: unknown, audio: PcmAudio, requestedLanguage: string | undefined): Transcription {
    if (!body || typeof body !== 'object' || typeof (body as { text?: unknown }).text !== 'string') {
      const got = typeof body === 'string' ? `text starting "${body.replace(/\s+/g, ' ').trim().slice(0, 60)}"` : `a ${typeof body} without a text field`;
      throw badResponse(this.context, `expected JSON with a "text" field, got ${got}`);
    }
    const verbose = body as { text: string; language?: unknown; segments?: unknown; logprobs?: unknown };
    const detected = typeof verbose.language === 'string' ? languageCode(verbose.language) : undefined;
    const logprobs = parseLogprobs(verbose.logprobs);
    return {
      text: verbose.text.trim(),
      language: detected ?? requestedLanguage,
      durationMs: durationMs(audio),
      segments: parseSegments(verbose.segments),
      ...(logprobs && { logprobs }),
    };
  }
}

function parseLogprobs(logprobs: unknown): TokenLogprob[] | undefined {
  if (!Array.isArray(logprobs)) return undefined;
  const out: TokenLogprob[] = [];
  for (const entry of logprobs) {
    const { token, logprob, bytes } = (entry ?? {}) as { token?: unknown; logprob?: unknown; bytes?: unknown };
    if (typeof token !== 'string' || typeof logprob !== 'number') continue;
    const byteList = Array.isArray(bytes) && bytes.every((byte) => Number.isInteger(byte)) ? (bytes as number[]) : [...Buffer.from(token, 'utf8')];
    out.push({ token, logprob, bytes: byteList });
  }
  return out;
}

function parseSegments(segments: unknown): TranscriptSegment[] {
  if (!Array.isArray(segments)) return [];
  const out: TranscriptSegment[] = [];
  for (const segment of segments) {
    const { start, end, text } = (segment ?? {}) as { start?: unknown; end?: unknown; text?: unknown };
    if (typeof start !== 'number' || typeof end !== 'number' || typeof text !== 'string') continue;
    out.push({ startMs: Math.round(start * 1000), endMs: Math.round(end * 1000), text: text.trim() });
  }
  return out;
}
