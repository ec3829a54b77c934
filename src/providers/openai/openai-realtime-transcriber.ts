/**
 * Transcriber over an OpenAI Realtime transcription session (ASR_ENGINE=openai-realtime):
 * OpenAI's `wss://api.openai.com/v1/realtime?intent=transcription` with gpt-4o-transcribe or
 * another transcription model, or any upstream speaking the same GA protocol (another
 * speechbridge's /v1/realtime, LocalAI, speaches). A streaming recognizer: audio goes up as
 * it is spoken (24 kHz PCM16, or G.711 for a G.711 session), deltas come back while the upstream
 * transcribes, and the final text right after the commit.
 *
 * `openSession()` gives a client session its own handle, so all its turns share one upstream
 * connection (src/providers/openai/realtime-transcription-session.ts). `transcribe()` and
 * `transcribeStream()` called on the transcriber itself use a connection of their own for the
 * one call. `check()` is the start-up probe: connect, set the session up, close.
 */
import type { PcmAudio } from '../../audio/pcm.ts';
import type {
  TranscribeOptions,
  Transcriber,
  TranscriberCapabilities,
  TranscriberSession,
  TranscriberSessionOptions,
  Transcription,
  StreamFrame,
  TranscriptStreamEvent,
} from '../contracts.ts';
import { defaultUpstreamLimits } from '../upstream-limits.ts';
import { displayURL } from './errors.ts';
import { RealtimeConnection } from './realtime-connection.ts';
import { DEFAULT_SETTING_NAMES, type RealtimeSettingNames, type RealtimeUpstreamContext } from './realtime-errors.ts';
import type { RealtimeTurnDetection } from './realtime-events.ts';
import { RealtimeTranscriptionSession } from './realtime-transcription-session.ts';
import { DEFAULT_REALTIME_URL, transcriptionSocketURL } from './realtime-url.ts';

export const DEFAULT_REALTIME_TRANSCRIBE_MODEL = 'gpt-4o-transcribe';

export interface OpenAIRealtimeTranscriberOptions {
  /** OPENAI_REALTIME_URL: the realtime endpoint or the API root; default OpenAI's. */
  url?: string;
  apiKey?: string;
  /** OPENAI_REALTIME_TRANSCRIBE_MODEL; a turn's own model wins. Default gpt-4o-transcribe. */
  model?: string;
  /** `none` (default): our VAD ends turns and commits; otherwise the upstream's VAD may commit too. */
  turnDetection?: RealtimeTurnDetection;
  /** REQUEST_TIMEOUT in ms: the connection and set-up, and each wait for text once a turn's audio has ended. */
  timeoutMs: number;
  /** MAX_TRANSCRIPTION_KB in bytes, read as characters of transcript per turn; default 1 MB. */
  maxTranscriptBytes?: number;
  /** An idle connection of a session closes after this; default 60 s. */
  idleCloseMs?: number;
  /** The settings named in failure messages. */
  settingNames?: Partial<RealtimeSettingNames>;
}

export interface RealtimeCheckResult {
  /** The upstream, for the start-up line. */
  upstream: string;
  model: string;
}

export class OpenAIRealtimeTranscriber implements Transcriber {
  readonly name = 'openai-realtime';
  readonly upstream: string;
  readonly capabilities: TranscriberCapabilities = {
    streaming: true,
    languageDetection: true,
    segments: false,
    sampleRate: 24000,
    languages: 'any',
    logprobs: true,
    inputEncodings: ['pcm16', 'g711_ulaw', 'g711_alaw'],
  };
  readonly #options: OpenAIRealtimeTranscriberOptions;
  readonly #url: URL;
  readonly #context: RealtimeUpstreamContext;
  readonly #sessions = new Set<RealtimeTranscriptionSession>();

  constructor(options: OpenAIRealtimeTranscriberOptions) {
    this.#options = options;
    this.#url = transcriptionSocketURL(options.url ?? DEFAULT_REALTIME_URL);
    this.upstream = displayURL(this.#url.toString());
    this.#context = {
      display: this.upstream,
      apiKey: options.apiKey,
      settings: { ...DEFAULT_SETTING_NAMES, ...options.settingNames },
      model: options.model ?? DEFAULT_REALTIME_TRANSCRIBE_MODEL,
      timeoutMs: options.timeoutMs,
    };
  }

  /** Sessions open now (for tests and metrics). */
  get openSessions(): number {
    return this.#sessions.size;
  }

  openSession(options: TranscriberSessionOptions = {}): TranscriberSession {
    return this.#open(options);
  }

  #open(options: TranscriberSessionOptions = {}): RealtimeTranscriptionSession {
    const session: RealtimeTranscriptionSession = new RealtimeTranscriptionSession({
      url: this.#url,
      context: this.#context,
      turnDetection: this.#options.turnDetection ?? 'none',
      inputEncoding: options.inputEncoding,
      maxTranscriptChars: this.#options.maxTranscriptBytes ?? defaultUpstreamLimits().maxTranscriptionBytes,
      ...(this.#options.idleCloseMs !== undefined && { idleCloseMs: this.#options.idleCloseMs }),
      onClose: () => this.#sessions.delete(session),
    });
    this.#sessions.add(session);
    return session;
  }

  async transcribe(audio: PcmAudio, options: TranscribeOptions = {}): Promise<Transcription> {
    const session = this.#open();
    try {
      return await session.transcribe(audio, options);
    } finally {
      await session.close();
    }
  }

  async *transcribeStream(audio: AsyncIterable<StreamFrame>, options: TranscribeOptions = {}): AsyncIterable<TranscriptStreamEvent> {
    const session = this.#open();
    try {
      yield* session.transcribeStream(audio, options);
    } finally {
      await session.close();
    }
  }

  /**
   * The start-up probe: connects, sets up a transcription session with the configured model
   * (session.update → session.updated) and closes. Rejects with what to fix: the key (a 401
   * or an error event), the URL (unreachable, no such endpoint) or the model.
   */
  async check(signal?: AbortSignal): Promise<RealtimeCheckResult> {
    const connection = await RealtimeConnection.open({
      url: this.#url,
      context: this.#context,
      settings: {
        format: { type: 'audio/pcm', rate: 24000 },
        model: this.#context.model,
        turnDetection: this.#options.turnDetection ?? 'none',
      },
      listener: { event: () => {}, closed: () => {} },
      ...(signal && { signal }),
    });
    connection.close();
    return { upstream: this.upstream, model: this.#context.model };
  }

  async close(): Promise<void> {
    await Promise.all([...this.#sessions].map((session) => session.close()));
  }
}
