/**
 * Why a door's session ended, and the WebSocket close code each reason is sent with: the one
 * table every door uses (Socket.IO has no close codes; there the reason is what the metrics and
 * the log say). The reason is also the close frame's reason text, which clients read
 * (`finished` after the gateway's `end`, `stopped` after /v1/transcriptions' `stop`).
 */

export type CloseReason =
  /** The gateway's `end`: every committed turn has its result. */
  | 'finished'
  /** /v1/transcriptions' `stop` / `end`: every utterance has its final. */
  | 'stopped'
  | 'client_closed'
  | 'session_expired'
  | 'session_idle'
  /** The peer stopped answering heartbeat pings: a half-open connection. */
  | 'heartbeat_timeout'
  | 'slow_consumer'
  /** More client messages arrived while the session started than the early buffer holds. */
  | 'early_overflow'
  | 'server_shutdown'
  | 'start_failed'
  | 'socket_error'
  | 'internal_error';

export const CLOSE_CODES: Readonly<Record<CloseReason, number>> = {
  finished: 1000,
  stopped: 1000,
  client_closed: 1000,
  session_expired: 1000,
  session_idle: 1000,
  // Never sent: a peer that answers no ping is dropped without a close frame.
  heartbeat_timeout: 1001,
  slow_consumer: 1008,
  early_overflow: 1008,
  server_shutdown: 1001,
  start_failed: 1011,
  socket_error: 1011,
  internal_error: 1011,
};

/**
 * Server-side ends that leave the client able to read: the engine finishes first (its
 * cancelled responses still reach the client) before the socket closes, for at most
 * CLOSE_GRACE_MS. Every other end closes at once: the client is gone, cannot keep up, or the
 * session has nothing left to say.
 */
export function drainsBeforeClose(reason: CloseReason): boolean {
  return reason === 'session_expired' || reason === 'session_idle' || reason === 'server_shutdown';
}
