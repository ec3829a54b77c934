/**
 * What can go wrong with an OpenAI Realtime transcription upstream, as SpeechbridgeErrors whose
 * messages name the upstream (its URL without query or credentials) and, where a setting can
 * fix it, the setting: a refused upgrade (401 → the key, 404 → the URL), an unreachable host,
 * an `error` event (a wrong key or an unknown transcription model after the upgrade), a close
 * code. The key is scrubbed from every quoted text.
 */
import { SpeechbridgeError } from '../../errors/registry.ts';
import { retryAfterOf, scrub } from './errors.ts';
import { quote, type UpstreamErrorBody } from './realtime-events.ts';

export interface RealtimeUpstreamContext {
  /** The URL for messages: no query, no credentials. */
  display: string;
  apiKey?: string;
  /** The settings a message points at (e.g. AUDIO_API_KEY, OPENAI_REALTIME_URL). */
  settings: RealtimeSettingNames;
  /** The transcription model asked for. */
  model: string;
  /** REQUEST_TIMEOUT in ms. */
  timeoutMs: number;
}

export interface RealtimeSettingNames {
  apiKey: string;
  url: string;
  model: string;
}

export const DEFAULT_SETTING_NAMES: RealtimeSettingNames = {
  apiKey: 'AUDIO_API_KEY or OPENAI_API_KEY',
  url: 'OPENAI_REALTIME_URL',
  model: 'OPENAI_REALTIME_TRANSCRIBE_MODEL',
};

/** Error codes an upstream uses for a key it does not accept. */
const AUTH_CODES = new Set([
  'invalid_api_key',
  'unauthorized',
  'authentication_error',
  'invalid_authentication',
  'missing_api_key',
  'insufficient_permissions',
]);

/** The upgrade was answered with an HTTP status instead of 101. */
export function refusedUpgrade(status: number, body: string, headers: Headers, context: RealtimeUpstreamContext): SpeechbridgeError {
  const detail = bodyMessage(body, context);
  const said = detail ? `: ${detail}` : '';
  const { display, settings } = context;
  if (status === 401 || status === 403) {
    return new SpeechbridgeError(
      'upstream_error',
      `${display} rejected the credentials for realtime transcription (HTTP ${status})${said}; check ${settings.apiKey}`,
    );
  }
  if (status === 404) {
    return new SpeechbridgeError(
      'upstream_error',
      `${display} has no realtime endpoint (HTTP 404)${said}; check ${settings.url} (e.g. wss://api.openai.com/v1/realtime)`,
    );
  }
  if (status === 429) {
    const retryAfterSeconds = retryAfterOf(headers);
    const hint = retryAfterSeconds === undefined ? '' : `; retry after ${retryAfterSeconds} s`;
    return new SpeechbridgeError('upstream_rate_limited', `${display} is rate limiting realtime transcription (HTTP 429)${hint}${said}`, {
      ...(retryAfterSeconds !== undefined && { retryAfterSeconds }),
    });
  }
  return new SpeechbridgeError('upstream_error', `${display} refused the realtime WebSocket with HTTP ${status}${said}`);
}

/** The connection could not be made (DNS, refused, TLS) or the upgrade took too long. */
export function connectFailed(error: Error, context: RealtimeUpstreamContext): SpeechbridgeError {
  if (/handshake has timed out/i.test(error.message)) return timedOut(context, 'accept the WebSocket');
  const code = (error as { code?: unknown }).code;
  const reason = typeof code === 'string' && /^[A-Z_]+$/.test(code) ? code : scrub(error.message, context.apiKey);
  return new SpeechbridgeError(
    'upstream_unreachable',
    `could not reach ${context.display} for realtime transcription: ${reason}; check ${context.settings.url}`,
    { cause: error },
  );
}

/** A wait on the upstream passed REQUEST_TIMEOUT. */
export function timedOut(context: RealtimeUpstreamContext, what: string): SpeechbridgeError {
  return new SpeechbridgeError('upstream_timeout', `${context.display} did not ${what} within ${context.timeoutMs} ms (REQUEST_TIMEOUT)`);
}

