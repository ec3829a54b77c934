/**
 * What a door's session lifecycle (src/protocols/session-socket.ts) needs of the connection
 * under it: write a message, say how much is still waiting to go out, stop and start reading,
 * close (with a code where the wire has codes) and drop. A plain WebSocket
 * (src/protocols/ws-transport.ts) and a Socket.IO socket
 * (src/protocols/socketio/socketio-transport.ts) implement it; `Out` is what one message is on
 * that wire (a text or binary frame; a Socket.IO event payload).
 */

/** How the connection ended from the far side. */
export type TransportEnd = 'client_closed' | 'heartbeat_timeout';

export interface TransportListener {
  /** A client message as bytes (WebSocket transports; Socket.IO doors read their events themselves). */
  message(data: Buffer, isBinary: boolean): void;
  /** The connection is gone: closed by the client, or found dead by the heartbeat. */
  ended(how: TransportEnd): void;
  error(error: Error): void;
}

export interface SessionTransport<Out> {
  /** Whether a message written now can still reach the client. */
  readonly writable: boolean;
  /** Bytes written and not yet taken by the network: what the outbound policy bounds. */
  readonly backlogBytes: number;
  /** Starts delivering to `listener` (and the heartbeat, where the transport runs one). */
  listen(listener: TransportListener): void;
  send(message: Out): void;
  /** Stop / start reading from the client (a no-op where the transport cannot). */
  pause(): void;
  resume(): void;
  /** Ends the connection; resolves once it is gone or CLOSE_GRACE_MS later, never rejects. */
  close(code: number, reason: string): Promise<void>;
  /** Drops the connection at once, unsent bytes and all. */
  destroy(): void;
  /** Stops the heartbeat and every listener but the one that reports the end. */
  quiet(): void;
}
