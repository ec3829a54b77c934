/**
 * Where a Wyoming server listens, from a URI as Home Assistant and the Wyoming servers write it:
 * `tcp://host:port`. The port may be left out for the usual ones (10300 for speech recognition,
 * 10200 for speech synthesis). Only TCP is spoken: the `unix://` and `stdio://` forms serve
 * programs started on the same machine by their caller, which is not how a gateway runs them.
 */

export interface WyomingAddress {
  host: string;
  port: number;
  /** tcp://host:port, for messages (a Wyoming URI has no credentials to hide). */
  uri: string;
}

/** wyoming-faster-whisper's (and Home Assistant's) default speech recognition port. */
export const WYOMING_ASR_PORT = 10300;
/** wyoming-piper's default speech synthesis port. */
export const WYOMING_TTS_PORT = 10200;

/** The address, or a string saying what is wrong with the value. */
export function parseWyomingUri(value: string, defaultPort: number): WyomingAddress | string {
  const example = `tcp://127.0.0.1:${defaultPort}`;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `not a URI; give tcp://host:port, e.g. ${example}`;
  }
  if (url.protocol !== 'tcp:') return `must be a tcp:// URI (only TCP is supported), e.g. ${example}`;
  if (!url.hostname) return `has no host; give tcp://host:port, e.g. ${example}`;
  if (url.username || url.password || (url.pathname && url.pathname !== '/') || url.search || url.hash) {
    return `must be just tcp://host:port, e.g. ${example}`;
  }
  const port = url.port === '' ? defaultPort : Number(url.port);
  if (port === 0) return `port 0 is not a port a server listens on; give tcp://host:port, e.g. ${example}`;
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return { host, port, uri: `tcp://${url.hostname}:${port}` };
}
