/**
 * Ephemeral client secrets (`ek_…`): short-lived tokens a backend mints with its API token
 * (POST /v1/realtime/client_secrets) and hands to a browser or phone app, which then opens a
 * /v1/realtime session without ever holding the real token. A secret carries the session
 * configuration it was minted with, applied when a session opens with it.
 *
 * Secrets live in this process's memory: a gateway behind a load balancer needs the client to
 * connect to the process that minted its secret, or a shared store.
 *
 * Bound: at most `maxLive` unexpired secrets; expired ones are swept when a secret is minted,
 * and minting past the bound is refused (rate_limit_exceeded) rather than evicting live ones.
 * Lookups go through the SHA-256 digest of the presented value, so the map's timing tells an
 * attacker nothing about any real secret's characters.
 */
import { createHash, randomBytes } from 'node:crypto';
import { SpeechbridgeError } from '../errors/registry.ts';
import type { ClientSecret, ClientSecretMinter } from '../protocols/openai-realtime/client-secret.ts';

const DEFAULT_MAX_LIVE = 10_000;

export interface ClientSecretStoreOptions {
  maxLive?: number;
  /** Unix ms; default Date.now. */
  now?: () => number;
}

export class ClientSecretStore implements ClientSecretMinter {
  readonly #byDigest = new Map<string, ClientSecret>();
  readonly #maxLive: number;
  readonly #now: () => number;

  constructor(options: ClientSecretStoreOptions = {}) {
    this.#maxLive = options.maxLive ?? DEFAULT_MAX_LIVE;
    this.#now = options.now ?? Date.now;
  }

  get size(): number {
    return this.#byDigest.size;
  }

  mint(ttlSeconds: number, session: Record<string, unknown>): ClientSecret {
    if (this.#byDigest.size >= this.#maxLive) this.#sweep();
    if (this.#byDigest.size >= this.#maxLive) {
      throw new SpeechbridgeError('client_secrets_exhausted', `${this.#maxLive} client secrets are live; wait for some to expire`, { status: 429 });
    }
    const secret: ClientSecret = {
      value: `ek_${randomBytes(24).toString('base64url')}`,
      expiresAt: Math.floor(this.#now() / 1000) + ttlSeconds,
      session,
    };
    this.#byDigest.set(digest(secret.value), secret);
    return secret;
  }

  /** The live secret with this value, or undefined (unknown or expired). */
  find(value: string): ClientSecret | undefined {
    const key = digest(value);
    const secret = this.#byDigest.get(key);
    if (!secret) return undefined;
    if (secret.expiresAt * 1000 <= this.#now()) {
      this.#byDigest.delete(key);
      return undefined;
    }
    return secret;
  }

  #sweep(): void {
    const nowS = this.#now() / 1000;
    for (const [key, secret] of this.#byDigest) if (secret.expiresAt <= nowS) this.#byDigest.delete(key);
  }
}

function digest(value: string): string {
  return createHash('sha256').update(value).digest('base64');
}
