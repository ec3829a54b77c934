/**
 * A WebSocket door: takes an HTTP upgrade on its path, admits it before any WebSocket exists (a
 * refusal is a plain HTTP error with a JSON body; during shutdown a 503), and hands each socket
 * to a connection of the door's protocol. The door's `admit` checks the token and reads its
 * handshake; tokenAdmission() is the plain token check. Tokens come as `Authorization:
 * Bearer`, `?token=`, or (browsers) the `openai-insecure-api-key.<token>` subprotocol; a
 * browser fails the handshake when it offered subprotocols and none is selected, so one is
 * always selected back (src/protocols/subprotocols.ts, unless the door picks its own). Used by
 * every plain WebSocket door: /v1/realtime, /v1/transcriptions and the gateway.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import type { ErrorCode } from '../errors/registry.ts';
import type { CloseReason } from './close-reasons.ts';
import type { DoorAuth } from './door-auth.ts';
import { rejectUpgrade } from './reject-upgrade.ts';
import { admitUpgrade, type SessionAdmission } from './session-admission.ts';
import { offeredSubprotocols, selectAnySubprotocol } from './subprotocols.ts';

/** What the door needs of a connection: when it has ended, and how to end it at shutdown. */
export interface DoorConnection {
  /** Settles (never rejects) once the socket and the session are both closed. */
  readonly closed: Promise<CloseReason>;
  close(reason: 'server_shutdown'): Promise<CloseReason>;
}

export interface UpgradeRefusal {
  status: number;
  code: ErrorCode;
  message: string;
  param?: string;
}

/**
 * An upgrade the door admits (with what it read from the handshake, and the token whose
 * session limit it counts against when not the one presented: a client secret's minter), or
 * its refusal.
 */
export type Admission<Handshake> = { admitted: Handshake; owner?: string } | { refused: UpgradeRefusal };

export interface WebSocketDoorOptions<Handshake> {
  maxMessageBytes: number;
  /** The subprotocol selected back; default: selectAnySubprotocol. */
  selectProtocol?(protocols: Set<string>): string | false;
  admit(request: IncomingMessage, protocols: string[]): Admission<Handshake>;
  /** `stream`: the connection under the WebSocket, for its transport to batch writes on. */
  connect(socket: WebSocket, handshake: Handshake, stream: Duplex): DoorConnection;
  /** A connection could not be set up (its socket is closed with 1011). */
  onConnectFailure?(error: unknown): void;
  /** The per-token session limit (MAX_SESSIONS_PER_TOKEN); none when absent. */
  sessionLimit?: SessionAdmission;
}

/** The plain token check as an admission: what the gateway and /v1/transcriptions need. */
export function tokenAdmission(auth: DoorAuth): (request: IncomingMessage, protocols: string[]) => Admission<undefined> {
  return (request, protocols) => {
    const refusal = auth.check({ headers: request.headers, url: request.url, protocols });
    return refusal === undefined ? { admitted: undefined } : { refused: { status: 401, code: 'invalid_api_key', message: refusal } };
  };
}

export class WebSocketDoor<Handshake = undefined> {
  readonly #server: WebSocketServer;
  readonly #connections = new Set<DoorConnection>();
  #closing = false;

  constructor(private readonly options: WebSocketDoorOptions<Handshake>) {
    this.#server = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      // Twice the message limit: messages in between get an error and the socket stays open.
      maxPayload: 2 * options.maxMessageBytes,
      handleProtocols: (protocols) => (options.selectProtocol ?? selectAnySubprotocol)(protocols),
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
    const protocols = offeredSubprotocols(request);
    const admission = this.options.admit(request, protocols);
    if ('refused' in admission) {
      const { status, code, message, param } = admission.refused;
      rejectUpgrade(socket, status, code, message, param);
      return;
    }
    const sources = { headers: request.headers, url: request.url, protocols };
    admitUpgrade(this.options.sessionLimit, socket, sources, admission.owner, () => this.#upgrade(request, socket, head, admission.admitted));
  }

  #upgrade(request: IncomingMessage, socket: Duplex, head: Buffer, handshake: Handshake): void {
    if (this.#closing) {
      rejectUpgrade(socket, 503, 'engine_unavailable', 'the server is shutting down');
      return;
    }
    this.#server.handleUpgrade(request, socket, head, (websocket) => {
      let connection: DoorConnection;
      try {
        connection = this.options.connect(websocket, handshake, socket);
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
