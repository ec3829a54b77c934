/**
 * The primary process when the server runs as several workers (WORKERS / --workers): it
 * starts the workers, listens on the one public port and hands each connection to a worker
 * (src/server/cluster-router.ts), answers /metrics for the whole server through any worker
 * (src/server/cluster-metrics.ts), replaces a worker that exits, and drains them all on stop.
 * It loads no engine and serves no request itself.
 *
 * Start-up: the first worker starts alone — it loads the engines (downloading a model into
 * the cache once, not N times at once) and says what start-up says once; then the others
 * start together, quietly; then the port opens. A worker that cannot start stops the whole
 * start with its error, which the command line prints as one line.
 *
 * A worker that exits is replaced: at once when it had run for a while, else after a delay
 * that doubles with each quick exit in a row (BACKOFF_*), so an engine that fails at every
 * start does not spin. Its clients lose their connections when its process ends (the kernel
 * closes them: a WebSocket client sees the close at once, a Socket.IO client reconnects to
 * another worker); sessions on the other workers go on.
 *
 * Stop: the port closes, every worker runs its own graceful shutdown (sessions end with
 * 1001, requests in flight get their grace), and a worker still running after
 * STOP_TIMEOUT_MS is killed.
 */
import cluster, { type Worker } from 'node:cluster';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setupPrimary as setupAdapterPrimary } from '@socket.io/cluster-adapter';
import { type ErrorCode, SpeechbridgeError } from '../errors/registry.ts';
import { servePrimaryMetrics } from './cluster-metrics.ts';
import { openClusterRouter, type ClusterRouter } from './cluster-router.ts';
import {
  type StartFailure,
  WORKER_ANNOUNCES_VARIABLE,
  WORKER_CAPACITY,
  WORKER_FAILED,
  WORKER_READY,
  WORKER_SHUTDOWN,
  WORKER_SOCKET_VARIABLE,
  type WorkerReady,
} from './cluster-worker.ts';
import type { Logger } from './logging.ts';

/** A worker that ran this long before exiting is replaced at once. */
const STABLE_MS = 30_000;
/** Delay before replacing a worker that exited sooner: doubled per quick exit in a row, up to the max. */
const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 30_000;
/** Requests waiting for their Socket.IO session's report, at most; more go to a worker at once. */
const MAX_WAITING_REQUESTS = 10_000;
/** A worker's own shutdown gives requests 5 s; sessions close at once. */
const STOP_TIMEOUT_MS = 10_000;

export interface ClusterPrimaryOptions {
  workers: number;
  host: string;
  port: number;
  logger: Logger;
  /** Variables every worker gets on top of this process's environment. */
  workerEnvironment?: Record<string, string>;
}

export interface ClusterPrimary {
  /** Base URL clients use, e.g. http://127.0.0.1:8080. */
  url: string;
  port: number;
  /** What the first worker reported: the engines, the gateway listener. */
  first: WorkerReady;
  /** The ready workers' process ids. */
  pids(): number[];
  close(): Promise<void>;
}

type WorkerState = 'starting' | 'ready' | 'stopping';

interface WorkerEntry {
  worker: Worker;
  state: WorkerState;
  readyAt?: number;
  /** The worker said it is over capacity (MAX_EVENT_LOOP_UTILIZATION) and not yet back under. */
  overloaded?: boolean;
}

