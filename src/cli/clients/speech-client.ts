/**
 * What every CLI client speaks, whatever the wire protocol: PCM16 in, typed events out. The
 * stream and listen commands drive a SpeechClient and never see a wire message.
 */

export type Protocol = 'realtime' | 'gateway' | 'transcriptions';
export const PROTOCOLS: readonly Protocol[] = ['realtime', 'gateway', 'transcriptions'];

/** transcribe: text only; assistant: spoken replies; translate: spoken translation; echo: says back what it heard. */
export type ClientMode = 'transcribe' | 'assistant' | 'translate' | 'echo';
export const CLIENT_MODES: readonly ClientMode[] = ['transcribe', 'assistant', 'translate', 'echo'];

export type ClientEvent =
  /** The session is set up and takes audio. */
  | { type: 'ready'; session: string }
  /** The whole text so far of the turn being spoken. */
  | { type: 'transcript.partial'; turn: string; text: string }
  | { type: 'transcript.final'; turn: string; text: string }
  /** The full text of one reply (what the reply audio says). */
  | { type: 'reply.text'; text: string }
  | { type: 'reply.audio'; samples: Int16Array; sampleRate: number }
  /** One reply has ended (all its audio has arrived). */
  | { type: 'reply.done' }
  | { type: 'error'; message: string; code?: string }
  | { type: 'closed'; code: number; reason: string };

export interface ClientOptions {
  /** Full WebSocket URL of the protocol's endpoint (path included). */
  url: string;
  token?: string;
  mode: ClientMode;
  /** Spoken language (ISO-639-1), when known. */
  language?: string;
  /** Translate mode: the language to translate into. */
  targetLanguage?: string;
  voice?: string;
  onEvent(event: ClientEvent): void;
}

export interface SpeechClient {
  readonly protocol: Protocol;
  /** Sample rate of the mono PCM16 that sendAudio takes. */
  readonly inputSampleRate: number;
  /** Opens the socket and sets the session up; rejects with a SpeechbridgeError saying what went wrong. */
  connect(signal: AbortSignal): Promise<void>;
  /** Sends one chunk of audio at inputSampleRate. */
  sendAudio(samples: Int16Array): void;
  /** Resolves once the socket's outbound buffer is back under its high-water mark. */
  drain(signal: AbortSignal): Promise<void>;
  /**
   * The audio has ended: makes the server finish the last turn (trailing silence, commit or
   * end, as the protocol has it) and resolves once its results have arrived. The caller
   * bounds the wait with `signal`.
   */
  finish(signal: AbortSignal): Promise<void>;
  /** Closes the socket (idempotent); resolves once it is closed. */
  close(): Promise<void>;
}
