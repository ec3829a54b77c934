/**
 * The committed user turns of a session that have not ended yet, oldest first, and the order
 * in which their results go out. Recognition runs per turn and a long turn takes longer to
 * recognise than a short one, so transcripts complete out of order; a client whose wire
 * carries no turn id (captions, a transcript stream) must still see them in spoken order. So:
 *
 * - a turn's transcript.completed / .failed goes out once every earlier turn's has;
 * - its turn.ended goes out once every earlier turn's has, and after its own transcript.
 *
 * Every turn ends in bounded time (the transcription and response timeouts bound the wait;
 * closing the session ends the rest), so holding a result back never holds it forever.
 * Memory: one entry per committed turn not yet ended.
 */
import type { ErrorCode } from '../errors/registry.ts';
import type { EngineEvent, TurnDropReason, TurnEnded, TurnOutcome } from './events.ts';

type TranscriptEvent = Extract<EngineEvent, { type: 'transcript.completed' | 'transcript.failed' }>;

/** How a turn ends, as the engine decides it; the transcript is filled in from the turn's own. */
export interface TurnEnd {
  outcome: TurnOutcome;
  responseId?: string | null;
  reason?: TurnDropReason;
  error?: { code: ErrorCode; message: string } | null;
}

interface OpenTurn {
  itemId: string;
  transcript: { state: 'pending' } | { state: 'held'; event: TranscriptEvent } | { state: 'released'; text: string | null };
  end: TurnEnd | null;
}

export interface TurnOutcomesOptions {
  emit: (event: EngineEvent) => void;
  /** A turn's transcript event has gone out (its answer may start now). */
  onTranscriptReleased: (itemId: string) => void;
}

export class TurnOutcomes {
  readonly #options: TurnOutcomesOptions;
  /** Turns not yet ended, in the order they were committed. */
  #turns: OpenTurn[] = [];
  readonly #byId = new Map<string, OpenTurn>();
  #waiters: Array<() => void> = [];
  #flushing = false;

  constructor(options: TurnOutcomesOptions) {
    this.#options = options;
  }

  /** Turns committed and not yet ended. */
  get size(): number {
    return this.#turns.length;
  }

  has(itemId: string): boolean {
    return this.#byId.has(itemId);
  }

  /** Whether the turn's transcript event has gone out. */
  transcriptReleased(itemId: string): boolean {
    return this.#byId.get(itemId)?.transcript.state === 'released';
  }

  /** A turn was committed: it ends after every turn committed before it. */
  open(itemId: string): void {
    const turn: OpenTurn = { itemId, transcript: { state: 'pending' }, end: null };
    this.#turns.push(turn);
    this.#byId.set(itemId, turn);
  }

  /**
   * The turn's transcript event: sent now when every earlier turn's has gone, else held. Returns
   * false for an item that is not an open turn (audio in a client's item), whose event the
   * caller sends itself.
   */
  transcribed(event: TranscriptEvent): boolean {
    const turn = this.#byId.get(event.itemId);
    if (!turn || turn.transcript.state !== 'pending') return false;
    turn.transcript = { state: 'held', event };
    this.#flush();
    return true;
  }

  /** Decides how the turn ends; the first decision stands. */
  end(itemId: string, end: TurnEnd): void {
    const turn = this.#byId.get(itemId);
    if (!turn || turn.end) return;
    turn.end = end;
    this.#flush();
  }

  /** Resolves once every committed turn has ended (at once when none is open). */
  settled(): Promise<void> {
    if (this.#turns.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** The session is closing and nothing more will come: what is still open ends now, in order. */
  endAll(end: TurnEnd): void {
    for (const turn of this.#turns) {
      if (turn.transcript.state === 'pending') {
        turn.transcript = {
          state: 'held',
          event: {
            type: 'transcript.failed',
            itemId: turn.itemId,
            contentIndex: 0,
            error: { code: 'internal_error', message: 'the session closed before the transcription finished' },
          },
        };
      }
      turn.end ??= end;
    }
    this.#flush();
  }

  #flush(): void {
    // An event listener may commit or end turns; the running pass picks those up.
    if (this.#flushing) return;
    this.#flushing = true;
    try {
      let progressed = true;
      while (progressed) {
        progressed = this.#releaseTranscripts() || this.#releaseEnds();
      }
    } finally {
      this.#flushing = false;
    }
    if (this.#turns.length === 0) for (const wake of this.#waiters.splice(0)) wake();
  }

  /** Sends the held transcripts up to the first turn still being transcribed. */
  #releaseTranscripts(): boolean {
    let released = false;
    for (const turn of this.#turns) {
      const { transcript } = turn;
      if (transcript.state === 'pending') break;
      if (transcript.state === 'released') continue;
      const { event } = transcript;
      turn.transcript = { state: 'released', text: event.type === 'transcript.completed' ? event.transcript : null };
      this.#options.emit(event);
      this.#options.onTranscriptReleased(turn.itemId);
      released = true;
    }
    return released;
  }

  /** Sends turn.ended for the oldest turns whose end is decided and whose transcript is out. */
  #releaseEnds(): boolean {
    let released = false;
    for (;;) {
      const turn = this.#turns[0];
      if (!turn || !turn.end || turn.transcript.state !== 'released') return released;
      this.#turns.shift();
      this.#byId.delete(turn.itemId);
      const { end } = turn;
      const event: TurnEnded = {
        type: 'turn.ended',
        itemId: turn.itemId,
        outcome: end.outcome,
        transcript: turn.transcript.text,
        responseId: end.responseId ?? null,
        reason: end.reason ?? null,
        error: end.error ?? null,
      };
      this.#options.emit(event);
      released = true;
    }
  }
}