export async function startClusterPrimary(options: ClusterPrimaryOptions): Promise<ClusterPrimary> {
  const { logger } = options;
  // 'advanced': the first bytes of a handed connection are a Buffer, which JSON would mangle.
  cluster.setupPrimary({ serialization: 'advanced' });
  setupAdapterPrimary();
  const socketDir = await mkdtemp(path.join(os.tmpdir(), 'speechbridge-workers-'));
  const entries = new Map<number, WorkerEntry>();
  const sessions = new Map<string, number>();
  /** Routed requests waiting for a worker to report their session (bounded: beyond it they go on at once). */
  const sessionWaiters = new Map<string, Array<(worker: Worker | undefined) => void>>();
  let waitingRequests = 0;
  let phase: 'starting' | 'running' | 'stopping' = 'starting';
  let forks = 0;
  let quickExits = 0;
  let restartTimer: NodeJS.Timeout | undefined;
  const pendingRestarts: number[] = [];

  const readyWorkers = () => [...entries.values()].filter((entry) => entry.state === 'ready').map((entry) => entry.worker);
  /** The ready workers under capacity, or every ready worker when none is (each then refuses new sessions itself). */
  const acceptingWorkers = () => {
    const ready = [...entries.values()].filter((entry) => entry.state === 'ready');
    const under = ready.filter((entry) => !entry.overloaded);
    return (under.length > 0 ? under : ready).map((entry) => entry.worker);
  };
  const metrics = servePrimaryMetrics(readyWorkers);

  const fork = (announces: boolean): Worker => {
    forks++;
    const worker = cluster.fork({
      ...options.workerEnvironment,
      [WORKER_SOCKET_VARIABLE]: path.join(socketDir, `worker-${forks}.sock`),
      [WORKER_ANNOUNCES_VARIABLE]: announces ? '1' : '0',
    });
    entries.set(worker.id, { worker, state: 'starting' });
    // A message to a worker that is exiting fails with EPIPE; its exit is handled below, and an
    // unhandled 'error' would end the primary, and every worker with it.
    worker.on('error', (error: Error) => logger.debug({ worker: worker.id, err: error.message }, 'a message to a worker failed'));
    return worker;
  };

  const started = (worker: Worker): Promise<WorkerReady> =>
    new Promise((resolve, reject) => {
      let failure: StartFailure | undefined;
      const onMessage = (message: { type?: unknown; failure?: StartFailure } & Partial<WorkerReady>) => {
        if (message?.type === WORKER_FAILED) failure = message.failure;
        if (message?.type !== WORKER_READY) return;
        cleanup();
        const entry = entries.get(worker.id);
        if (entry && entry.state === 'starting') Object.assign(entry, { state: 'ready', readyAt: Date.now() });
        resolve({ engines: message.engines!, ...(message.gatewayUrl && { gatewayUrl: message.gatewayUrl }) });
      };
      const onExit = (code: number | null, signal: string | null) => {
        cleanup();
        reject(failure ? rebuildError(failure) : new Error(`a worker process exited while starting (${signal ?? `exit code ${code}`})`));
      };
      const cleanup = () => {
        worker.off('message', onMessage);
        worker.off('exit', onExit);
      };
      worker.on('message', onMessage);
      worker.once('exit', onExit);
    });

  const onWorkerMessage = (worker: Worker, message: { type?: unknown; data?: unknown; overloaded?: unknown }) => {
    if (message?.type === WORKER_CAPACITY) {
      const entry = entries.get(worker.id);
      if (entry) entry.overloaded = message.overloaded === true;
      return;
    }
    if (typeof message?.data !== 'string') return;
    if (message.type === 'sticky:connection') {
      sessions.set(message.data, worker.id);
      const waiters = sessionWaiters.get(message.data);
      sessionWaiters.delete(message.data);
      for (const wake of waiters ?? []) wake(worker);
    } else if (message.type === 'sticky:disconnection' && sessions.get(message.data) === worker.id) sessions.delete(message.data);
  };

  const replace = () => {
    restartTimer = undefined;
    pendingRestarts.shift();
    if (phase !== 'running') return;
    const worker = fork(false);
    metrics.workerRestarts.inc();
    started(worker).then(
      () => phase === 'running' && logger.info({ worker: worker.id, pid: worker.process.pid }, `worker ${worker.id} (pid ${worker.process.pid}) is ready`),
      (error: unknown) =>
        phase === 'running' &&
        logger.error({ worker: worker.id, err: error instanceof Error ? error.message : String(error) }, `worker ${worker.id} could not start`),
    );
    scheduleRestart();
  };

  const scheduleRestart = () => {
    if (restartTimer || pendingRestarts.length === 0 || phase !== 'running') return;
    restartTimer = setTimeout(replace, pendingRestarts[0]);
  };

  const onExit = (worker: Worker, code: number | null, signal: string | null) => {
    const entry = entries.get(worker.id);
    entries.delete(worker.id);
    for (const [session, owner] of sessions) if (owner === worker.id) sessions.delete(session);
    if (phase !== 'running' || !entry) return;
    const lived = entry.readyAt === undefined ? 0 : Date.now() - entry.readyAt;
    quickExits = lived >= STABLE_MS ? 0 : quickExits + 1;
    const delay = quickExits === 0 ? 0 : Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (quickExits - 1));
    logger.warn(
      { worker: worker.id, pid: worker.process.pid, code, signal, restartInMs: delay },
      `worker ${worker.id} (pid ${worker.process.pid}) exited (${signal ?? `exit code ${code}`}); its connections are closed, a replacement starts${delay ? ` in ${delay} ms` : ''}`,
    );
    pendingRestarts.push(delay);
    scheduleRestart();
  };

  cluster.on('message', onWorkerMessage);
  cluster.on('exit', onExit);

  const stopWorkers = async () => {
    const running = [...entries.values()].map((entry) => ({ worker: entry.worker, state: entry.state }));
    for (const entry of entries.values()) entry.state = 'stopping';
    await Promise.all(
      running.map(async ({ worker, state }) => {
        if (worker.isDead()) return;
        const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
        // A worker still loading its engines holds no session and does not listen for the word
        // yet: SIGTERM's default action ends it.
        if (state === 'starting') worker.process.kill('SIGTERM');
        else {
          try {
            worker.send({ type: WORKER_SHUTDOWN });
          } catch {
            worker.process.kill('SIGTERM');
          }
        }
        const killer = setTimeout(() => worker.process.kill('SIGKILL'), STOP_TIMEOUT_MS);
        await exited;
        clearTimeout(killer);
      }),
    );
  };

  const cleanUp = async () => {
    cluster.off('message', onWorkerMessage);
    cluster.off('exit', onExit);
    metrics.close();
    await rm(socketDir, { recursive: true, force: true });
  };

  let router: ClusterRouter;
  let first: WorkerReady;
  try {
    first = await started(fork(true));
    await Promise.all(Array.from({ length: options.workers - 1 }, () => started(fork(false))));
    router = await openClusterRouter({
      host: options.host,
      port: options.port,
      readyWorkers: acceptingWorkers,
      workerOfSession: (session) => {
        const entry = entries.get(sessions.get(session) ?? -1);
        return entry?.state === 'ready' ? entry.worker : undefined;
      },
      sessionReported: (session, timeoutMs) =>
        new Promise<Worker | undefined>((resolve) => {
          if (waitingRequests >= MAX_WAITING_REQUESTS) return resolve(undefined);
          waitingRequests++;
          let done = false;
          const wake = (worker: Worker | undefined) => {
            if (done) return;
            done = true;
            waitingRequests--;
            clearTimeout(timer);
            const list = sessionWaiters.get(session);
            if (list) {
              list.splice(list.indexOf(wake), 1);
              if (list.length === 0) sessionWaiters.delete(session);
            }
            resolve(worker);
          };
          const timer = setTimeout(() => wake(undefined), timeoutMs);
          sessionWaiters.set(session, [...(sessionWaiters.get(session) ?? []), wake]);
        }),
    });
  } catch (error) {
    phase = 'stopping';
    await stopWorkers();
    await cleanUp();
    throw error;
  }
  phase = 'running';

  let closing: Promise<void> | undefined;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  const clientHost = host === '0.0.0.0' || host === '[::]' || host === '' ? '127.0.0.1' : host;
  return {
    url: `http://${clientHost}:${router.port}`,
    port: router.port,
    first,
    pids: () => readyWorkers().map((worker) => worker.process.pid!),
    close: () => {
      closing ??= (async () => {
        phase = 'stopping';
        if (restartTimer) clearTimeout(restartTimer);
        router.close();
        await stopWorkers();
        await cleanUp();
      })();
      return closing;
    },
  };
}

/** The worker's start-up error as an error of the same kind, so the command line describes it the same way. */
function rebuildError(failure: StartFailure): Error {
  if (failure.speechbridge && failure.code) return new SpeechbridgeError(failure.code as ErrorCode, failure.message);
  const { message, ...details } = failure;
  return Object.assign(new Error(message), details);
}
