/**
 * The lifecycle of a plain WebSocket door's connection (/v1/realtime, the gateway,
 * /v1/transcriptions): the shared session socket over a ws transport with the door's limits,
 * heartbeat and metrics, and the door's wire.
 */
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import type { Logger } from 'pino';
import type { DoorMetrics } from './door-metrics.ts';
import type { DoorLimits, DoorSessionFactory } from './door-session.ts';
import { type DoorWire, SessionSocket } from './session-socket.ts';
import { type WireFrame, WsTransport } from './ws-transport.ts';

/** What every plain WebSocket door's connection is made with. */
export interface WsConnectionOptions {
  socket: WebSocket;
  /** The connection under the WebSocket (the upgrade's socket): its writes are batched per event-loop turn. */
  stream?: Duplex;
  createSession: DoorSessionFactory;
  limits: DoorLimits;
  logger: Logger;
  metrics?: DoorMetrics;
}

export function wsSessionSocket(options: WsConnectionOptions, logger: Logger, wire: DoorWire<WireFrame>): SessionSocket<WireFrame> {
  const { socket, stream, limits, metrics } = options;
  return new SessionSocket<WireFrame>({ transport: new WsTransport(socket, limits.heartbeatMs, stream), limits, logger, ...(metrics && { metrics }), ...wire });
}
