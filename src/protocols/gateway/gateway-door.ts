/**
 * The gateway door: a plain WebSocket upgrade on `/` speaking the start / audio / end
 * protocol (GET `/` without an upgrade stays the JSON health check). Token check and
 * subprotocols as every WebSocket door (src/protocols/websocket-door.ts); each socket becomes
 * a GatewayConnection around one session engine.
 */
import type { Logger } from 'pino';
import type { DoorAuth } from '../door-auth.ts';
import type { DoorMetrics } from '../door-metrics.ts';
import type { DoorLimits, DoorSessionFactory } from '../door-session.ts';
import type { SessionAdmission } from '../session-admission.ts';
import { errorSummary } from '../session-boundary.ts';
import { tokenAdmission, WebSocketDoor } from '../websocket-door.ts';
import type { GatewayDefaults } from './codec.ts';
import { GatewayConnection } from './connection.ts';

export const GATEWAY_PATH = '/';

export interface GatewayDoorOptions {
  auth: DoorAuth;
  createSession: DoorSessionFactory;
  limits: DoorLimits;
  logger: Logger;
  defaults?: GatewayDefaults;
  metrics?: DoorMetrics;
  /** The per-token session limit; none when absent. */
  admission?: SessionAdmission;
}

export function createGatewayDoor({ auth, createSession, limits, logger, defaults, metrics, admission }: GatewayDoorOptions): WebSocketDoor {
  return new WebSocketDoor({
    maxMessageBytes: limits.maxMessageBytes,
    admit: tokenAdmission(auth),
    ...(admission && { sessionLimit: admission }),
    connect: (socket, _handshake, stream) => new GatewayConnection({ socket, stream, createSession, limits, logger, defaults, metrics }),
    onConnectFailure: (error) => {
      metrics?.fault();
      logger.error({ fault: errorSummary(error) }, 'gateway connection could not be set up');
    },
  });
}
