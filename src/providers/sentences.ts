/**
 * Cuts streamed text (LLM deltas) into sentences as soon as each one ends, so speech synthesis
 * can start on the first sentence while the rest is still being generated.
 *
 * A sentence ends at `.`, `!`, `?` or `…` followed by whitespace (so "3.5", "example.com" and
 * "e.g.x" do not end one), at CJK `。！？` without any space, and at a newline. A period after
 * a known abbreviation ("Mr.", "Dr.", "vs."), a single capital initial ("J. Smith") or a
 * dotted abbreviation ("e.g.", "i.e.", "U.S.") does not end a sentence. Closing quotes and
 * brackets after the terminator stay with the sentence.
 *
 * Bound: text without any sentence end is cut once it passes `maxChars` (200 by default: about
 * 12 s of speech, longer than anyone waits for a first word), at the last clause mark (comma,
 * semicolon, colon, dash) or else the last space, so the pending buffer never holds more than
 * `maxChars` plus one pushed delta.
 */

export interface SentenceChunkerOptions {
  /** Longest piece emitted without a sentence end; 200 by default. */
  maxChars?: number;
}

const DEFAULT_MAX_CHARS = 200;

const LATIN_TERMINATORS = new Set(['.', '!', '?', '…']);
const CJK_TERMINATORS = new Set(['。', '！', '？', '｡']);
const CLOSERS = new Set(['"', "'", '”', '’', ')', ']', '}', '»', '」', '』', '）', '】', '》']);
const CLAUSE_MARKS = new Set([',', ';', ':', '—', '–', '，', '、', '；', '：']);

/** Words whose trailing period is part of the word, compared case-sensitively. */
const ABBREVIATIONS = new Set([
  'Mr',
  'Mrs',
  'Ms',
  'Mx',
  'Dr',
  'Prof',
  'Sr',
  'Jr',
  'St',
  'Mt',
  'Rev',
  'Gen',
  'Col',
  'Capt',
  'Lt',
  'Sgt',
  'Gov',
  'Sen',
  'Rep',
  'Hon',
  'Messrs',
  'vs',
  'Vs',
  'approx',
  'Approx',
  'cf',
  'Cf',
  'viz',
  'ca',
  'pp',
  'No',
  'Nos',
  'Nr',
  'Fig',
  'Figs',
  'Vol',
  'Ch',
  'Inc',
  'Ltd',
  'Co',
  'Corp',
  'Ave',
  'Blvd',
  'Dept',
  'Univ',
  'Est',
  'Op',
]);

export class SentenceChunker {
  private pending = '';
  private readonly maxChars: number;

  constructor(options: SentenceChunkerOptions = {}) {
    this.maxChars = Math.max(20, options.maxChars ?? DEFAULT_MAX_CHARS);
  }

  /** Adds a delta and returns the sentences it completed (often none). */
  push(delta: string): string[] {
    this.pending += delta;
    return this.drain(false);
  }

  /** Returns whatever is left as the last sentence(s) and resets the chunker. */
  flush(): string[] {
    const out = this.drain(true);
    this.pending = '';
    return out;
  }

  /** Text received but not yet emitted. */
  get buffered(): string {
    return this.pending;
  }

  private drain(final: boolean): string[] {
    const out: string[] = [];
    for (;;) {
      const end = findSentenceEnd(this.pending, final) ?? this.overflowCut();
      if (end === undefined) break;
      const sentence = this.pending.slice(0, end).trim();
      this.pending = this.pending.slice(end);
      if (sentence) out.push(sentence);
    }
    if (final) {
      const rest = this.pending.trim();
      if (rest) out.push(rest);
      this.pending = '';
    }
    return out;
  }

  /** Where to cut a clause that has run past maxChars without a sentence end. */
  private overflowCut(): number | undefined {
    const text = this.pending;
    if (text.trimStart().length <= this.maxChars) return undefined;
    const start = text.length - text.trimStart().length;
    const limit = start + this.maxChars;
    const preferFrom = start + Math.floor(this.maxChars / 2);
    for (let i = limit - 1; i >= preferFrom; i--) {
      if (CLAUSE_MARKS.has(text[i]) && (i + 1 >= text.length || /\s/.test(text[i + 1]) || isCjk(text[i]))) return i + 1;
    }
    for (let i = limit; i > start; i--) {
      if (/\s/.test(text[i])) return i;
    }
    // No space at all (unbroken CJK or a very long token): cut hard, not inside a surrogate pair.
    const code = text.charCodeAt(limit - 1);
    return code >= 0xd800 && code <= 0xdbff ? limit + 1 : limit;
  }
}

/** Splits a whole text into sentences with the same rules as the streaming chunker. */
export function splitSentences(text: string, options?: SentenceChunkerOptions): string[] {
  const chunker = new SentenceChunker(options);
  return [...chunker.push(text), ...chunker.flush()];
}

/**
 * Index just past the first complete sentence, or undefined when none is complete yet. When
 * `final` is false, a terminator at the very end of the buffer waits for the next delta, since
 * "3." may become "3.5" and "Hello!" may be followed by a closing quote.
 */
function findSentenceEnd(text: string, final: boolean): number | undefined {
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (char === '\n' || char === '\r') {
      if (text.slice(0, i).trim()) return i + 1;
      continue;
    }
    const cjk = CJK_TERMINATORS.has(char);
    if (!cjk && !LATIN_TERMINATORS.has(char)) continue;
    let j = i + 1;
    while (j < text.length && (LATIN_TERMINATORS.has(text[j]) || CJK_TERMINATORS.has(text[j]))) j++;
    while (j < text.length && CLOSERS.has(text[j])) j++;
    if (j >= text.length) return final ? j : undefined;
    if (!cjk && !/\s/.test(text[j])) {
      i = j - 1;
      continue;
    }
    if (char === '.' && text[i + 1] !== '.' && isAbbreviation(wordBefore(text, i))) {
      i = j - 1;
      continue;
    }
    return j;
  }
  return undefined;
}

/** The run of letters and dots just before index `end` ("e.g" before the final period). */
function wordBefore(text: string, end: number): string {
  let start = end;
  while (start > 0 && /[\p{L}.]/u.test(text[start - 1])) start--;
  return text.slice(start, end);
}

function isAbbreviation(word: string): boolean {
  if (!word) return false;
  if (ABBREVIATIONS.has(word)) return true;
  // A single capital is an initial ("J. R. R. Tolkien").
  if (/^\p{Lu}$/u.test(word)) return true;
  // Dotted abbreviations: every piece is one or two letters ("e.g", "i.e", "U.S", "a.m", "Ph.D").
  const pieces = word.split('.');
  return pieces.length > 1 && pieces.every((piece) => /^\p{L}{1,2}$/u.test(piece));
}

function isCjk(char: string): boolean {
  return /[\u3000-\u303f\uff00-\uffef]/.test(char);
}
