/**
 * GET /metrics for the whole server when it runs as several workers: whichever worker answers
 * asks the primary, which collects every ready worker's registry (and its own: worker count,
 * restarts, its process's CPU and memory) and merges them with prom-client's
 * AggregatorRegistry.aggregate — counters, histograms and gauges summed (open sessions of the
 * whole server), unless a metric names another aggregator (a peak is the largest, versions
 * the first). A worker that does not answer within COLLECT_TIMEOUT_MS is left out of that
 * answer rather than holding it.
 *
 * Not prom-client's clusterMetrics(): it asks every connected worker, including one still
 * loading its engines that cannot answer yet, and fails the whole answer after 5 s.
 *
 * Each worker also reports `speechbridge_worker_sessions_active{worker,pid}`, its own open
 * sessions, so the spread over workers shows.
 */
import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { SpeechbridgeError } from '../errors/registry.ts';

const COLLECT = 'speechbridge:metrics-collect';
const PART = 'speechbridge:metrics-part';
const QUERY = 'speechbridge:metrics-query';
const ANSWER = 'speechbridge:metrics-answer';

/** How long the primary waits for each worker's part. */
const COLLECT_TIMEOUT_MS = 3000;
/** How long a worker waits for the primary's answer. */
const QUERY_TIMEOUT_MS = 5000;
/** Queries one worker may have open at once; more are refused rather than queued. */
const MAX_OPEN_QUERIES = 32;

type MetricsJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;
type ClusterMessage =
  | { type: typeof COLLECT; id: number }
  | { type: typeof PART; id: number; metrics?: MetricsJson; error?: string }
  | { type: typeof QUERY; id: number }
  | { type: typeof ANSWER; id: number; text?: string; error?: string };

function isClusterMessage(message: unknown): message is ClusterMessage {
  const type = (message as { type?: unknown } | null)?.type;
  return (type === COLLECT || type === PART || type === QUERY || type === ANSWER) && typeof (message as { id?: unknown }).id === 'number';
}

// ── Primary ─────────────────────────────────────────────────────────────────────────────

export interface PrimaryMetrics {
  /** The primary's own metrics, merged into every answer. */
  registry: Registry;
  workerRestarts: Counter;
  /** Stops answering queries. */
  close(): void;
}

export function servePrimaryMetrics(readyWorkers: () => Worker[]): PrimaryMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'speechbridge_' });
  new Gauge({
    name: 'speechbridge_workers',
    help: 'Worker processes ready to take connections.',
    registers: [registry],
    collect() {
      this.set(readyWorkers().length);
    },
  });
  const workerRestarts = new Counter({
    name: 'speechbridge_worker_restarts_total',
    help: 'Workers started to replace one that exited.',
    registers: [registry],
  });

  let nextId = 0;
  const parts = new Map<number, (part: MetricsJson | undefined) => void>();

  const collectFrom = (worker: Worker): Promise<MetricsJson | undefined> =>
    new Promise((resolve) => {
      const id = nextId++;
      const timer = setTimeout(() => finish(undefined), COLLECT_TIMEOUT_MS);
      const onExit = () => finish(undefined);
      const finish = (part: MetricsJson | undefined) => {
        clearTimeout(timer);
        worker.off('exit', onExit);
        parts.delete(id);
        resolve(part);
      };
      parts.set(id, finish);
      worker.once('exit', onExit);
      try {
        worker.send({ type: COLLECT, id } satisfies ClusterMessage);
      } catch {
        finish(undefined);
      }
    });

  const aggregate = async (): Promise<string> => {
    const collected = await Promise.all(readyWorkers().map(collectFrom));
    const all = [...collected.filter((part): part is MetricsJson => part !== undefined), await registry.getMetricsAsJSON()];
    return AggregatorRegistry.aggregate(all).metrics();
  };

  const onMessage = (worker: Worker, message: unknown) => {
    if (!isClusterMessage(message)) return;
    if (message.type === PART) {
      parts.get(message.id)?.(message.metrics);
      return;
    }
    if (message.type !== QUERY) return;
    aggregate().then(
      (text) => send(worker, { type: ANSWER, id: message.id, text }),
      (error: unknown) => send(worker, { type: ANSWER, id: message.id, error: error instanceof Error ? error.message : String(error) }),
    );
  };
  cluster.on('message', onMessage);
  return {
    registry,
    workerRestarts,
    close() {
      cluster.off('message', onMessage);
    },
  };
}

function send(worker: Worker, message: ClusterMessage): void {
  if (!worker.isConnected()) return;
  try {
    worker.send(message);
  } catch {
    // The worker is going away; its /metrics request ends with it.
  }
}

// ── Worker ──────────────────────────────────────────────────────────────────────────────

export interface WorkerMetrics {
  /** The whole server's metrics, for GET /metrics. */
  clusterText(): Promise<string>;
}

/** Answers the primary's collection with `registry`, and asks the primary for the whole. */
export function serveWorkerMetrics(registry: Registry, workerId: number): WorkerMetrics {
  new Gauge({
    name: 'speechbridge_worker_sessions_active',
    help: "Each worker's open sessions, all doors, by worker id and process id.",
    labelNames: ['worker', 'pid'],
    registers: [registry],
    async collect() {
      const sessions = await registry.getSingleMetric('speechbridge_sessions_active')?.get();
      this.set(
        { worker: String(workerId), pid: String(process.pid) },
        (sessions?.values ?? []).reduce((sum, value) => sum + value.value, 0),
      );
    },
  });

  let nextId = 0;
  const queries = new Map<number, { resolve: (text: string) => void; reject: (error: Error) => void }>();
  process.on('message', (message: unknown) => {
    if (!isClusterMessage(message)) return;
    if (message.type === COLLECT) {
      registry.getMetricsAsJSON().then(
        (metrics) => sendToPrimary({ type: PART, id: message.id, metrics }),
        (error: unknown) => sendToPrimary({ type: PART, id: message.id, error: String(error) }),
      );
      return;
    }
    if (message.type !== ANSWER) return;
    const query = queries.get(message.id);
    if (!query) return;
    queries.delete(message.id);
    if (message.text !== undefined) query.resolve(message.text);
    else query.reject(new SpeechbridgeError('engine_unavailable', `the workers' metrics could not be collected: ${message.error ?? 'no answer'}`));
  });

  return {
    clusterText() {
      if (queries.size >= MAX_OPEN_QUERIES) return Promise.reject(new SpeechbridgeError('engine_unavailable', 'too many /metrics requests at once; try again'));
      const id = nextId++;
      return new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => {
          queries.delete(id);
          reject(new SpeechbridgeError('engine_unavailable', `the workers' metrics did not come within ${QUERY_TIMEOUT_MS} ms`));
        }, QUERY_TIMEOUT_MS);
        queries.set(id, {
          resolve: (text) => {
            clearTimeout(timer);
            resolve(text);
          },
          reject: (error) => {
            clearTimeout(timer);
            reject(error);
          },
        });
        sendToPrimary({ type: QUERY, id });
      });
    },
  };
}

function sendToPrimary(message: ClusterMessage): void {
  if (!process.connected || !process.send) return;
  try {
    process.send(message);
  } catch {
    // The primary is gone; this worker exits with it.
  }
}
