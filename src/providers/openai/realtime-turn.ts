/**
 * One turn on a shared realtime transcription connection: the upstream items its audio became
 * (one per commit; more when the upstream's own VAD cut the turn), their text as it arrives,
 * and the events its caller reads — append-only deltas, then one completed, or a failure.
 *
 * Deltas: OpenAI sends deltas per item, and items may be transcribed in parallel. Only the
 * first unfinished item of the turn (in previous_item_id order) streams; a later item's
 * deltas wait until the ones before it are done, so what the caller reads stays append-only.
 * An item that completes with text extending what its deltas said sends the rest as a delta
 * (an upstream that sends no deltas still gives partial text item by item).
 *
 * Waits: once the turn's audio has ended, each wait for the upstream (the commit's answer,
 * the next delta, the completion) is bounded by REQUEST_TIMEOUT, restarted by progress.
 */
import { SpeechbridgeError } from '../../errors/registry.ts';
import type { TokenLogprob, Transcription, TranscriptStreamEvent } from '../contracts.ts';
import { abortError } from '../../errors/abort.ts';
import type { ItemChain } from './realtime-item-chain.ts';

interface ItemText {
  deltas: string;
  emitted: number;
  final?: string;
  language?: string;
  /** Tokens of the deltas received and not yet passed on, and all of them (when asked for). */
  pendingTokens: TokenLogprob[];
  deltaTokens: TokenLogprob[];
  /** Tokens passed on so far; the completion's tokens past them go with the text it adds. */
  sentTokens: number;
  finalTokens?: TokenLogprob[];
}

export interface RealtimeTurnOptions {
  /** REQUEST_TIMEOUT in ms, for each wait once the audio has ended. */
  timeoutMs: number;
  /** Transcript characters one turn may bring (MAX_TRANSCRIPTION_KB). */
  maxChars: number;
  /** The upstream for messages. */
  display: string;
  /** Reported when the upstream names no language. */
  language?: string;
  /** Pass on the tokens' log probabilities with each delta and the completion. */
  logprobs?: boolean;
}

export class RealtimeTurn {
  readonly audioDone: Promise<void>;
  /** The audio this turn sent upstream, in ms. */
  audioMs = 0;
  #releaseAudio!: () => void;
  readonly #options: RealtimeTurnOptions;
  #itemIds: string[] = [];
  readonly #texts = new Map<string, ItemText>();
  #cursor = 0;
  #emittedText = false;
  #chars = 0;
  #itemsClosed = false;
  readonly #queue: TranscriptStreamEvent[] = [];
  #failure: Error | null = null;
  #completed = false;
  #wake: (() => void) | null = null;
  #timer: NodeJS.Timeout | null = null;
  #waiting: string | null = null;

