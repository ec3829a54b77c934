/**
 * Token auth shared by every door. API_TOKENS empty = open. Tokens are compared in constant
 * time (over SHA-256 digests, so different lengths leak nothing) and never logged. Where a
 * door allows it (realtime sessions), a live ephemeral client secret is accepted too.
 *
 * Where a token may come from: `Authorization: Bearer` everywhere; the query (`?token=`,
 * `?access_token=`) and the `openai-insecure-api-key.<token>` subprotocol only on WebSocket and
 * Socket.IO handshakes, which a browser cannot give headers. Plain HTTP requests refuse a query
 * token with a message saying to send the header: a URL ends up in proxy logs and browser
 * history, and nothing that calls the HTTP API needs it.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { CheckOptions, TokenSources } from '../protocols/door-auth.ts';
import type { ClientSecret } from '../protocols/openai-realtime/client-secret.ts';
import type { RealtimeDoorAuth } from '../protocols/openai-realtime/realtime-door.ts';
import { TOKEN_SUBPROTOCOL_PREFIX } from '../protocols/subprotocols.ts';
import { CLIENT_SECRET_PREFIX, type ClientSecretSigner } from './client-secrets.ts';

/** The identity of every client when API_TOKENS is empty: they share one set of per-token limits. */
export const ANONYMOUS_OWNER = 'anonymous';
/** The query parameters a handshake may carry its token in. */
const QUERY_TOKEN_PARAMETERS = ['token', 'access_token'] as const;

/** The token a client presented, from the Authorization header, the query or a subprotocol. */
function presentedToken(sources: TokenSources): string | undefined {
  return headerToken(sources.headers) ?? queryToken(sources.url) ?? protocolToken(sources.protocols);
}

function headerToken(headers: IncomingHttpHeaders): string | undefined {
  const header = headers.authorization;
  if (typeof header !== 'string') return undefined;
  const match = /^Bearer\s+(.+)$/i.exec(header.trim());
  return match ? match[1].trim() : undefined;
}

function queryToken(url: string | undefined): string | undefined {
  if (!url?.includes('?')) return undefined;
  const query = new URL(url, 'http://localhost').searchParams;
  for (const name of QUERY_TOKEN_PARAMETERS) {
    const value = query.get(name);
    if (value) return value;
  }
  return undefined;
}

function protocolToken(protocols: string[] | undefined): string | undefined {
  const fromProtocol = protocols?.find((protocol) => protocol.startsWith(TOKEN_SUBPROTOCOL_PREFIX));
  return fromProtocol?.slice(TOKEN_SUBPROTOCOL_PREFIX.length);
}

const MISSING_TOKEN = 'missing API token: send "Authorization: Bearer <token>" (one of API_TOKENS)';
const QUERY_TOKEN_REFUSED =
  'a token in the query string (?token=, ?access_token=) is accepted only when opening a WebSocket or Socket.IO connection: send "Authorization: Bearer <token>" on HTTP requests';

/** Every door's check (DoorAuth) and the realtime door's client-secret lookup. */
export class TokenAuth implements RealtimeDoorAuth {
  private readonly digests: Buffer[];

  constructor(
    tokens: readonly string[],
    private readonly secrets?: ClientSecretSigner,
  ) {
    this.digests = tokens.map(digest);
  }

  /** The live client secret the client presented, if any (its session settings apply on connect). */
  clientSecret(sources: TokenSources): ClientSecret | undefined {
    const token = presentedToken(sources);
    if (token === undefined || !this.secrets || !token.startsWith(CLIENT_SECRET_PREFIX)) return undefined;
    const checked = this.secrets.check(token);
    return checked.ok ? checked.secret : undefined;
  }

  /**
   * Whose limits a request or session counts against: a digest of its API token (never the
   * token), the minting token's for a client secret, or ANONYMOUS_OWNER when API_TOKENS is
   * empty (any string passes then, so the presented one cannot tell clients apart).
   */
  ownerOf(sources: TokenSources): string {
    const secret = this.clientSecret(sources);
    if (secret) return secret.owner;
    const token = presentedToken(sources);
    if (!this.enabled || token === undefined) return ANONYMOUS_OWNER;
    return `token:${digest(token).subarray(0, 12).toString('base64url')}`;
  }

  get enabled(): boolean {
    return this.digests.length > 0;
  }

  /** undefined when allowed, else the reason to give the client. For WebSocket and Socket.IO handshakes. */
  check(sources: TokenSources, options: CheckOptions = {}): string | undefined {
    const token = presentedToken(sources);
    // A client secret is checked even on an open server: an altered or expired one is refused, not ignored.
    if (options.clientSecret && this.secrets && token?.startsWith(CLIENT_SECRET_PREFIX)) {
      const checked = this.secrets.check(token);
      if (checked.ok || (this.enabled && this.matchesToken(token))) return undefined;
      return checked.reason;
    }
    if (!this.enabled) return undefined;
    if (token === undefined) return MISSING_TOKEN;
    return this.matchesToken(token) ? undefined : 'invalid API token';
  }

  private matchesToken(token: string): boolean {
    const presented = digest(token);
    let match = false;
    // Compare against every token so the time taken does not tell which one matched.
    for (const known of this.digests) match = timingSafeEqual(presented, known) || match;
    return match;
  }

  /** check() for a plain HTTP request: the Authorization header is the only token source. */
  checkHttp(headers: IncomingHttpHeaders, url: string): string | undefined {
    if (!this.enabled) return undefined;
    if (headerToken(headers) === undefined && queryToken(url) !== undefined) return QUERY_TOKEN_REFUSED;
    return this.check({ headers });
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}
