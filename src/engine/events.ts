/**
 * The session engine's typed inputs and events. Protocols translate their wire messages into
 * EngineInput and EngineEvent into wire messages; nothing here names a wire protocol.
 * Audio is PCM16 mono (Int16Array) at the session's input / output sample rate.
 */
import type { G711Audio } from '../audio/g711.ts';
import type { ErrorCode } from '../errors/registry.ts';
import type { ResponseMode, TokenLogprob } from '../providers/contracts.ts';

export { RESPONSE_MODES, type ResponseMode } from '../providers/contracts.ts';

// ── Session configuration ───────────────────────────────────────────────────────────────

export type SessionKind = 'conversation' | 'transcription';
export type Modality = 'text' | 'audio';
export type ReasoningEffort = 'minimal' | 'low' | 'medium' | 'high' | 'xhigh';

export interface TurnDetectionConfig {
  /** 'none' = manual commits only. semantic_vad is mapped onto server VAD by eagerness. */
  type: 'server_vad' | 'semantic_vad' | 'none';
  engine: 'webrtc' | 'silero';
  /** WebRTC VAD mode 0–3. */
  aggressiveness: number;
  /** Probability threshold 0–1 (Silero; mapped onto aggressiveness for WebRTC VAD when a client sets it). */
  threshold: number;
  startMs: number;
  /** silence_duration_ms. */
  endMs: number;
  /** prefix_padding_ms. */
  padMs: number;
  maxMs: number;
  /** Start a response automatically after a VAD commit. */
  createResponse: boolean;
  /** Cancel the active response when speech starts (barge-in). */
  interruptResponse: boolean;
  /** Trigger a response after this long without speech once the assistant has finished; null = off. */
  idleTimeoutMs: number | null;
  /** semantic_vad eagerness, kept to report back. */
  eagerness?: 'low' | 'medium' | 'high' | 'auto';
}

export interface TranscriptionConfig {
  model?: string;
  language?: string;
  prompt?: string;
  /**
   * Speaker segments for each committed turn (transcript.segment events), from the session's
   * diarizer; refused with unsupported_feature when there is none.
   */
  diarize?: boolean;
}

export interface ToolConfig {
  type: 'function';
  name: string;
  description?: string;
  parameters?: Record<string, unknown>;
}

export type ToolChoiceConfig = 'auto' | 'none' | 'required' | { type: 'function'; name: string };

export interface SessionConfig {
  kind: SessionKind;
  /** LLM model for the responder (the client's ?model= or session.model). */
  model?: string;
  instructions?: string;
  outputModalities: Modality[];
  mode: ResponseMode;
  /** For mode 'translate'. */
  targetLanguage?: string;
  voice: string;
  /** The synthesizer's model, for upstreams that have several. */
  ttsModel?: string;
  /** 0.25–4. */
  speed?: number;
  inputSampleRate: number;
  outputSampleRate: number;
  turnDetection: TurnDetectionConfig;
  /** Input transcription settings; transcripts are always made (the responder needs text). */
  transcription: TranscriptionConfig;
  /**
   * Transcribe the turn being spoken while it goes on (transcript.interim events), for doors
   * that show live partial text. Off by default: each interim pass costs a transcription.
   */
  interimTranscripts: boolean;
  /**
   * The same interim passes as append-only transcript.delta events of the turn's item, for
   * clients that know only OpenAI's delta event: a pass whose text does not extend the text
   * sent so far sends nothing. Not used with a streaming recognizer, whose own deltas come.
   */
  interimDeltas: boolean;
  /**
   * Token log probabilities with each transcript (transcript.delta and .completed), where the
   * recognizer gives them (capabilities.logprobs); refused with unsupported_feature otherwise.
   */
  transcriptLogprobs: boolean;
  /** OpenAI's reasoning.effort, passed to the responder (an upstream's reasoning_effort). */
  reasoningEffort?: ReasoningEffort;
  /** OpenAI's parallel_tool_calls, passed to the responder; absent leaves the upstream's default. */
  parallelToolCalls?: boolean;
  /**
   * With a batch recognizer, whether those partials come from interim passes (the turn so far
   * transcribed again every 700 ms): 'auto' (the server's default unless INTERIM_PASSES says
   * otherwise) runs them on embedded engines and not on upstreams billed per use; 'on', 'off'.
   * A streaming recognizer needs no passes: its partials come from the turn's live stream.
   */
  interimPasses: InterimPasses;
  /**
   * Send each answered turn's stage timings (turn.timings) to the client too, for doors that
   * show them. The engine emits turn.timings for metrics either way; this says whether the
   * client asked to see them.
   */
  turnTimings: boolean;
  tools: ToolConfig[];
  toolChoice: ToolChoiceConfig;
  temperature?: number;
  /** null = unlimited. */
  maxOutputTokens: number | null;
}

