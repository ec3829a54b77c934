/**
 * Backpressure for a WebSocket whose every outbound message carries protocol state (nothing
 * may be dropped): past `maxBufferedBytes` of ws.bufferedAmount the connection stops reading
 * from the client (so it cannot add work); under half of it, reading resumes. Congested
 * longer than `slowConsumerMs`, or past twice the limit, the client is a slow consumer and the
 * connection closes it. The backlog is therefore bounded by 2 × maxBufferedBytes plus one
 * message. Used by the /v1/realtime and gateway doors.
 */
import type { WebSocket } from 'ws';

/** How often a congested connection looks at its backlog again. */
const CONGESTION_POLL_MS = 100;

export interface BacklogGuardOptions {
  socket: Pick<WebSocket, 'bufferedAmount' | 'pause' | 'resume'>;
  maxBufferedBytes: number;
  slowConsumerMs: number;
  /** Whether the connection reads from the client now (not while it starts or closes). */
  reading: () => boolean;
  /** The client is too slow: the connection reports it and closes. Called once at most per congestion. */
  onSlowConsumer: (detail: string) => void;
  /** Every backlog seen after a send, for peak metrics. */
  onBacklog?: (bytes: number) => void;
  onCongested?: (bytes: number) => void;
}

type Flow = { state: 'flowing' } | { state: 'congested'; sinceMs: number; poll: NodeJS.Timeout };

export class BacklogGuard {
  #flow: Flow = { state: 'flowing' };

  constructor(private readonly options: BacklogGuardOptions) {}

  /** True while input is paused for the backlog to drain. */
  get congested(): boolean {
    return this.#flow.state === 'congested';
  }

  /** After each send. */
  check(): void {
    const { socket, maxBufferedBytes } = this.options;
    const backlog = socket.bufferedAmount;
    this.options.onBacklog?.(backlog);
    if (!this.options.reading()) return;
    if (backlog > 2 * maxBufferedBytes) {
      this.stop();
      this.options.onSlowConsumer(`the outbound backlog reached ${backlog} bytes, twice REALTIME_MAX_BUFFERED_KB`);
      return;
    }
    if (backlog > maxBufferedBytes && this.#flow.state === 'flowing') {
      socket.pause();
      this.#flow = { state: 'congested', sinceMs: Date.now(), poll: setInterval(() => this.#poll(), CONGESTION_POLL_MS) };
      this.options.onCongested?.(backlog);
    }
  }

  /** The connection closes: no more polling. */
  stop(): void {
    if (this.#flow.state === 'congested') clearInterval(this.#flow.poll);
    this.#flow = { state: 'flowing' };
  }

  #poll(): void {
    if (this.#flow.state !== 'congested') return;
    const { socket, maxBufferedBytes, slowConsumerMs } = this.options;
    if (socket.bufferedAmount <= maxBufferedBytes / 2) {
      this.stop();
      if (this.options.reading()) socket.resume();
      return;
    }
    const congestedMs = Date.now() - this.#flow.sinceMs;
    if (congestedMs > slowConsumerMs) {
      this.stop();
      this.options.onSlowConsumer(`the outbound backlog stayed over REALTIME_MAX_BUFFERED_KB for ${congestedMs} ms`);
    }
  }
}
