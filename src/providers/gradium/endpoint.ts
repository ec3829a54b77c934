/**
 * Where Gradium's WebSockets live. GRADIUM_BASE_URL is the API root: the global
 * `wss://api.gradium.ai/api` (Gradium's default), a region (`wss://eu.api.gradium.ai/api`,
 * `wss://us.api.gradium.ai/api`), or a local server speaking the same protocol. Speech-to-text
 * is `{root}/speech/asr`, text-to-speech `{root}/speech/tts`. The value may also be given with
 * https:// (read as wss://), without the `/api` path, or as one of the endpoints themselves.
 */

export const DEFAULT_GRADIUM_BASE_URL = 'wss://api.gradium.ai/api';

export type GradiumService = 'asr' | 'tts';

/** What each endpoint is, in messages: "Gradium speech-to-text at wss://…/speech/asr". */
export const SERVICE_NAMES: Readonly<Record<GradiumService, string>> = { asr: 'speech-to-text', tts: 'text-to-speech' };

/**
 * The API root of a GRADIUM_BASE_URL value, as ws:// or wss:// without a trailing slash; a
 * string instead of a URL says what is wrong with the value.
 */
export function gradiumBaseUrl(value: string): { url: string } | { problem: string } {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return { problem: 'not a URL' };
  }
  const schemes: Record<string, string> = { 'wss:': 'wss:', 'ws:': 'ws:', 'https:': 'wss:', 'http:': 'ws:' };
  const scheme = schemes[url.protocol];
  if (!scheme) return { problem: `must be a wss:// (or https://) URL, not ${url.protocol}//` };
  if (url.search || url.hash) return { problem: 'must not have a query or fragment' };
  if (url.username || url.password) return { problem: 'must not carry a user or password (the key goes in GRADIUM_API_KEY)' };
  let path = url.pathname.replace(/\/+$/, '');
  path = path.replace(/\/speech\/(asr|tts)$/, '');
  if (path === '') path = '/api';
  // Rebuilt as a string: URL refuses to switch a special scheme (https) to ws/wss in place.
  return { url: `${scheme}//${url.host}${path}` };
}

/** The WebSocket URL of one service under an API root given by gradiumBaseUrl(). */
export function gradiumEndpoint(baseUrl: string, service: GradiumService): string {
  return `${baseUrl.replace(/\/+$/, '')}/speech/${service}`;
}