/** A partial update; absent fields keep their value. turnDetection may be partial too. */
export type InterimPasses = 'auto' | 'on' | 'off';

export type SessionUpdate = Partial<Omit<SessionConfig, 'turnDetection'>> & {
  turnDetection?: Partial<TurnDetectionConfig> | null;
};

// ── Conversation items ──────────────────────────────────────────────────────────────────

export type ItemStatus = 'in_progress' | 'completed' | 'incomplete';

export type ContentPart =
  | { type: 'input_text'; text: string }
  /** transcript is null until transcription completes. Audio itself is not kept in items. */
  | { type: 'input_audio'; transcript: string | null }
  | { type: 'output_text'; text: string }
  | { type: 'output_audio'; transcript: string };

export type ConversationItem =
  | { id: string; type: 'message'; role: 'user' | 'assistant' | 'system'; status: ItemStatus; content: ContentPart[] }
  | { id: string; type: 'function_call'; status: ItemStatus; callId: string; name: string; arguments: string }
  | { id: string; type: 'function_call_output'; status: ItemStatus; callId: string; output: string };

/** An item as a client creates it (the id is optional: the engine assigns one). */
export type NewItem =
  | {
      id?: string;
      type: 'message';
      role: 'user' | 'assistant' | 'system';
      content: Array<{ type: 'input_text' | 'output_text' | 'text'; text: string } | { type: 'input_audio'; audio?: Int16Array; transcript?: string }>;
    }
  | { id?: string; type: 'function_call'; callId: string; name: string; arguments: string }
  | { id?: string; type: 'function_call_output'; callId: string; output: string };

/** An existing conversation item named by id (response.create `input` may mix these with new items). */
export interface ItemReference {
  type: 'item_reference';
  id: string;
}

// ── Responses ───────────────────────────────────────────────────────────────────────────

export type ResponseStatus = 'in_progress' | 'completed' | 'cancelled' | 'failed' | 'incomplete';

export type ResponseStatusDetails =
  | null
  | { type: 'cancelled'; reason: 'client_cancelled' | 'turn_detected' | 'disconnected' }
  | { type: 'incomplete'; reason: 'max_output_tokens' | 'content_filter' }
  | { type: 'failed'; error: { code: ErrorCode; message: string } };

export interface ResponseUsage {
  inputTokens: number;
  outputTokens: number;
  inputTextTokens: number;
  inputAudioTokens: number;
  outputTextTokens: number;
  outputAudioTokens: number;
}

export interface ResponseInfo {
  id: string;
  status: ResponseStatus;
  statusDetails: ResponseStatusDetails;
  /** Items produced by this response, in output order. */
  output: ConversationItem[];
  outputModalities: Modality[];
  /** false when the response was created with conversation: "none" (out-of-band). */
  inConversation: boolean;
  metadata: Record<string, string> | null;
  usage: ResponseUsage | null;
  voice: string;
  maxOutputTokens: number | null;
  /** The committed user turn this response answers, when one triggered it. */
  answersItemId: string | null;
}

