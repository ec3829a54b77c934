/**
 * Transcribes one committed user turn (16 kHz audio) and always ends in exactly one
 * transcript.completed or transcript.failed event, never in silence: a provider error, a
 * timeout and the session closing all end as transcript.failed. `result` never rejects, so a
 * response can await the transcript of each user item in its context.
 *
 * A turn whose live stream ran while it was spoken (live-transcription.ts) only waits for that
 * stream's final text. Otherwise a streaming transcriber gets the turn in 100 ms chunks and its
 * partial text goes out as transcript.delta events (and transcript.interim, the text so far,
 * when the session shows partials); a batch transcriber gets the whole turn in one call.
 *
 * With a diarizer (a session asking for speaker segments), the turn goes to it alongside the
 * recognizer, under the same deadline, and transcript.segment events precede the completed
 * transcript. A failed diarization does not fail the transcript: it is reported as an error
 * event naming the item, and the transcript completes without segments.
 */
import { resampleSync } from '../audio/resample.ts';
import { durationMs, type PcmAudio } from '../audio/pcm.ts';
import { abortError, isAbortError } from '../errors/abort.ts';
import type { Diarizer, SpeakerTurn, TokenLogprob, TranscribeOptions, Transcriber, Transcription, TranscriptSegment } from '../providers/contracts.ts';
import type { Clock, TimerHandle } from './clock.ts';
import { SpeechbridgeError, toSpeechbridgeError, type ErrorCode } from '../errors/registry.ts';
import type { EngineEvent, TranscriptionConfig } from './events.ts';
import type { IdGenerator } from './ids.ts';
import { speakerSegments } from './speaker-segments.ts';
import type { LiveTurnStream } from './live-transcription.ts';

export type TranscriptOutcome =
  | { status: 'completed'; transcript: string; language?: string; audioMs: number; logprobs?: TokenLogprob[]; segments?: TranscriptSegment[] }
  | { status: 'failed'; error: { code: ErrorCode; message: string } };

/**
 * Turns under 100 ms hold no word (OpenAI refuses to commit them, see
 * input_audio_buffer_commit_empty); the idle timeout may still commit one, and it gets an
 * empty transcript without a transcriber call.
 */
export const MIN_TRANSCRIBED_MS = 100;
/** Streaming transcribers get the turn in 100 ms pieces: five WebRTC VAD frames, a usual upstream hop. */
const STREAM_CHUNK_MS = 100;

export interface TranscriptionJobOptions {
  itemId: string;
  contentIndex?: number;
  /** The committed turn; resampled once more only if the transcriber wants another rate. */
  audio: PcmAudio;
  transcriber: Transcriber;
  settings: TranscriptionConfig;
  /** Ask the recognizer for token log probabilities (the session's include). */
  logprobs?: boolean;
  /** Present when the session asks for speaker segments. */
  diarizer?: Diarizer;
  /** For the segments' ids. */
  ids?: IdGenerator;
  clock: Clock;
  timeoutMs: number;
  emit: (event: EngineEvent) => void;
  /** The turn's live stream, fed while it was spoken; the job finishes it and takes its final text. */
  live?: LiveTurnStream | null;
  /** Emit transcript.interim (the text so far) with each streamed piece. */
  interim?: boolean;
  /** Called with the outcome just before its event, so the item holds the text when listeners see it. */
  onOutcome?: (outcome: TranscriptOutcome) => void;
}

type StopReason = { kind: 'running' } | { kind: 'timeout' } | { kind: 'closed' };

export class TranscriptionJob {
  readonly itemId: string;
  readonly contentIndex: number;
  /** Engine clock when the job started (the commit). */
  readonly startedAtMs: number;
  /** Engine clock when the outcome was known; null while running. */
  completedAtMs: number | null = null;
  outcome: TranscriptOutcome | null = null;
  readonly result: Promise<TranscriptOutcome>;
  readonly #options: TranscriptionJobOptions;
  readonly #controller = new AbortController();
  #stop: StopReason = { kind: 'running' };
  #timer: TimerHandle | null = null;

  constructor(options: TranscriptionJobOptions) {
    this.#options = options;
    this.itemId = options.itemId;
    this.contentIndex = options.contentIndex ?? 0;
    this.startedAtMs = options.clock.now();
    this.result = this.#run();
  }

  get pending(): boolean {
    return this.outcome === null;
  }

  /** Stops the call (the session is closing); the job still ends with transcript.failed. */
  abort(): void {
    if (this.outcome || this.#stop.kind !== 'running') return;
    this.#stop = { kind: 'closed' };
    this.#controller.abort();
  }

  async #run(): Promise<TranscriptOutcome> {
    const { audio, clock, timeoutMs } = this.#options;
    const audioMs = durationMs(audio);
    if (audioMs < MIN_TRANSCRIBED_MS) {
      this.#options.live?.abort();
      return this.#settle({ status: 'completed', transcript: '', audioMs });
    }
    this.#timer = clock.setTimeout(() => {
      if (this.#stop.kind !== 'running') return;
      this.#stop = { kind: 'timeout' };
      this.#controller.abort();
    }, timeoutMs);
    // Its own controller: stopping a diarization that is no longer wanted must not touch the
    // recognizer's call. None without a diarizer: AbortSignal.any and an abort (which builds a
    // DOMException with its stack) per turn for nothing.
    const diarizationStop = this.#options.diarizer ? new AbortController() : null;
    const diarization = diarizationStop ? this.#diarize(AbortSignal.any([this.#controller.signal, diarizationStop.signal])) : null;
    try {
      const outcome = await this.#transcribe(audioMs);
      if (outcome.status === 'completed' && diarization) this.#emitSegments(outcome, await diarization);
      return this.#settle(outcome);
    } catch (error) {
      return this.#settle({ status: 'failed', error: this.#describe(error) });
    } finally {
      clock.clearTimeout(this.#timer);
      // The recognizer failed or the job was stopped: the diarization stops with it.
      diarizationStop?.abort();
      await diarization;
    }
  }

