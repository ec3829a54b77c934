/**
 * Text written piece by piece (an LLM's tokens: "Hel", "lo wor", "ld.") → whole words for
 * Gradium, which puts a space between the `text` messages it is sent: a word cut in two would
 * be spoken as two. Text is held until whitespace shows a word is complete; punctuation stays
 * with its word. What remains at the end is the last word.
 */
export class WordChunker {
  #held = '';

  /** The complete words the text so far adds, or null when it has none yet. */
  push(piece: string): string | null {
    this.#held += piece;
    const lastSpace = this.#held.search(/\s\S*$/);
    if (lastSpace < 0) return null;
    const complete = this.#held.slice(0, lastSpace).trim();
    this.#held = this.#held.slice(lastSpace + 1);
    return complete || null;
  }

  /** The rest, at the end of the text. */
  flush(): string | null {
    const rest = this.#held.trim();
    this.#held = '';
    return rest || null;
  }
}
