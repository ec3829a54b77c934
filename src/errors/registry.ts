/**
 * The one error registry. Every failure that crosses a module boundary is a
 * SpeechbridgeError with a stable `code` from ERROR_CODES; the code's category decides
 * retryability, the HTTP status and the wire error `type`. docs/errors.md lists every code
 * (a test keeps the two in step).
 */

export type ErrorCategory = 'invalid_request' | 'auth' | 'not_found' | 'rate_limit' | 'upstream_timeout' | 'upstream_error' | 'unavailable' | 'internal';

interface CategoryInfo {
  status: number;
  wireType: string;
  retryable: boolean;
}

export const CATEGORIES: Record<ErrorCategory, CategoryInfo> = {
  invalid_request: { status: 400, wireType: 'invalid_request_error', retryable: false },
  auth: { status: 401, wireType: 'authentication_error', retryable: false },
  not_found: { status: 404, wireType: 'invalid_request_error', retryable: false },
  rate_limit: { status: 429, wireType: 'rate_limit_error', retryable: true },
  upstream_timeout: { status: 504, wireType: 'server_error', retryable: true },
  upstream_error: { status: 502, wireType: 'server_error', retryable: true },
  unavailable: { status: 503, wireType: 'server_error', retryable: true },
  internal: { status: 500, wireType: 'server_error', retryable: false },
};

