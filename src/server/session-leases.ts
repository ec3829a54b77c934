/**
 * MAX_SESSIONS_PER_TOKEN: concurrent sessions per API token, on every door.
 *
 * With REDIS_URL the count spans instances: each session holds a lease, a member of a sorted
 * set per token scored by its expiry (Redis's own clock, so instances' clocks may differ).
 * Admission is one Lua script (drop expired leases, count, add when under the limit), so two
 * instances admitting at once cannot both take the last place. A live instance refreshes its
 * leases every third of SESSION_LEASE_SECONDS; an instance that dies stops refreshing, and its
 * sessions stop counting within SESSION_LEASE_SECONDS.
 *
 * Without Redis, or while it is unreachable, the count is this process's own leases (fail
 * open to per-process limits: a deployment of N instances then admits up to N × the limit per
 * token). When Redis is back the refresh re-registers every local lease at once, so the shared
 * count is whole again; sessions admitted during the outage stay open even if that puts a
 * token over its limit, and new ones wait until it is under.
 */
import { randomBytes } from 'node:crypto';
import { SpeechbridgeError } from '../errors/registry.ts';
import type { TokenSources } from '../protocols/door-auth.ts';
import type { SessionAdmission, SessionTicket } from '../protocols/session-admission.ts';
import type { TokenAuth } from './auth.ts';
import type { RedisConnection } from './redis-connection.ts';

const KEY_PREFIX = 'speechbridge:sessions:';

/** KEYS[1] the token's set; ARGV: limit, lease ms, lease id. 1 = admitted. */
const ACQUIRE_SCRIPT = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`;

/** KEYS[1] the token's set; ARGV: lease ms, then the lease ids this process holds. */
const REFRESH_SCRIPT = `
local time = redis.call('TIME')
local expiry = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000) + tonumber(ARGV[1])
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], expiry, ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return #ARGV - 1`;

export interface SessionLeasesOptions {
  auth: TokenAuth;
  /** 0 = no limit (tickets are still counted locally, which costs nothing). */
  maxSessions: number;
  leaseMs: number;
  redis?: RedisConnection;
}

export class SessionLeases implements SessionAdmission {
  /** owner → this process's lease ids. */
  readonly #local = new Map<string, Set<string>>();
  readonly #options: SessionLeasesOptions;
  readonly #refresher: NodeJS.Timeout | undefined;

  constructor(options: SessionLeasesOptions) {
    this.#options = options;
    const { redis, leaseMs, maxSessions } = options;
    if (redis && maxSessions > 0) {
      this.#refresher = setInterval(() => void this.refresh(), Math.max(250, Math.floor(leaseMs / 3)));
      this.#refresher.unref();
      redis.onReady(() => void this.refresh());
    }
  }

  /** This process's sessions for one owner. */
  localCount(owner: string): number {
    return this.#local.get(owner)?.size ?? 0;
  }

  async admit(sources: TokenSources, owner?: string): Promise<SessionTicket> {
    const { maxSessions, auth } = this.#options;
    if (maxSessions <= 0) return NO_LIMIT_TICKET;
    const key = owner ?? auth.ownerOf(sources);
    const id = randomBytes(12).toString('base64url');
    const admitted = await this.#acquire(key, id);
    if (!admitted) {
      throw new SpeechbridgeError(
        'rate_limit_exceeded',
        `this API token already has ${maxSessions} open sessions (MAX_SESSIONS_PER_TOKEN); close one and retry`,
      );
    }
    let leases = this.#local.get(key);
    if (!leases) this.#local.set(key, (leases = new Set()));
    leases.add(id);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.#release(key, id);
      },
    };
  }

  /** Re-registers every local lease with a fresh expiry (also what brings the shared count back after an outage). */
  async refresh(): Promise<void> {
    const redis = this.#options.redis;
    if (!redis?.ready) return;
    const leaseMs = String(this.#options.leaseMs);
    await Promise.all(
      [...this.#local].map(async ([owner, ids]) => {
        try {
          await redis.run((client) => client.eval(REFRESH_SCRIPT, { keys: [KEY_PREFIX + owner], arguments: [leaseMs, ...ids] }));
        } catch {
          // Reported by the connection; the next refresh (or its return) tries again.
        }
      }),
    );
  }

  close(): void {
    if (this.#refresher) clearInterval(this.#refresher);
  }

  async #acquire(owner: string, id: string): Promise<boolean> {
    const { redis, maxSessions, leaseMs } = this.#options;
    if (redis?.ready) {
      const command = redis.client.eval(ACQUIRE_SCRIPT, { keys: [KEY_PREFIX + owner], arguments: [String(maxSessions), String(leaseMs), id] });
      try {
        return (await redis.run(() => command)) === 1;
      } catch {
        // Fail open to this process's count (the connection logs the outage once). A Redis that
        // hung rather than went away runs the script when it wakes: a lease taken then for a
        // session that is not open here (refused, or already gone) is given back.
        command.then(
          (late) => {
            if (late === 1 && !this.#local.get(owner)?.has(id)) this.#forget(owner, id);
          },
          () => undefined,
        );
      }
    }
    return this.localCount(owner) < maxSessions;
  }

  #release(owner: string, id: string): void {
    const leases = this.#local.get(owner);
    leases?.delete(id);
    if (leases?.size === 0) this.#local.delete(owner);
    this.#forget(owner, id);
  }

  /**
   * Removes a lease from Redis. Sent whenever the connection is up, even while Redis does not
   * answer: it then runs when Redis wakes, after any refresh sent before it. A lease left behind
   * (the connection was down) expires within SESSION_LEASE_SECONDS.
   */
  #forget(owner: string, id: string): void {
    const client = this.#options.redis?.client;
    if (!client?.isReady) return;
    client.zRem(KEY_PREFIX + owner, id).catch(() => undefined);
  }
}

const NO_LIMIT_TICKET: SessionTicket = { release: () => undefined };
