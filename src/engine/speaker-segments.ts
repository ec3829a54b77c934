/**
 * A committed turn's transcript cut into speaker segments (OpenAI's
 * input_audio_transcription.segment): the diarizer says who spoke when, the recognizer what
 * was said. Each word gets a time — spread evenly over its recognizer segment, or over the
 * speech as a whole when the recognizer gives no timestamps — and the speaker whose turn holds
 * the word's middle (else the nearest turn); consecutive words of one speaker form a segment.
 */
import type { SpeakerTurn, TranscriptSegment } from '../providers/contracts.ts';

export interface SpeakerSegment {
  speaker: string;
  startMs: number;
  endMs: number;
  text: string;
}

interface TimedWord {
  text: string;
  startMs: number;
  endMs: number;
}

/** `turns` in time order, ms from the turn's start; no turns, or no words, give no segments. */
export function speakerSegments(turns: readonly SpeakerTurn[], text: string, segments: readonly TranscriptSegment[]): SpeakerSegment[] {
  if (turns.length === 0) return [];
  const timed = segments.length > 0 ? segments : [{ text, startMs: turns[0].startMs, endMs: Math.max(...turns.map((turn) => turn.endMs)) }];
  const words = timed.flatMap((segment) => spreadWords(segment.text, segment.startMs, segment.endMs));
  const out: SpeakerSegment[] = [];
  for (const word of words) {
    const speaker = speakerAt(turns, (word.startMs + word.endMs) / 2);
    const last = out.at(-1);
    if (last && last.speaker === speaker) {
      last.text += ` ${word.text}`;
      last.endMs = word.endMs;
    } else {
      out.push({ speaker, startMs: word.startMs, endMs: word.endMs, text: word.text });
    }
  }
  return out;
}

function spreadWords(text: string, startMs: number, endMs: number): TimedWord[] {
  const words = text.split(/\s+/).filter((word) => word !== '');
  const span = Math.max(0, endMs - startMs) / Math.max(1, words.length);
  return words.map((word, index) => ({ text: word, startMs: startMs + index * span, endMs: startMs + (index + 1) * span }));
}

function speakerAt(turns: readonly SpeakerTurn[], ms: number): string {
  let nearest = turns[0];
  let nearestDistance = Infinity;
  for (const turn of turns) {
    if (ms >= turn.startMs && ms <= turn.endMs) return turn.speaker;
    const distance = ms < turn.startMs ? turn.startMs - ms : ms - turn.endMs;
    if (distance < nearestDistance) {
      nearest = turn;
      nearestDistance = distance;
    }
  }
  return nearest.speaker;
}
