/**
 * A WebSocket door: takes an HTTP upgrade on its path, checks the token before any WebSocket
 * exists (a refusal is a plain HTTP 401 with a JSON body; during shutdown a 503), and hands
 * each socket to a connection of the door's protocol. Tokens come as `Authorization: Bearer`,
 * `?token=`, or (browsers) the `openai-insecure-api-key.<token>` subprotocol; a browser fails
 * the handshake when it offered subprotocols and none is selected, so one is always selected
 * back (src/protocols/subprotocols.ts). Used by the gateway and /v1/transcriptions doors.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import { rejectUpgrade } from './reject-upgrade.ts';
import type { DoorAuth } from './door-auth.ts';
import { admitUpgrade, type SessionAdmission } from './session-admission.ts';
import { offeredSubprotocols, selectAnySubprotocol } from './subprotocols.ts';

/** What the door needs of a connection: when it has ended, and how to end it at shutdown. */
export interface DoorConnection {
  /** Settles (never rejects) once the socket and the session are both closed. */
  readonly closed: Promise<unknown>;
  close(reason: 'server_shutdown'): Promise<unknown>;
}

export interface WebSocketDoorOptions {
  auth: DoorAuth;
  maxMessageBytes: number;
  connect(socket: WebSocket): DoorConnection;
  /** A connection could not be set up (its socket is closed with 1011). */
  onConnectFailure?(error: unknown): void;
  /** The per-token session limit (MAX_SESSIONS_PER_TOKEN); none when absent. */
  admission?: SessionAdmission;
}

export class WebSocketDoor {
  readonly #server: WebSocketServer;
  readonly #connections = new Set<DoorConnection>();
  #closing = false;

  constructor(private readonly options: WebSocketDoorOptions) {
    this.#server = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      // Twice the message limit: messages in between get an error and the socket stays open.
      maxPayload: 2 * options.maxMessageBytes,
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
    const sources = { headers: request.headers, url: request.url, protocols: offeredSubprotocols(request) };
    const refusal = this.options.auth.check(sources);
    if (refusal) {
      rejectUpgrade(socket, 401, 'invalid_api_key', refusal);
      return;
    }
    admitUpgrade(this.options.admission, socket, sources, undefined, () => this.#upgrade(request, socket, head));
  }

  #upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.#closing) {
      rejectUpgrade(socket, 503, 'engine_unavailable', 'the server is shutting down');
      return;
    }
    this.#server.handleUpgrade(request, socket, head, (websocket) => {
      let connection: DoorConnection;
      try {
        connection = this.options.connect(websocket);
      } catch (error) {
        // Before a connection (and its error boundary) exists: this socket ends, the process does not.
        this.options.onConnectFailure?.(error);
        websocket.close(1011, 'internal_error');
        return;
      }
      this.#connections.add(connection);
      void connection.closed.then(() => this.#connections.delete(connection));
    });
  }

  /** Closes every session (1001) and waits for each to end. */
  async close(): Promise<void> {
    this.#closing = true;
    await Promise.all([...this.#connections].map((connection) => connection.close('server_shutdown')));
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
