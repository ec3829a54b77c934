/**
 * The provider contracts. Each provider declares what it can do as data (capabilities);
 * callers pick behaviour from capabilities, never from a provider's name.
 * Every call takes an AbortSignal; a deliberate abort ends the call with an AbortError,
 * anything else with a SpeechbridgeError (src/errors/registry.ts).
 */
import type { G711Audio } from '../audio/g711.ts';
import type { PcmAudio } from '../audio/pcm.ts';

// ── Transcriber (speech recognition) ────────────────────────────────────────────────────

export interface TranscriberCapabilities {
  /**
   * A live recognizer (transcribeStream): one stream per turn, opened when speech starts, fed
   * each input frame as it arrives, ended when the turn is committed; partial text comes out
   * while the user speaks and the final text right after the end, with no second pass.
   */
  streaming: boolean;
  /** Detects the spoken language when none is given. */
  languageDetection: boolean;
  /** Gives per-segment timestamps. */
  segments: boolean;
  /** The sample rate the engine wants; callers resample once to it. */
  sampleRate: number;
  /** Language codes it accepts, or 'any'. */
  languages: readonly string[] | 'any';
  /** Gives each token's log probability when asked (TranscribeOptions.logprobs); absent means no. */
  logprobs?: boolean;
  /**
   * Encodings a live stream may come in (TranscribeOptions.inputEncoding), sent upstream as
   * they are: G.711 frames at 8 kHz go with the client's own bytes, neither resampled nor
   * re-encoded. Absent means PCM16 at sampleRate only.
   */
  inputEncodings?: readonly TranscriberInputEncoding[];
}

export interface TranscribeOptions {
  signal?: AbortSignal;
  /** ISO-639-1 code; absent means detect (when the engine can) or the engine's default. */
  language?: string;
  prompt?: string;
  temperature?: number;
  /** Upstream model name, for providers that have several. */
  model?: string;
  /**
   * A preview nobody waits for (an interim transcript): an engine with a local job queue
   * refuses it at once with engine_busy rather than queue it when other work is waiting or
   * running, so previews never delay or crowd out the transcriptions that count.
   */
  bestEffort?: boolean;
  /** Ask for the tokens' log probabilities (only where capabilities.logprobs). */
  logprobs?: boolean;
  /**
   * The encoding of a live stream's frames, one of capabilities.inputEncodings (default
   * pcm16): with G.711 the frames are at 8 kHz and carry the client's bytes (StreamFrame.encoded).
   */
  inputEncoding?: TranscriberInputEncoding;
}

/** A frame of a live stream: PCM16 samples, and for G.711 input the client's bytes of the same audio. */
export interface StreamFrame extends PcmAudio {
  encoded?: G711Audio;
}

/** One token of a transcript and its log probability, as OpenAI's transcription API gives them. */
export interface TokenLogprob {
  token: string;
  logprob: number;
  /** The token's UTF-8 bytes. */
  bytes: number[];
}

export interface TranscriptSegment {
  startMs: number;
  endMs: number;
  text: string;
}

/** How busy an embedded engine is: jobs holding a slot, jobs waiting for one, and the slots it has. */
export interface JobLoad {
  readonly running: number;
  readonly waiting: number;
  readonly capacity: number;
}

export interface Transcription {
  text: string;
  /** ISO-639-1 code when known. */
  language?: string;
  /** Audio duration in ms. */
  durationMs: number;
  segments: TranscriptSegment[];
  /** Present when asked for and the recognizer gives them. */
  logprobs?: TokenLogprob[];
}

/**
 * What a live stream yields: `delta`s are append-only pieces of the text (OpenAI's
 * input_audio_transcription.delta), then exactly one `completed` when the audio iterable has
 * ended. A failure is thrown from the iterator (a SpeechbridgeError naming the upstream); an
 * abort through the signal ends it with an AbortError.
 */
export type TranscriptStreamEvent =
  /** `logprobs`: the piece's tokens, when asked (TranscribeOptions.logprobs) and the recognizer gives them. */
  { type: 'delta'; text: string; logprobs?: TokenLogprob[] } | { type: 'completed'; transcription: Transcription };

/**
 * The audio handed to transcribe() is read-only and may be a view of memory the session still
 * uses (its input buffer): a provider that hands samples to a worker copies them before
 * transferring.
 */
export interface Transcriber {
  readonly name: string;
  /** Where a provider that calls an upstream sends its requests (a URL without credentials), named in failure messages. */
  readonly upstream?: string;
  readonly capabilities: TranscriberCapabilities;
  /** An embedded engine's job slots (src/providers/base/job-slots.ts), read for metrics. */
  readonly jobs?: JobLoad;
  transcribe(audio: PcmAudio, options?: TranscribeOptions): Promise<Transcription>;
  /**
   * Present when capabilities.streaming is true. `audio` yields the turn's frames as they are
   * spoken (at capabilities.sampleRate) and ends at the commit; the provider sends each frame
   * on as it comes and asks its upstream for the final text when the iterable ends.
   */
  transcribeStream?(audio: AsyncIterable<StreamFrame>, options?: TranscribeOptions): AsyncIterable<TranscriptStreamEvent>;
  /**
   * Present when the recognizer keeps upstream state across turns (OpenAI Realtime keeps one
   * upstream transcription session per client session). A caller that serves a client session
   * opens one handle when the session starts, sends that session's turns through it (in the
   * order they are spoken: a turn's audio ends before the next one's begins, while their
   * results may still be pending together) and closes it when the session ends. Without it,
   * every session uses the transcriber itself.
   */
  openSession?(options?: TranscriberSessionOptions): TranscriberSession;
  close?(): Promise<void>;
}

