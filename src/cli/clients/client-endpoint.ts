/**
 * The endpoint URL a client connects to and the mode a protocol runs: plain functions, apart
 * from the clients themselves (ws, zod), so the command line reads its flags without loading
 * them.
 */
import { SpeechbridgeError } from '../../errors/registry.ts';
import type { ClientMode, Protocol } from './speech-client.ts';

export const DEFAULT_URL = 'ws://localhost:8080';

const PATHS: Record<Protocol, string> = {
  realtime: '/v1/realtime',
  gateway: '/',
  transcriptions: '/v1/transcriptions',
};

/** Endpoint paths a --url may end with: copied from a protocol's docs, they name the server, not the protocol. */
const ENDPOINT_SUFFIX = /\/v1\/(?:realtime|transcriptions)\/?$/;

/**
 * The protocol's endpoint on the server `base` names. A base with a path of its own (a
 * reverse proxy's prefix, say) is used as given, except that a path ending in one of the
 * endpoints (`/v1/realtime`, `/v1/transcriptions`) has that end replaced by --protocol's
 * endpoint; http(s) is read as ws(s), and `host:port` without a scheme as ws://.
 */
export function endpointUrl(base: string, protocol: Protocol): string {
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(base.trim()) ? base.trim() : `ws://${base.trim()}`);
  } catch {
    throw new SpeechbridgeError('invalid_value', `--url ${JSON.stringify(base)} is not a URL: use e.g. ${DEFAULT_URL}`, { param: 'url' });
  }
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  else if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw new SpeechbridgeError('invalid_value', `--url must be ws://, wss://, http:// or https://, got ${url.protocol}`, { param: 'url' });
  }
  if (url.pathname === '/' || url.pathname === '') url.pathname = PATHS[protocol];
  else if (ENDPOINT_SUFFIX.test(url.pathname)) url.pathname = url.pathname.replace(ENDPOINT_SUFFIX, PATHS[protocol]);
  return url.toString();
}

/** The mode a protocol runs when none is asked for, and the modes it can run. */
export function modeFor(protocol: Protocol, requested: ClientMode | undefined): ClientMode {
  if (protocol === 'transcriptions') {
    if (requested !== undefined && requested !== 'transcribe') {
      throw new SpeechbridgeError(
        'invalid_value',
        `--protocol transcriptions only transcribes: use --mode transcribe, or --protocol realtime|gateway for --mode ${requested}`,
        {
          param: 'mode',
        },
      );
    }
    return 'transcribe';
  }
  if (protocol === 'gateway' && requested === 'transcribe') {
    throw new SpeechbridgeError(
      'invalid_value',
      '--protocol gateway answers every turn with text and speech: for transcripts only use --protocol transcriptions or realtime',
      {
        param: 'mode',
      },
    );
  }
  return requested ?? 'assistant';
}
