/**
 * Speech synthesis by Gradium's text-to-speech WebSocket ({base}/speech/tts). synthesize()
 * speaks one text (a sentence of a response); synthesizeStream() takes a response's text as
 * the LLM writes it, sends it on in whole words (Gradium joins the `text` messages of a request
 * with spaces, so a word cut in two would be spoken as two) and yields audio as it comes. Both
 * are requests on shared, reusable sockets (tts-multiplexer.ts), so a sentence costs no new
 * upgrade or session; aborting the signal (barge-in) ends the request upstream at once.
 *
 * Output is PCM16 at the rate of GRADIUM_TTS_OUTPUT_FORMAT (`pcm`: 48 kHz); callers resample
 * once (synthesize-at.ts). The voice is GRADIUM_TTS_VOICE_ID unless a request names a Gradium
 * voice (OpenAI's names, which clients send by default, mean the configured one). A request's
 * `speed` and `instructions` are not passed on: Gradium's setup has no such fields.
 */
import type { PcmAudio } from '../../audio/pcm.ts';
import { SpeechbridgeError } from '../../errors/registry.ts';
import type { SynthesizeRequest, Synthesizer, SynthesizerCapabilities } from '../contracts.ts';
import { throwIfAborted } from '../../errors/abort.ts';
import { defaultUpstreamLimits } from '../upstream-limits.ts';
import { DEFAULT_GRADIUM_BASE_URL, gradiumEndpoint } from './endpoint.ts';
import { ttsOutputFormat, type GradiumAudioFormat } from './formats.ts';
import { DEFAULT_GRADIUM_VOICE_ID, gradiumModel, gradiumVoice } from './request-names.ts';
import { probeGradium, type ProbeResult } from './startup-probe.ts';
import { TtsMultiplexer, type TtsRequest } from './tts-multiplexer.ts';
import type { GradiumContext } from './upstream-errors.ts';
import { WordChunker } from './word-chunker.ts';

export interface GradiumSynthesizerOptions {
  /** GRADIUM_API_KEY. */
  apiKey: string;
  /** GRADIUM_BASE_URL as read by gradiumBaseUrl(); default wss://api.gradium.ai/api. */
  baseURL?: string;
  /** GRADIUM_TTS_MODEL; default 'default'. */
  model?: string;
  /** GRADIUM_TTS_VOICE_ID; default YTpq7expH9539ERJ. */
  voiceId?: string;
  /** GRADIUM_TTS_OUTPUT_FORMAT; default 'pcm' (48 kHz). */
  outputFormat?: string;
  /** REQUEST_TIMEOUT in ms. */
  timeoutMs: number;
  /** RESPONSE_TIMEOUT in ms; default 4 × timeoutMs. */
  responseTimeoutMs?: number;
  /** Sockets take new requests for this long (default 300 s − RESPONSE_TIMEOUT). */
  retireAfterMs?: number;
  /** A socket without requests is closed after this long; default 30 s. */
  idleCloseMs?: number;
  maxRequestsPerSocket?: number;
  /** Audio a request may hold for its reader; default 60 s. */
  maxQueuedAudioMs?: number;
}

export class GradiumSynthesizer implements Synthesizer {
  readonly name = 'gradium';
  readonly upstream: string;
  readonly capabilities: SynthesizerCapabilities;
  readonly model: string;
  readonly format: GradiumAudioFormat;
  readonly #mux: TtsMultiplexer;
  readonly #context: GradiumContext;
  readonly #timeoutMs: number;

