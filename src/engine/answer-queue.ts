/**
 * The automatic answers a session owes its committed turns, in spoken order. A turn joins at
 * commit; it becomes ready once its transcript has gone out; the oldest ready turn is answered
 * when no response is active (the engine decides when). So answers come in the order the turns
 * were spoken, each after its own transcript.
 *
 * A reply answers the whole conversation so far, so of the reply turns that are ready and
 * waiting only the newest is kept: the older ones are superseded (answered by it). A
 * translation or rewrite answers its own turn only, so each waits for its own answer.
 *
 * Bound: MAX_DEFERRED_TURNS turns. 16 turns is over a minute of speech queued behind a stalled
 * LLM; past that the oldest is dropped (turn_queue_full), so memory stays bounded and the turn
 * still ends explicitly.
 */
import type { ResponseMode } from './events.ts';
import type { ResponseTrigger } from './response-runner.ts';
import type { TranscriptionJob } from './transcription-job.ts';

export const MAX_DEFERRED_TURNS = 16;

/**
 * A committed user turn, as an automatic response answers it. The mode (and target language)
 * are the ones the turn was committed under: a session.update between commit and answer does
 * not turn a translation waiting in the queue into a reply, or into another language.
 */
export type TurnTrigger = ResponseTrigger & { transcription: TranscriptionJob; mode: ResponseMode; targetLanguage?: string };

interface Waiting {
  trigger: TurnTrigger;
  ready: boolean;
}

export class AnswerQueue {
  #waiting: Waiting[] = [];

  get size(): number {
    return this.#waiting.length;
  }

  /** A turn to answer joins at the back. Returns the turn dropped for the bound, if any. */
  add(trigger: TurnTrigger): TurnTrigger | null {
    let dropped: TurnTrigger | null = null;
    if (this.#waiting.length >= MAX_DEFERRED_TURNS) dropped = this.#waiting.shift()!.trigger;
    this.#waiting.push({ trigger, ready: false });
    return dropped;
  }

  /**
   * The turn's transcript is out: it may be answered. A ready reply supersedes the older ready
   * replies still waiting (returned), since it answers them too.
   */
  ready(itemId: string): TurnTrigger[] {
    const entry = this.#waiting.find((waiting) => waiting.trigger.itemId === itemId);
    if (!entry) return [];
    entry.ready = true;
    if (entry.trigger.mode !== 'reply') return [];
    return this.#remove((waiting) => waiting !== entry && waiting.ready && waiting.trigger.mode === 'reply');
  }

  /** The oldest turn, when it is ready to be answered; it leaves the queue. */
  takeReady(): TurnTrigger | null {
    if (!this.#waiting[0]?.ready) return null;
    return this.#waiting.shift()!.trigger;
  }

  /** Removes the turns `which` picks (all by default) and returns them, oldest first. */
  callOff(which: (trigger: TurnTrigger) => boolean = () => true): TurnTrigger[] {
    return this.#remove((waiting) => which(waiting.trigger));
  }

  #remove(which: (waiting: Waiting) => boolean): TurnTrigger[] {
    const removed = this.#waiting.filter(which);
    if (removed.length > 0) this.#waiting = this.#waiting.filter((waiting) => !which(waiting));
    return removed.map((waiting) => waiting.trigger);
  }
}
