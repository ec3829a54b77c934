/**
 * One client session's handle on an OpenAI Realtime transcription upstream: every turn of the
 * session goes over one upstream connection, opened at the first turn, kept between turns,
 * closed after IDLE_CLOSE_MS without a turn (and opened again at the next one) or with the
 * session. A connection the upstream closes between turns is opened again the same way; one
 * that closes during a turn fails that turn, and the next turn reconnects.
 *
 * Turns share one upstream input buffer, so their audio goes up one turn after another: a turn
 * starts sending when the turn before it has committed (or given up), while both may still
 * wait for their text. Every event sent carries an id naming its turn (`sb_t3_commit`), so an
 * upstream `error` is charged to the turn that caused it.
 *
 * Which items are a turn's: with turn detection `none` (our VAD decides), each turn ends with
 * one commit, and the upstream answers each commit in order with `input_audio_buffer.committed`.
 * With the upstream's VAD, the upstream may commit by itself inside a turn (after
 * `input_audio_buffer.speech_stopped` for the same item); those items belong to the oldest
 * turn whose own commit is not answered yet, and our commit closes the turn. At the end of a
 * turn we commit only what the upstream has not: when its VAD has already committed and
 * hears no speech, a commit would be refused (OpenAI: `input_audio_buffer_commit_empty`, under
 * 100 ms after its own commit), so the trailing silence is cleared instead; if the refusal
 * comes anyway (the upstream's commit was still on its way), the turn ends with the items it has.
 *
 * Input format: each turn says its encoding (TranscribeOptions.inputEncoding; default the
 * session's). PCM16 goes up at 24 kHz; a G.711 turn goes up as `audio/pcmu` / `audio/pcma` with
 * the client's own bytes where its frames carry them (StreamFrame.encoded), so a phone bridge's
 * audio reaches OpenAI exactly as it was sent. A turn in another format than the connection's
 * changes it with a `session.update` before its first append; turns send one after another, so
 * the upstream buffer is empty then and no item ever mixes two formats.
 */
import { encodeBase64Audio, type AudioWireFormat } from '../../audio/base64.ts';
import type { G711Audio } from '../../audio/g711.ts';
import type { PcmAudio } from '../../audio/pcm.ts';
import { createStreamResampler, type StreamResampler } from '../../audio/resample.ts';
import { SpeechbridgeError } from '../../errors/registry.ts';
import { isAbortError } from '../../errors/abort.ts';
import type {
  TranscribeOptions,
  TranscriberCapabilities,
  TranscriberInputEncoding,
  TranscriberSession,
  Transcription,
  StreamFrame,
  TranscriptStreamEvent,
} from '../contracts.ts';
import { throwIfAborted } from '../../errors/abort.ts';
import { abortError } from '../../errors/abort.ts';
import { RealtimeConnection } from './realtime-connection.ts';
import { errorEventError, type RealtimeUpstreamContext } from './realtime-errors.ts';
import type { RealtimeInputFormat, RealtimeServerEvent, RealtimeTurnDetection, TranscriptionSessionSettings } from './realtime-events.ts';
import { sessionUpdateEvent } from './realtime-events.ts';
import { ItemChain } from './realtime-item-chain.ts';
import { RealtimeTurn } from './realtime-turn.ts';

/** OpenAI refuses a commit of less than 100 ms of audio (input_audio_buffer_commit_empty). */
export const MIN_COMMIT_MS = 100;
/** Audio per append: 1 s is 64 KB of base64 at 24 kHz, far under OpenAI's 15 MB per event, and a live frame (20–100 ms) goes as it is. */
const MAX_APPEND_MS = 1000;
/** A connection with no turn for this long is closed (and reopened at the next turn): OpenAI bills audio, not connections, but an idle socket still holds an upstream session. */
export const DEFAULT_IDLE_CLOSE_MS = 60_000;
/** Items remembered per connection for routing text and early events: far past the turns that can be pending together. */
const MAX_TRACKED_ITEMS = 256;
/** Events held for an item whose commit has not arrived yet. */
const MAX_EARLY_EVENTS_PER_ITEM = 64;

