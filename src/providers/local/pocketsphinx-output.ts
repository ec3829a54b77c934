/**
 * What pocketsphinx_continuous prints with `-time yes`: per utterance, the hypothesis line and
 * then one timing line per word (dictation: framed by `<s>` … `</s>`; a grammar: the words and
 * `<sil>`; keyword spotting: one line per detected phrase). Read whole at the end of a turn
 * (the final transcription) and line by line while it runs (the pieces of text that come out
 * as each utterance ends).
 */
import type { Transcription, TranscriptSegment } from '../contracts.ts';

export interface PocketsphinxWord {
  word: string;
  startMs: number;
  endMs: number;
}

export interface PocketsphinxUtterance {
  hypothesis: string;
  words: PocketsphinxWord[];
}

/** Which text a turn reports: utterance hypotheses, or (keyword spotting) the phrases found. */
export type PocketsphinxTextSource = 'hypotheses' | 'keywords';

/** `word start end confidence`, times in seconds; a keyphrase may hold spaces. */
const WORD_LINE = /^(.+?)\s+(\d+\.\d+)\s+(\d+\.\d+)\s+(-?\d+(?:\.\d+)?(?:e[-+]?\d+)?)$/;

export function parsePocketsphinxOutput(stdout: string): PocketsphinxUtterance[] {
  const utterances: PocketsphinxUtterance[] = [];
  for (const line of stdout.split('\n')) {
    const match = WORD_LINE.exec(line.trim());
    if (match && utterances.length > 0) {
      utterances[utterances.length - 1].words.push({
        word: match[1],
        startMs: Math.round(Number(match[2]) * 1000),
        endMs: Math.round(Number(match[3]) * 1000),
      });
    } else if (!match) {
      utterances.push({ hypothesis: line.trim(), words: [] });
    }
  }
  return utterances.filter((utterance) => utterance.hypothesis.length > 0 || utterance.words.length > 0);
}

/**
 * Turns stdout lines, as they are printed, into the append-only pieces of the turn's text: the
 * pieces joined are the final transcription's text (the same lines, read the same way).
 */
export class PocketsphinxLiveText {
  readonly #source: PocketsphinxTextSource;
  #pieces = 0;
  #sawHypothesis = false;

  constructor(source: PocketsphinxTextSource) {
    this.#source = source;
  }

  /** The next piece of text (with its leading space after the first), or undefined. */
  push(line: string): string | undefined {
    const trimmed = line.trim();
    const match = WORD_LINE.exec(trimmed);
    let text: string | undefined;
    if (this.#source === 'keywords') {
      if (match && this.#sawHypothesis) text = match[1].trim();
      else if (!match) this.#sawHypothesis = true;
    } else if (!match && trimmed.length > 0) {
      text = trimmed;
    }
    if (!text) return undefined;
    return this.#pieces++ === 0 ? text : ` ${text}`;
  }
}

/** `<s>`, `</s>`, `<sil>`, `[NOISE]`, `++BREATH++`: timing lines that are not words. */
function isFiller(word: string): boolean {
  return /^<.*>$|^\[.*\]$|^\+\+.*\+\+$/.test(word);
}

export function toTranscription(utterances: PocketsphinxUtterance[], source: PocketsphinxTextSource, audioMs: number): Transcription {
  const clamp = (ms: number) => Math.min(Math.max(ms, 0), audioMs);
  let segments: TranscriptSegment[];
  if (source === 'keywords') {
    segments = utterances.flatMap((utterance) =>
      utterance.words.map((word) => ({ startMs: clamp(word.startMs), endMs: clamp(word.endMs), text: word.word.trim() })),
    );
  } else {
    segments = utterances
      .filter((utterance) => utterance.hypothesis.length > 0)
      .map((utterance) => {
        const spoken = utterance.words.filter((word) => !isFiller(word.word));
        const timed = spoken.length > 0 ? spoken : utterance.words;
        return {
          startMs: clamp(timed[0]?.startMs ?? 0),
          endMs: clamp(timed[timed.length - 1]?.endMs ?? audioMs),
          text: utterance.hypothesis,
        };
      });
  }
  return { text: segments.map((segment) => segment.text).join(' '), language: 'en', durationMs: audioMs, segments };
}
