/**
 * Ephemeral client secrets (`ek_…`): short-lived tokens a backend mints with its API token
 * (POST /v1/realtime/client_secrets) and hands to a browser or phone app, which then opens a
 * /v1/realtime session without ever holding the real token.
 *
 * A secret is self-contained and signed: `ek_<payload>.<signature>`, the payload being the
 * base64url JSON of its expiry, the session settings it was minted with, the (hashed) identity
 * of the token that minted it and a nonce, the signature an HMAC-SHA256 of it under SECRET_KEY.
 * Any instance holding the key opens the session, with nothing to look up: no shared store to
 * lose, no round trip per session. Verification accepts SECRET_KEY_PREVIOUS too, so a key is
 * rotated by moving it there. Without SECRET_KEY a random key is drawn per process, and a
 * secret opens sessions only on the process that minted it.
 *
 * The price of self-contained: a secret cannot be revoked before it expires (at most 2 h, 10
 * minutes by default), as with OpenAI's own. Bound: a secret is at most MAX_CLIENT_SECRET_CHARS
 * long (it travels in an Authorization header, a query or a WebSocket subprotocol, and load
 * balancers cap headers at 8–16 KB); minting a longer one is refused, and a longer token is
 * refused before it is decoded.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { SpeechbridgeError } from '../errors/registry.ts';
import type { ClientSecret, ClientSecretMinter } from '../protocols/openai-realtime/client-secret.ts';

export const CLIENT_SECRET_PREFIX = 'ek_';
/** Under HAProxy's and nginx's default header buffers (16 KB, 8 KB) with room for the other headers. */
export const MAX_CLIENT_SECRET_CHARS = 6144;
const FORMAT_VERSION = 1;

export interface ClientSecretKeys {
  /** Signs new secrets; verifies too. */
  current: string;
  /** Verifies only: secrets signed before a rotation. */
  previous?: string;
}

export interface ClientSecretSignerOptions {
  /** Default: a random key for this process. */
  keys?: ClientSecretKeys;
  /** Unix ms; default Date.now. */
  now?: () => number;
}

/** What checking a presented secret found: the secret, or why it is refused. */
export type ClientSecretCheck = { ok: true; secret: ClientSecret } | { ok: false; reason: string };

interface Payload {
  v: number;
  exp: number;
  own: string;
  ses: Record<string, unknown>;
  n: string;
}

export class ClientSecretSigner implements ClientSecretMinter {
  readonly #signing: Buffer;
  readonly #verifying: Buffer[];
  readonly #now: () => number;
  /** True when the key was drawn at random for this process (no SECRET_KEY). */
  readonly ephemeralKey: boolean;

  constructor(options: ClientSecretSignerOptions = {}) {
    const keys = options.keys;
    this.ephemeralKey = keys === undefined;
    this.#signing = keys ? Buffer.from(keys.current, 'utf8') : randomBytes(32);
    this.#verifying = [this.#signing, ...(keys?.previous !== undefined ? [Buffer.from(keys.previous, 'utf8')] : [])];
    this.#now = options.now ?? Date.now;
  }

  mint(ttlSeconds: number, session: Record<string, unknown>, owner: string): ClientSecret {
    const expiresAt = Math.floor(this.#now() / 1000) + ttlSeconds;
    const payload: Payload = { v: FORMAT_VERSION, exp: expiresAt, own: owner, ses: session, n: randomBytes(9).toString('base64url') };
    const body = Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url');
    const value = `${CLIENT_SECRET_PREFIX}${body}.${sign(this.#signing, body)}`;
    if (value.length > MAX_CLIENT_SECRET_CHARS) {
      throw new SpeechbridgeError(
        'invalid_value',
        `these session settings make a client secret of ${value.length} characters, over the ${MAX_CLIENT_SECRET_CHARS} it may have (it travels in a header); shorten the instructions or tools, or send them with session.update once connected`,
        { param: 'session' },
      );
    }
    return { value, expiresAt, session, owner };
  }

  /** A presented `ek_…` token: its secret when the signature holds and it has not expired, else why not. */
  check(value: string): ClientSecretCheck {
    if (!value.startsWith(CLIENT_SECRET_PREFIX)) return { ok: false, reason: 'not a client secret' };
    if (value.length > MAX_CLIENT_SECRET_CHARS) return { ok: false, reason: `invalid client secret: longer than ${MAX_CLIENT_SECRET_CHARS} characters` };
    const dot = value.lastIndexOf('.');
    if (dot < 0) return { ok: false, reason: INVALID };
    const body = value.slice(CLIENT_SECRET_PREFIX.length, dot);
    const presented = Buffer.from(value.slice(dot + 1), 'base64url');
    // Every key is tried, so the time taken does not tell which one signed it.
    let signed = false;
    for (const key of this.#verifying) {
      const expected = Buffer.from(sign(key, body), 'base64url');
      signed = (presented.length === expected.length && timingSafeEqual(presented, expected)) || signed;
    }
    if (!signed) return { ok: false, reason: INVALID };
    const payload = parsePayload(body);
    if (!payload) return { ok: false, reason: INVALID };
    if (payload.exp * 1000 <= this.#now()) {
      return {
        ok: false,
        reason: `the client secret expired at ${new Date(payload.exp * 1000).toISOString()}; mint a new one (POST /v1/realtime/client_secrets)`,
      };
    }
    return { ok: true, secret: { value, expiresAt: payload.exp, session: payload.ses, owner: payload.own } };
  }
}

const INVALID = 'invalid client secret: its signature does not match (altered, or minted by a server with another SECRET_KEY)';

function sign(key: Buffer, body: string): string {
  return createHmac('sha256', key).update(`${CLIENT_SECRET_PREFIX}${body}`).digest('base64url');
}

/** Signed by us, so well-formed unless the format changed; checked anyway, as a key may outlive a version. */
function parsePayload(body: string): Payload | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const payload = parsed as Partial<Payload>;
  if (payload.v !== FORMAT_VERSION || typeof payload.exp !== 'number' || typeof payload.own !== 'string') return undefined;
  if (typeof payload.ses !== 'object' || payload.ses === null || Array.isArray(payload.ses)) return undefined;
  return payload as Payload;
}