/** Per-response overrides (response.create). */
export interface ResponseRequest {
  instructions?: string;
  outputModalities?: Modality[];
  /** false = out-of-band: do not read or write the default conversation. */
  inConversation?: boolean;
  /** Replaces the conversation as the responder's context when given; references name existing items. */
  input?: Array<NewItem | ItemReference>;
  tools?: ToolConfig[];
  toolChoice?: ToolChoiceConfig;
  voice?: string;
  temperature?: number;
  maxOutputTokens?: number | null;
  metadata?: Record<string, string>;
  mode?: ResponseMode;
  targetLanguage?: string;
}

/** Stage timings of one turn, ms, measured on the engine's clock. */
export interface TurnTimings {
  itemId: string | null;
  responseId: string;
  /** Speech stop (VAD end or manual commit) → transcript completed. */
  transcriptionMs: number | null;
  /** Response start → first LLM token. */
  firstTokenMs: number | null;
  /** First LLM token → first audio leaving the engine. */
  firstAudioMs: number | null;
  /** Speech stop (or response start) → first audio (or first text when text-only). */
  totalMs: number | null;
}

/**
 * How a committed turn ended:
 * - answered: its response completed (or stopped at max tokens or a content filter);
 * - transcribed: no answer was asked for (a transcription session, create_response off, a
 *   manual commit) and its transcript arrived;
 * - failed: its transcription failed (and no answer was asked for), or its response failed;
 * - dropped: its answer was not given (see TurnDropReason).
 */
export type TurnOutcome = 'answered' | 'transcribed' | 'failed' | 'dropped';

/**
 * Why a turn's answer was not given: the user spoke over it (barge-in), a newer reply or the
 * client's own response answers the conversation instead, the client cancelled the response,
 * too many turns were waiting (turn_queue_full), the client deleted the item, or the session
 * closed first.
 */
export type TurnDropReason = 'interrupted' | 'superseded' | 'cancelled' | 'queue_full' | 'deleted' | 'closed';

export interface TurnEnded {
  type: 'turn.ended';
  itemId: string;
  outcome: TurnOutcome;
  /** The turn's transcript; null when its transcription failed. */
  transcript: string | null;
  /** The response that answered it (or failed, or was cancelled), when one ran. */
  responseId: string | null;
  /** For dropped turns. */
  reason: TurnDropReason | null;
  /** For failed turns (the transcription's or the response's error) and turn_queue_full. */
  error: { code: ErrorCode; message: string } | null;
}

/** What handle() says of an input: taken, or refused (its error event has gone out too). */
export type HandleResult = { accepted: true } | { accepted: false; error: { code: ErrorCode; message: string; param: string | null } };

// ── Inputs (client → engine) ────────────────────────────────────────────────────────────

/** `eventId` is the client's event id, echoed in any error the input causes. */
export type EngineInput =
  | { type: 'session.update'; eventId?: string; session: SessionUpdate }
  /**
   * `audio` at the session's input rate; `encoded`: the client's G.711 bytes it was decoded
   * from, when the client sent G.711, so a recognizer that takes G.711 gets them unchanged.
   */
  | { type: 'audio.append'; eventId?: string; audio: Int16Array; encoded?: G711Audio }
  | { type: 'audio.commit'; eventId?: string }
  /**
   * The user has finished speaking: the turn in progress ends now, as if the VAD had heard its
   * end, and `respond` answers it. With VAD on and no turn in progress there is nothing to end
   * (every spoken turn is already committed); with VAD off the buffered audio is committed,
   * and under 100 ms of it is refused as an empty commit.
   */
  | { type: 'turn.end'; eventId?: string; respond: boolean }
  | { type: 'audio.clear'; eventId?: string }
  | { type: 'item.create'; eventId?: string; previousItemId?: string | null; item: NewItem }
  | { type: 'item.retrieve'; eventId?: string; itemId: string }
  | { type: 'item.delete'; eventId?: string; itemId: string }
  | { type: 'item.truncate'; eventId?: string; itemId: string; contentIndex: number; audioEndMs: number }
  | { type: 'response.create'; eventId?: string; response?: ResponseRequest }
  | { type: 'response.cancel'; eventId?: string; responseId?: string };

// ── Events (engine → client) ────────────────────────────────────────────────────────────

