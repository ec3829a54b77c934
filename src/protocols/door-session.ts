/**
 * What every door (a protocol's WebSocket or Socket.IO front end) needs of a session engine,
 * and the limits every door enforces per connection (the REALTIME_* variables). The server's
 * session factory (src/server/session-factory.ts) makes these sessions; no door knows more of
 * the engine than this.
 */
import type { EngineEvent, EngineInput, HandleResult, SessionConfig, SessionKind, SessionUpdate } from '../engine/events.ts';

export interface DoorSession {
  start(): Promise<void>;
  /** Never throws: bad input becomes an `error` event, and the result says it was refused. */
  handle(input: EngineInput): HandleResult;
  /** Ends the turn being spoken (answered when `respond`); resolves once every committed turn has its turn.ended. */
  finish(options: { respond: boolean }): Promise<void>;
  readonly config: SessionConfig;
  close(): Promise<void>;
}

export interface DoorSessionRequest {
  kind: SessionKind;
  /** The LLM model the client asked for (e.g. /v1/realtime's ?model=). */
  model?: string;
  /** Settings applied over the server's defaults at creation (a door's mode, rates, instructions). */
  session?: SessionUpdate;
  onEvent(event: EngineEvent): void;
}

export type DoorSessionFactory = (request: DoorSessionRequest) => DoorSession;

export interface DoorLimits {
  maxMessageBytes: number;
  maxSessionMs: number;
  idleTimeoutMs: number;
  maxBufferedBytes: number;
  slowConsumerMs: number;
  /** Ping interval: a peer that answers none for a whole interval is dropped (REALTIME_HEARTBEAT_SECONDS). */
  heartbeatMs: number;
}
