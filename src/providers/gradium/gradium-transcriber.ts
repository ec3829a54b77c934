/**
 * Speech recognition by Gradium's streaming speech-to-text WebSocket ({base}/speech/asr).
 * A live recognizer: transcribeStream() opens a socket when the turn's first audio comes, sends
 * each 80 ms frame on as it arrives and yields Gradium's text as append-only deltas while the
 * user speaks; when the audio iterable ends it flushes (Gradium never ends a turn by itself)
 * and completes with the whole text about 250 ms later. transcribe() is the same over one
 * whole turn, for batch callers.
 *
 * Gradium can lose the first ~300 ms of a stream, the first word with it when speech starts
 * at once, so each socket begins with `leadingSilenceMs` of silence (320 ms: four frames).
 * The audio must be at capabilities.sampleRate (24 kHz for `pcm`, GRADIUM_STT_INPUT_FORMAT).
 * Previews (`bestEffort`, an interim pass over the turn so far) are refused at once with
 * engine_busy: a streaming recognizer gives partials from its stream, and a pass over the
 * turn so far would be billed again for audio already sent.
 */
import type { PcmAudio } from '../../audio/pcm.ts';
import { SpeechbridgeError } from '../../errors/registry.ts';
import type { TranscribeOptions, Transcriber, TranscriberCapabilities, Transcription, TranscriptStreamEvent } from '../contracts.ts';
import { throwIfAborted } from '../../errors/abort.ts';
import { defaultUpstreamLimits } from '../upstream-limits.ts';
import { DEFAULT_GRADIUM_BASE_URL, gradiumEndpoint } from './endpoint.ts';
import { sttInputFormat, type GradiumAudioFormat } from './formats.ts';
import type { SttSetup } from './messages.ts';
import { gradiumModel } from './request-names.ts';
import { probeGradium, type ProbeResult } from './startup-probe.ts';
import { transcribeTurn } from './stt-turn.ts';
import type { GradiumContext } from './upstream-errors.ts';

/** The languages Gradium's speech-to-text knows (its FAQ). */
export const GRADIUM_STT_LANGUAGES = ['en', 'fr', 'es', 'pt', 'de'] as const;

export interface GradiumTranscriberOptions {
  /** GRADIUM_API_KEY. */
  apiKey: string;
  /** GRADIUM_BASE_URL as read by gradiumBaseUrl(); default wss://api.gradium.ai/api. */
  baseURL?: string;
  /** GRADIUM_STT_MODEL; default 'default'. */
  model?: string;
  /** GRADIUM_STT_INPUT_FORMAT; default 'pcm' (24 kHz). */
  inputFormat?: string;
  /** REQUEST_TIMEOUT in ms: the upgrade, `ready`, and `flushed` (from the server's last message). */
  timeoutMs: number;
  /** MAX_TRANSCRIPTION_KB in bytes: the text of one turn. */
  maxTextChars?: number;
  /** Silence each socket starts with; default 320 ms. */
  leadingSilenceMs?: number;
  /** Audio held while a socket connects before the caller is held back; default 10 s. */
  maxPendingMs?: number;
  /** A turn longer than this moves to a fresh socket; default 290 s (Gradium's limit is 300 s). */
  rotateAfterMs?: number;
}

/** Four 80 ms frames: over the ~300 ms Gradium can lose at the start of a stream. */
export const DEFAULT_LEADING_SILENCE_MS = 320;
/**
 * 10 s of audio (480 KB at 24 kHz) may wait for a socket: `ready` takes 50–100 ms, so this
 * only fills when the audio comes faster than real time (a whole turn at once) or Gradium is
 * far behind; the caller is then held until the audio is sent, within REQUEST_TIMEOUT.
 */
export const DEFAULT_MAX_PENDING_MS = 10_000;
/** Gradium ends a session at 300 s; 10 s before it leaves time to flush (~250 ms). */
export const DEFAULT_ROTATE_AFTER_MS = 290_000;

export class GradiumTranscriber implements Transcriber {
  readonly name = 'gradium';
  readonly upstream: string;
  readonly capabilities: TranscriberCapabilities;
  readonly model: string;
  readonly format: GradiumAudioFormat;
  readonly #options: GradiumTranscriberOptions;
  readonly #context: GradiumContext;

  constructor(options: GradiumTranscriberOptions) {
    const format = sttInputFormat(options.inputFormat ?? 'pcm');
    if (!format)
      throw new SpeechbridgeError('invalid_config', `GRADIUM_STT_INPUT_FORMAT=${options.inputFormat}: not a raw audio format speechbridge can stream`);
    this.#options = options;
    this.format = format;
    this.model = options.model ?? 'default';
    this.upstream = gradiumEndpoint(options.baseURL ?? DEFAULT_GRADIUM_BASE_URL, 'asr');
    this.#context = { service: 'asr', url: this.upstream, apiKey: options.apiKey, modelSetting: 'GRADIUM_STT_MODEL', model: this.model };
    this.capabilities = { streaming: true, languageDetection: false, segments: true, sampleRate: format.sampleRate, languages: GRADIUM_STT_LANGUAGES };
  }

  async transcribe(audio: PcmAudio, options: TranscribeOptions = {}): Promise<Transcription> {
    throwIfAborted(options.signal);
    let result: Transcription | undefined;
    for await (const event of this.transcribeStream(oneChunk(audio), options)) {
      if (event.type === 'completed') result = event.transcription;
    }
    if (!result) throw new SpeechbridgeError('upstream_bad_response', `${this.upstream} ended the transcription without a result`);
    return result;
  }

  transcribeStream(audio: AsyncIterable<PcmAudio>, options: TranscribeOptions = {}): AsyncIterable<TranscriptStreamEvent> {
    if (options.bestEffort) return refused(this.upstream);
    const model = gradiumModel(options.model, this.model);
    const setup: SttSetup = {
      type: 'setup',
      model_name: model,
      input_format: this.format.name,
      ...(options.language && { json_config: { language: options.language } }),
    };
    return transcribeTurn(audio, {
      context: { ...this.#context, model },
      setup,
      format: this.format,
      formatSetting: 'GRADIUM_STT_INPUT_FORMAT',
      timeoutMs: this.#options.timeoutMs,
      leadingSilenceMs: this.#options.leadingSilenceMs ?? DEFAULT_LEADING_SILENCE_MS,
      maxPendingMs: this.#options.maxPendingMs ?? DEFAULT_MAX_PENDING_MS,
      rotateAfterMs: this.#options.rotateAfterMs ?? DEFAULT_ROTATE_AFTER_MS,
      maxTextChars: this.#options.maxTextChars ?? defaultUpstreamLimits().maxTranscriptionBytes,
      ...(options.language && { language: options.language }),
      signal: options.signal,
    });
  }

  /** The start-up check: connect and set up with the configured model, wait for `ready`, close. */
  probe(): Promise<ProbeResult> {
    return probeGradium(
      this.#context,
      { type: 'setup', model_name: this.model, input_format: this.format.name },
      this.#options.timeoutMs,
      this.format.sampleRate,
    );
  }
}

async function* oneChunk(audio: PcmAudio): AsyncIterable<PcmAudio> {
  yield audio;
}

// eslint-disable-next-line require-yield -- a stream whose first read fails, as the contract's callers expect.
async function* refused(upstream: string): AsyncIterable<TranscriptStreamEvent> {
  throw new SpeechbridgeError(
    'engine_busy',
    `${upstream} streams its partial text; a preview pass over the turn so far is not run (it would be billed again for the same audio)`,
  );
}
