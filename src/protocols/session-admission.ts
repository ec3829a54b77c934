/**
 * The per-token session limit as the doors see it: before a session opens, the door asks for a
 * ticket and holds it until the session has ended. The server's SessionLeases
 * (src/server/session-leases.ts) counts tickets per API token, across instances with Redis.
 */
import type { Duplex } from 'node:stream';
import { toSpeechbridgeError } from '../errors/registry.ts';
import type { TokenSources } from './door-auth.ts';
import { rejectUpgrade } from './reject-upgrade.ts';

export interface SessionTicket {
  /** The session has ended; idempotent. */
  release(): void;
}

export interface SessionAdmission {
  /**
   * A ticket for one session of the client these sources identify (or of `owner`, the token
   * that minted a client secret); throws a SpeechbridgeError `rate_limit_exceeded` when the
   * token holds its limit already. Never throws for an unreachable shared store.
   */
  admit(sources: TokenSources, owner?: string): Promise<SessionTicket>;
}

/**
 * For a WebSocket door: asks for a ticket, then runs `open` (which takes the upgrade) and holds
 * the ticket until the socket closes, however the session ends. A refusal answers the upgrade
 * with 429 and the JSON error body; a client gone while waiting gives its ticket back.
 */
export function admitUpgrade(
  admission: SessionAdmission | undefined,
  socket: Duplex,
  sources: TokenSources,
  owner: string | undefined,
  open: () => void,
): void {
  if (!admission) {
    open();
    return;
  }
  admission.admit(sources, owner).then(
    (ticket) => {
      if (socket.destroyed) {
        ticket.release();
        return;
      }
      socket.once('close', () => ticket.release());
      open();
    },
    (error: unknown) => {
      const failure = toSpeechbridgeError(error);
      rejectUpgrade(socket, failure.status, failure.code, failure.message);
    },
  );
}
