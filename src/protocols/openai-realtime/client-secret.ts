/**
 * An ephemeral client secret as /v1/realtime knows it: minted by POST
 * /v1/realtime/client_secrets, presented in place of an API token when a session opens, and
 * carrying the session settings it was minted with. The server's ClientSecretSigner
 * (src/server/client-secrets.ts) signs and checks them; nothing is stored.
 */

/** OpenAI's range for expires_after.seconds: 10 s to 2 h; 10 minutes when not given. */
export const CLIENT_SECRET_TTL_RANGE_S = [10, 7200] as const;
export const DEFAULT_CLIENT_SECRET_TTL_S = 600;

export interface ClientSecret {
  value: string;
  /** Unix seconds. */
  expiresAt: number;
  /** The wire `session` object it was minted with (GA or beta spelling), applied on connect. */
  session: Record<string, unknown>;
  /** Who minted it (a digest of the API token, never the token): its sessions count against that token's limits. */
  owner: string;
}

/** What the client-secrets route needs of the store. */
export interface ClientSecretMinter {
  mint(ttlSeconds: number, session: Record<string, unknown>, owner: string): ClientSecret;
}
