/**
 * What a transcription connection knows about utterances from the engine's events alone: whether
 * one is being spoken (speech.started without its speech.stopped), which committed ones still
 * wait for their transcript, and which of those have shown a partial. A stop uses it to commit
 * the speech in progress and wait for the last final; it decides nothing about turns itself.
 */
import type { EngineEvent } from '../../engine/events.ts';

export class UtteranceTracker {
  #speaking: string | null = null;
  /** Committed items whose transcript.completed / .failed has not come yet. */
  readonly #pending = new Set<string>();
  /** Items a partial was sent for; removed with their final, so it holds at most the items in flight. */
  readonly #withPartial = new Set<string>();
  #waiters: Array<() => void> = [];

  /** True while a VAD turn is open: there is speech a stop must commit. */
  get speaking(): boolean {
    return this.#speaking !== null;
  }

  observe(event: EngineEvent): void {
    switch (event.type) {
      case 'speech.started':
        this.#speaking = event.itemId;
        return;
      case 'speech.stopped':
        if (this.#speaking === event.itemId) this.#speaking = null;
        return;
      case 'input.committed':
        this.#pending.add(event.itemId);
        return;
      case 'transcript.interim':
        // An empty interim text is not sent (codec.ts), so it shows nothing a final must clear.
        if (event.text.trim() !== '') this.#withPartial.add(event.itemId);
        return;
      case 'transcript.completed':
      case 'transcript.failed':
        this.#pending.delete(event.itemId);
        this.#withPartial.delete(event.itemId);
        this.#wakeWhenSettled();
        return;
      default:
        return;
    }
  }

  /** Whether a partial was sent for the item; checked before its final is removed by observe(). */
  hadPartial(itemId: string): boolean {
    return this.#withPartial.has(itemId);
  }

  /** The open turn is over without its speech.stopped (a stop's turn.end that the engine did not take). */
  forgetSpeech(): void {
    this.#speaking = null;
    this.#wakeWhenSettled();
  }

  /** Resolves once no turn is open and every committed utterance has its transcript, or on release(). */
  settled(): Promise<void> {
    if (this.#isSettled()) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Lets every settled() waiter go (the connection is closing). */
  release(): void {
    for (const wake of this.#waiters.splice(0)) wake();
  }

  #isSettled(): boolean {
    return this.#speaking === null && this.#pending.size === 0;
  }

  #wakeWhenSettled(): void {
    if (this.#isSettled()) this.release();
  }
}
