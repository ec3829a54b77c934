/**
 * One turn through Gradium speech-to-text: the turn's audio is read as it comes, cut into
 * 80 ms frames and sent on; each `text` fragment goes out at once as an append-only delta
 * (" word", with the space between fragments), and when the audio ends the socket is flushed
 * and the turn completes with the whole text. No socket is opened for a turn without audio.
 *
 * Gradium ends a session after 300 s. A turn still going after `rotateAfterMs` (290 s: 10 s
 * before the limit, time for the flush's ~250 ms) moves to a fresh socket without a gap: the
 * old one is flushed while the next connects, and the next sends its audio only once the old
 * one's text is all out, so the deltas stay in spoken order. A word spoken across the switch
 * may be cut in two.
 *
 * The text of one turn is bounded by MAX_TRANSCRIPTION_KB (as a transcription body is); past
 * it the turn fails with upstream_response_too_large.
 */
import type { PcmAudio } from '../../audio/pcm.ts';
import { SpeechbridgeError } from '../../errors/registry.ts';
import { LIMIT_SETTINGS, formatBytes } from '../upstream-limits.ts';
import type { Transcription, TranscriptSegment, TranscriptStreamEvent } from '../contracts.ts';
import { EventChannel } from './event-channel.ts';
import type { GradiumAudioFormat } from './formats.ts';
import { abortError } from './gradium-socket.ts';
import type { SttSetup } from './messages.ts';
import { FRAME_MS, SttConnection, type TextFragment } from './stt-connection.ts';
import { describeUpstream, type GradiumContext } from './upstream-errors.ts';

export interface SttTurnOptions {
  context: GradiumContext;
  setup: SttSetup;
  format: GradiumAudioFormat;
  /** The setting that chose the format, for messages (GRADIUM_STT_INPUT_FORMAT). */
  formatSetting: string;
  timeoutMs: number;
  leadingSilenceMs: number;
  maxPendingMs: number;
  rotateAfterMs: number;
  maxTextChars: number;
  language?: string;
  signal?: AbortSignal;
}

export async function* transcribeTurn(audio: AsyncIterable<PcmAudio>, options: SttTurnOptions): AsyncIterable<TranscriptStreamEvent> {
  const turn = new SttTurn(options);
  turn.start(audio);
  try {
    yield* turn.events;
  } finally {
    turn.stop();
  }
}

class SttTurn {
  readonly events: EventChannel<TranscriptStreamEvent>;
  readonly #options: SttTurnOptions;
  readonly #frameSamples: number;
  #connections: SttConnection[] = [];
  #failure: Error | null = null;
  #text = '';
  #segments: TranscriptSegment[] = [];
  #samples = 0;
  #iterator: AsyncIterator<PcmAudio> | null = null;
  readonly #onAbort = () => this.#fail(abortError());

