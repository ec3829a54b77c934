/**
 * A ping/pong heartbeat: every `intervalMs` the peer is pinged, and a peer that has shown no
 * sign of life (a pong, or any message) since the ping before is taken for dead. A half-open
 * connection (a laptop that slept, a NAT that forgot the flow) is therefore found within two
 * intervals, where otherwise only the idle timeout (minutes) or TCP's own timeouts (tens of
 * minutes) would end it.
 */

export interface HeartbeatOptions {
  intervalMs: number;
  ping(): void;
  /** The peer missed a whole interval; called once. */
  onTimeout(): void;
}

export class Heartbeat {
  #alive = true;
  #timer: NodeJS.Timeout | null = null;

  constructor(private readonly options: HeartbeatOptions) {}

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => this.#beat(), this.options.intervalMs);
    // A heartbeat alone never keeps the process up.
    this.#timer.unref();
  }

  /** The peer showed it is there. */
  alive(): void {
    this.#alive = true;
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  #beat(): void {
    if (!this.#alive) {
      this.stop();
      this.options.onTimeout();
      return;
    }
    this.#alive = false;
    this.options.ping();
  }
}