  constructor(options: RealtimeTurnOptions) {
    this.#options = options;
    this.audioDone = new Promise((resolve) => (this.#releaseAudio = resolve));
  }

  /** Completed, failed or aborted: nothing more goes to the caller. */
  get settled(): boolean {
    return this.#completed || this.#failure !== null;
  }

  get itemsClosed(): boolean {
    return this.#itemsClosed;
  }

  /** The next turn may send its audio (this one committed, gave up its audio, or ended). */
  releaseAudio(): void {
    this.#releaseAudio();
  }

  /** The audio has ended: from now on every wait for the upstream is bounded. `what` names the wait. */
  awaitUpstream(what: string): void {
    this.#waiting = what;
    this.#restartTimer();
  }

  addItem(itemId: string, chain: ItemChain): void {
    if (this.settled || this.#texts.has(itemId)) return;
    this.#texts.set(itemId, { deltas: '', emitted: 0, pendingTokens: [], deltaTokens: [], sentTokens: 0 });
    this.#itemIds = chain.sort([...this.#itemIds, itemId]);
    this.#progress();
  }

  /** No more items will join this turn (its own commit was answered, or none was needed). */
  closeItems(): void {
    if (this.#itemsClosed) return;
    this.#itemsClosed = true;
    this.#progress();
  }

  delta(itemId: string, text: string, tokens?: TokenLogprob[]): void {
    const item = this.#texts.get(itemId);
    if (this.settled || !item || item.final !== undefined || !text) return;
    const kept = this.#options.logprobs ? (tokens ?? []) : [];
    // Each token counts as a character at least, so a flood of empty tokens is bounded too.
    if (!this.#count(text.length + kept.length)) return;
    item.deltas += text;
    for (const token of kept) {
      item.pendingTokens.push(token);
      item.deltaTokens.push(token);
    }
    this.#progress();
  }

  completed(itemId: string, transcript: string, language: string | undefined, tokens?: TokenLogprob[]): void {
    const item = this.#texts.get(itemId);
    if (this.settled || !item || item.final !== undefined) return;
    const kept = this.#options.logprobs ? tokens : undefined;
    if (!this.#count(transcript.length + (kept?.length ?? 0))) return;
    item.final = transcript;
    item.language = language;
    if (kept) item.finalTokens = kept;
    this.#progress();
  }

  fail(error: Error): void {
    if (this.settled) return;
    this.#failure = error;
    this.#end();
  }

  abort(): void {
    this.fail(abortError());
  }

  /** The caller's next event; throws the failure (an AbortError after abort). */
  async next(): Promise<TranscriptStreamEvent> {
    for (;;) {
      const event = this.#queue.shift();
      if (event) return event;
      if (this.#failure) throw this.#failure;
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  #count(chars: number): boolean {
    this.#chars += chars;
    if (this.#chars <= this.#options.maxChars) return true;
    this.fail(
      new SpeechbridgeError(
        'upstream_response_too_large',
        `${this.#options.display} sent more than ${this.#options.maxChars} characters of transcript for one turn (MAX_TRANSCRIPTION_KB); the turn was stopped`,
      ),
    );
    return false;
  }

  #progress(): void {
    if (this.settled) return;
    this.#flushDeltas();
    if (this.#itemsClosed && [...this.#texts.values()].every((item) => item.final !== undefined)) {
      this.#push({ type: 'completed', transcription: this.#transcription() });
      this.#completed = true;
      this.#end();
      return;
    }
    this.#restartTimer();
  }

  #flushDeltas(): void {
    while (this.#cursor < this.#itemIds.length) {
      const item = this.#texts.get(this.#itemIds[this.#cursor])!;
      // A final that goes on from the deltas sent adds its rest; one that rewrote them adds nothing.
      const source = item.final !== undefined && item.final.startsWith(item.deltas) ? item.final : item.deltas;
      const pending = source.slice(item.emitted);
      if (pending) {
        const separator = item.emitted === 0 && this.#emittedText && !/^\s/.test(pending) ? ' ' : '';
        this.#push({ type: 'delta', text: separator + pending, ...(this.#options.logprobs && { logprobs: this.#tokensToSend(item) }) });
        item.emitted = source.length;
        this.#emittedText = true;
      }
      if (item.final === undefined) return;
      this.#cursor += 1;
    }
  }

  /** The tokens of the text an item passes on now: its deltas' not yet sent, else the completion's past those sent. */
  #tokensToSend(item: ItemText): TokenLogprob[] {
    let tokens: TokenLogprob[];
    if (item.pendingTokens.length > 0) tokens = item.pendingTokens.splice(0);
    else tokens = item.finalTokens?.slice(item.sentTokens) ?? [];
    item.sentTokens += tokens.length;
    return tokens;
  }

  #transcription(): Transcription {
    const items = this.#itemIds.map((itemId) => this.#texts.get(itemId)!);
    const language = items.find((item) => item.language)?.language ?? this.#options.language;
    return {
      ...(this.#options.logprobs && { logprobs: items.flatMap((item) => item.finalTokens ?? item.deltaTokens) }),
      text: items
        .map((item) => item.final!.trim())
        .filter(Boolean)
        .join(' '),
      ...(language !== undefined && { language }),
      durationMs: this.audioMs,
      segments: [],
    };
  }

  #push(event: TranscriptStreamEvent): void {
    this.#queue.push(event);
    this.#wake?.();
    this.#wake = null;
  }

  #restartTimer(): void {
    if (this.#waiting === null || this.settled) return;
    if (this.#timer) clearTimeout(this.#timer);
    const what = this.#waiting;
    this.#timer = setTimeout(() => {
      this.fail(new SpeechbridgeError('upstream_timeout', `${this.#options.display} did not ${what} within ${this.#options.timeoutMs} ms (REQUEST_TIMEOUT)`));
    }, this.#options.timeoutMs);
    this.#timer.unref?.();
  }

  #end(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#releaseAudio();
    this.#wake?.();
    this.#wake = null;
  }
}
