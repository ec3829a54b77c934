/**
 * The per-token session limit as the doors see it: before a session opens, the door asks for a
 * ticket and holds it until the session has ended. The server's SessionLeases
 * (src/server/session-leases.ts) counts tickets per API token, across instances with Redis.
 */
import type { Duplex } from 'node:stream';
import { type SpeechbridgeError, toSpeechbridgeError } from '../errors/registry.ts';
import type { TokenSources } from './door-auth.ts';
import { rejectUpgradeWith } from './reject-upgrade.ts';

export interface SessionTicket {
  /** The session has ended; idempotent. */
  release(): void;
}

export interface SessionAdmission {
  /**
   * A ticket for one session of the client these sources identify (or of `owner`, the token
   * that minted a client secret); throws a SpeechbridgeError `rate_limit_exceeded` when the
   * token holds its limit already, `server_overloaded` when the instance is over capacity.
   * Never throws for an unreachable shared store.
   */
  admit(sources: TokenSources, owner?: string): Promise<SessionTicket>;
  /**
   * Why no new session may start now, whoever asks (the instance is over capacity), or
   * undefined: a check without I/O, for handshakes that come before `admit` (Socket.IO's).
   * Called once per new session: a refusal is counted.
   */
  refusal?(): SpeechbridgeError | undefined;
}

/**
 * For a WebSocket door: asks for a ticket, then runs `open` (which takes the upgrade) and holds
 * the ticket until the socket closes, however the session ends. A refusal answers the upgrade
 * with its status (429 over a token's limit, 503 over capacity), Retry-After when it says when
 * to retry, and the JSON error body; a client gone while waiting gives its ticket back.
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
    (error: unknown) => rejectUpgradeWith(socket, toSpeechbridgeError(error)),
  );
}
