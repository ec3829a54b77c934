/**
 * The outbound policy of every door, one rule per message class:
 *
 * - essential (a message that carries protocol state: audio, finals, item and response events,
 *   errors): never dropped. Past `maxBufferedBytes` of backlog the connection stops reading
 *   from the client (so it cannot add work) and waits for the backlog to drain; under half of
 *   it, reading resumes. Congested longer than `slowConsumerMs`, or past twice the limit, the
 *   client is a slow consumer and the session is closed (1008 slow_consumer). The backlog is
 *   therefore bounded by 2 × maxBufferedBytes plus one message.
 * - droppable (a partial transcript that the next one supersedes): skipped while the backlog is
 *   over `maxBufferedBytes`, and counted (speechbridge_outbound_dropped_total).
 */

/** How often a congested connection looks at its backlog again. */
const CONGESTION_POLL_MS = 100;

export type MessageClass = 'essential' | 'droppable';

export interface OutboundPolicyOptions {
  backlogBytes(): number;
  maxBufferedBytes: number;
  slowConsumerMs: number;
  /** Whether the policy acts now (the session is open; not while it starts or closes). */
  active(): boolean;
  /** Stop (true) or start again (false) reading from the client. */
  holdReading(hold: boolean): void;
  /** The client is too slow: the session reports it and closes. Called once at most per congestion. */
  onSlowConsumer(detail: string): void;
  /** Every backlog seen after a send, for the peak metric. */
  onBacklog?(bytes: number): void;
  onDropped?(): void;
}

type Flow = { state: 'flowing' } | { state: 'congested'; sinceMs: number; poll: NodeJS.Timeout };

export class OutboundPolicy {
  #flow: Flow = { state: 'flowing' };
  #dropped = 0;

  constructor(private readonly options: OutboundPolicyOptions) {}

  /** Droppable messages skipped so far. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Whether a message of this class goes out now; a droppable one is skipped (and counted) when congested. */
  admits(messageClass: MessageClass): boolean {
    if (messageClass === 'essential' || this.options.backlogBytes() <= this.options.maxBufferedBytes) return true;
    this.#dropped++;
    this.options.onDropped?.();
    return false;
  }

  /** After each send. */
  check(): void {
    const { maxBufferedBytes } = this.options;
    const backlog = this.options.backlogBytes();
    this.options.onBacklog?.(backlog);
    if (!this.options.active()) return;
    if (backlog > 2 * maxBufferedBytes) {
      this.stop();
      this.options.onSlowConsumer(`the outbound backlog reached ${backlog} bytes, twice REALTIME_MAX_BUFFERED_KB`);
      return;
    }
    if (backlog > maxBufferedBytes && this.#flow.state === 'flowing') {
      this.options.holdReading(true);
      this.#flow = { state: 'congested', sinceMs: Date.now(), poll: setInterval(() => this.#poll(), CONGESTION_POLL_MS) };
    }
  }

  /** The session closes: no more polling, and reading is no longer held for the backlog. */
  stop(): void {
    if (this.#flow.state !== 'congested') return;
    clearInterval(this.#flow.poll);
    this.#flow = { state: 'flowing' };
    this.options.holdReading(false);
  }

  #poll(): void {
    if (this.#flow.state !== 'congested') return;
    const { maxBufferedBytes, slowConsumerMs } = this.options;
    if (this.options.backlogBytes() <= maxBufferedBytes / 2) {
      this.stop();
      return;
    }
    const congestedMs = Date.now() - this.#flow.sinceMs;
    if (congestedMs > slowConsumerMs) {
      this.stop();
      this.options.onSlowConsumer(`the outbound backlog stayed over REALTIME_MAX_BUFFERED_KB for ${congestedMs} ms`);
    }
  }
}