/** code → category and a one-line description (the description is what docs/errors.md shows). */
export const ERROR_CODES = {
  // Client input.
  invalid_request_target: {
    category: 'invalid_request',
    description: 'The request path is malformed: a `%` not followed by two hex digits, or a target that is neither a path nor an absolute URL.',
  },
  invalid_json: { category: 'invalid_request', description: 'The message or body is not valid JSON.' },
  invalid_value: { category: 'invalid_request', description: 'A field has a missing, wrong-typed or out-of-range value.' },
  invalid_content_type: { category: 'invalid_request', description: 'The request body has a content type the endpoint does not accept.' },
  missing_file: { category: 'invalid_request', description: 'A multipart upload has no `file` part.' },
  empty_input: { category: 'invalid_request', description: 'The text or audio to process is empty.' },
  upload_too_small: { category: 'invalid_request', description: 'An /upload file under 16 KB: too short to hold speech worth transcribing.' },
  payload_too_large: { category: 'invalid_request', description: 'An upload or message exceeds the configured size limit.' },
  unsupported_format: { category: 'invalid_request', description: 'An audio or response format that is not supported.' },
  unreadable_audio: { category: 'invalid_request', description: 'The audio could not be decoded (corrupt, truncated or not audio).' },
  invalid_audio: {
    category: 'invalid_request',
    description:
      'Raw audio bytes that do not fit the declared format (odd byte count, bad base64); on /v1/realtime this is `invalid_value` naming the field, as OpenAI answers.',
  },
  unknown_voice: { category: 'invalid_request', description: 'The requested voice does not exist in the synthesizer.' },
  unknown_event: {
    category: 'invalid_request',
    description:
      'A gateway or Socket.IO message whose type is not known (a /v1/realtime event of an unknown type gets `invalid_value` with `param` "type", as OpenAI answers).',
  },
  unknown_parameter: {
    category: 'invalid_request',
    description: 'A /v1/realtime session field that does not exist, or a beta field in a GA session; `param` names it.',
  },
  missing_required_parameter: {
    category: 'invalid_request',
    description: 'A required field is missing, such as `session.type` in a GA /v1/realtime `session.update`; `param` names it.',
  },
  invalid_event: {
    category: 'invalid_request',
    description: 'A /v1/realtime WebSocket message that is not a text frame: client events are JSON text, so a binary frame is refused and not read.',
  },
  unsupported_content: {
    category: 'invalid_request',
    description: 'A /v1/realtime content part the gateway cannot take, such as `input_image`; `param` names the part.',
  },
  unsupported_tool_type: {
    category: 'invalid_request',
    description: 'A /v1/realtime tool (or tool choice) that is not a function, such as an MCP server; `param` names it.',
  },
  unsupported_feature: {
    category: 'invalid_request',
    description:
      'A session setting the configured engines cannot honour: transcription logprobs from a recognizer that gives none, or speaker segments (a diarize transcription model) without DIAR_URL; `param` names the setting.',
  },
  message_too_large: { category: 'invalid_request', description: 'A realtime message is larger than the per-message limit.' },
  unexpected_message: {
    category: 'invalid_request',
    description: 'A gateway WebSocket message that does not fit the session state: audio before `start`, a second `start`, audio after `end`.',
  },
  // Realtime session state.
  conversation_already_has_active_response: { category: 'invalid_request', description: 'response.create while another response is still in progress.' },
  input_audio_buffer_commit_empty: { category: 'invalid_request', description: 'A commit of an input audio buffer holding less than 100 ms of audio.' },
  input_audio_buffer_full: { category: 'invalid_request', description: 'Appended audio would exceed the input buffer limit; commit or clear first.' },
  item_not_found: {
    category: 'not_found',
    description: 'A conversation item id that does not exist in the session (an item to insert after, or one a response names).',
  },
  item_retrieve_invalid_item_id: { category: 'not_found', description: 'conversation.item.retrieve naming an item that does not exist in the session.' },
  item_delete_invalid_item_id: { category: 'not_found', description: 'conversation.item.delete naming an item that does not exist in the session.' },
  item_truncate_invalid_item_id: { category: 'not_found', description: 'conversation.item.truncate naming an item that does not exist in the session.' },
  turn_queue_full: { category: 'rate_limit', description: 'Too many turns were waiting for their answers (translate, rewrite); the oldest is not answered.' },
  response_not_found: { category: 'not_found', description: 'response.cancel naming a response that is not active.' },
  response_cancel_not_active: { category: 'invalid_request', description: 'response.cancel while no response is active.' },
  cannot_update_voice: {
    category: 'invalid_request',
    description: 'A session.update changing the voice after the session has sent audio: the voice stays as it was, as OpenAI keeps it.',
  },
  session_expired: { category: 'invalid_request', description: 'The session reached its maximum duration and is closed.' },
  session_idle: { category: 'invalid_request', description: 'The session was closed after receiving nothing for the idle limit.' },
  slow_consumer: { category: 'rate_limit', description: 'The client reads events too slowly; output was dropped or the session closed.' },
  too_many_early_messages: {
    category: 'rate_limit',
    description:
      'More messages arrived while the session was starting than it holds for later (256, or twice REALTIME_MAX_MESSAGE_MB); the session is closed (1008).',
  },
  // Auth.
  invalid_api_key: { category: 'auth', description: 'The bearer token is missing or not one of API_TOKENS.' },
  rate_limit_exceeded: {
    category: 'rate_limit',
    description:
      'The API token is over MAX_SESSIONS_PER_TOKEN concurrent sessions or MAX_REQUESTS_PER_MINUTE HTTP requests (across every instance sharing REDIS_URL); retry when a session ends or after `Retry-After` seconds.',
  },
  // Lookup.
  not_found: { category: 'not_found', description: 'The route, model or item does not exist.' },
  model_not_found: { category: 'not_found', description: 'A model name that is neither cached nor known to the model store, or not among GET /v1/models.' },
  // Upstreams and engines.
  upstream_timeout: {
    category: 'upstream_timeout',
    description: 'An upstream or engine call took longer than REQUEST_TIMEOUT to start or between chunks, or an answer longer than RESPONSE_TIMEOUT in total.',
  },
  upstream_error: { category: 'upstream_error', description: 'An upstream answered with an error status.' },
  upstream_bad_response: {
    category: 'upstream_error',
    description: 'An upstream answered with a body that could not be understood, or with no content (a speech answer without audio).',
  },
  upstream_response_too_large: {
    category: 'upstream_error',
    description:
      'An upstream answer passed a configured bound (MAX_TRANSCRIPTION_KB, MAX_RESPONSE_CHARS, MAX_SENTENCE_AUDIO_SECONDS, MAX_RESPONSE_AUDIO_SECONDS); the call was stopped.',
  },
  upstream_rate_limited: { category: 'rate_limit', description: 'An upstream refused the call for rate limits.' },
  upstream_unreachable: { category: 'unavailable', description: 'An upstream could not be reached (connection refused, DNS).' },
  engine_failed: { category: 'internal', description: 'An embedded engine (whisper, pocketsphinx, espeak-ng, ffmpeg) failed.' },
  engine_unavailable: { category: 'unavailable', description: 'An engine or tool the request needs is not installed or not loaded.' },
  server_overloaded: {
    category: 'unavailable',
    description:
      'This instance is over capacity (MAX_EVENT_LOOP_UTILIZATION) and takes no new session; its live sessions go on. Retry after `Retry-After` seconds, or on another instance.',
  },
  engine_busy: { category: 'rate_limit', description: 'The job queue of an embedded engine (whisper, pocketsphinx) is full; retry later.' },
  download_failed: { category: 'upstream_error', description: 'A model download failed or was interrupted.' },
  checksum_mismatch: {
    category: 'upstream_error',
    description: 'A downloaded model does not match its published checksum (SHA-1 for whisper.cpp models) or size.',
  },
  // Configuration and start-up.
  invalid_config: { category: 'invalid_request', description: 'A configuration value is invalid; the message says which and how to fix it.' },
  // Anything else.
  internal_error: {
    category: 'internal',
    description:
      'An unexpected failure inside the gateway. An exception caught by the error boundary of a session ends that one session (close 1011, or a Socket.IO disconnect) and is counted in `speechbridge_session_faults_total`; other sessions go on.',
  },
} as const satisfies Record<string, { category: ErrorCategory; description: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface ErrorOptions {
  param?: string | null;
  cause?: unknown;
  /** Overrides the category's HTTP status (e.g. 413 for payload_too_large, 415 for content type). */
  status?: number;
  /** For rate limits: when a retry can help, in whole seconds (sent as Retry-After). */
  retryAfterSeconds?: number;
}

export class SpeechbridgeError extends Error {
  readonly code: ErrorCode;
  readonly category: ErrorCategory;
  readonly param: string | null;
  readonly status: number;
  readonly retryAfterSeconds: number | null;

  constructor(code: ErrorCode, message: string, options: ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SpeechbridgeError';
    this.code = code;
    this.category = ERROR_CODES[code].category;
    this.param = options.param ?? null;
    this.status = options.status ?? CATEGORIES[this.category].status;
    this.retryAfterSeconds = options.retryAfterSeconds ?? null;
  }

  get retryable(): boolean {
    return CATEGORIES[this.category].retryable;
  }

  get wireType(): string {
    return CATEGORIES[this.category].wireType;
  }

  /** The OpenAI-style error body: {"error":{"message","type","param","code"}}. */
  toBody(): { error: { message: string; type: string; param: string | null; code: string } } {
    return { error: { message: this.message, type: this.wireType, param: this.param, code: this.code } };
  }
}

/** Wraps anything thrown into a SpeechbridgeError, keeping one that already is. */
export function toSpeechbridgeError(error: unknown, fallback: ErrorCode = 'internal_error'): SpeechbridgeError {
  if (error instanceof SpeechbridgeError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new SpeechbridgeError(fallback, message, { cause: error });
}
