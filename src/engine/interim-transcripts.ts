/**
 * Live partial text of the turn being spoken, for doors that show words while the user still
 * talks. Every INTERIM_STEP_MS of new audio in an open VAD turn, the turn's audio so far is
 * transcribed again; its text goes out whole (transcript.interim), or as the piece it adds to
 * the text sent so far (transcript.delta, append-only as OpenAI's delta event is: a pass that
 * revises earlier words sends nothing until a later one extends what was sent). The committed
 * turn's own transcription (transcript.completed or .failed) stays the final word.
 *
 * Any transcriber works this way, batch or streaming, because each pass is an ordinary
 * transcribe() call over the audio so far. Bound: at most one pass in flight per session; a
 * pass still running when the next step comes due is simply not repeated, so a slow engine
 * gives fewer partials, never a queue. A pass is aborted when its turn ends, and its result is
 * dropped unless its turn is still the open one. An interim pass that fails emits nothing: the
 * turn's final transcription reports failures, and a partial is only a preview of it. Passes
 * are best effort: a local engine with other work refuses them rather than queue them, so
 * previews never crowd out the final transcriptions of any session.
 */
import { resampleSync } from '../audio/resample.ts';
import type { PcmAudio } from '../audio/pcm.ts';
import type { TokenLogprob, TranscribeOptions, Transcriber } from '../providers/contracts.ts';
import type { EngineEvent, InterimPasses, TranscriptionConfig } from './events.ts';

/**
 * 700 ms between passes: about two words of speech, so the text visibly grows, while a CPU
 * engine that needs ~0.3× real time on a 5 s turn still finishes one pass before the next.
 */
export const INTERIM_STEP_MS = 700;
/** Under 300 ms a turn holds at most a syllable: no pass. */
export const INTERIM_MIN_MS = 300;

/**
 * Whether interim passes run under `setting`: 'auto' runs them on an embedded engine and not on
 * a recognizer that sends its audio to an upstream (it declares `upstream`), where each pass is
 * billed: measured on Socket.IO, the gateway and /v1/transcriptions, the passes send an upstream
 * about 4.2× the audio spoken (README, "Interim transcripts and cost").
 */
export function interimPassesRun(setting: InterimPasses, transcriber: Transcriber): boolean {
  if (setting === 'auto') return transcriber.upstream === undefined;
  return setting === 'on';
}

export interface InterimTranscriptsOptions {
  transcriber: Transcriber;
  emit: (event: EngineEvent) => void;
  /** Holds the pass until it settles, so the session's close waits for it. */
  track: (task: Promise<unknown>) => void;
}

/** What a turn's passes send: the whole text (transcript.interim), deltas, or both; logprobs with deltas. */
export interface InterimOutput {
  partials: boolean;
  deltas: boolean;
  logprobs: boolean;
}

interface OpenTurnPass {
  itemId: string;
  output: InterimOutput;
  /** Stream position (ms) of the audio the last pass started from the end of. */
  passedMs: number;
  lastText: string;
  /** The text the deltas have sent so far. */
  sentText: string;
  controller: AbortController | null;
}

export class InterimTranscripts {
  readonly #options: InterimTranscriptsOptions;
  #turn: OpenTurnPass | null = null;

  constructor(options: InterimTranscriptsOptions) {
    this.#options = options;
  }

  /** A VAD turn started: partials follow for `itemId` from `startMs` (stream ms) on. */
  begin(itemId: string, startMs: number, output: InterimOutput): void {
    this.end();
    if (!output.partials && !output.deltas) return;
    this.#turn = { itemId, output, passedMs: startMs, lastText: '', sentText: '', controller: null };
  }

  /**
   * New audio in the open turn, which now ends at `endMs`; `audioSoFar` gives the turn's audio
   * (16 kHz) and is called only when a pass starts, so most frames copy nothing.
   */
  advance(endMs: number, audioSoFar: () => PcmAudio, settings: TranscriptionConfig): void {
    const turn = this.#turn;
    if (!turn || turn.controller || endMs - turn.passedMs < INTERIM_STEP_MS) return;
    const audio = audioSoFar();
    if ((audio.samples.length / audio.sampleRate) * 1000 < INTERIM_MIN_MS) return;
    turn.passedMs = endMs;
    const controller = new AbortController();
    turn.controller = controller;
    this.#options.track(this.#pass(turn, audio, settings, controller.signal));
  }

  /** The turn ended (stopped, committed, cleared) or the session closes: no more partials for it. */
  end(): void {
    this.#turn?.controller?.abort();
    this.#turn = null;
  }

  async #pass(turn: OpenTurnPass, audio: PcmAudio, settings: TranscriptionConfig, signal: AbortSignal): Promise<void> {
    const { transcriber, emit } = this.#options;
    const options: TranscribeOptions = {
      signal,
      bestEffort: true,
      ...(settings.language !== undefined && { language: settings.language }),
      ...(settings.prompt !== undefined && { prompt: settings.prompt }),
      ...(settings.model !== undefined && { model: settings.model }),
      ...(turn.output.deltas && turn.output.logprobs && { logprobs: true }),
    };
    let text: string;
    let logprobs: TokenLogprob[] | undefined;
    try {
      const transcription = await transcriber.transcribe(resampleSync(audio, transcriber.capabilities.sampleRate), options);
      text = transcription.text.trim();
      logprobs = transcription.logprobs;
    } catch {
      return;
    } finally {
      turn.controller = null;
    }
    if (signal.aborted || this.#turn !== turn || text === '' || text === turn.lastText) return;
    turn.lastText = text;
    if (turn.output.partials) emit({ type: 'transcript.interim', itemId: turn.itemId, text });
    if (turn.output.deltas && text.startsWith(turn.sentText) && text.length > turn.sentText.length) {
      const delta = text.slice(turn.sentText.length);
      const pieceLogprobs = turn.output.logprobs ? tokensAfter(logprobs ?? [], turn.sentText.length) : undefined;
      turn.sentText = text;
      emit({ type: 'transcript.delta', itemId: turn.itemId, contentIndex: 0, delta, ...(pieceLogprobs && { logprobs: pieceLogprobs }) });
    }
  }
}

/**
 * The tokens of a transcript past its first `chars` characters (of the trimmed text: the
 * first token's leading space, which recognizers' tokens often carry, is not counted).
 */
function tokensAfter(logprobs: readonly TokenLogprob[], chars: number): TokenLogprob[] {
  let position = 0;
  const out: TokenLogprob[] = [];
  for (const [index, entry] of logprobs.entries()) {
    const text = index === 0 ? entry.token.trimStart() : entry.token;
    if (position + text.length > chars) out.push(entry);
    position += text.length;
  }
  return out;
}
