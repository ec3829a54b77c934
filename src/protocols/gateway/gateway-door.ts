/**
 * The gateway door: a plain WebSocket upgrade on `/` speaking the start / audio / end
 * protocol (GET `/` without an upgrade stays the JSON health check). The token is checked
 * before any WebSocket exists: a refusal is a plain HTTP 401 with a JSON body, as on
 * /v1/realtime. Tokens come as `Authorization: Bearer`, `?token=`, or (browsers) the
 * `openai-insecure-api-key.<token>` subprotocol. Each socket becomes a GatewayConnection
 * around one session engine.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { TokenAuth } from '../../server/auth.ts';
import type { Logger } from '../../server/logging.ts';
import { rejectUpgrade } from '../../server/upgrade-router.ts';
import type { DoorLimits, DoorSessionFactory } from '../door-session.ts';
import { offeredSubprotocols, selectAnySubprotocol } from '../subprotocols.ts';
import { GatewayConnection } from './connection.ts';

export const GATEWAY_PATH = '/';

export interface GatewayDoorOptions {
  auth: TokenAuth;
  createSession: DoorSessionFactory;
  limits: DoorLimits;
  logger: Logger;
}

export class GatewayDoor {
  private readonly server: WebSocketServer;
  private readonly connections = new Set<GatewayConnection>();
  private closing = false;

  constructor(private readonly options: GatewayDoorOptions) {
    this.server = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      // Twice the message limit: messages in between get an error message and the socket stays open.
      maxPayload: 2 * options.limits.maxMessageBytes,
      handleProtocols: (protocols) => selectAnySubprotocol(protocols),
    });
  }

  get activeSessions(): number {
    return this.connections.size;
  }

  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.closing) {
      rejectUpgrade(socket, 503, 'engine_unavailable', 'the server is shutting down');
      return;
    }
    const refusal = this.options.auth.check({ headers: request.headers, url: request.url, protocols: offeredSubprotocols(request) });
    if (refusal) {
      rejectUpgrade(socket, 401, 'invalid_api_key', refusal);
      return;
    }
    this.server.handleUpgrade(request, socket, head, (websocket) => {
      const { createSession, limits, logger } = this.options;
      const connection = new GatewayConnection({ socket: websocket, createSession, limits, logger });
      this.connections.add(connection);
      // `closed` never rejects.
      void connection.closed.then(() => this.connections.delete(connection));
    });
  }

  /** Closes every session (1001) and waits for their engines to close. */
  async close(): Promise<void> {
    this.closing = true;
    await Promise.all([...this.connections].map((connection) => connection.close('server_shutdown')));
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