interface WireFormat {
  wire: AudioWireFormat;
  format: RealtimeInputFormat;
  sampleRate: number;
}

const WIRE_FORMATS: Readonly<Record<TranscriberInputEncoding, WireFormat>> = {
  pcm16: { wire: 'pcm16', format: { type: 'audio/pcm', rate: 24000 }, sampleRate: 24000 },
  g711_ulaw: { wire: 'g711_ulaw', format: { type: 'audio/pcmu' }, sampleRate: 8000 },
  g711_alaw: { wire: 'g711_alaw', format: { type: 'audio/pcma' }, sampleRate: 8000 },
};

export interface RealtimeSessionOptions {
  /** The socket URL, with intent=transcription. */
  url: URL;
  context: RealtimeUpstreamContext;
  turnDetection: RealtimeTurnDetection;
  inputEncoding?: TranscriberInputEncoding;
  /** Transcript characters one turn may bring (MAX_TRANSCRIPTION_KB). */
  maxTranscriptChars: number;
  idleCloseMs?: number;
  /** Called once when the session is closed. */
  onClose?: () => void;
}

type ItemEvent = Extract<
  RealtimeServerEvent,
  {
    type:
      | 'conversation.item.input_audio_transcription.delta'
      | 'conversation.item.input_audio_transcription.completed'
      | 'conversation.item.input_audio_transcription.failed';
  }
>;

/** Every encoding goes up as it is: OpenAI takes PCM16 at 24 kHz and both G.711 laws. */
const INPUT_ENCODINGS: readonly TranscriberInputEncoding[] = ['pcm16', 'g711_ulaw', 'g711_alaw'];

/** What one upstream connection knows; dropped with it. */
class Live {
  connection?: RealtimeConnection;
  dead: SpeechbridgeError | null = null;
  readonly chain = new ItemChain();
  readonly itemTurns = new Map<string, Entry>();
  readonly early = new Map<string, ItemEvent[]>();
  readonly vadItems = new Set<string>();
  speaking = false;
  /** Our commits not answered yet, oldest first. */
  readonly commits: Entry[] = [];
  /** Turns whose items may still come, oldest first. */
  collecting: Entry[] = [];
  /** Items committed while no turn was collecting: the next turn's. */
  readonly unclaimed: string[] = [];
  readonly entries = new Set<Entry>();

  constructor(public settings: TranscriptionSessionSettings) {}
}

interface Entry {
  readonly number: number;
  readonly turn: RealtimeTurn;
  /** The format the turn's audio goes up in. */
  readonly wire: WireFormat;
  live?: Live;
  phase: 'waiting' | 'sending' | 'sent';
  appends: number;
  /** Upstream items that joined the turn. */
  items: number;
}

type ConnectionState = { kind: 'idle' } | { kind: 'connecting'; ready: Promise<Live> } | { kind: 'open'; live: Live } | { kind: 'closed' };

export class RealtimeTranscriptionSession implements TranscriberSession {
  readonly name = 'openai-realtime';
  readonly upstream: string;
  readonly capabilities: TranscriberCapabilities;
  readonly #options: RealtimeSessionOptions;
  readonly #wire: WireFormat;
  readonly #closing = new AbortController();
  #state: ConnectionState = { kind: 'idle' };
  #turnCount = 0;
  #lastTurn: RealtimeTurn | null = null;
  readonly #active = new Set<Entry>();
  #idleTimer: NodeJS.Timeout | null = null;

  constructor(options: RealtimeSessionOptions) {
    this.#options = options;
    this.upstream = options.context.display;
    this.#wire = WIRE_FORMATS[options.inputEncoding ?? 'pcm16'];
    this.capabilities = {
      streaming: true,
      languageDetection: true,
      segments: false,
      sampleRate: this.#wire.sampleRate,
      languages: 'any',
      logprobs: true,
      inputEncodings: INPUT_ENCODINGS,
    };
  }

