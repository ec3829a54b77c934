/**
 * Gradium's failures as the gateway's errors, each naming the upstream (service and URL) and,
 * where a setting is at fault, the variable to fix. Gradium accepts the WebSocket upgrade and
 * reports problems afterwards: an `error` message, then a close with the same code — 1008
 * (policy violation: a wrong or revoked API key, an unknown model or voice, a bad message) or
 * 1011 (internal error). Which 1008 it is can only be read from the message, so the message is
 * quoted (without the key, should it be echoed).
 */
import { SpeechbridgeError } from '../../errors/registry.ts';
import { SERVICE_NAMES, type GradiumService } from './endpoint.ts';

export interface GradiumContext {
  service: GradiumService;
  /** The endpoint, e.g. wss://api.gradium.ai/api/speech/asr. */
  url: string;
  /** Scrubbed from every message. */
  apiKey: string;
  /** The setting that holds the model (GRADIUM_STT_MODEL, GRADIUM_TTS_MODEL) and its value. */
  modelSetting: string;
  model: string;
  /** For text-to-speech: the voice asked for and the setting of the default one. */
  voice?: string;
  voiceSetting?: string;
}

export const API_KEY_SETTING = 'GRADIUM_API_KEY';
export const BASE_URL_SETTING = 'GRADIUM_BASE_URL';

/** Upstream text quoted in a message is cut here. */
const QUOTED_CHARS = 200;

const CLOSE_MEANINGS: Readonly<Record<number, string>> = {
  1000: 'normal closure',
  1001: 'going away',
  1006: 'no close frame: the connection dropped',
  1008: 'policy violation',
  1009: 'message too big',
  1011: 'internal server error',
  1012: 'service restart',
  1013: 'try again later',
};

export function describeUpstream(context: GradiumContext): string {
  return `Gradium ${SERVICE_NAMES[context.service]} (${context.url})`;
}

/** An `error` message from the server (it closes the socket right after, or ends that one request). */
export function errorMessageError(context: GradiumContext, frame: { message?: string; code?: number }): SpeechbridgeError {
  const upstream = describeUpstream(context);
  const text = frame.message ? scrub(frame.message, context.apiKey) : '';
  const quoted = text ? `: "${cut(text)}"` : '';
  const code = frame.code === undefined ? '' : ` (error ${frame.code}${CLOSE_MEANINGS[frame.code] ? `, ${CLOSE_MEANINGS[frame.code]}` : ''})`;
  if (/api[\s_-]?key|unauthori[sz]ed|forbidden|credential|authenticat|\btoken\b/i.test(text)) {
    return new SpeechbridgeError('upstream_error', `${upstream} refused the API key${quoted}${code}; check ${API_KEY_SETTING}`);
  }
  if (/\bvoice/i.test(text) && context.voice !== undefined) {
    const hint = context.voiceSetting ? `; check the voice (${context.voiceSetting} is the default one)` : '';
    return new SpeechbridgeError('unknown_voice', `${upstream} has no voice "${context.voice}"${quoted}${code}${hint}`, { param: 'voice' });
  }
  if (/\bmodel/i.test(text)) {
    return new SpeechbridgeError('upstream_error', `${upstream} has no model "${context.model}"${quoted}${code}; check ${context.modelSetting}`);
  }
  if (/concurren|rate limit|too many|quota/i.test(text)) {
    return new SpeechbridgeError('upstream_rate_limited', `${upstream} refused the request for its limits${quoted}${code}`, { retryAfterSeconds: 1 });
  }
  const verb = frame.code === 1011 ? 'failed' : 'reported an error';
  return new SpeechbridgeError('upstream_error', `${upstream} ${verb}${quoted}${code}`);
}

/** The socket closed without an `error` message first, while `activity` was going on. */
export function closedError(context: GradiumContext, code: number, reason: string, activity: string): SpeechbridgeError {
  const meaning = CLOSE_MEANINGS[code] ? ` (${CLOSE_MEANINGS[code]})` : '';
  const said = reason ? `: "${cut(scrub(reason, context.apiKey))}"` : '';
  return new SpeechbridgeError('upstream_error', `${describeUpstream(context)} closed the connection with ${code}${meaning}${said} ${activity}`);
}

/** The connection could not be made: refused, no such host, TLS, or an HTTP answer instead of an upgrade. */
export function connectError(context: GradiumContext, error: unknown): SpeechbridgeError {
  const upstream = describeUpstream(context);
  const status = (error as { statusCode?: number }).statusCode;
  if (typeof status === 'number') {
    if (status === 401 || status === 403) {
      return new SpeechbridgeError('upstream_error', `${upstream} refused the API key (HTTP ${status} to the upgrade); check ${API_KEY_SETTING}`, {
        cause: error,
      });
    }
    if (status === 404) {
      return new SpeechbridgeError('upstream_error', `${upstream} answered HTTP 404: no such endpoint; check ${BASE_URL_SETTING}`, { cause: error });
    }
    if (status === 429)
      return new SpeechbridgeError('upstream_rate_limited', `${upstream} is rate limiting connections (HTTP 429)`, { cause: error, retryAfterSeconds: 1 });
    return new SpeechbridgeError('upstream_error', `${upstream} answered HTTP ${status} instead of a WebSocket upgrade; check ${BASE_URL_SETTING}`, {
      cause: error,
    });
  }
  const code = systemCode(error);
  const reason = code ?? (error instanceof Error ? scrub(error.message, context.apiKey) : String(error));
  return new SpeechbridgeError('upstream_unreachable', `could not reach ${upstream}: ${reason}; check ${BASE_URL_SETTING} and the network`, { cause: error });
}

/** A frame that does not follow the protocol. */
export function brokenFrameError(context: GradiumContext, problem: string): SpeechbridgeError {
  return new SpeechbridgeError('upstream_bad_response', `${describeUpstream(context)} sent ${scrub(problem, context.apiKey)}`);
}

/** A wait that passed its deadline: `what` is what did not come ("ready after setup"). */
export function timeoutError(context: GradiumContext, what: string, timeoutMs: number, setting = 'REQUEST_TIMEOUT'): SpeechbridgeError {
  return new SpeechbridgeError('upstream_timeout', `${describeUpstream(context)} sent no ${what} within ${timeoutMs} ms (${setting})`);
}

function systemCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && /^E[A-Z_]+$/.test(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

function cut(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > QUOTED_CHARS ? `${flat.slice(0, QUOTED_CHARS)}…` : flat;
}

function scrub(text: string, apiKey: string): string {
  return apiKey.length >= 4 ? text.split(apiKey).join('***') : text;
}
