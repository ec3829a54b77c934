/**
 * A Socket.IO socket as a session transport: a message is one `message` event; the backlog is
 * what engine.io holds because the transport cannot take it yet (its write buffer, counted
 * from `packetCreate` until `drain`). Reading cannot be paused (engine.io reads on its own, and
 * bounds a message with maxHttpBufferSize). The heartbeat is engine.io's own ping/pong
 * (pingInterval and pingTimeout, set by the door from REALTIME_HEARTBEAT_SECONDS): a peer that
 * misses it closes with "ping timeout", reported as heartbeat_timeout.
 */
import type { Socket } from 'socket.io';
import type { Logger } from 'pino';
import type { SessionTransport, TransportEnd, TransportListener } from '../session-transport.ts';
import { CLOSE_GRACE_MS } from '../ws-transport.ts';
import { SERVER_EVENT, type ServerMessage } from './codec.ts';

export class SocketIoTransport implements SessionTransport<ServerMessage> {
  #backlogBytes = 0;
  readonly #onPacketCreate = (packet: { data?: unknown }): void => {
    const { data } = packet;
    this.#backlogBytes += typeof data === 'string' ? data.length : data instanceof Uint8Array ? data.byteLength : 0;
  };
  readonly #onDrain = (): void => {
    this.#backlogBytes = 0;
  };

  constructor(
    private readonly socket: Socket,
    private readonly logger: Logger,
  ) {}

  get writable(): boolean {
    return this.socket.connected;
  }

  get backlogBytes(): number {
    return this.#backlogBytes;
  }

  listen(listener: TransportListener): void {
    const { socket } = this;
    const ended = (reason: string) => listener.ended(endOf(reason));
    // The engine.io connection's close covers a client that leaves while the session starts,
    // before Socket.IO would report a disconnect.
    socket.conn.once('close', ended);
    socket.once('disconnect', ended);
    socket.conn.on('packetCreate', this.#onPacketCreate);
    socket.conn.on('drain', this.#onDrain);
    // What Socket.IO reports on a socket (a bad packet): logged, never printed to stderr.
    socket.on('error', (error: Error) => this.logger.debug({ err: error.message }, 'socket.io socket error'));
  }

  send(message: ServerMessage): void {
    this.socket.emit(SERVER_EVENT, message);
  }

  pause(): void {}

  resume(): void {}

  /**
   * Disconnects, then resolves once the engine.io connection has closed, or after
   * CLOSE_GRACE_MS. A polling client collects the last messages (and the close) with its next
   * requests, so a server shutdown waits for them before the HTTP server stops listening. A
   * socket not connected (still in its namespace middleware) is left to the middleware's answer.
   */
  async close(): Promise<void> {
    const { socket } = this;
    if (!socket.connected) return;
    // true: the whole engine.io connection closes, not only this namespace.
    socket.disconnect(true);
    const { conn } = socket;
    if (conn.readyState === 'closed') return;
    await new Promise<void>((resolve) => {
      const grace = setTimeout(() => {
        // A client that does not read never lets the close through (engine.io waits for its
        // write buffer to drain): the connection and what it buffered are dropped.
        this.destroy();
        resolve();
      }, CLOSE_GRACE_MS);
      grace.unref();
      conn.once('close', () => {
        clearTimeout(grace);
        resolve();
      });
    });
  }

  /** Closes the engine.io connection without waiting for its write buffer, and the WebSocket under it at once. */
  destroy(): void {
    const { conn } = this.socket;
    // The transport's WebSocket, when it is one: ws would otherwise hold the unsent bytes for its 30 s close timeout.
    const websocket = (conn.transport as { socket?: { terminate?: () => void } } | undefined)?.socket;
    if (conn.readyState !== 'closed') conn.close(true);
    websocket?.terminate?.();
  }

  quiet(): void {
    this.socket.conn.off('packetCreate', this.#onPacketCreate);
    this.socket.conn.off('drain', this.#onDrain);
  }
}

function endOf(reason: string): TransportEnd {
  return reason === 'ping timeout' ? 'heartbeat_timeout' : 'client_closed';
}
