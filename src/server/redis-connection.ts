/**
 * The server's connection to Redis (REDIS_URL), with the node-redis client, and the one place
 * that knows whether Redis is reachable.
 *
 * Policy when Redis goes away: nothing live depends on it. Sessions go on; per-token limits
 * fall back to this process's own counts (SessionLeases, the request limiter's in-memory
 * insurance) and one warning says so; the client reconnects by itself (backoff up to 2 s), and
 * on its return one line says so and `onReady` listeners re-register what this process holds.
 * Commands fail at once while it is away (no offline queue) and give up after
 * REDIS_COMMAND_TIMEOUT_MS when it hangs, so no handshake waits on it.
 *
 * The Socket.IO adapter gets its own client (`adapterClient`), with the offline queue on: its
 * stream reader retries in a tight loop on a command that fails at once, so its commands wait
 * for the reconnect instead (a few heartbeats per outage: bounded in practice by the outage).
 */
import { createClient, type RedisClientType } from 'redis';
import type { Logger } from './logging.ts';

/** A limit check may add this much to a handshake at worst, when Redis hangs rather than refuses. */
export const REDIS_COMMAND_TIMEOUT_MS = 1000;
const MAX_RECONNECT_DELAY_MS = 2000;
/** How often a hung Redis is asked whether it answers again. */
const PROBE_INTERVAL_MS = 1000;
/** How long start-up waits for Redis before it goes on without (limits per process until it comes). */
const STARTUP_WAIT_MS = 3000;

export type RedisClient = RedisClientType;

export class RedisConnection {
  readonly client: RedisClient;
  readonly #logger: Logger;
  readonly #readyListeners: Array<() => void> = [];
  #adapterClient: RedisClient | undefined;
  /** 'down' is logged once per outage. */
  #state: 'connecting' | 'ready' | 'down' = 'connecting';
  #closed = false;
  /** While down on a connection that stayed open (Redis hung rather than went away): PINGs until it answers. */
  #probe: NodeJS.Timeout | undefined;

  constructor(
    readonly url: string,
    logger: Logger,
  ) {
    this.#logger = logger;
    this.client = createClient({
      url,
      disableOfflineQueue: true,
      socket: { connectTimeout: REDIS_COMMAND_TIMEOUT_MS * 2, reconnectStrategy: (retries) => Math.min(50 * 2 ** retries, MAX_RECONNECT_DELAY_MS) },
    }) as RedisClient;
    this.client.on('ready', () => this.#onReady());
    this.client.on('error', (error: Error) => this.markDown(error));
    this.client.on('end', () => this.markDown(new Error('connection closed')));
  }

  /** Starts connecting; resolves once connected or after a few seconds without (then it keeps trying). */
  async start(): Promise<void> {
    const connected = this.client.connect().then(
      () => true,
      () => false,
    );
    const waited = await Promise.race([connected, new Promise<false>((resolve) => setTimeout(resolve, STARTUP_WAIT_MS, false).unref())]);
    if (!waited && this.#state !== 'ready') this.markDown(new Error(`no answer from ${redactedUrl(this.url)} within ${STARTUP_WAIT_MS / 1000} s`));
  }

  get ready(): boolean {
    return this.#state === 'ready' && this.client.isReady;
  }

  /** Runs each time Redis comes back (not on the first connection). */
  onReady(listener: () => void): void {
    this.#readyListeners.push(listener);
  }

  /** A command failed or the connection dropped: limits fall back to this process until Redis answers again. */
  markDown(error: unknown): void {
    if (this.#closed || this.#state === 'down') return;
    const wasReady = this.#state === 'ready';
    this.#state = 'down';
    this.#logger.warn(
      { redis: redactedUrl(this.url), err: error instanceof Error ? error.message : String(error) },
      `Redis is unreachable${wasReady ? '' : ' at start-up'}: live sessions go on; per-token limits count this process only until it is back (reconnecting)`,
    );
    // A dropped connection comes back with a 'ready' event; a hung one never dropped, so nothing would say it is back.
    this.#probe = setInterval(() => {
      if (this.client.isReady) void this.ping().then((answered) => answered && this.#onReady());
    }, PROBE_INTERVAL_MS);
    this.#probe.unref();
  }

  /** A command with a deadline: rejects after REDIS_COMMAND_TIMEOUT_MS (the command may still complete). */
  async run<T>(command: (client: RedisClient) => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`Redis did not answer within ${REDIS_COMMAND_TIMEOUT_MS} ms`)), REDIS_COMMAND_TIMEOUT_MS);
    });
    try {
      return await Promise.race([command(this.client), deadline]);
    } catch (error) {
      this.markDown(error);
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /** PING within the deadline: what GET /readyz reports. */
  async ping(): Promise<boolean> {
    if (!this.client.isReady) return false;
    try {
      return (await this.run((client) => client.ping())) === 'PONG';
    } catch {
      return false;
    }
  }

  /** A second connection for the Socket.IO adapter (offline queue on; see above). */
  adapterClient(): RedisClient {
    if (!this.#adapterClient) {
      this.#adapterClient = this.client.duplicate({ disableOfflineQueue: false }) as RedisClient;
      this.#adapterClient.on('error', () => {
        // Reported once by the main client, which sees the same outage.
      });
      this.#adapterClient.connect().catch(() => undefined);
    }
    return this.#adapterClient;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#probe);
    for (const client of [this.client, this.#adapterClient]) {
      if (!client) continue;
      // destroy, not quit: a quit waits on an unreachable server.
      if (client.isOpen) client.destroy();
    }
  }

  #onReady(): void {
    clearInterval(this.#probe);
    this.#probe = undefined;
    const recovered = this.#state === 'down';
    this.#state = 'ready';
    if (!recovered) return;
    this.#logger.info({ redis: redactedUrl(this.url) }, 'Redis is reachable again: per-token limits are shared across instances again');
    for (const listener of this.#readyListeners) listener();
  }
}

/** The URL without its password, for logs. */
export function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'REDIS_URL';
  }
}
