/** The realtime door's Prometheus metrics, registered on the server's registry. */
import { Counter, Gauge, type Registry } from 'prom-client';

export type CloseReason =
  | 'client_closed'
  | 'session_expired'
  | 'session_idle'
  | 'slow_consumer'
  | 'server_shutdown'
  | 'start_failed'
  | 'socket_error'
  | 'internal_error';

export interface RealtimeMetrics {
  sessionsActive: Gauge;
  sessionsClosed: Counter<'reason'>;
  clientErrors: Counter<'code'>;
  /** The largest outbound backlog (ws bufferedAmount) any session reached: what the slow-consumer policy bounds. */
  outboundBacklogPeakBytes: Gauge;
  /** Raises outboundBacklogPeakBytes when `bytes` is a new peak. */
  recordBacklog(bytes: number): void;
}

export function createRealtimeMetrics(registry?: Registry): RealtimeMetrics {
  const registers = registry ? [registry] : [];
  let peakBytes = 0;
  const outboundBacklogPeakBytes = new Gauge({
    name: 'speechbridge_realtime_outbound_backlog_peak_bytes',
    help: 'Largest outbound WebSocket backlog (bytes not yet handed to the kernel) of any realtime session.',
    // Across workers the peak is the largest of theirs, not their sum.
    aggregator: 'max',
    registers,
  });
  return {
    sessionsActive: new Gauge({ name: 'speechbridge_realtime_sessions_active', help: 'Open /v1/realtime sessions.', registers }),
    sessionsClosed: new Counter({
      name: 'speechbridge_realtime_sessions_closed_total',
      help: 'Closed /v1/realtime sessions by reason.',
      labelNames: ['reason'],
      registers,
    }),
    clientErrors: new Counter({
      name: 'speechbridge_realtime_client_errors_total',
      help: 'Error events sent to /v1/realtime clients, by code.',
      labelNames: ['code'],
      registers,
    }),
    outboundBacklogPeakBytes,
    recordBacklog(bytes: number) {
      if (bytes <= peakBytes) return;
      peakBytes = bytes;
      outboundBacklogPeakBytes.set(bytes);
    },
  };
}
