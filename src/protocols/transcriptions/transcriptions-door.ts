/**
 * The /v1/transcriptions door: a WebSocket upgrade on its path, with the token check and
 * subprotocols of every WebSocket door (src/protocols/websocket-door.ts); each socket becomes a
 * TranscriptionConnection around one transcription session.
 */
import type { Logger } from 'pino';
import type { DoorAuth } from '../door-auth.ts';
import type { DoorMetrics } from '../door-metrics.ts';
import type { DoorSessionFactory } from '../door-session.ts';
import type { SessionAdmission } from '../session-admission.ts';
import { errorSummary } from '../session-boundary.ts';
import { tokenAdmission, WebSocketDoor } from '../websocket-door.ts';
import { TranscriptionConnection, type TranscriptionLimits } from './transcription-connection.ts';

export const TRANSCRIPTIONS_PATH = '/v1/transcriptions';

export interface TranscriptionsDoorOptions {
  auth: DoorAuth;
  createSession: DoorSessionFactory;
  limits: TranscriptionLimits;
  logger: Logger;
  metrics?: DoorMetrics;
  /** The per-token session limit; none when absent. */
  admission?: SessionAdmission;
}

export function createTranscriptionsDoor({ auth, createSession, limits, logger, metrics, admission }: TranscriptionsDoorOptions): WebSocketDoor {
  return new WebSocketDoor({
    maxMessageBytes: limits.maxMessageBytes,
    admit: tokenAdmission(auth),
    ...(admission && { sessionLimit: admission }),
    connect: (socket, _handshake, stream) => new TranscriptionConnection({ socket, stream, createSession, limits, logger, metrics }),
    onConnectFailure: (error) => {
      metrics?.fault();
      logger.error({ fault: errorSummary(error) }, 'transcriptions connection could not be set up');
    },
  });
}
