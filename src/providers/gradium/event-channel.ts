/**
 * A bounded queue between a socket's callbacks and an async iterator: the socket side pushes,
 * ends or fails; the reader iterates. Past `maxItems` waiting, the channel fails with the
 * caller's overflow error rather than grow (the policy of every buffer here: refuse, say why).
 */

export class EventChannel<T> {
  readonly #items: T[] = [];
  readonly #maxItems: number;
  readonly #overflow: () => Error;
  #ended = false;
  #error: Error | null = null;
  #wake: (() => void) | null = null;

  constructor(maxItems: number, overflow: () => Error) {
    this.#maxItems = maxItems;
    this.#overflow = overflow;
  }

  get closed(): boolean {
    return this.#ended || this.#error !== null;
  }

  push(item: T): void {
    if (this.closed) return;
    if (this.#items.length >= this.#maxItems) {
      this.fail(this.#overflow());
      return;
    }
    this.#items.push(item);
    this.#notify();
  }

  /** No more items; the reader gets what is queued, then the end. */
  end(): void {
    if (this.closed) return;
    this.#ended = true;
    this.#notify();
  }

  /** The reader gets what is queued, then `error`. The first failure wins. */
  fail(error: Error): void {
    if (this.closed) return;
    this.#error = error;
    this.#notify();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      const item = this.#items.shift();
      if (item !== undefined) {
        yield item;
        continue;
      }
      if (this.#error) throw this.#error;
      if (this.#ended) return;
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }
}
