/**
 * A worker's side of running as several processes (src/server/cluster-primary.ts starts
 * them): what it is told at fork, the options its server starts with, and joining the
 * cluster once it serves.
 *
 * - Its server listens on a private Unix socket (in a folder only this user can open) that
 *   no client uses: the primary hands it each connection of the public port. Listening all
 *   the same gives the handed connections the HTTP server's timeouts, and its close waits for
 *   them as with one process.
 * - @socket.io/sticky's setupWorker takes the handed connections, reports the worker's
 *   Socket.IO sessions to the primary (which routes their polling requests here), and closes
 *   each HTTP connection after its answer: a kept-alive connection could carry the next
 *   Socket.IO poll of another worker's session, and only a new connection's first request
 *   is routed.
 * - The Socket.IO cluster adapter relays broadcasts between workers.
 * - GET /metrics answers for the whole server (src/server/cluster-metrics.ts).
 * - The primary's shutdown message, SIGTERM and SIGINT each start the one graceful stop.
 */
import cluster from 'node:cluster';
import { createAdapter } from '@socket.io/cluster-adapter';
import { setupWorker } from '@socket.io/sticky';
import type { Server as SocketIoServer } from 'socket.io';
import { SpeechbridgeError } from '../errors/registry.ts';
import type { RunningServer, StartOptions } from './app.ts';
import { serveWorkerMetrics } from './cluster-metrics.ts';
import type { ProviderSummary } from './providers.ts';
import { createMetrics } from './metrics.ts';

/** Set by the primary in each worker's environment. */
export const WORKER_SOCKET_VARIABLE = 'SPEECHBRIDGE_WORKER_SOCKET';
export const WORKER_ANNOUNCES_VARIABLE = 'SPEECHBRIDGE_WORKER_ANNOUNCES';

export const WORKER_READY = 'speechbridge:worker-ready';
export const WORKER_FAILED = 'speechbridge:worker-failed';
export const WORKER_SHUTDOWN = 'speechbridge:worker-shutdown';
/** Worker → primary: `overloaded`, the worker went over capacity (true) or back under it (false). */
export const WORKER_CAPACITY = 'speechbridge:worker-capacity';

/** What the first worker tells the primary, which prints it once for all. */
export interface WorkerReady {
  engines: ProviderSummary;
  gatewayUrl?: string;
}

/** A start-up error as it crosses to the primary: enough to print the same one line. */
export interface StartFailure {
  message: string;
  /** A SpeechbridgeError's code, or a system error's (EADDRINUSE). */
  code?: string;
  speechbridge?: boolean;
  syscall?: string;
  path?: string;
  address?: string;
  port?: number;
}

export interface WorkerAssignment {
  /** cluster's worker id (1, 2, … and on for replacements). */
  id: number;
  socketPath: string;
  /** The first worker says what start-up says once (the engines, a fallback); the others load quietly. */
  announces: boolean;
}

/** This process is a worker started by the primary. */
export function isClusterWorker(): boolean {
  return cluster.isWorker && process.env[WORKER_SOCKET_VARIABLE] !== undefined;
}

export function workerAssignment(): WorkerAssignment {
  const socketPath = process.env[WORKER_SOCKET_VARIABLE];
  if (!cluster.isWorker || !cluster.worker || socketPath === undefined) throw new Error('not a speechbridge worker process');
  return { id: cluster.worker.id, socketPath, announces: process.env[WORKER_ANNOUNCES_VARIABLE] === '1' };
}

/** The startServer options of a worker's server. */
export function workerServerOptions(
  assignment: WorkerAssignment,
): Pick<StartOptions, 'listenPath' | 'metrics' | 'metricsText' | 'socketIoAdapter' | 'onCapacityChange'> {
  const metrics = createMetrics();
  const whole = serveWorkerMetrics(metrics.registry, assignment.id);
  return {
    listenPath: assignment.socketPath,
    metrics,
    metricsText: () => whole.clusterText(),
    socketIoAdapter: createAdapter(),
    onCapacityChange: (overloaded) => {
      if (process.connected) process.send?.({ type: WORKER_CAPACITY, overloaded });
    },
  };
}

/**
 * Takes connections from the primary and tells it this worker is ready; `stop` (the server's
 * graceful close, then the engines') runs once, on the primary's word or a signal, and the
 * process exits when it is done.
 */
export function joinCluster(server: RunningServer, ready: WorkerReady, stop: () => Promise<void>): void {
  // setupWorker reads only these two: the server connections are handed to, and the engine whose sessions it reports.
  setupWorker({ httpServer: server.app.server, engine: server.socketIoEngine } as unknown as SocketIoServer);
  let stopping = false;
  const stopOnce = () => {
    if (stopping) return;
    stopping = true;
    void stop().finally(() => process.exit(0));
  };
  process.on('message', (message: { type?: unknown } | null) => {
    if (message?.type === WORKER_SHUTDOWN) stopOnce();
  });
  process.once('SIGTERM', stopOnce);
  process.once('SIGINT', stopOnce);
  process.send?.({ type: WORKER_READY, ...ready });
}

/** Tells the primary why this worker could not start; the primary prints it and exits. */
export async function reportStartFailure(error: unknown): Promise<void> {
  const system = error as Partial<StartFailure> & { message?: unknown };
  const failure: StartFailure = {
    message: error instanceof Error ? error.message : String(error),
    ...(error instanceof SpeechbridgeError && { speechbridge: true, code: error.code }),
    ...(!(error instanceof SpeechbridgeError) && typeof system?.code === 'string' && { code: system.code }),
    ...(typeof system?.syscall === 'string' && { syscall: system.syscall }),
    ...(typeof system?.path === 'string' && { path: system.path }),
    ...(typeof system?.address === 'string' && { address: system.address }),
    ...(typeof system?.port === 'number' && { port: system.port }),
  };
  if (!process.send || !process.connected) return;
  await new Promise<void>((resolve) => process.send!({ type: WORKER_FAILED, failure }, undefined, {}, () => resolve()));
}