  /** True while an upstream connection is open (for tests and metrics). */
  get connected(): boolean {
    return this.#state.kind === 'open';
  }

  async transcribe(audio: PcmAudio, options: TranscribeOptions = {}): Promise<Transcription> {
    for await (const event of this.transcribeStream(once(audio), options)) {
      if (event.type === 'completed') return event.transcription;
    }
    throw new SpeechbridgeError('upstream_bad_response', `${this.upstream} ended the transcription without a result`);
  }

  async *transcribeStream(audio: AsyncIterable<StreamFrame>, options: TranscribeOptions = {}): AsyncIterable<TranscriptStreamEvent> {
    throwIfAborted(options.signal);
    if (this.#state.kind === 'closed') throw new SpeechbridgeError('engine_unavailable', `the realtime transcription session with ${this.upstream} is closed`);
    this.#cancelIdleClose();
    this.#turnCount += 1;
    const turn = new RealtimeTurn({
      timeoutMs: this.#options.context.timeoutMs,
      maxChars: this.#options.maxTranscriptChars,
      display: this.upstream,
      logprobs: options.logprobs === true,
      ...(options.language !== undefined && { language: options.language }),
    });
    const entry: Entry = { number: this.#turnCount, turn, wire: this.#wireFor(options), phase: 'waiting', appends: 0, items: 0 };
    const previous = this.#lastTurn;
    this.#lastTurn = turn;
    this.#active.add(entry);
    const onAbort = () => this.#abort(entry);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    void this.#send(entry, previous, audio, options);
    try {
      for (;;) {
        const event = await turn.next();
        yield event;
        if (event.type === 'completed') return;
      }
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
      // The caller stopped reading (or aborted): the turn ends here, its audio and text are dropped.
      this.#abort(entry);
      this.#active.delete(entry);
      this.#armIdleClose();
    }
  }

  async close(): Promise<void> {
    if (this.#state.kind === 'closed') return;
    const state = this.#state;
    this.#state = { kind: 'closed' };
    this.#cancelIdleClose();
    this.#closing.abort();
    for (const entry of this.#active) entry.turn.abort();
    if (state.kind === 'open') state.live.connection?.close();
    this.#options.onClose?.();
  }

  /** Sends one turn's audio when the turn before it is done sending; every failure ends up in the turn. */
  async #send(entry: Entry, previous: RealtimeTurn | null, audio: AsyncIterable<StreamFrame>, options: TranscribeOptions): Promise<void> {
    const { turn, wire } = entry;
    let iterator: AsyncIterator<StreamFrame> | undefined;
    let resampler: StreamResampler | undefined;
    try {
      if (previous) await previous.audioDone;
      if (turn.settled) return;
      const live = await this.#connect(options);
      if (turn.settled) return;
      this.#bind(live, entry);
      this.#applySettings(live, entry, options);
      entry.phase = 'sending';
      iterator = audio[Symbol.asyncIterator]();
      for (;;) {
        const next = await iterator.next();
        if (turn.settled) return;
        if (next.done) break;
        let frame = next.value;
        if (frame.sampleRate !== wire.sampleRate) {
          resampler ??= await createStreamResampler(frame.sampleRate, wire.sampleRate);
          frame = { samples: resampler.push(frame.samples), sampleRate: wire.sampleRate };
        }
        this.#append(live, entry, frame);
      }
      if (resampler) this.#append(live, entry, { samples: resampler.flush(), sampleRate: wire.sampleRate });
      this.#finishAudio(live, entry);
    } catch (error) {
      turn.fail(isAbortError(error) || error instanceof SpeechbridgeError ? (error as Error) : toError(error, this.upstream));
    } finally {
      resampler?.close();
      if (turn.settled && iterator?.return) void Promise.resolve(iterator.return()).catch(() => {});
      turn.releaseAudio();
    }
  }

  /** The open connection, or a new one set up with this turn's settings. */
  async #connect(options: TranscribeOptions): Promise<Live> {
    const state = this.#state;
    if (state.kind === 'closed') throw abortError();
    if (state.kind === 'open' && !state.live.connection?.ended && !state.live.dead) return state.live;
    if (state.kind === 'connecting') return state.ready;
    const live = new Live(this.#settingsFor(options));
    const ready = RealtimeConnection.open({
      url: this.#options.url,
      context: this.#options.context,
      settings: live.settings,
      signal: this.#closing.signal,
      listener: { event: (event) => this.#onEvent(live, event), closed: (error) => this.#onClosed(live, error) },
    }).then(
      (connection) => {
        live.connection = connection;
        if (live.dead) {
          connection.close();
          throw live.dead;
        }
        if (this.#state.kind === 'connecting' && this.#state.ready === ready) this.#state = { kind: 'open', live };
        else connection.close();
        return live;
      },
      (error: unknown) => {
        if (this.#state.kind === 'connecting' && this.#state.ready === ready) this.#state = { kind: 'idle' };
        throw error;
      },
    );
    this.#state = { kind: 'connecting', ready };
    return ready;
  }

  #wireFor(options: TranscribeOptions): WireFormat {
    return options.inputEncoding ? WIRE_FORMATS[options.inputEncoding] : this.#wire;
  }

  #settingsFor(options: TranscribeOptions): TranscriptionSessionSettings {
    return {
      format: this.#wireFor(options).format,
      model: options.model ?? this.#options.context.model,
      ...(options.language !== undefined && { language: options.language }),
      ...(options.prompt !== undefined && { prompt: options.prompt }),
      turnDetection: this.#options.turnDetection,
      ...(options.logprobs && { logprobs: true }),
    };
  }

  #bind(live: Live, entry: Entry): void {
    entry.live = live;
    live.entries.add(entry);
    live.collecting.push(entry);
    for (const itemId of live.unclaimed.splice(0)) this.#assign(live, itemId, entry);
  }

  /** A turn asking for another input format, language, prompt or model changes the upstream session first. */
  #applySettings(live: Live, entry: Entry, options: TranscribeOptions): void {
    const wanted = this.#settingsFor(options);
    const current = live.settings;
    const sameFormat = wanted.format.type === current.format.type;
    // Log probabilities once asked for stay on (an update without `include` keeps it); a turn that did not ask ignores them.
    const hasLogprobs = !wanted.logprobs || current.logprobs === true;
    if (sameFormat && hasLogprobs && wanted.model === current.model && wanted.language === current.language && wanted.prompt === current.prompt) return;
    live.connection!.send(sessionUpdateEvent(eventId(entry, 'update'), wanted));
    live.settings = { ...wanted, ...(current.logprobs && { logprobs: true }) };
  }

  /** A G.711 frame that carries the client's bytes in the turn's law goes up as those bytes; anything else is encoded here. */
  #append(live: Live, entry: Entry, frame: StreamFrame): void {
    const { wire } = entry;
    const bytes: G711Audio['bytes'] | null = frame.encoded?.encoding === wire.wire ? frame.encoded.bytes : null;
    const length = bytes ? bytes.length : frame.samples.length;
    const step = Math.round((wire.sampleRate * MAX_APPEND_MS) / 1000);
    for (let offset = 0; offset < length; offset += step) {
      const audio = bytes
        ? Buffer.from(bytes.buffer, bytes.byteOffset + offset, Math.min(step, length - offset)).toString('base64')
        : encodeBase64Audio(frame.samples.subarray(offset, offset + step), wire.wire);
      entry.appends += 1;
      live.connection!.send({ type: 'input_audio_buffer.append', event_id: eventId(entry, `a${entry.appends}`), audio });
      entry.turn.audioMs += (Math.min(step, length - offset) * 1000) / wire.sampleRate;
    }
  }

  /** The turn's audio has ended: commit what the upstream has not committed itself, or clear the rest. */
  #finishAudio(live: Live, entry: Entry): void {
    const { turn } = entry;
    const upstreamVad = this.#options.turnDetection !== 'none';
    const commit = turn.audioMs >= MIN_COMMIT_MS && (!upstreamVad || live.speaking || entry.items === 0);
    entry.phase = 'sent';
    if (commit) {
      live.commits.push(entry);
      live.connection!.send({ type: 'input_audio_buffer.commit', event_id: eventId(entry, 'commit') });
      turn.awaitUpstream('answer the commit and transcribe the turn');
    } else {
      if (turn.audioMs > 0) live.connection!.send({ type: 'input_audio_buffer.clear', event_id: eventId(entry, 'clear') });
      this.#stopCollecting(live, entry);
      turn.awaitUpstream('transcribe the turn');
    }
    turn.releaseAudio();
  }

