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
 * Each worker of `--workers` measures its own loop. @fastify/under-pressure measures the same
 * thing, but it refuses every fastify route alike and never sees a WebSocket upgrade; here what
 * is refused depends on the request: a new session (every door) gets 503 `server_overloaded`
 * and Retry-After, while the live sessions' own traffic (Socket.IO polls, their WebSocket
 * frames), the health checks and /metrics pass. /readyz says "over capacity" meanwhile.
 */
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
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
}

export class CapacityGuard implements SessionAdmission {
  readonly #maxUtilization: number;
  readonly #next: SessionAdmission | undefined;
  readonly #timer: NodeJS.Timeout | undefined;
  #last: EventLoopUtilization = performance.eventLoopUtilization();
  #utilization = 0;

  constructor({ maxUtilization, next }: CapacityGuardOptions) {
    this.#maxUtilization = maxUtilization;
    this.#next = next;
    if (maxUtilization > 0) {
      this.#timer = setInterval(() => this.#sample(), SAMPLE_MS);
      this.#timer.unref();
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

  refusal(): SpeechbridgeError | undefined {
    if (!this.overloaded) return undefined;
    return new SpeechbridgeError(
      'server_overloaded',
      `this server is over capacity: its event loop was ${Math.round(this.#utilization * 100)} % busy over the last second ` +
        `(MAX_EVENT_LOOP_UTILIZATION ${this.#maxUtilization}); retry in ${RETRY_AFTER_SECONDS} s or on another instance`,
      { retryAfterSeconds: RETRY_AFTER_SECONDS },
    );
  }

  close(): void {
    if (this.#timer) clearInterval(this.#timer);
  }

  #sample(): void {
    const now = performance.eventLoopUtilization();
    this.#utilization = performance.eventLoopUtilization(now, this.#last).utilization;
    this.#last = now;
  }
}
