/**
 * Token auth shared by every door. API_TOKENS empty = open. Tokens are compared in constant
 * time (over SHA-256 digests, so different lengths leak nothing) and never logged. Where a
 * door allows it (realtime sessions), a live ephemeral client secret is accepted too.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { ClientSecret, ClientSecretStore } from './client-secrets.ts';

export interface TokenSources {
  headers: IncomingHttpHeaders;
  /** Request URL (path and query). */
  url?: string;
  /** WebSocket subprotocols offered by the client. */
  protocols?: string[];
}

export const TOKEN_SUBPROTOCOL_PREFIX = 'openai-insecure-api-key.';

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
  const fromProtocol = sources.protocols?.find((protocol) => protocol.startsWith(TOKEN_SUBPROTOCOL_PREFIX));
  if (fromProtocol) return fromProtocol.slice(TOKEN_SUBPROTOCOL_PREFIX.length);
  return undefined;
}

export interface CheckOptions {
  /** Accept a live client secret (ek_…) as well as API_TOKENS: for opening realtime sessions only. */
  clientSecret?: boolean;
}

export class TokenAuth {
  private readonly digests: Buffer[];

  constructor(
    tokens: readonly string[],
    private readonly secrets?: ClientSecretStore,
  ) {
    this.digests = tokens.map(digest);
  }

  /** The live client secret the client presented, if any (its session settings apply on connect). */
  clientSecret(sources: TokenSources): ClientSecret | undefined {
    const token = presentedToken(sources);
    return token === undefined ? undefined : this.secrets?.find(token);
  }

  get enabled(): boolean {
    return this.digests.length > 0;
  }

  /** undefined when allowed, else the reason to give the client. */
  check(sources: TokenSources, options: CheckOptions = {}): string | undefined {
    if (!this.enabled) return undefined;
    const token = presentedToken(sources);
    if (token === undefined) return 'missing API token: send "Authorization: Bearer <token>" (one of API_TOKENS)';
    if (options.clientSecret && this.secrets?.find(token)) return undefined;
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