  constructor(options: GradiumSynthesizerOptions) {
    const format = ttsOutputFormat(options.outputFormat ?? 'pcm');
    if (!format)
      throw new SpeechbridgeError('invalid_config', `GRADIUM_TTS_OUTPUT_FORMAT=${options.outputFormat}: not a raw audio format speechbridge can stream`);
    this.format = format;
    this.model = options.model ?? 'default';
    const voiceId = options.voiceId ?? DEFAULT_GRADIUM_VOICE_ID;
    this.upstream = gradiumEndpoint(options.baseURL ?? DEFAULT_GRADIUM_BASE_URL, 'tts');
    this.#timeoutMs = options.timeoutMs;
    this.#context = {
      service: 'tts',
      url: this.upstream,
      apiKey: options.apiKey,
      modelSetting: 'GRADIUM_TTS_MODEL',
      model: this.model,
      voice: voiceId,
      voiceSetting: 'GRADIUM_TTS_VOICE_ID',
    };
    this.capabilities = { streaming: true, textStreaming: true, sampleRate: format.sampleRate, voices: [voiceId], defaultVoice: voiceId };
    this.#mux = new TtsMultiplexer({
      context: this.#context,
      format,
      timeoutMs: options.timeoutMs,
      responseTimeoutMs: options.responseTimeoutMs ?? defaultUpstreamLimits(options.timeoutMs).responseTimeoutMs,
      ...(options.retireAfterMs !== undefined && { retireAfterMs: options.retireAfterMs }),
      ...(options.idleCloseMs !== undefined && { idleCloseMs: options.idleCloseMs }),
      ...(options.maxRequestsPerSocket !== undefined && { maxRequestsPerSocket: options.maxRequestsPerSocket }),
      ...(options.maxQueuedAudioMs !== undefined && { maxQueuedAudioMs: options.maxQueuedAudioMs }),
    });
  }

  /** Sockets open or opening now. */
  get socketCount(): number {
    return this.#mux.socketCount;
  }

  async *synthesize(request: SynthesizeRequest): AsyncIterable<PcmAudio> {
    throwIfAborted(request.signal);
    const text = request.text.trim();
    // Pieces with no letter or digit ("...", "—") have nothing to say.
    if (!/[\p{L}\p{N}]/u.test(text)) return;
    yield* this.#speak(oneText(text), request);
  }

  synthesizeStream(text: AsyncIterable<string>, request: Omit<SynthesizeRequest, 'text'>): AsyncIterable<PcmAudio> {
    return this.#speak(wholeWords(text), request);
  }

  /** The start-up check: a setup with the configured model, voice and format, answered by `ready`. */
  probe(): Promise<ProbeResult> {
    const setup = { type: 'setup' as const, model_name: this.model, voice_id: this.capabilities.defaultVoice, output_format: this.format.name };
    return probeGradium(this.#context, setup, this.#timeoutMs, this.format.sampleRate);
  }

  async close(): Promise<void> {
    await this.#mux.close();
  }

  async *#speak(texts: AsyncIterable<string>, request: Omit<SynthesizeRequest, 'text'>): AsyncIterable<PcmAudio> {
    const handle = this.#mux.start({
      voiceId: gradiumVoice(request.voice, this.capabilities.defaultVoice),
      model: gradiumModel(request.model, this.model),
      signal: request.signal,
    });
    void sendTexts(texts, handle);
    try {
      for await (const samples of handle.audio) {
        handle.taken(samples.length);
        yield { samples, sampleRate: this.format.sampleRate };
      }
    } finally {
      // After the end this is a no-op; before it (the caller stopped reading) it ends the request upstream.
      handle.cancel();
    }
  }
}

/** Feeds a request its text, then end_of_stream; a failure of the text source fails the request. */
async function sendTexts(texts: AsyncIterable<string>, handle: TtsRequest): Promise<void> {
  try {
    for await (const text of texts) {
      // Leaving the loop stops the text source once the request is over (cancelled, failed).
      if (!handle.isOpen) return;
      handle.sendText(text);
    }
    handle.end();
  } catch (error) {
    handle.fail(error instanceof Error ? error : new Error(String(error)));
  }
}

async function* oneText(text: string): AsyncIterable<string> {
  yield text;
}

async function* wholeWords(pieces: AsyncIterable<string>): AsyncIterable<string> {
  const chunker = new WordChunker();
  for await (const piece of pieces) {
    const words = chunker.push(piece);
    if (words) yield words;
  }
  const rest = chunker.flush();
  if (rest) yield rest;
}
