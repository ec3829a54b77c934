/**
 * The order of the items an upstream transcription session committed, from the
 * `previous_item_id` of each `input_audio_buffer.committed`. Completions come back in any
 * order (OpenAI transcribes items in parallel, and a short item can finish before a long one
 * committed earlier), so a turn made of several items — the upstream's own VAD can cut one
 * turn in two — puts their texts together in this order, not in the order they finished.
 * An item whose predecessor is unknown (none, or one this connection never saw) goes last,
 * which is the order the commits arrived in.
 */

/** Items kept: a turn's items are recent; 1,024 turns back is far past any pending one. */
const MAX_ITEMS = 1024;

export class ItemChain {
  #order: string[] = [];

  add(itemId: string, previousItemId: string | null | undefined): void {
    if (this.#order.includes(itemId)) return;
    const after = previousItemId ? this.#order.indexOf(previousItemId) : -1;
    if (after >= 0) this.#order.splice(after + 1, 0, itemId);
    else this.#order.push(itemId);
    if (this.#order.length > MAX_ITEMS) this.#order.splice(0, this.#order.length - MAX_ITEMS);
  }

  /** `itemIds` in conversation order; ids the chain does not hold keep their relative order, last. */
  sort(itemIds: readonly string[]): string[] {
    const position = (itemId: string) => {
      const index = this.#order.indexOf(itemId);
      return index < 0 ? Number.MAX_SAFE_INTEGER : index;
    };
    return [...itemIds].sort((a, b) => position(a) - position(b));
  }
}
