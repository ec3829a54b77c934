/**
 * The WebSocket URL of an OpenAI Realtime transcription session. OPENAI_REALTIME_URL may be
 * the endpoint (wss://api.openai.com/v1/realtime) or the API root (https://api.openai.com/v1,
 * as the other upstream variables are given); http(s) is read as ws(s). The connection adds
 * `intent=transcription` and never a `model`: OpenAI reads `?model=` as asking for a
 * conversation session, and then refuses the transcription session.update.
 */
import { SpeechbridgeError } from '../../errors/registry.ts';

export const DEFAULT_REALTIME_URL = 'wss://api.openai.com/v1/realtime';

export type RealtimeURLResult = { url: string } | { problem: string };

/** The normal form of a configured URL (ws: or wss:, path ending in /realtime), or what is wrong with it. */
export function normalizeRealtimeURL(value: string): RealtimeURLResult {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return { problem: `not a URL; give the realtime endpoint, e.g. ${DEFAULT_REALTIME_URL}` };
  }
  const schemes: Record<string, string> = { 'ws:': 'ws:', 'wss:': 'wss:', 'http:': 'ws:', 'https:': 'wss:' };
  const scheme = schemes[url.protocol];
  if (!scheme) return { problem: `must be a ws://, wss://, http:// or https:// URL, e.g. ${DEFAULT_REALTIME_URL}` };
  if (url.searchParams.has('model')) {
    return { problem: 'remove ?model=: it opens a conversation session; the transcription model is OPENAI_REALTIME_TRANSCRIBE_MODEL' };
  }
  // new URL() keeps the scheme of the string it parsed; the special schemes only swap among themselves.
  url = new URL(`${scheme}${url.href.slice(url.protocol.length)}`);
  const path = url.pathname.replace(/\/+$/, '');
  url.pathname = path.endsWith('/realtime') ? path : `${path}/realtime`;
  url.searchParams.delete('intent');
  url.hash = '';
  return { url: url.toString() };
}

/** The URL to open: the normal form with intent=transcription. */
export function transcriptionSocketURL(configured: string): URL {
  const normal = normalizeRealtimeURL(configured);
  if ('problem' in normal) throw new SpeechbridgeError('invalid_config', `OPENAI_REALTIME_URL=${JSON.stringify(configured)}: ${normal.problem}`);
  const url = new URL(normal.url);
  url.searchParams.set('intent', 'transcription');
  return url;
}
