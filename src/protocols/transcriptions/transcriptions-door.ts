/**
 * The /v1/transcriptions door: takes an HTTP upgrade, checks the token before any WebSocket
 * exists (a refusal is a plain HTTP 401 with a JSON body, as on /v1/realtime) and hands the
 * socket to a TranscriptionConnection.
 *
 * Tokens come as `Authorization: Bearer`, `?token=`, or the `openai-insecure-api-key.<token>`
 * subprotocol (TokenAuth reads all three). A browser fails the handshake when it offered
 * subprotocols and none is selected, so the first offered protocol that carries no token is
 * selected; a client that offered only the token protocol gets that one back (it already holds
 * the token, and a browser could not connect otherwise).
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { TokenAuth } from '../../server/auth.ts';
import type { Logger } from '../../server/logging.ts';
import { rejectUpgrade } from '../../server/upgrade-router.ts';
import type { DoorSessionFactory } from '../door-session.ts';
import { offeredSubprotocols, selectAnySubprotocol } from '../subprotocols.ts';
import { TranscriptionConnection, type TranscriptionLimits } from './transcription-connection.ts';

export const TRANSCRIPTIONS_PATH = '/v1/transcriptions';

export interface TranscriptionsDoorOptions {
  auth: TokenAuth;
  createSession: DoorSessionFactory;
  limits: TranscriptionLimits;
  logger: Logger;
}

export class TranscriptionsDoor {
  readonly #server: WebSocketServer;
  readonly #connections = new Set<TranscriptionConnection>();
  #closing = false;

  constructor(private readonly options: TranscriptionsDoorOptions) {
    this.#server = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      // Twice the message limit: messages in between get an error and the socket stays open.
      maxPayload: 2 * options.limits.maxMessageBytes,
      handleProtocols: (protocols) => selectAnySubprotocol(protocols),
    });
  }

  get activeSessions(): number {
    return this.#connections.size;
  }

  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.#closing) {
      rejectUpgrade(socket, 503, 'engine_unavailable', 'the server is shutting down');
      return;
    }
    const refusal = this.options.auth.check({ headers: request.headers, url: request.url, protocols: offeredSubprotocols(request) });
    if (refusal) {
      rejectUpgrade(socket, 401, 'invalid_api_key', refusal);
      return;
    }
    this.#server.handleUpgrade(request, socket, head, (websocket) => {
      const { createSession, limits, logger } = this.options;
      const connection = new TranscriptionConnection({ socket: websocket, createSession, limits, logger });
      this.#connections.add(connection);
      // `closed` never rejects.
      void connection.closed.then(() => this.#connections.delete(connection));
    });
  }

  /** Closes every session (1001) and waits for their engines and ffmpeg processes to end. */
  async close(): Promise<void> {
    this.#closing = true;
    await Promise.all([...this.#connections].map((connection) => connection.close('server_shutdown')));
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
