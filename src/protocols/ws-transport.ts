/**
 * A door's plain WebSocket (`ws`) as a session transport: text and binary frames out,
 * ws.bufferedAmount as the backlog, pause/resume of the socket, a ping/pong heartbeat every
 * `heartbeatMs` (REALTIME_HEARTBEAT_SECONDS), and a close that ends even when the client has
 * stopped reading: the close frame goes out, and a socket whose close frame is still stuck
 * behind an unread backlog CLOSE_GRACE_MS later is destroyed.
 *
 * Writes are batched: given the connection's stream (the socket the upgrade came on), the
 * frames sent in one turn of the event loop (a response's audio hops and the events around
 * them arrive in one burst of microtasks) leave in one writev instead of one each, each frame
 * unchanged. The batch is flushed at the end of the turn, or as soon as it holds
 * BATCH_FLUSH_BYTES, so the backlog the outbound policy reads after a send is never more than
 * that above what it was unbatched.
 */
import type { Duplex } from 'node:stream';
import type { RawData, WebSocket } from 'ws';
import { Heartbeat } from './heartbeat.ts';
import { rawDataToBuffer } from './raw-data.ts';
import type { SessionTransport, TransportListener } from './session-transport.ts';

/** One second: a reading client gets a close frame (and a finishing engine its last event) well within it. */
export const CLOSE_GRACE_MS = 1000;

/**
 * 16 KB: about five 50 ms audio deltas at 24 kHz (3.3 KB of JSON each), so a burst of hops
 * costs one write in five; small beside the outbound limit (REALTIME_MAX_BUFFERED_KB, 4 MB by
 * default, 64 KB at the least a test sets).
 */
export const BATCH_FLUSH_BYTES = 16 * 1024;

/** A text frame (a string) or a binary frame (bytes). */
export type WireFrame = string | Uint8Array;

export class WsTransport implements SessionTransport<WireFrame> {
  readonly #heartbeat: Heartbeat;
  #timedOut = false;
  #onPong: (() => void) | null = null;
  /** The stream under the WebSocket, corked while a batch is open; null: every frame is written at once. */
  readonly #stream: Duplex | null;
  #batching = false;
  readonly #flush = (): void => {
    if (!this.#batching) return;
    this.#batching = false;
    this.#stream!.uncork();
  };

  constructor(
    private readonly socket: WebSocket,
    heartbeatMs: number,
    stream?: Duplex,
  ) {
    this.#stream = stream ?? null;
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
    const stream = this.#stream;
    if (stream && !this.#batching) {
      this.#batching = true;
      stream.cork();
      // After this turn's microtasks: everything sent meanwhile goes out in one write.
      process.nextTick(this.#flush);
    }
    if (typeof message === 'string') this.socket.send(message);
    else this.socket.send(message, { binary: true });
    if (this.#batching && stream!.writableLength >= BATCH_FLUSH_BYTES) this.#flush();
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  async close(code: number, reason: string): Promise<void> {
    const { socket } = this;
    this.#flush();
    if (socket.readyState !== socket.OPEN && socket.readyState !== socket.CONNECTING) return;
    // A socket paused for any reason must read again, or the client's close frame is never seen.
    socket.resume();
    socket.close(code, reason);
    const destroy = setTimeout(() => socket.terminate(), CLOSE_GRACE_MS);
    destroy.unref();
    socket.once('close', () => clearTimeout(destroy));
  }

  destroy(): void {
    this.#flush();
    this.socket.terminate();
  }

  quiet(): void {
    this.#heartbeat.stop();
    if (this.#onPong) this.socket.off('pong', this.#onPong);
  }
}
