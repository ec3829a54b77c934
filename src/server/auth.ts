/**
 * Token auth shared by every door. API_TOKENS empty = open. Tokens are compared in constant
 * time (over SHA-256 digests, so different lengths leak nothing) and never logged.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

export interface TokenSources {
  headers: IncomingHttpHeaders;
  /** Request URL (path and query). */
  url?: string;
  /** WebSocket subprotocols offered by the client. */
  protocols?: string[];
}

const SUBPROTOCOL_PREFIX = 'openai-insecure-api-key.';

/** The token a client presented, from the Authorization header, the query or a subprotocol. */
export function presentedToken(sources: TokenSources): string | undefined {
  const header = sources.headers.authorization;
  if (typeof header === 'string') {
    const match = /^Bearer\s+(.+)$/i.exec(header.trim());
    if (match) return match[1].trim();
  }
  if (sources.url) {
    const query = new URL(sources.url, 'http://localhost').searchParams;
    const fromQuery = query.get('token') ?? query.get('access_token');
    if (fromQuery) return fromQuery;
  }
  const fromProtocol = sources.protocols?.find((protocol) => protocol.startsWith(SUBPROTOCOL_PREFIX));
  if (fromProtocol) return fromProtocol.slice(SUBPROTOCOL_PREFIX.length);
  return undefined;
}

export class TokenAuth {
  private readonly digests: Buffer[];

  constructor(tokens: readonly string[]) {
    this.digests = tokens.map(digest);
  }

  get enabled(): boolean {
    return this.digests.length > 0;
  }

  /** undefined when allowed, else the reason to give the client. */
  check(sources: TokenSources): string | undefined {
    if (!this.enabled) return undefined;
    const token = presentedToken(sources);
    if (token === undefined) return 'missing API token: send "Authorization: Bearer <token>" (one of API_TOKENS)';
    const presented = digest(token);
    let match = false;
    // Compare against every token so the time taken does not tell which one matched.
    for (const known of this.digests) match = timingSafeEqual(presented, known) || match;
    return match ? undefined : 'invalid API token';
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}
