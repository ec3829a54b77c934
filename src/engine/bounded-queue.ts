/**
 * A first-in first-out queue between one producer and one consumer, with a capacity: push
 * waits while the queue is full, so a fast producer (an LLM streaming sentences) is held back
 * by a slow consumer (speech synthesis) instead of piling work up. Aborting the signal fails
 * every waiting and later call with an AbortError.
 */
import { abortError } from '../errors/abort.ts';

type Waiter = { resolve: () => void; reject: (error: Error) => void };

export class BoundedQueue<T> {
  readonly capacity: number;
  readonly #items: T[] = [];
  readonly #signal: AbortSignal;
  #closed = false;
  /** The producer waiting for room, or the consumer waiting for an item (never both). */
  #waiter: Waiter | null = null;

  constructor(capacity: number, signal: AbortSignal) {
    this.capacity = Math.max(1, capacity);
    this.#signal = signal;
    signal.addEventListener('abort', () => this.#wake(abortError()), { once: true });
  }

  get size(): number {
    return this.#items.length;
  }

  async push(item: T): Promise<void> {
    if (this.#closed) throw new Error('push after close');
    while (this.#items.length >= this.capacity) await this.#wait();
    this.#throwIfAborted();
    this.#items.push(item);
    this.#wake();
  }

  /** No more pushes; the consumer drains what is queued, then sees the end. */
  close(): void {
    this.#closed = true;
    this.#wake();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      this.#throwIfAborted();
      if (this.#items.length > 0) {
        const item = this.#items.shift()!;
        this.#wake();
        yield item;
        continue;
      }
      if (this.#closed) return;
      await this.#wait();
    }
  }

  #wait(): Promise<void> {
    this.#throwIfAborted();
    return new Promise<void>((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }

  #wake(error?: Error): void {
    const waiter = this.#waiter;
    this.#waiter = null;
    if (!waiter) return;
    if (error) waiter.reject(error);
    else waiter.resolve();
  }

  #throwIfAborted(): void {
    if (this.#signal.aborted) throw abortError();
  }
}
