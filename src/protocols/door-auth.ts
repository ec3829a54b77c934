/**
 * The token check a door runs on a handshake, as the doors need it; the server's TokenAuth
 * (src/server/auth.ts) implements it. A door learns only "allowed, or why not".
 */
import type { IncomingHttpHeaders } from 'node:http';

/** Where a handshake may carry its token. */
export interface TokenSources {
  headers: IncomingHttpHeaders;
  /** Request URL (path and query): its `token` / `access_token` parameter is a token source. */
  url?: string;
  /** WebSocket subprotocols offered by the client. */
  protocols?: string[];
}

export interface CheckOptions {
  /** Accept a live client secret (ek_…) as well as API_TOKENS: for opening realtime sessions only. */
  clientSecret?: boolean;
}

export interface DoorAuth {
  /** undefined when allowed, else the reason to give the client. */
  check(sources: TokenSources, options?: CheckOptions): string | undefined;
}
