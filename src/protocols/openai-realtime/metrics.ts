/** The realtime door's Prometheus metrics, registered on the server's registry. */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { TurnTimings } from '../../engine/events.ts';

export type CloseReason =
  | 'client_closed'
  | 'session_expired'
  | 'session_idle'
  | 'slow_consumer'
  | 'server_shutdown'
  | 'start_failed'
  | 'socket_error';

export interface RealtimeMetrics {
  sessionsActive: Gauge;
  sessionsClosed: Counter<'reason'>;
  clientErrors: Counter<'code'>;
  /** The largest outbound backlog (ws bufferedAmount) any session reached: what the slow-consumer policy bounds. */
  outboundBacklogPeakBytes: Gauge;
  /** Raises outboundBacklogPeakBytes when `bytes` is a new peak. */
  recordBacklog(bytes: number): void;
  /** Stage timings of each answered turn (the engine's turn.timings, which never go on the wire). */
  turnStages: Histogram<'stage'>;
  recordTurn(timings: TurnTimings): void;
}

const TURN_STAGES = ['transcriptionMs', 'firstTokenMs', 'firstAudioMs', 'totalMs'] as const;

export function createRealtimeMetrics(registry?: Registry): RealtimeMetrics {
  const registers = registry ? [registry] : [];
  let peakBytes = 0;
  const outboundBacklogPeakBytes = new Gauge({
    name: 'speechbridge_realtime_outbound_backlog_peak_bytes',
    help: 'Largest outbound WebSocket backlog (bytes not yet handed to the kernel) of any realtime session.',
    registers,
  });
  const turnStages = new Histogram({
    name: 'speechbridge_realtime_turn_stage_seconds',
    help: 'Realtime turn stages: transcription (speech stop → transcript), first_token, first_audio, total (speech stop → first audio).',
    labelNames: ['stage'],
    // 20 ms (one audio frame) to 10 s: the range between an instant answer and a stalled upstream.
    buckets: [0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10],
    registers,
  });
  return {
    turnStages,
    recordTurn(timings: TurnTimings) {
      for (const stage of TURN_STAGES) {
        const ms = timings[stage];
        if (ms !== null) turnStages.observe({ stage: stage.replace(/Ms$/, '').replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`) }, ms / 1000);
      }
    },
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