  #abort(entry: Entry): void {
    const { turn, live } = entry;
    if (turn.settled) return;
    turn.abort();
    if (!live || live.dead || !live.connection || live.connection.ended) return;
    // Audio of the turn not committed yet would be the start of the next turn's item.
    if (entry.phase === 'sending' && turn.audioMs > 0) {
      try {
        live.connection.send({ type: 'input_audio_buffer.clear', event_id: eventId(entry, 'clear') });
      } catch {
        // The connection is failing; it tells its turns itself.
      }
    }
    // A commit already sent will be answered: the turn stays in line so that answer is read as its.
    if (!live.commits.includes(entry)) this.#stopCollecting(live, entry);
  }

  #stopCollecting(live: Live, entry: Entry): void {
    live.collecting = live.collecting.filter((other) => other !== entry);
    entry.turn.closeItems();
  }

  #onEvent(live: Live, event: RealtimeServerEvent): void {
    switch (event.type) {
      case 'error':
        return this.#onError(live, event.error);
      case 'input_audio_buffer.speech_started':
        live.speaking = true;
        return;
      case 'input_audio_buffer.speech_stopped':
        live.speaking = false;
        if (event.item_id) remember(live.vadItems, event.item_id);
        return;
      case 'input_audio_buffer.committed':
        return this.#onCommitted(live, event.item_id, event.previous_item_id);
      case 'conversation.item.input_audio_transcription.delta':
      case 'conversation.item.input_audio_transcription.completed':
      case 'conversation.item.input_audio_transcription.failed':
        return this.#onItemEvent(live, event);
      default:
        return;
    }
  }

  #onCommitted(live: Live, itemId: string, previousItemId: string | null | undefined): void {
    live.chain.add(itemId, previousItemId);
    const byUpstreamVad = live.vadItems.delete(itemId);
    const ours = !byUpstreamVad ? live.commits.shift() : undefined;
    if (ours) {
      this.#assign(live, itemId, ours);
      // Our commit closes the turn; any turn still collecting before it had no commit of its own.
      const position = live.collecting.indexOf(ours);
      for (const entry of live.collecting.slice(0, position + 1)) entry.turn.closeItems();
      live.collecting = live.collecting.slice(position + 1);
      return;
    }
    const collecting = live.collecting[0];
    if (collecting) this.#assign(live, itemId, collecting);
    else if (live.unclaimed.push(itemId) > MAX_TRACKED_ITEMS) live.unclaimed.shift();
  }

  #assign(live: Live, itemId: string, entry: Entry): void {
    live.itemTurns.set(itemId, entry);
    entry.items += 1;
    if (live.itemTurns.size > MAX_TRACKED_ITEMS) live.itemTurns.delete(live.itemTurns.keys().next().value!);
    entry.turn.addItem(itemId, live.chain);
    const early = live.early.get(itemId);
    live.early.delete(itemId);
    for (const event of early ?? []) this.#onItemEvent(live, event);
  }

  #onItemEvent(live: Live, event: ItemEvent): void {
    const entry = live.itemTurns.get(event.item_id);
    if (!entry) {
      // Text can overtake its item's commit; it waits (bounded) until the commit says whose it is.
      const held = live.early.get(event.item_id) ?? [];
      if (held.length < MAX_EARLY_EVENTS_PER_ITEM) held.push(event);
      live.early.set(event.item_id, held);
      if (live.early.size > MAX_TRACKED_ITEMS) live.early.delete(live.early.keys().next().value!);
      return;
    }
    const { turn } = entry;
    switch (event.type) {
      case 'conversation.item.input_audio_transcription.delta':
        turn.delta(event.item_id, event.delta ?? '', event.logprobs ?? undefined);
        return;
      case 'conversation.item.input_audio_transcription.completed':
        live.itemTurns.delete(event.item_id);
        turn.completed(event.item_id, event.transcript, event.language ?? undefined, event.logprobs ?? undefined);
        return;
      case 'conversation.item.input_audio_transcription.failed': {
        live.itemTurns.delete(event.item_id);
        const body = event.error ?? {};
        turn.fail(errorEventError({ ...body, code: body.code ?? 'transcription_failed' }, this.#options.context, 'the transcription of a turn'));
        return;
      }
      default:
        return;
    }
  }

  /** An `error` names the event it refuses: one of a turn's, or none (then the whole connection is in doubt). */
  #onError(live: Live, body: Extract<RealtimeServerEvent, { type: 'error' }>['error']): void {
    const match = /^sb_t(\d+)_(\w+)$/.exec(body.event_id ?? '');
    const entry = match ? [...live.entries].find((candidate) => candidate.number === Number(match[1])) : undefined;
    if (entry) {
      const kind = match![2];
      if (kind === 'clear') return;
      if (kind === 'commit') {
        const index = live.commits.indexOf(entry);
        if (index >= 0) live.commits.splice(index, 1);
        // The upstream's VAD committed this audio just before: the turn has its items already.
        if (body.code === 'input_audio_buffer_commit_empty') return this.#stopCollecting(live, entry);
      }
      entry.turn.fail(errorEventError(body, this.#options.context, 'the transcription of a turn'));
      this.#stopCollecting(live, entry);
      return;
    }
    this.#failConnection(live, errorEventError(body, this.#options.context, 'realtime transcription'));
  }

  #onClosed(live: Live, error: SpeechbridgeError): void {
    live.dead = error;
    for (const entry of live.entries) entry.turn.fail(error);
    live.entries.clear();
    if (this.#state.kind === 'open' && this.#state.live === live) this.#state = { kind: 'idle' };
  }

  #failConnection(live: Live, error: SpeechbridgeError): void {
    live.connection?.close();
    this.#onClosed(live, error);
  }

  #armIdleClose(): void {
    if (this.#active.size > 0 || this.#state.kind !== 'open') return;
    this.#cancelIdleClose();
    const live = this.#state.live;
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = null;
      if (this.#active.size > 0 || this.#state.kind !== 'open' || this.#state.live !== live) return;
      this.#state = { kind: 'idle' };
      live.connection?.close();
    }, this.#options.idleCloseMs ?? DEFAULT_IDLE_CLOSE_MS);
    this.#idleTimer.unref?.();
  }

  #cancelIdleClose(): void {
    if (this.#idleTimer) clearTimeout(this.#idleTimer);
    this.#idleTimer = null;
  }
}

function eventId(entry: Entry, what: string): string {
  return `sb_t${entry.number}_${what}`;
}

function remember(set: Set<string>, value: string): void {
  set.add(value);
  if (set.size > MAX_TRACKED_ITEMS) set.delete(set.values().next().value!);
}

async function* once(audio: PcmAudio): AsyncIterable<PcmAudio> {
  yield audio;
}

function toError(error: unknown, upstream: string): SpeechbridgeError {
  const message = error instanceof Error ? error.message : String(error);
  return new SpeechbridgeError('internal_error', `realtime transcription with ${upstream} failed: ${message}`, { cause: error });
}
