/**
 * The one set of session metrics, for every door, labelled by door (realtime, socketio,
 * gateway, transcriptions): open sessions, each turn's stage timings (the engine's
 * turn.timings: speech stop → transcript → first token → first audio), how responses ended,
 * the errors sessions answered with, sessions closed by reason, the outbound backlog's peak,
 * droppable messages skipped, and the sessions an unexpected exception ended (their door's
 * error boundary, src/protocols/session-boundary.ts). Engine events are recorded where
 * sessions are made (session-factory.ts); the rest by the shared socket lifecycle
 * (src/protocols/session-socket.ts) through forDoor(), so a door gets them without code of its own.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { EngineEvent, TurnTimings } from '../engine/events.ts';
import type { DoorMetrics, DoorName } from '../protocols/door-metrics.ts';

export type { DoorName } from '../protocols/door-metrics.ts';

export interface SessionMetrics {
  sessionsActive: Gauge<'door'>;
  /** Records what an engine event says about the session (turn timings, response ends, errors). */
  observe(door: DoorName, event: EngineEvent): void;
  /** What the socket lifecycle of `door` records. */
  forDoor(door: DoorName): DoorMetrics;
}

const STAGES: ReadonlyArray<[keyof TurnTimings, string]> = [
  ['transcriptionMs', 'transcription'],
  ['firstTokenMs', 'first_token'],
  ['firstAudioMs', 'first_audio'],
  ['totalMs', 'total'],
];

export function createSessionMetrics(registry?: Registry): SessionMetrics {
  const registers = registry ? [registry] : [];
  const sessionsActive = new Gauge({ name: 'speechbridge_sessions_active', help: 'Open sessions by door.', labelNames: ['door'], registers });
  const turnStages = new Histogram({
    name: 'speechbridge_turn_stage_seconds',
    help: 'Turn stages by door: transcription (speech stop → transcript), first_token, first_audio (first token → first audio), total (speech stop → first audio).',
    labelNames: ['door', 'stage'],
    // 20 ms (one audio frame) to 10 s: the range between an instant answer and a stalled upstream.
    buckets: [0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10],
    registers,
  });
  const responses = new Counter({
    name: 'speechbridge_responses_total',
    help: 'Responses by door and final status.',
    labelNames: ['door', 'status'],
    registers,
  });
  const errors = new Counter({
    name: 'speechbridge_session_errors_total',
    help: 'Errors sessions answered with, by door and code.',
    labelNames: ['door', 'code'],
    registers,
  });
  const faults = new Counter({
    name: 'speechbridge_session_faults_total',
    help: 'Sessions ended by an unexpected exception (error internal_error, close 1011), by door; other sessions go on.',
    labelNames: ['door'],
    registers,
  });
  const closed = new Counter({
    name: 'speechbridge_sessions_closed_total',
    help: 'Closed sessions by door and reason.',
    labelNames: ['door', 'reason'],
    registers,
  });
  const backlogPeak = new Gauge({
    name: 'speechbridge_outbound_backlog_peak_bytes',
    help: 'Largest outbound backlog (bytes written and not yet taken by the network) of any session, by door.',
    labelNames: ['door'],
    // Across workers the peak is the largest of theirs, not their sum.
    aggregator: 'max',
    registers,
  });
  const dropped = new Counter({
    name: 'speechbridge_outbound_dropped_total',
    help: 'Droppable messages (partial transcripts a later one supersedes) skipped because the client read slowly, by door.',
    labelNames: ['door'],
    registers,
  });
  const peaks = new Map<DoorName, number>();
  return {
    sessionsActive,
    forDoor(door) {
      return {
        fault: () => faults.inc({ door }),
        closed: (reason) => closed.inc({ door, reason }),
        backlog: (bytes) => {
          if (bytes <= (peaks.get(door) ?? 0)) return;
          peaks.set(door, bytes);
          backlogPeak.set({ door }, bytes);
        },
        dropped: () => dropped.inc({ door }),
        clientError: (code) => errors.inc({ door, code }),
      };
    },
    observe(door, event) {
      switch (event.type) {
        case 'turn.timings':
          for (const [field, stage] of STAGES) {
            const ms = event.timings[field];
            if (typeof ms === 'number') turnStages.observe({ door, stage }, ms / 1000);
          }
          return;
        case 'response.done':
          responses.inc({ door, status: event.response.status });
          return;
        case 'error':
          errors.inc({ door, code: event.code });
          return;
        case 'transcript.failed':
          errors.inc({ door, code: event.error.code });
          return;
        default:
          return;
      }
    },
  };
}
