/**
 * A door's plain WebSocket (`ws`) as a session transport: text and binary frames out,
 * ws.bufferedAmount as the backlog, pause/resume of the socket, a ping/pong heartbeat every
 * `heartbeatMs` (REALTIME_HEARTBEAT_SECONDS), and a close that ends even when the client has
 * stopped reading: the close frame goes out, and a socket whose close frame is still stuck
 * behind an unread backlog CLOSE_GRACE_MS later is destroyed.
 */
import type { RawData, WebSocket } from 'ws';
import { Heartbeat } from './heartbeat.ts';
import { rawDataToBuffer } from './raw-data.ts';
import type { SessionTransport, TransportListener } from './session-transport.ts';

/** One second: a reading client gets a close frame (and a finishing engine its last event) well within it. */
export const CLOSE_GRACE_MS = 1000;

/** A text frame (a string) or a binary frame (bytes). */
export type WireFrame = string | Uint8Array;

export class WsTransport implements SessionTransport<WireFrame> {
  readonly #heartbeat: Heartbeat;
  #timedOut = false;
  #onPong: (() => void) | null = null;

  constructor(
    private readonly socket: WebSocket,
    heartbeatMs: number,
  ) {
    this.#heartbeat = new Heartbeat({
      intervalMs: heartbeatMs,
      ping: () => socket.ping(),
      onTimeout: () => {
        this.#timedOut = true;
        socket.terminate();
      },
    });
  }

  get writable(): boolean {
    return this.socket.readyState === this.socket.OPEN;
  }

  get backlogBytes(): number {
    return this.socket.bufferedAmount;
  }

  listen(listener: TransportListener): void {
    const { socket } = this;
    this.#onPong = () => this.#heartbeat.alive();
    socket.on('pong', this.#onPong);
    socket.on('message', (data: RawData, isBinary: boolean) => {
      this.#heartbeat.alive();
      listener.message(rawDataToBuffer(data), isBinary);
    });
    socket.on('close', () => {
      this.#heartbeat.stop();
      listener.ended(this.#timedOut ? 'heartbeat_timeout' : 'client_closed');
    });
    socket.on('error', (error: Error) => listener.error(error));
    this.#heartbeat.start();
  }

  send(message: WireFrame): void {
    if (typeof message === 'string') this.socket.send(message);
    else this.socket.send(message, { binary: true });
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  async close(code: number, reason: string): Promise<void> {
    const { socket } = this;
    if (socket.readyState !== socket.OPEN && socket.readyState !== socket.CONNECTING) return;
    // A socket paused for any reason must read again, or the client's close frame is never seen.
    socket.resume();
    socket.close(code, reason);
    const destroy = setTimeout(() => socket.terminate(), CLOSE_GRACE_MS);
    destroy.unref();
    socket.once('close', () => clearTimeout(destroy));
  }

  destroy(): void {
    this.socket.terminate();
  }

  quiet(): void {
    this.#heartbeat.stop();
    if (this.#onPong) this.socket.off('pong', this.#onPong);
  }
}