/** The encoding a client sends its audio in, for a recognizer session that can take it as it is. */
export type TranscriberInputEncoding = 'pcm16' | 'g711_ulaw' | 'g711_alaw';

export interface TranscriberSessionOptions {
  /**
   * The client's wire encoding. A provider whose upstream takes G.711 declares 8000 Hz in the
   * session's capabilities and sends 8 kHz frames upstream as G.711 again, with no resampling
   * (coding G.711-decoded samples gives back the same bytes). Default 'pcm16'.
   */
  inputEncoding?: TranscriberInputEncoding;
}

/**
 * One client session's handle on a recognizer (Transcriber.openSession): its turns share the
 * upstream connection. `close()` ends it (turns still running end with an AbortError); the
 * provider also closes an idle upstream connection by itself and reopens it at the next turn.
 */
export interface TranscriberSession extends Transcriber {
  close(): Promise<void>;
}

// ── Responder (LLM) ─────────────────────────────────────────────────────────────────────

/** What a responder does with a user turn: answer it, translate it, or clean it up. */
export const RESPONSE_MODES = ['reply', 'translate', 'rewrite'] as const;
export type ResponseMode = (typeof RESPONSE_MODES)[number];

export interface ToolCall {
  callId: string;
  name: string;
  arguments: string;
}

export type ChatMessage =
  | { role: 'system'; content: string }
  | { role: 'user'; content: string }
  | { role: 'assistant'; content: string; toolCalls?: ToolCall[] }
  | { role: 'tool'; callId: string; content: string };

export interface ToolDefinition {
  name: string;
  description?: string;
  /** JSON schema of the arguments. */
  parameters?: Record<string, unknown>;
}

export type ToolChoice = 'auto' | 'none' | 'required' | { name: string };

export interface RespondRequest {
  mode: ResponseMode;
  /** The conversation so far, oldest first, without the system prompt. */
  messages: ChatMessage[];
  /** System prompt; absent means the configured default for the mode. */
  instructions?: string;
  /** For mode 'translate': the language to translate into (a code or a name). */
  targetLanguage?: string;
  model?: string;
  tools?: ToolDefinition[];
  toolChoice?: ToolChoice;
  temperature?: number;
  maxOutputTokens?: number;
  /** How hard a reasoning model thinks (OpenAI's reasoning_effort); ignored by responders that have no such knob. */
  reasoningEffort?: 'minimal' | 'low' | 'medium' | 'high' | 'xhigh';
  /** Whether the model may call several tools at once (parallel_tool_calls); absent: the upstream's default. */
  parallelToolCalls?: boolean;
  signal?: AbortSignal;
}

export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
}

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter';

export type ResponderEvent =
  | { type: 'text.delta'; text: string }
  /** Streamed pieces of one tool call; `index` tells parallel calls apart. */
  | { type: 'tool_call.delta'; index: number; callId?: string; name?: string; argumentsDelta: string }
  | { type: 'done'; finishReason: FinishReason; usage?: TokenUsage };

export interface ResponderCapabilities {
  tools: boolean;
  modes: readonly ResponseMode[];
}

export interface Responder {
  readonly name: string;
  /** Where a provider that calls an upstream sends its requests (a URL without credentials), named in failure messages. */
  readonly upstream?: string;
  readonly capabilities: ResponderCapabilities;
  respond(request: RespondRequest): AsyncIterable<ResponderEvent>;
}

// ── Synthesizer (TTS) ───────────────────────────────────────────────────────────────────

export interface SynthesizerCapabilities {
  /** Yields audio before the whole text is synthesized. */
  streaming: boolean;
  /** Takes text as it is written (synthesizeStream): one stream per response, fed as the LLM writes. */
  textStreaming?: boolean;
  /** Sample rate of the PCM it yields. */
  sampleRate: number;
  voices: readonly string[];
  defaultVoice: string;
}

export interface SynthesizeRequest {
  text: string;
  voice?: string;
  /** 0.25–4, 1 = normal. */
  speed?: number;
  instructions?: string;
  model?: string;
  signal?: AbortSignal;
}

export interface Synthesizer {
  readonly name: string;
  /** Where a provider that calls an upstream sends its requests (a URL without credentials), named in failure messages. */
  readonly upstream?: string;
  readonly capabilities: SynthesizerCapabilities;
  /** An embedded engine's job slots (src/providers/base/job-slots.ts), read for metrics. */
  readonly jobs?: JobLoad;
  /** Mono PCM16 chunks at capabilities.sampleRate. */
  synthesize(request: SynthesizeRequest): AsyncIterable<PcmAudio>;
  /**
   * Present when capabilities.textStreaming is true: `text` yields pieces of one response's text
   * as the LLM writes them (whole words; the provider may join them with spaces) and ends with
   * the response; audio comes back as it is synthesized. Aborting the signal (barge-in) stops it.
   */
  synthesizeStream?(text: AsyncIterable<string>, request: Omit<SynthesizeRequest, 'text'>): AsyncIterable<PcmAudio>;
  close?(): Promise<void>;
}

// ── Diarizer (who spoke when) ───────────────────────────────────────────────────────────

/** One speaker's stretch of the audio, ms from its start. */
export interface SpeakerTurn {
  speaker: string;
  startMs: number;
  endMs: number;
}

export interface Diarizer {
  readonly name: string;
  readonly upstream?: string;
  /** The speaker turns of `audio`, in time order. */
  diarize(audio: PcmAudio, options: { signal: AbortSignal }): Promise<SpeakerTurn[]>;
}
