/**
 * The /v1/transcriptions door: a WebSocket upgrade on its path, with the token check and
 * subprotocols of every WebSocket door (src/protocols/websocket-door.ts); each socket becomes a
 * TranscriptionConnection around one transcription session.
 */
import type { Logger } from 'pino';
import type { DoorAuth } from '../door-auth.ts';
import type { DoorSessionFactory } from '../door-session.ts';
import { errorSummary } from '../session-boundary.ts';
import { tokenAdmission, WebSocketDoor } from '../websocket-door.ts';
import { TranscriptionConnection, type TranscriptionLimits } from './transcription-connection.ts';

export const TRANSCRIPTIONS_PATH = '/v1/transcriptions';

export interface TranscriptionsDoorOptions {
  auth: DoorAuth;
  createSession: DoorSessionFactory;
  limits: TranscriptionLimits;
  logger: Logger;
  /** Counts a session ended by an unexpected exception. */
  countFault?: () => void;
}

export function createTranscriptionsDoor({ auth, createSession, limits, logger, countFault }: TranscriptionsDoorOptions): WebSocketDoor {
  return new WebSocketDoor({
    admit: tokenAdmission(auth),
    maxMessageBytes: limits.maxMessageBytes,
    connect: (socket) => new TranscriptionConnection({ socket, createSession, limits, logger, countFault }),
    onConnectFailure: (error) => {
      countFault?.();
      logger.error({ fault: errorSummary(error) }, 'transcriptions connection could not be set up');
    },
  });
}
