/**
 * Maps what the `openai` SDK throws onto the gateway's error codes. Messages name the
 * upstream (its URL without credentials or query) and the HTTP status, never the API key: the
 * key is scrubbed from every message, including text an upstream echoes back.
 * A deliberate abort is not an error: it comes back as an AbortError for the caller to drop.
 */
import { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import { abortError, isAbortError } from '../../errors/abort.ts';
import { SpeechbridgeError } from '../../errors/registry.ts';
import type { Deadline } from '../deadline.ts';

export interface UpstreamContext {
  /** The upstream's API root as configured. */
  baseURL: string;
  /** What was asked, for messages: "chat completion", "transcription", "speech". */
  operation: string;
  /** Scrubbed from messages. */
  apiKey?: string;
  /** The setting that holds the key (OPENAI_API_KEY, TTS_API_KEY…), named in auth failures. */
  apiKeyName?: string;
  /** REQUEST_TIMEOUT, named in timeout messages. */
  timeoutMs?: number;
}

/** Upstream text quoted in a message is cut here: error pages can be whole HTML documents. */
const MAX_QUOTED_CHARS = 200;

/**
 * An upstream's Retry-After is passed on clamped to 1 s – 1 hour: a client told "0" retries in a
 * busy loop, and a day (or a garbled number) is no advice a live caller can act on.
 */
export const RETRY_AFTER_RANGE_SECONDS = [1, 3600] as const;

/**
 * The error to throw for a failed upstream call: an AbortError for a deliberate abort, else a
 * SpeechbridgeError. `deadline` turns aborts it caused into upstream_timeout.
 */
export function upstreamError(error: unknown, context: UpstreamContext, deadline?: Deadline): Error {
  if (error instanceof SpeechbridgeError) return error;
  const url = displayURL(context.baseURL);
  const what = `${context.operation} at ${url}`;
  if (deadline?.timedOut()) {
    const translated = deadline.translate(error, what);
    if (translated instanceof SpeechbridgeError) return translated;
  }
  // Once the call's signal has fired, whatever the SDK or fetch threw (APIUserAbortError, an
  // AbortError, or the caller's own abort reason) stems from that abort.
  if (deadline?.signal.aborted) return abortError();
  if (error instanceof APIUserAbortError || (isAbortError(error) && !(error instanceof APIError))) return abortError();
  const cause = scrubbedCause(error, context.apiKey);
  const say = (text: string) => scrub(text, context.apiKey);
  if (error instanceof APIConnectionTimeoutError) {
    const limit = context.timeoutMs === undefined ? '' : ` after ${context.timeoutMs} ms (REQUEST_TIMEOUT)`;
    return new SpeechbridgeError('upstream_timeout', say(`${what} did not answer${limit}`), { cause });
  }
  if (error instanceof APIConnectionError) {
    return new SpeechbridgeError('upstream_unreachable', say(`could not reach ${url} for ${context.operation}: ${connectionReason(error)}`), { cause });
  }
  if (error instanceof APIError) {
    const status = error.status;
    const detail = upstreamMessage(error);
    const quoted = detail ? `: ${say(detail)}` : '';
    if (status === undefined) {
      return new SpeechbridgeError('upstream_error', say(`${url} reported an error during ${context.operation}${quoted}`), { cause });
    }
    if (status === 401 || status === 403) {
      const setting = context.apiKeyName ? `check ${context.apiKeyName}` : 'check the API key configured for this upstream';
      return new SpeechbridgeError('upstream_error', `${url} rejected the credentials for ${context.operation} (HTTP ${status}); ${setting}`, { cause });
    }
    if (status === 429) {
      const retryAfterSeconds = retryAfterOf(error.headers);
      const hint = retryAfterSeconds === undefined ? '' : `; retry after ${retryAfterSeconds} s`;
      return new SpeechbridgeError('upstream_rate_limited', say(`${url} is rate limiting ${context.operation} (HTTP 429)${hint}${quoted}`), {
        cause,
        ...(retryAfterSeconds !== undefined && { retryAfterSeconds }),
      });
    }
    if (status === 404) {
      return new SpeechbridgeError('upstream_error', say(`${url} has no such route or model for ${context.operation} (HTTP 404)${quoted}`), { cause });
    }
    return new SpeechbridgeError('upstream_error', say(`${url} answered HTTP ${status} to ${context.operation}${quoted}`), { cause });
  }
  if (error instanceof SyntaxError) {
    return new SpeechbridgeError('upstream_bad_response', say(`${url} sent a ${context.operation} response that is not valid JSON (${error.message})`), {
      cause,
    });
  }
  if (error instanceof TypeError && /terminated|other side closed|ECONNRESET|socket/i.test(`${error.message} ${String(error.cause)}`)) {
    return new SpeechbridgeError('upstream_bad_response', say(`${url} closed the connection before the ${context.operation} response was complete`), { cause });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new SpeechbridgeError('upstream_error', say(`${what} failed: ${message}`), { cause });
}

/** For a response that parsed but does not have the expected shape. */
export function badResponse(context: UpstreamContext, problem: string): SpeechbridgeError {
  return new SpeechbridgeError('upstream_bad_response', `${displayURL(context.baseURL)} sent an unusable ${context.operation} response: ${problem}`);
}

/**
 * Whole seconds to wait, from `retry-after-ms` (OpenAI's, more precise) or `retry-after`
 * (seconds or an HTTP date), clamped to RETRY_AFTER_RANGE_SECONDS; undefined when neither parses.
 */
export function retryAfterOf(headers: Headers | undefined, now = Date.now()): number | undefined {
  const milliseconds = Number.parseFloat(headers?.get('retry-after-ms') ?? '');
  let seconds: number | undefined = Number.isFinite(milliseconds) ? milliseconds / 1000 : undefined;
  const value = headers?.get('retry-after')?.trim();
  if (seconds === undefined && value) {
    if (/^\d+(\.\d+)?$/.test(value)) seconds = Number(value);
    else if (Number.isFinite(Date.parse(value))) seconds = (Date.parse(value) - now) / 1000;
  }
  if (seconds === undefined) return undefined;
  const [min, max] = RETRY_AFTER_RANGE_SECONDS;
  return Math.min(max, Math.max(min, Math.ceil(seconds)));
}

/** The URL for messages: no user, password, query or fragment. */
export function displayURL(baseURL: string): string {
  try {
    const url = new URL(baseURL);
    url.username = '';
    url.password = '';
    url.search = '';
    url.hash = '';
    return url.toString().replace(/\/$/, '');
  } catch {
    return '(invalid upstream URL)';
  }
}

/** An upstream error status that may mean "this parameter is not supported" (vs. auth, limits, outages). */
export function isRejectedParameter(error: unknown): boolean {
  return error instanceof APIError && (error.status === 400 || error.status === 415 || error.status === 422);
}

function upstreamMessage(error: APIError): string {
  const body = error.error as { message?: unknown } | undefined;
  let text: string;
  if (body && typeof body === 'object' && typeof body.message === 'string') text = body.message;
  else if (body !== undefined) text = JSON.stringify(body);
  else text = error.message.replace(/^\d{3}\s*/, '').replace(/^status code \(no body\)$/, '');
  text = text
    .replace(/<[^>]*>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return text.length > MAX_QUOTED_CHARS ? `${text.slice(0, MAX_QUOTED_CHARS)}…` : text;
}

/** The most specific reason in a fetch failure's cause chain: a system error code (ECONNREFUSED, ENOTFOUND) or the innermost message. */
export function connectionReason(error: unknown): string {
  let current: unknown = error;
  let innermost = error instanceof Error ? error.message : String(error);
  for (let depth = 0; depth < 5 && current; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return code;
    const message = (current as { message?: unknown }).message;
    if (typeof message === 'string' && message && message !== 'fetch failed') innermost = message;
    current = (current as { cause?: unknown }).cause;
  }
  return innermost;
}

/** The text without credentials: bearer tokens, URL user info and the key itself. */
export function scrub(text: string, apiKey: string | undefined): string {
  let out = text.replace(/Bearer\s+\S+/gi, 'Bearer ***').replace(/\/\/[^/\s@]+@/g, '//');
  if (apiKey && apiKey.length >= 4) out = out.split(apiKey).join('***');
  return out;
}

/** The original error as cause, unless its message carries the key; then a scrubbed copy. */
function scrubbedCause(error: unknown, apiKey: string | undefined): unknown {
  if (!(error instanceof Error) || !apiKey || apiKey.length < 4 || !error.message.includes(apiKey)) return error;
  const copy = new Error(scrub(error.message, apiKey));
  copy.name = error.name;
  return copy;
}
