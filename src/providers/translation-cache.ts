/**
 * Translations already made, keyed by source text and target language, so a repeated upload
 * costs no LLM call. Least recently used entries go first (MAX_CACHE_SIZE entries; 0 turns the
 * cache off). Keys hold a SHA-256 digest of the text, not the text itself, so a long
 * transcription is stored once, as its translation.
 */
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';

/**
 * Characters held in all cached translations together: 16 M characters, 32 MB as UTF-16.
 * The entry count alone would let 1000 hour-long translations fill memory; past this budget the
 * oldest entries are dropped, and one translation larger than it is not cached at all.
 */
const MAX_CACHED_CHARS = 16 * 1024 * 1024;

export class TranslationCache {
  private readonly entries: LRUCache<string, string> | undefined;

  constructor(maxEntries: number) {
    this.entries =
      maxEntries > 0
        ? new LRUCache<string, string>({ max: maxEntries, maxSize: MAX_CACHED_CHARS, sizeCalculation: (value) => Math.max(1, value.length) })
        : undefined;
  }

  get(text: string, language: string): string | undefined {
    return this.entries?.get(keyOf(text, language));
  }

  set(text: string, language: string, translation: string): void {
    this.entries?.set(keyOf(text, language), translation);
  }
}

function keyOf(text: string, language: string): string {
  return `${language}:${createHash('sha256').update(text).digest('base64url')}`;
}
