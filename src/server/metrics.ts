/** Prometheus metrics (prom-client), served on GET /metrics. One registry per server. */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  registry: Registry;
  httpRequests: Counter<'route' | 'status'>;
  httpDuration: Histogram<'route'>;
  /** Exceptions and rejections no session's error boundary caught (src/server/process-faults.ts). */
  processFaults: Counter<'kind'>;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'speechbridge_' });
  return {
    registry,
    httpRequests: new Counter({
      name: 'speechbridge_http_requests_total',
      help: 'HTTP requests by route and status code.',
      labelNames: ['route', 'status'],
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: 'speechbridge_http_request_duration_seconds',
      help: 'HTTP request duration by route.',
      labelNames: ['route'],
      buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    processFaults: new Counter({
      name: 'speechbridge_process_faults_total',
      help: 'Uncaught exceptions and unhandled rejections, by kind (uncaught_exception, unhandled_rejection); the process logs them and keeps serving.',
      labelNames: ['kind'],
      registers: [registry],
    }),
  };
}
