/**
 * The bounds on what one upstream answer may be, in one place: how long it may take in total,
 * how large a transcription body may be, how much text an LLM may write for one response and
 * how much audio a synthesizer may send for one sentence and one response. An answer past a
 * bound is stopped (its HTTP request aborted, so its socket closes) and fails with
 * upstream_timeout or upstream_response_too_large naming the upstream; the session goes on.
 * src/server/config.ts reads them from the environment (the setting names below).
 */

export interface UpstreamLimits {
  /** REQUEST_TIMEOUT: the wait for an answer to start, and the longest silence inside a streamed one. */
  requestTimeoutMs: number;
  /** RESPONSE_TIMEOUT: the most one answer may take in total, however steadily it streams. */
  responseTimeoutMs: number;
  /** MAX_TRANSCRIPTION_KB: the largest transcription response body. */
  maxTranscriptionBytes: number;
  /** MAX_RESPONSE_CHARS: text and tool-call arguments an LLM may write for one response. */
  maxResponseChars: number;
  /** MAX_RESPONSE_TOKENS: `max_tokens` sent to the LLM (a client's lower max_output_tokens wins); 0 sends none. */
  maxResponseTokens: number;
  /** MAX_SENTENCE_AUDIO_SECONDS: synthesized audio for one sentence of a spoken response. */
  maxSentenceAudioMs: number;
  /** MAX_RESPONSE_AUDIO_SECONDS: synthesized audio for one response (a realtime answer, one HTTP speech request). */
  maxResponseAudioMs: number;
}

/** The setting behind each limit, named in failure messages so the reader knows what to raise. */
export const LIMIT_SETTINGS: Readonly<Record<keyof UpstreamLimits, string>> = Object.freeze({
  requestTimeoutMs: 'REQUEST_TIMEOUT',
  responseTimeoutMs: 'RESPONSE_TIMEOUT',
  maxTranscriptionBytes: 'MAX_TRANSCRIPTION_KB',
  maxResponseChars: 'MAX_RESPONSE_CHARS',
  maxResponseTokens: 'MAX_RESPONSE_TOKENS',
  maxSentenceAudioMs: 'MAX_SENTENCE_AUDIO_SECONDS',
  maxResponseAudioMs: 'MAX_RESPONSE_AUDIO_SECONDS',
});

export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/**
 * A response may take RESPONSE_TIMEOUT_FACTOR × REQUEST_TIMEOUT in total (120 s by default):
 * 4096 tokens at a usual 50 tokens/s take about 80 s, and speech for a sentence is synthesized
 * while the LLM writes the next, so a full-length answer ends well within it.
 */
export const RESPONSE_TIMEOUT_FACTOR = 4;

/**
 * - Transcription body 1 MB: verbose_json for an hour of speech (about 9,000 words and 700
 *   segments) is under 500 KB, and a realtime turn is at most 10 minutes.
 * - 16,000 characters per response: OpenAI Realtime's max_output_tokens cap of 4096 tokens at
 *   about 4 characters a token; a spoken answer of that length already lasts over 15 minutes.
 * - max_tokens 4096: the same cap, sent so the upstream itself stops where the gateway would.
 * - 60 s per sentence: the sentence chunker cuts text at 200 characters (about 12 s of speech),
 *   so 60 s is five times the longest sentence at normal speed, or a slow voice (speed 0.25)
 *   reading a long one.
 * - 5 minutes per response: more than the 4096 output tokens OpenAI Realtime allows a spoken
 *   answer (about 3–4 minutes of audio), and the 4096-character input of /v1/audio/speech at
 *   normal speed (about 4.5 minutes).
 */
export function defaultUpstreamLimits(requestTimeoutMs = DEFAULT_REQUEST_TIMEOUT_MS): UpstreamLimits {
  return {
    requestTimeoutMs,
    responseTimeoutMs: RESPONSE_TIMEOUT_FACTOR * requestTimeoutMs,
    maxTranscriptionBytes: 1024 * 1024,
    maxResponseChars: 16_000,
    maxResponseTokens: 4096,
    maxSentenceAudioMs: 60_000,
    maxResponseAudioMs: 300_000,
  };
}

/**
 * Bytes a chat completion stream may carry for `maxChars` characters of output: each SSE chunk
 * wraps a token or two (2–8 characters, one for CJK) in about 200 bytes of JSON, so 256 bytes a
 * character bounds the stream (4 MB at the default) without cutting a legitimate answer, and
 * stops an upstream that sends one endless line or only empty chunks.
 */
export const CHAT_STREAM_BYTES_PER_CHAR = 256;

/** "1048576 bytes" as people read it: "1 MB", "512 KB". */
export function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KB`;
  return `${bytes} bytes`;
}

/** "60 s", "1.5 s", "250 ms". */
export function formatMs(ms: number): string {
  return ms >= 1000 ? `${Math.round(ms / 100) / 10} s` : `${Math.round(ms)} ms`;
}