  /** Who spoke when, or null (no diarizer, or it failed: then an error event says why). Never rejects. */
  async #diarize(signal: AbortSignal): Promise<SpeakerTurn[] | null> {
    const { diarizer, audio, itemId, emit } = this.#options;
    if (!diarizer) return null;
    try {
      return await diarizer.diarize(audio, { signal });
    } catch (error) {
      if (signal.aborted && this.#stop.kind !== 'timeout') return null;
      const failure =
        this.#stop.kind === 'timeout'
          ? new SpeechbridgeError('upstream_timeout', `diarization at ${diarizer.upstream ?? diarizer.name} took longer than ${this.#options.timeoutMs} ms`)
          : toSpeechbridgeError(error);
      emit({ type: 'error', code: failure.code, message: `speaker segments of item ${itemId}: ${failure.message}`, param: null, eventId: null });
      return null;
    }
  }

  #emitSegments(outcome: Extract<TranscriptOutcome, { status: 'completed' }>, turns: SpeakerTurn[] | null): void {
    if (!turns) return;
    const { itemId, emit, ids } = this.#options;
    for (const [index, segment] of speakerSegments(turns, outcome.transcript, outcome.segments ?? []).entries()) {
      emit({
        type: 'transcript.segment',
        itemId,
        contentIndex: this.contentIndex,
        segmentId: ids ? ids.next('seg') : `seg_${index + 1}`,
        speaker: segment.speaker,
        startMs: segment.startMs,
        endMs: segment.endMs,
        text: segment.text,
      });
    }
  }

  #completed(transcription: Transcription, audioMs: number): TranscriptOutcome {
    return {
      status: 'completed',
      transcript: transcription.text.trim(),
      language: transcription.language,
      audioMs,
      segments: transcription.segments,
      ...(this.#options.logprobs && { logprobs: transcription.logprobs ?? [] }),
    };
  }

  async #transcribe(audioMs: number): Promise<TranscriptOutcome> {
    const { transcriber, settings, itemId, live } = this.#options;
    if (live) {
      const transcription = await live.finish(this.#controller.signal);
      return this.#completed(transcription, audioMs);
    }
    const audio = resampleSync(this.#options.audio, transcriber.capabilities.sampleRate);
    const options: TranscribeOptions = {
      signal: this.#controller.signal,
      ...(settings.language !== undefined && { language: settings.language }),
      ...(settings.prompt !== undefined && { prompt: settings.prompt }),
      ...(settings.model !== undefined && { model: settings.model }),
      ...(this.#options.logprobs && { logprobs: true }),
    };
    if (!transcriber.capabilities.streaming || !transcriber.transcribeStream) {
      const transcription = await transcriber.transcribe(audio, options);
      return this.#completed(transcription, audioMs);
    }
    let text = '';
    for await (const event of transcriber.transcribeStream(chunks(audio), options)) {
      if (this.#stop.kind !== 'running') break;
      if (event.type === 'delta') {
        if (!event.text) continue;
        text += event.text;
        this.#options.emit({
          type: 'transcript.delta',
          itemId,
          contentIndex: this.contentIndex,
          delta: event.text,
          ...(this.#options.logprobs && { logprobs: event.logprobs ?? [] }),
        });
        if (this.#options.interim && text.trim() !== '') this.#options.emit({ type: 'transcript.interim', itemId, text: text.trim() });
      } else {
        return this.#completed(event.transcription, audioMs);
      }
    }
    if (this.#stop.kind !== 'running') throw abortError();
    throw new SpeechbridgeError('upstream_bad_response', `${transcriber.name} ended its transcript stream without a result`);
  }

  #describe(error: unknown): { code: ErrorCode; message: string } {
    const stop = this.#stop;
    if (stop.kind === 'timeout') {
      const { transcriber, timeoutMs } = this.#options;
      return { code: 'upstream_timeout', message: `transcription at ${transcriber.upstream ?? transcriber.name} took longer than ${timeoutMs} ms` };
    }
    if (stop.kind === 'closed' && (isAbortError(error) || this.#controller.signal.aborted)) {
      return { code: 'internal_error', message: 'the session closed before the transcription finished' };
    }
    const wrapped = toSpeechbridgeError(error);
    return { code: wrapped.code, message: wrapped.message };
  }

  #settle(outcome: TranscriptOutcome): TranscriptOutcome {
    if (this.outcome) return this.outcome;
    this.outcome = outcome;
    this.completedAtMs = this.#options.clock.now();
    this.#options.onOutcome?.(outcome);
    const { itemId, emit } = this.#options;
    if (outcome.status === 'completed') {
      emit({
        type: 'transcript.completed',
        itemId,
        contentIndex: this.contentIndex,
        transcript: outcome.transcript,
        ...(outcome.language !== undefined && { language: outcome.language }),
        audioMs: outcome.audioMs,
        ...(outcome.logprobs && { logprobs: outcome.logprobs }),
      });
    } else {
      emit({ type: 'transcript.failed', itemId, contentIndex: this.contentIndex, error: outcome.error });
    }
    return outcome;
  }
}

async function* chunks(audio: PcmAudio): AsyncIterable<PcmAudio> {
  const size = Math.round((audio.sampleRate * STREAM_CHUNK_MS) / 1000);
  for (let offset = 0; offset < audio.samples.length; offset += size) {
    yield { samples: audio.samples.subarray(offset, offset + size), sampleRate: audio.sampleRate };
  }
}