  constructor(options: SttTurnOptions) {
    this.#options = options;
    this.#frameSamples = Math.round((options.format.sampleRate * FRAME_MS) / 1000);
    // Each delta holds at least one character, so the text bound bounds the queue too.
    this.events = new EventChannel(options.maxTextChars + 2, () => this.#tooMuchText());
    if (options.signal?.aborted) this.#fail(abortError());
    else options.signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  start(audio: AsyncIterable<PcmAudio>): void {
    this.#iterator = audio[Symbol.asyncIterator]();
    this.#pump(this.#iterator).then(
      () => this.#cleanUp(),
      (error: unknown) => {
        this.#fail(error instanceof Error ? error : new Error(String(error)));
        this.#cleanUp();
      },
    );
  }

  /** The reader left (or the turn is over): nothing more is sent. */
  stop(): void {
    this.#fail(abortError());
    this.#cleanUp();
  }

  async #pump(iterator: AsyncIterator<PcmAudio>): Promise<void> {
    const { format } = this.#options;
    let carry = new Int16Array(0);
    let connection: SttConnection | null = null;
    for (;;) {
      const step = await iterator.next();
      if (this.#failure) return;
      if (step.done) break;
      const chunk = step.value;
      if (chunk.sampleRate !== format.sampleRate) {
        throw new SpeechbridgeError(
          'invalid_value',
          `${describeUpstream(this.#options.context)} takes ${format.sampleRate} Hz audio (${this.#options.formatSetting}=${format.name}), got ${chunk.sampleRate} Hz`,
          { param: 'sampleRate' },
        );
      }
      this.#samples += chunk.samples.length;
      let samples = carry.length === 0 ? chunk.samples : concat(carry, chunk.samples);
      while (samples.length >= this.#frameSamples) {
        connection = this.#connectionFor(connection);
        await connection.accept(samples.slice(0, this.#frameSamples));
        if (this.#failure) return;
        samples = samples.subarray(this.#frameSamples);
      }
      carry = samples.slice();
    }
    if (carry.length > 0) {
      // The last frame is filled up with silence: Gradium takes whole 80 ms frames.
      const last = new Int16Array(this.#frameSamples);
      last.set(carry);
      connection = this.#connectionFor(connection);
      await connection.accept(last);
    }
    if (connection) await connection.finish();
    if (this.#failure) return;
    this.events.push({ type: 'completed', transcription: this.#transcription() });
    this.events.end();
  }

  /** The socket for the next frame: the current one, a fresh one after rotateAfterMs, or the first. */
  #connectionFor(current: SttConnection | null): SttConnection {
    if (current) {
      const ageMs = Date.now() - current.openedAtMs;
      const sentMs = current.acceptedMs + this.#options.leadingSilenceMs;
      if (ageMs < this.#options.rotateAfterMs && sentMs < this.#options.rotateAfterMs) return current;
    }
    const finished = current ? current.finish() : Promise.resolve();
    finished.catch((error: unknown) => this.#fail(error instanceof Error ? error : new Error(String(error))));
    const turnOffsetMs = this.#connections.reduce((sum, previous) => sum + previous.acceptedMs, 0);
    const next = new SttConnection({
      context: this.#options.context,
      setup: this.#options.setup,
      format: this.#options.format,
      timeoutMs: this.#options.timeoutMs,
      leadingSilenceMs: this.#options.leadingSilenceMs,
      maxPendingMs: this.#options.maxPendingMs,
      turnOffsetMs,
      startAfter: finished,
      signal: this.#options.signal,
      onText: (fragment) => this.#addText(fragment),
      onTextEnd: (stopMs) => {
        const last = this.#segments.at(-1);
        if (last && stopMs >= last.startMs) last.endMs = stopMs;
      },
      onFailure: (error) => this.#fail(error),
    });
    this.#connections.push(next);
    return next;
  }

  #addText(fragment: TextFragment): void {
    const piece = fragment.text.trim();
    if (!piece || this.#failure) return;
    const delta = this.#text ? ` ${piece}` : piece;
    if (this.#text.length + delta.length > this.#options.maxTextChars) {
      this.#fail(this.#tooMuchText());
      return;
    }
    this.#text += delta;
    const startMs = fragment.startMs ?? this.#segments.at(-1)?.endMs ?? 0;
    this.#segments.push({ startMs, endMs: startMs, text: piece });
    this.events.push({ type: 'delta', text: delta });
  }

  #transcription(): Transcription {
    return {
      text: this.#text,
      ...(this.#options.language !== undefined && { language: this.#options.language }),
      durationMs: (this.#samples * 1000) / this.#options.format.sampleRate,
      segments: this.#segments,
    };
  }

  #tooMuchText(): SpeechbridgeError {
    return new SpeechbridgeError(
      'upstream_response_too_large',
      `${describeUpstream(this.#options.context)} sent more than ${formatBytes(this.#options.maxTextChars)} of text for one turn (${LIMIT_SETTINGS.maxTranscriptionBytes}); the turn was stopped`,
    );
  }

  #fail(error: Error): void {
    if (this.#failure) return;
    this.#failure = error;
    this.events.fail(error);
    for (const connection of this.#connections) connection.close();
  }

  #cleanUp(): void {
    this.#options.signal?.removeEventListener('abort', this.#onAbort);
    for (const connection of this.#connections) connection.close();
    if (this.#failure) {
      const iterator = this.#iterator;
      this.#iterator = null;
      // Stops the audio source (a generator's finally runs) without waiting for it.
      void iterator?.return?.().catch(() => {});
    }
  }
}

function concat(first: Int16Array, second: Int16Array): Int16Array {
  const out = new Int16Array(first.length + second.length);
  out.set(first);
  out.set(second, first.length);
  return out;
}
