/**
 * What a door's session lifecycle records, already bound to its door (the server's
 * src/server/session-metrics.ts implements it on the one registry, labelled by door): sessions
 * closed by reason, the outbound backlog's peak, droppable messages skipped, the errors the
 * door itself answered (bad messages, limits; the engine's own errors are counted where
 * sessions are made) and sessions a fault ended.
 */
import type { CloseReason } from './close-reasons.ts';

export type DoorName = 'realtime' | 'socketio' | 'gateway' | 'transcriptions';

export interface DoorMetrics {
  /** A session ended by an unexpected exception. */
  fault(): void;
  closed(reason: CloseReason): void;
  /** A backlog seen after a send: raises the peak when it is one. */
  backlog(bytes: number): void;
  /** A droppable message skipped because the client reads slowly. */
  dropped(): void;
  /** An error the door sent about the client's own input or a limit. */
  clientError(code: string): void;
}