/** An `error` event: a refused key or model, or any other refusal, quoted. */
export function errorEventError(body: UpstreamErrorBody, context: RealtimeUpstreamContext, during: string): SpeechbridgeError {
  const { display, settings } = context;
  const code = body.code ?? body.type ?? 'error';
  const message = body.message ? scrub(quote(body.message), context.apiKey) : 'no message';
  if (isAuthFailure(body)) {
    return new SpeechbridgeError(
      'upstream_error',
      `${display} rejected the credentials for realtime transcription (${code}): ${message}; check ${settings.apiKey}`,
    );
  }
  if (isModelFailure(body)) {
    return new SpeechbridgeError(
      'upstream_error',
      `${display} does not offer the transcription model "${context.model}" (${code}): ${message}; check ${settings.model}`,
    );
  }
  if (code === 'rate_limit_exceeded') return new SpeechbridgeError('upstream_rate_limited', `${display} is rate limiting realtime transcription: ${message}`);
  return new SpeechbridgeError('upstream_error', `${display} reported an error during ${during} (${code}): ${message}`);
}

export function isAuthFailure(body: UpstreamErrorBody): boolean {
  return AUTH_CODES.has(body.code ?? '') || body.type === 'authentication_error' || /\b(api key|unauthori[sz]ed|credentials)\b/i.test(body.message ?? '');
}

export function isModelFailure(body: UpstreamErrorBody): boolean {
  const code = body.code ?? '';
  return code === 'invalid_model' || code === 'model_not_found' || /(^|\.)model$/.test(body.param ?? '');
}

/** Close codes with a meaning of their own (RFC 6455 §7.4.1); others are quoted with their reason. */
const CLOSE_MEANINGS: Readonly<Record<number, string>> = {
  1000: 'closed the session',
  1001: 'went away',
  1006: 'dropped the connection without a close frame',
  1008: 'closed the session for a policy violation',
  1009: 'sent an event larger than the 1 MB this gateway accepts from it',
  1011: 'closed the session after an internal error',
  1012: 'is restarting',
  1013: 'is overloaded and asked to try again later',
};

/** The WebSocket closed while something was still expected from it. */
export function closedError(code: number, reason: string, context: RealtimeUpstreamContext, during: string): SpeechbridgeError {
  const { display, settings } = context;
  const quoted = reason ? `: ${scrub(quote(reason), context.apiKey)}` : '';
  // OpenAI closes with 4000 "invalid_request_error.invalid_model" after refusing a model.
  if (/invalid_model|model_not_found/.test(reason)) {
    return new SpeechbridgeError(
      'upstream_error',
      `${display} does not offer the transcription model "${context.model}" (close ${code}${quoted}); check ${settings.model}`,
    );
  }
  if (/invalid_api_key|unauthori[sz]ed|authentication/i.test(reason)) {
    return new SpeechbridgeError(
      'upstream_error',
      `${display} rejected the credentials for realtime transcription (close ${code}${quoted}); check ${settings.apiKey}`,
    );
  }
  const meaning = CLOSE_MEANINGS[code] ?? 'closed the connection';
  return new SpeechbridgeError('upstream_error', `${display} ${meaning} (close ${code}${quoted}) during ${during}`);
}

/** The upstream sent something that is not a realtime event. */
export function badEvent(problem: string, context: RealtimeUpstreamContext): SpeechbridgeError {
  return new SpeechbridgeError(
    'upstream_bad_response',
    `${context.display} sent ${scrub(problem, context.apiKey)}; the realtime transcription connection was closed`,
  );
}

/** The message of an OpenAI-style JSON error body, or the body's text, scrubbed and cut. */
function bodyMessage(body: string, context: RealtimeUpstreamContext): string {
  let text = body;
  try {
    const parsed = JSON.parse(body) as { error?: { message?: unknown } | string; message?: unknown };
    const inner = typeof parsed.error === 'object' ? parsed.error?.message : (parsed.error ?? parsed.message);
    if (typeof inner === 'string') text = inner;
  } catch {
    text = body.replace(/<[^>]*>/g, ' ');
  }
  return scrub(quote(text), context.apiKey);
}