interface OutputRef {
  responseId: string;
  itemId: string;
  outputIndex: number;
  contentIndex: number;
}

export type EngineEvent =
  | { type: 'session.updated'; session: SessionConfig }
  /**
   * Times are ms of input audio since the session started. As OpenAI defines them, audioStartMs
   * is where the turn's audio begins, the prefix padding included (onset − padMs, at least 0),
   * and audioEndMs where it ends, the end-of-turn silence included; speechStartMs and
   * speechEndMs are the voiced onset and end the VAD heard.
   */
  | { type: 'speech.started'; audioStartMs: number; speechStartMs: number; itemId: string }
  | { type: 'speech.stopped'; audioEndMs: number; speechEndMs: number; itemId: string }
  | { type: 'input.committed'; itemId: string; previousItemId: string | null }
  | { type: 'input.cleared' }
  /** The idle window: input audio from when the last answer finished playing to the timeout. */
  | { type: 'input.timeout_triggered'; audioStartMs: number; audioEndMs: number; itemId: string }
  | { type: 'item.added'; item: ConversationItem; previousItemId: string | null }
  | { type: 'item.done'; item: ConversationItem; previousItemId: string | null }
  | { type: 'item.retrieved'; item: ConversationItem }
  | { type: 'item.deleted'; itemId: string }
  | { type: 'item.truncated'; itemId: string; contentIndex: number; audioEndMs: number }
  /** The text of the turn spoken so far, while speech goes on (interimTranscripts); the whole text each time, not a delta. */
  | { type: 'transcript.interim'; itemId: string; text: string }
  /** Append-only text of a user item's transcript: a streaming recognizer's, or the interim passes' (interimDeltas). */
  | { type: 'transcript.delta'; itemId: string; contentIndex: number; delta: string; logprobs?: TokenLogprob[] }
  | { type: 'transcript.completed'; itemId: string; contentIndex: number; transcript: string; language?: string; audioMs: number; logprobs?: TokenLogprob[] }
  /** One speaker's stretch of a committed turn (transcription.diarize), before its transcript.completed; times in ms from the turn's start. */
  | { type: 'transcript.segment'; itemId: string; contentIndex: number; segmentId: string; speaker: string; startMs: number; endMs: number; text: string }
  | { type: 'transcript.failed'; itemId: string; contentIndex: number; error: { code: ErrorCode; message: string } }
  | { type: 'response.created'; response: ResponseInfo }
  | { type: 'output_item.added'; responseId: string; outputIndex: number; item: ConversationItem }
  | { type: 'output_item.done'; responseId: string; outputIndex: number; item: ConversationItem }
  | ({ type: 'content_part.added'; part: ContentPart } & OutputRef)
  | ({ type: 'content_part.done'; part: ContentPart } & OutputRef)
  | ({ type: 'text.delta'; delta: string } & OutputRef)
  | ({ type: 'text.done'; text: string } & OutputRef)
  | ({ type: 'audio.delta'; audio: Int16Array } & OutputRef)
  | ({ type: 'audio.done' } & OutputRef)
  | ({ type: 'audio_transcript.delta'; delta: string } & OutputRef)
  | ({ type: 'audio_transcript.done'; transcript: string } & OutputRef)
  | { type: 'function_call.arguments.delta'; responseId: string; itemId: string; outputIndex: number; callId: string; delta: string }
  | { type: 'function_call.arguments.done'; responseId: string; itemId: string; outputIndex: number; callId: string; name: string; arguments: string }
  | { type: 'response.done'; response: ResponseInfo }
  | { type: 'turn.timings'; timings: TurnTimings }
  /**
   * A committed user turn's one terminal event, in the order the turns were spoken (after its
   * transcript.completed or .failed). What ended it: its answer, its transcript alone (no
   * answer was asked for), a failure, or the engine dropping its answer.
   */
  | TurnEnded
  | { type: 'error'; code: ErrorCode; message: string; param: string | null; eventId: string | null };

export type EngineEventType = EngineEvent['type'];
