/**
 * The Diarizer contract over the diarization upstream (DIAR_URL, src/providers/diarization-client.ts):
 * a committed turn goes up as a 16-bit WAV file and the answer's speaker turns come back in
 * time order. The upstream's JSON is read in the shapes diarization services give —
 * `{"segments": [...]}`, `{"diarization": [...]}` or a bare array — each entry with `start` and
 * `end` in seconds and a `speaker` (or `label`); entries without them are skipped.
 */
import type { PcmAudio } from '../audio/pcm.ts';
import { writeWav } from '../audio/wav.ts';
import { SpeechbridgeError } from '../errors/registry.ts';
import type { Diarizer, SpeakerTurn } from './contracts.ts';
import { DiarizationClient, type DiarizationClientOptions } from './diarization-client.ts';
import { displayURL } from './openai/errors.ts';

/** An hour of speaker turns is a few thousand; more than this is not a diarization. */
const MAX_TURNS = 10_000;

export class SpeakerDiarizer implements Diarizer {
  readonly name = 'diarization-upstream';
  readonly upstream: string;
  readonly #client: DiarizationClient;

  constructor(options: DiarizationClientOptions) {
    this.upstream = displayURL(options.url);
    this.#client = new DiarizationClient(options);
  }

  async diarize(audio: PcmAudio, options: { signal: AbortSignal }): Promise<SpeakerTurn[]> {
    const answer = await this.#client.diarize({ bytes: writeWav(audio), filename: 'turn.wav', mimetype: 'audio/wav' }, options.signal);
    return speakerTurnsOf(answer, this.upstream);
  }
}

export function speakerTurnsOf(answer: unknown, upstream: string): SpeakerTurn[] {
  const list = Array.isArray(answer) ? answer : listIn(answer);
  if (!list)
    throw new SpeechbridgeError(
      'upstream_bad_response',
      `the diarization upstream ${upstream} answered without a list of segments ("segments", "diarization" or an array)`,
    );
  const turns: SpeakerTurn[] = [];
  for (const entry of list.slice(0, MAX_TURNS)) {
    const { start, end, speaker, label } = (entry ?? {}) as Record<string, unknown>;
    const name = typeof speaker === 'string' || typeof speaker === 'number' ? String(speaker) : typeof label === 'string' ? label : undefined;
    if (typeof start !== 'number' || typeof end !== 'number' || !Number.isFinite(start) || !(end >= start) || name === undefined) continue;
    turns.push({ speaker: name, startMs: Math.round(start * 1000), endMs: Math.round(end * 1000) });
  }
  return turns.sort((a, b) => a.startMs - b.startMs);
}

function listIn(answer: unknown): unknown[] | undefined {
  if (!answer || typeof answer !== 'object') return undefined;
  const { segments, diarization } = answer as Record<string, unknown>;
  if (Array.isArray(segments)) return segments;
  if (Array.isArray(diarization)) return diarization;
  return undefined;
}
