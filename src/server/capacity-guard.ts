/**
 * MAX_EVENT_LOOP_UTILIZATION: an instance past its capacity takes no new session, so the
 * sessions it holds stay in real time. Past what its core can run, a process falls behind all
 * of its sessions at once (bench/realtime-sessions.ts: late frames, audio backlogs growing to
 * their bound, then slow-consumer closes); refusing the next session early keeps the others
 * whole and lets a load balancer send it to another instance (deploy/haproxy.cfg retries a 503
 * on the next one).
 *
 * The measure is the event loop's utilization (Node's performance.eventLoopUtilization: the
 * share of time the loop was not waiting for I/O) over the last SAMPLE_MS, taken on a timer;
 * a timer held up by a busy loop fires late, and the sample then spans the whole busy time.
 * Each worker of `--workers` measures its own loop and tells the primary when it goes over or
 * back under, and the primary hands new connections to the workers under it while there is one
 * (src/server/cluster-router.ts). @fastify/under-pressure measures the same
 * thing, but it refuses every fastify route alike and never sees a WebSocket upgrade; here what
 * is refused depends on the request: a new session (every door) gets 503 `server_overloaded`
 * and Retry-After, while the live sessions' own traffic (Socket.IO polls, their WebSocket
 * frames), the health checks and /metrics pass. /readyz says "over capacity" meanwhile.
 *
 * /metrics: `speechbridge_event_loop_utilization` (the last sample, whether or not a limit is
 * set, so an operator can choose one; with --workers the busiest worker's) and
 * `speechbridge_sessions_refused_total{reason="over_capacity"}`.
 */
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { Counter, Gauge, type Registry } from 'prom-client';
import { SpeechbridgeError } from '../errors/registry.ts';
import type { TokenSources } from '../protocols/door-auth.ts';
import type { SessionAdmission, SessionTicket } from '../protocols/session-admission.ts';

/** How often utilization is sampled, and the span each sample covers. */
const SAMPLE_MS = 1000;
/** What a refused client is told to wait before it retries. */
const RETRY_AFTER_SECONDS = 1;

const NO_TICKET: SessionTicket = { release: () => undefined };

export interface CapacityGuardOptions {
  /** 0–1; 0 turns the guard off. */
  maxUtilization: number;
  /** The admission that follows when there is room (the per-token session limit). */
  next?: SessionAdmission;
  /** Where the utilization gauge and the refusal counter are registered. */
  registry?: Registry;
  /** Called when the instance goes over capacity (true) or back under it (false): a worker tells its primary. */
  onChange?: (overloaded: boolean) => void;
}

export class CapacityGuard implements SessionAdmission {
  readonly #maxUtilization: number;
  readonly #next: SessionAdmission | undefined;
  readonly #timer: NodeJS.Timeout;
  readonly #refusals: Counter<'reason'> | undefined;
  readonly #onChange: ((overloaded: boolean) => void) | undefined;
  #last: EventLoopUtilization = performance.eventLoopUtilization();
  #utilization = 0;

  constructor({ maxUtilization, next, registry, onChange }: CapacityGuardOptions) {
    this.#maxUtilization = maxUtilization;
    this.#next = next;
    this.#onChange = onChange;
    this.#timer = setInterval(() => this.#sample(), SAMPLE_MS);
    this.#timer.unref();
    if (registry) {
      const utilization = () => this.#utilization;
      new Gauge({
        name: 'speechbridge_event_loop_utilization',
        help: 'Share of the last second the event loop was busy (0–1); past MAX_EVENT_LOOP_UTILIZATION new sessions are refused. With --workers: the busiest worker.',
        aggregator: 'max',
        registers: [registry],
        collect() {
          this.set(utilization());
        },
      });
      this.#refusals = new Counter({
        name: 'speechbridge_sessions_refused_total',
        help: 'New sessions refused by the instance itself, by reason (over_capacity: MAX_EVENT_LOOP_UTILIZATION).',
        labelNames: ['reason'],
        registers: [registry],
      });
    }
  }

  /** The event loop's utilization over the last sample, 0–1. */
  get utilization(): number {
    return this.#utilization;
  }

  /** The last sample was at or over MAX_EVENT_LOOP_UTILIZATION. */
  get overloaded(): boolean {
    return this.#maxUtilization > 0 && this.#utilization >= this.#maxUtilization;
  }

  async admit(sources: TokenSources, owner?: string): Promise<SessionTicket> {
    const refusal = this.refusal();
    if (refusal) throw refusal;
    return this.#next ? this.#next.admit(sources, owner) : NO_TICKET;
  }

  /** Counts as one refused session when it returns an error: call it once per new session. */
  refusal(): SpeechbridgeError | undefined {
    if (!this.overloaded) return undefined;
    this.#refusals?.inc({ reason: 'over_capacity' });
    return new SpeechbridgeError(
      'server_overloaded',
      `this server is over capacity: its event loop was ${Math.round(this.#utilization * 100)} % busy over the last second ` +
        `(MAX_EVENT_LOOP_UTILIZATION ${this.#maxUtilization}); retry in ${RETRY_AFTER_SECONDS} s or on another instance`,
      { retryAfterSeconds: RETRY_AFTER_SECONDS },
    );
  }

  close(): void {
    clearInterval(this.#timer);
  }

  #sample(): void {
    const was = this.overloaded;
    const now = performance.eventLoopUtilization();
    this.#utilization = performance.eventLoopUtilization(now, this.#last).utilization;
    this.#last = now;
    if (this.overloaded !== was) this.#onChange?.(this.overloaded);
  }
}
