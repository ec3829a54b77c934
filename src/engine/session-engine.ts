/**
 * The session engine: one realtime session, with no wire protocol and no I/O. Protocols turn
 * client messages into EngineInput for handle() and send the EngineEvents that onEvent
 * receives. The engine owns the input buffer, turn detection, the conversation, transcription
 * jobs and the one active response, and reads top to bottom like the protocol:
 *
 *   audio.append → resample once to 16 kHz → VAD → speech.started (barge-in cancels the
 *   active response) → speech.stopped → commit (input.committed, item.added/done) →
 *   transcription (transcript.completed or .failed) → response (response.created … done).
 *
 * Every committed turn ends in exactly one turn.ended (answered, transcribed, failed or
 * dropped), and turns end in the order they were spoken; their transcripts go out in that
 * order too (turn-outcomes.ts). Automatic answers wait in the answer queue (answer-queue.ts).
 * A streaming recognizer hears each turn live from speech start (live-transcription.ts); the
 * commit hands that stream to the turn's transcription, whose final text still goes out in
 * spoken order, and a turn whose speech is discarded (a clear, a commit too short to
 * transcribe, the session closing) stops its stream. With turn detection off, the turn is what
 * the client appends until its commit: its stream opens at the first append to an empty buffer
 * (partials flow while the client appends), the commit finishes it and a clear stops it.
 *
 * handle() never throws: every bad input becomes an error event with code, message, param
 * and the input's eventId, handle() returns that refusal, and the session keeps working. It is
 * synchronous; the async work (transcription, responses) runs in tasks that close() aborts and
 * waits for. finish() ends the turn in progress and resolves once every turn has ended.
 */
import type { G711Audio } from '../audio/g711.ts';
import { resampleSync, initResampler } from '../audio/resample.ts';
import { abortable } from '../errors/abort.ts';
import type { Diarizer, Responder, Synthesizer, Transcriber } from '../providers/contracts.ts';
import type { TurnEvent } from '../vad/turn-detector.ts';
import type { VoiceDetectorFactory } from '../vad/voice-detector.ts';
import { systemClock, type Clock, type TimerHandle } from './clock.ts';
import { Conversation, itemFromNew, validateNewItem } from './conversation.ts';
import { SpeechbridgeError, toSpeechbridgeError } from '../errors/registry.ts';
import { AnswerQueue, MAX_DEFERRED_TURNS, type TurnTrigger } from './answer-queue.ts';
import type { ConversationItem, EngineEvent, EngineInput, HandleResult, ResponseRequest, SessionConfig, SessionUpdate, TurnDropReason } from './events.ts';
import { randomIds, type IdGenerator } from './ids.ts';
import { BUFFER_SAMPLE_RATE, InputBuffer } from './input-buffer.ts';
import { InterimTranscripts, interimPassesRun } from './interim-transcripts.ts';
import { LiveTranscription, type LiveTurnStream } from './live-transcription.ts';
import { buildResponseContext } from './response-context.ts';
import { resolveResponsePlan } from './response-plan.ts';
import { ResponseRunner, snapshot, type CancelReason, type ResponseSummary, type ResponseTrigger } from './response-runner.ts';
import { applySessionUpdate, initialSessionConfig, resolveLimits, type EngineLimits, type SessionDefaults } from './session-config.ts';
import { TranscriptionJob } from './transcription-job.ts';
import { TurnOutcomes, type TurnEnd } from './turn-outcomes.ts';
import { TurnTracker } from './turn-tracker.ts';

export { MAX_DEFERRED_TURNS } from './answer-queue.ts';

/** A commit needs 100 ms of audio, as OpenAI's input_audio_buffer.commit does. */
export const MIN_COMMIT_MS = 100;

const ACCEPTED: HandleResult = Object.freeze({ accepted: true });

/** How a turn whose response was cancelled ends. */
const DROP_FOR_CANCEL: Record<CancelReason, TurnDropReason> = {
  turn_detected: 'interrupted',
  client_cancelled: 'cancelled',
  disconnected: 'closed',
};

export interface SessionProviders {
  transcriber: Transcriber;
  responder: Responder;
  synthesizer: Synthesizer;
  /** Speaker segments of committed turns, for sessions whose transcription asks for them (DIAR_URL). */
  diarizer?: Diarizer;
}

export interface SessionEngineOptions {
  providers: SessionProviders;
  createVoiceDetector: VoiceDetectorFactory;
  defaults: SessionDefaults;
  /** Applied over the defaults at creation (a transcription door sets kind 'transcription'); throws invalid_value. */
  session?: SessionUpdate;
  clock?: Clock;
  ids?: IdGenerator;
  onEvent: (event: EngineEvent) => void;
  /** Called when onEvent throws; default: rethrown on the next tick, as an EventEmitter listener's error would surface. */
  onListenerError?: (error: unknown, event: EngineEvent) => void;
}

type EngineState = { kind: 'created' } | { kind: 'running'; buffer: InputBuffer } | { kind: 'closing' } | { kind: 'closed' };

/** The VAD turn being spoken: its item id (announced in speech.started) and start. */
interface OpenTurn {
  itemId: string;
  audioStartMs: number;
}

export class SessionEngine {
  /** The engine's id generator; protocols take their `event_…` ids from it. */
  readonly ids: IdGenerator;
  readonly limits: Readonly<EngineLimits>;
  readonly #providers: SessionProviders;
  readonly #clock: Clock;
  readonly #onEvent: (event: EngineEvent) => void;
  readonly #onListenerError: (error: unknown, event: EngineEvent) => void;
  readonly #conversation: Conversation;
  readonly #turns: TurnTracker;
  readonly #interim: InterimTranscripts;
  readonly #live: LiveTranscription;
  /** The session's recognizer: its own openSession handle where the provider has one. */
  readonly #transcriber: Transcriber;
  #config: SessionConfig;
  #state: EngineState = { kind: 'created' };
  #openTurn: OpenTurn | null = null;
  #active: ResponseRunner | null = null;
  /** Committed turns not yet ended, and the order their results go out in. */
  readonly #outcomes: TurnOutcomes;
  /** Automatic answers owed to committed turns, oldest first. */
  readonly #answers = new AnswerQueue();
  #startScheduled = false;
  /** finish() was called: no idle-timeout turn is started any more. */
  #finishing = false;
  /** The newest committed user turn no response has answered yet, for turn timings. */
  #unanswered: ResponseTrigger | null = null;
  #idleTimer: TimerHandle | null = null;
  readonly #jobs = new Set<TranscriptionJob>();
  /** Every running async task; close() waits for all of them. */
  readonly #tasks = new Set<Promise<unknown>>();
  #closing: Promise<void> | null = null;

  constructor(options: SessionEngineOptions) {
    this.#providers = options.providers;
    this.#clock = options.clock ?? systemClock;
    this.ids = options.ids ?? randomIds;
    this.#onEvent = options.onEvent;
    this.#onListenerError =
      options.onListenerError ??
      ((error) =>
        setImmediate(() => {
          throw error;
        }));
    this.limits = Object.freeze(resolveLimits(options.defaults.limits));
    const modes = options.providers.responder.capabilities.modes;
    const initial = initialSessionConfig(options.defaults, modes);
    this.#config = options.session ? applySessionUpdate(initial, options.session, modes) : initial;
    checkProviderSupport(this.#config, options.providers);
    this.#conversation = new Conversation(this.limits.maxItems);
    this.#turns = new TurnTracker(options.createVoiceDetector, this.#config.turnDetection, (error) => this.#emitError(error));
    this.#transcriber = options.providers.transcriber.openSession?.() ?? options.providers.transcriber;
    this.#interim = new InterimTranscripts({
      transcriber: this.#transcriber,
      emit: (event) => this.#emit(event),
      track: (task) => this.#track(task),
    });
    this.#live = new LiveTranscription({ transcriber: this.#transcriber, emit: (event) => this.#emit(event), track: (task) => this.#track(task) });
    this.#outcomes = new TurnOutcomes({
      emit: (event) => this.#emit(event),
      onTranscriptReleased: (itemId) => this.#onTranscriptReleased(itemId),
    });
  }

  /** The current configuration (replaced, never mutated, by session.update). */
  get config(): Readonly<SessionConfig> {
    return this.#config;
  }

  /** Conversation items in order (copies). */
  get items(): ConversationItem[] {
    return this.#conversation.items().map(snapshot);
  }

  /** The active response's id, or null. */
  get activeResponseId(): string | null {
    return this.#active?.id ?? null;
  }

  /** Loads the resampler and the voice detector; fails here, not at the first audio, when one is missing. */
  async start(): Promise<void> {
    if (this.#state.kind !== 'created') return;
    await initResampler();
    await this.#turns.start();
    // close() during start has already freed the detector; the session never runs.
    if (!this.#stillCreated()) return;
    const buffer = new InputBuffer({ inputSampleRate: this.#config.inputSampleRate, maxBufferMs: this.limits.maxBufferMs });
    this.#state = { kind: 'running', buffer };
    this.#retainForTurnDetection(buffer);
  }

  /** A method, so the check after start's awaits is not narrowed away by the compiler. */
  #stillCreated(): boolean {
    return this.#state.kind === 'created';
  }

  /** Takes one client input. Never throws; a refused input gets an error event and the same refusal as the result. */
  handle(input: EngineInput): HandleResult {
    const state = this.#state;
    if (state.kind !== 'running') {
      const error =
        state.kind === 'created'
          ? new SpeechbridgeError('engine_unavailable', 'the session is still starting')
          : new SpeechbridgeError('engine_unavailable', 'the session is closing');
      if (state.kind === 'created') this.#emitError(error, input.eventId);
      return { accepted: false, error: { code: error.code, message: error.message, param: error.param } };
    }
    try {
      this.#apply(state.buffer, input);
      return ACCEPTED;
    } catch (error) {
      const refusal = this.#emitError(error, input.eventId);
      return { accepted: false, error: refusal };
    }
  }

  /**
   * Ends the session's turns: the turn being spoken is committed (and answered when `respond`
   * and the session answers turns), and this resolves once every committed turn has its
   * turn.ended, or once the session is closed. Input taken meanwhile still counts; the caller
   * stops sending it.
   */
  async finish(options: { respond: boolean }): Promise<void> {
    const state = this.#state;
    if (state.kind !== 'running') return this.#outcomes.settled();
    this.#finishing = true;
    this.#clearIdleTimer();
    // With VAD off, what is buffered is the turn; under 100 ms of it holds no word and is left.
    if (this.#openTurn || (this.#config.turnDetection.type === 'none' && state.buffer.durationMs >= MIN_COMMIT_MS)) {
      this.handle({ type: 'turn.end', respond: options.respond });
    }
    // Closing ends every turn still open, so this resolves then too.
    await this.#outcomes.settled();
  }

  #apply(buffer: InputBuffer, input: EngineInput): void {
    switch (input.type) {
      case 'audio.append':
        return this.#appendAudio(buffer, input.audio, input.encoded);
      case 'audio.commit':
        return this.#commitByClient(buffer);
      case 'turn.end':
        return this.#endTurn(buffer, input.respond);
      case 'audio.clear':
        return this.#clearAudio(buffer);
      case 'session.update':
        return this.#updateSession(buffer, input.session);
      case 'item.create':
        return this.#createItem(input.item, input.previousItemId);
      case 'item.retrieve':
        return this.#emit({ type: 'item.retrieved', item: snapshot(this.#conversation.retrieve(input.itemId)) });
      case 'item.delete':
        return this.#deleteItem(input.itemId);
      case 'item.truncate':
        this.#conversation.truncate(input.itemId, input.contentIndex, input.audioEndMs);
        return this.#emit({ type: 'item.truncated', itemId: input.itemId, contentIndex: input.contentIndex, audioEndMs: input.audioEndMs });
      case 'response.create':
        return this.#createResponseByClient(input.response ?? {});
      case 'response.cancel':
        return this.#cancelResponse(input.responseId);
      default:
        throw new SpeechbridgeError('unknown_event', `unknown input type ${JSON.stringify((input as { type?: unknown }).type)}`, { param: 'type' });
    }
  }

  /**
   * Ends the session: cancels the active response (its response.done, status cancelled with
   * reason disconnected, is emitted before this resolves), stops transcriptions (each ends
   * with transcript.failed) and frees the VAD. Nothing is emitted after it resolves.
   */
  close(): Promise<void> {
    this.#closing ??= this.#shutDown();
    return this.#closing;
  }

  // ── Input audio and turns ───────────────────────────────────────────────────────────────

  /** The hot path: every 20 ms per session. One resampler call, one VAD pass, no promise. */
  #appendAudio(buffer: InputBuffer, audio: Int16Array, encoded?: G711Audio): void {
    if (!(audio instanceof Int16Array)) throw new SpeechbridgeError('invalid_audio', 'audio must be PCM16 samples', { param: 'audio' });
    if (audio.length === 0) return;
    const chunk = buffer.append(audio);
    if (chunk === null) {
      throw new SpeechbridgeError(
        'input_audio_buffer_full',
        `the input audio buffer holds ${Math.round(buffer.durationMs)} ms and may hold ${this.limits.maxBufferMs} ms; commit or clear it`,
        { param: 'audio' },
      );
    }
    // A manual turn's stream opens before its first frame, which then goes to it as the client sent it.
    if (this.#config.turnDetection.type === 'none' && this.#live.enabled && this.#live.openItemId === null) this.#beginManualTurn(buffer, chunk, encoded);
    // Before the turn events: a stream opened by this frame's speech.started has it in its prefix.
    this.#live.push(audio, buffer.inputSampleRate, chunk, encoded);
    const events = this.#turns.push(chunk);
    for (let i = 0; i < events.length; i++) this.#onTurnEvent(buffer, events[i]);
    const turn = this.#openTurn;
    if (turn && this.#interimPasses()) {
      const fromMs = turn.audioStartMs - this.#config.turnDetection.padMs;
      this.#interim.advance(buffer.endMs, () => buffer.peek(fromMs).audio, this.#config.transcription);
    }
  }

  #onTurnEvent(buffer: InputBuffer, event: TurnEvent): void {
    const detection = this.#config.turnDetection;
    if (event.type === 'speech.started') {
      const turn: OpenTurn = { itemId: this.ids.next('item'), audioStartMs: event.audioStartMs };
      this.#openTurn = turn;
      buffer.retainFrom(event.audioStartMs - detection.padMs);
      if (this.#live.enabled) {
        const { transcription, interimTranscripts, transcriptLogprobs } = this.#config;
        this.#live.begin(turn.itemId, buffer.peek(event.audioStartMs - detection.padMs).audio, {
          transcription,
          interim: interimTranscripts,
          logprobs: transcriptLogprobs,
        });
      } else if (this.#interimPasses()) {
        this.#interim.begin(turn.itemId, event.audioStartMs, {
          partials: this.#config.interimTranscripts,
          // A streaming recognizer sends its own deltas for the turn.
          deltas: this.#config.interimDeltas && !this.#transcriber.capabilities.streaming,
          logprobs: this.#config.transcriptLogprobs,
        });
      }
      const audioStartMs = Math.max(0, event.audioStartMs - detection.padMs);
      this.#emit({ type: 'speech.started', audioStartMs, speechStartMs: event.audioStartMs, itemId: turn.itemId });
      if (detection.interruptResponse) this.#bargeIn();
      this.#clearIdleTimer();
      return;
    }
    const turn = this.#openTurn;
    if (!turn) return;
    this.#openTurn = null;
    this.#interim.end();
    // The turn's audio runs on through the silence that ended it (the VAD heard it after the
    // last voiced frame); a turn cut at its maximum length or by a settings change ends where
    // the stream is.
    const streamEndMs = Math.round(buffer.endMs);
    const audioEndMs = event.reason === 'silence' ? Math.min(streamEndMs, event.audioEndMs + detection.endMs) : streamEndMs;
    this.#emit({ type: 'speech.stopped', audioEndMs, speechEndMs: event.audioEndMs, itemId: turn.itemId });
    this.#commit(buffer, turn.itemId, turn.audioStartMs - detection.padMs, this.#config.kind === 'conversation' && detection.createResponse);
    this.#retainForTurnDetection(buffer);
    this.#scheduleStart();
  }

  /**
   * Speech during a response: cancel it, and call off a reply still waiting (the new turn's
   * reply will answer the whole conversation). A per-turn answer (translate, rewrite) still
   * waiting is kept: the new turn does not answer it; it starts once the user stops speaking.
   */
  #bargeIn(): void {
    if (this.#config.kind !== 'conversation') return;
    this.#dropAnswers(
      this.#answers.callOff((trigger) => trigger.mode === 'reply'),
      'interrupted',
    );
    this.#active?.cancel('turn_detected');
  }

  /**
   * With turn detection off the client's commit ends the turn: its live stream opens at the
   * first append to an empty buffer (with what was buffered before it, after a switch from
   * VAD), under the item id the commit will use. `chunk` (already in the buffer) and `encoded`
   * are the frame that opens it, which the stream then takes as any other.
   */
  #beginManualTurn(buffer: InputBuffer, chunk: Int16Array, encoded: G711Audio | undefined): void {
    const { transcription, interimTranscripts, transcriptLogprobs } = this.#config;
    const buffered = buffer.peek().audio;
    const before = { samples: buffered.samples.subarray(0, buffered.samples.length - chunk.length), sampleRate: buffered.sampleRate };
    this.#live.begin(
      this.ids.next('item'),
      before,
      {
        transcription,
        interim: interimTranscripts,
        logprobs: transcriptLogprobs,
        // A manual turn may arrive at once (a recording sent, then committed): it may wait as long as the buffer holds it.
        maxPendingMs: this.limits.maxBufferMs,
      },
      encoded?.encoding ?? 'pcm16',
    );
  }

  /** The item a manual commit creates: the one its live stream was opened for, else a new one. */
  #manualItemId(): string {
    return this.#live.openItemId ?? this.ids.next('item');
  }

  #checkCommitLength(buffer: InputBuffer): void {
    if (buffer.durationMs < MIN_COMMIT_MS) {
      throw new SpeechbridgeError(
        'input_audio_buffer_commit_empty',
        `the input audio buffer holds ${Math.round(buffer.durationMs)} ms of audio; a commit needs at least ${MIN_COMMIT_MS} ms`,
      );
    }
  }

  #commitByClient(buffer: InputBuffer): void {
    this.#checkCommitLength(buffer);
    const turn = this.#openTurn;
    if (turn) {
      this.#commitOpenTurn(buffer, turn, false);
      return;
    }
    this.#commit(buffer, this.#manualItemId(), undefined, false);
    this.#retainForTurnDetection(buffer);
  }

  /** The client says the user is done: end the turn in progress now, and answer it if asked. */
  #endTurn(buffer: InputBuffer, respond: boolean): void {
    const turn = this.#openTurn;
    const answer = respond && this.#config.kind === 'conversation';
    if (turn) this.#commitOpenTurn(buffer, turn, answer);
    // With VAD on and no turn in progress, every spoken turn is committed already.
    else if (this.#config.turnDetection.type !== 'none') return;
    else {
      this.#checkCommitLength(buffer);
      this.#commit(buffer, this.#manualItemId(), undefined, answer);
      this.#retainForTurnDetection(buffer);
    }
  }

  /** A VAD turn ended by the client, not the VAD: committed here, under the id speech.started announced. */
  #commitOpenTurn(buffer: InputBuffer, turn: OpenTurn, answer: boolean): void {
    this.#openTurn = null;
    this.#interim.end();
    this.#turns.reset();
    const endMs = Math.round(buffer.endMs);
    this.#emit({ type: 'speech.stopped', audioEndMs: endMs, speechEndMs: endMs, itemId: turn.itemId });
    this.#commit(buffer, turn.itemId, turn.audioStartMs - this.#config.turnDetection.padMs, answer);
    this.#retainForTurnDetection(buffer);
    this.#scheduleStart();
  }

  #clearAudio(buffer: InputBuffer): void {
    buffer.clear();
    // The turn being spoken (a VAD turn, or the appends of a manual one) is dropped with its stream.
    this.#live.abort();
    if (this.#openTurn) {
      this.#openTurn = null;
      this.#interim.end();
      this.#turns.reset();
    }
    this.#retainForTurnDetection(buffer);
    this.#emit({ type: 'input.cleared' });
    this.#scheduleStart();
  }

  /**
   * Commits the buffered audio from `fromMs` as a user turn and starts its transcription:
   * input.committed, item.added, item.done, then (later, in spoken order) transcript.completed
   * or .failed and the turn's turn.ended. `answer`: the turn gets an automatic response, and
   * ends with it; otherwise it ends with its transcript.
   */
  #commit(buffer: InputBuffer, itemId: string, fromMs: number | undefined, answer: boolean): void {
    const committed = buffer.commit(fromMs);
    const item: ConversationItem = { id: itemId, type: 'message', role: 'user', status: 'completed', content: [{ type: 'input_audio', transcript: null }] };
    this.#emit({ type: 'input.committed', itemId, previousItemId: this.#conversation.lastItemId });
    const previousItemId = this.#conversation.insert(item);
    this.#emit({ type: 'item.added', item: snapshot(item), previousItemId });
    this.#emit({ type: 'item.done', item: snapshot(item), previousItemId });
    this.#outcomes.open(itemId);
    const stoppedAtMs = this.#clock.now();
    const transcription = this.#transcribe(itemId, 0, committed.audio.samples, answer, this.#live.take(itemId));
    const { mode, targetLanguage } = this.#config;
    const trigger: TurnTrigger = { itemId, stoppedAtMs, transcription, mode, ...(targetLanguage !== undefined && { targetLanguage }) };
    if (answer) this.#queueAnswer(trigger);
    this.#unanswered = trigger;
  }

  #queueAnswer(trigger: TurnTrigger): void {
    const dropped = this.#answers.add(trigger);
    // A turn too short to transcribe has its transcript already.
    if (this.#outcomes.transcriptReleased(trigger.itemId)) this.#onTranscriptReleased(trigger.itemId);
    if (!dropped) return;
    const error = new SpeechbridgeError('turn_queue_full', `${MAX_DEFERRED_TURNS} turns were waiting for an answer; turn ${dropped.itemId} is not answered`, {
      param: dropped.itemId,
    });
    this.#emitError(error);
    this.#outcomes.end(dropped.itemId, { outcome: 'dropped', reason: 'queue_full', error: { code: error.code, message: error.message } });
  }

  /**
   * Starts the transcription of a user item's audio (16 kHz) and keeps the item's transcript in
   * step. A committed turn's result goes out through the turn ledger, in spoken order; when the
   * turn is not to be answered, its transcript ends it. `live`: the turn's live recognition
   * stream, opened at speech start, which the job finishes instead of a batch pass.
   */
  #transcribe(itemId: string, contentIndex: number, samples: Int16Array, answer = false, live: LiveTurnStream | null = null): TranscriptionJob {
    const job = new TranscriptionJob({
      itemId,
      contentIndex,
      audio: { samples, sampleRate: BUFFER_SAMPLE_RATE },
      transcriber: this.#transcriber,
      live,
      interim: this.#config.interimTranscripts,
      settings: this.#config.transcription,
      logprobs: this.#config.transcriptLogprobs,
      ...(this.#config.transcription.diarize && this.#providers.diarizer && { diarizer: this.#providers.diarizer }),
      ids: this.ids,
      clock: this.#clock,
      timeoutMs: this.limits.transcriptionTimeoutMs,
      emit: (event) => {
        if ((event.type === 'transcript.completed' || event.type === 'transcript.failed') && contentIndex === 0 && this.#outcomes.transcribed(event)) {
          if (!answer) this.#outcomes.end(itemId, transcriptEnd(event));
          return;
        }
        this.#emit(event);
      },
      onOutcome: (outcome) => {
        const item = this.#conversation.get(itemId);
        const part = item?.type === 'message' ? item.content[contentIndex] : undefined;
        if (part?.type === 'input_audio') part.transcript = outcome.status === 'completed' ? outcome.transcript : null;
      },
    });
    this.#conversation.setTranscription(itemId, job);
    this.#jobs.add(job);
    this.#track(job.result.then(() => this.#jobs.delete(job)));
    return job;
  }

  /** With VAD the buffer keeps only what the next turn's padding needs; without, everything. */
  #retainForTurnDetection(buffer: InputBuffer): void {
    const detection = this.#config.turnDetection;
    if (detection.type === 'none') buffer.retainAll();
    else if (!this.#openTurn) {
      // speech.started dates a turn back to the first voiced frame of a run startMs long, up to
      // two frames more when its loud frame came late (turn-detector.ts); four frames of margin.
      buffer.retainTail(detection.padMs + detection.startMs + 4 * this.#turns.frameMs);
    }
  }

  // ── Session and items ───────────────────────────────────────────────────────────────────

  #updateSession(buffer: InputBuffer, update: SessionUpdate): void {
    const next = applySessionUpdate(this.#config, update, this.#providers.responder.capabilities.modes);
    checkProviderSupport(next, this.#providers);
    const previous = this.#config;
    this.#config = next;
    if (next.inputSampleRate !== previous.inputSampleRate) buffer.setInputSampleRate(next.inputSampleRate);
    if (next.turnDetection !== previous.turnDetection) {
      // A rebuilt detector ends a turn in progress; it is committed like any other.
      for (const event of this.#turns.configure(next.turnDetection)) this.#onTurnEvent(buffer, event);
      if (next.turnDetection.type !== previous.turnDetection.type) {
        // A manual turn's stream stops when the VAD takes over; the VAD starts the next turn's.
        if (previous.turnDetection.type === 'none') this.#live.abort();
        this.#retainForTurnDetection(buffer);
      }
      if (next.turnDetection.idleTimeoutMs === null || next.turnDetection.type === 'none') this.#clearIdleTimer();
    }
    this.#emit({ type: 'session.updated', session: next });
    // interruptResponse turned off mid-turn: answers held for the user's speech may start.
    this.#startDeferred();
  }

  #deleteItem(itemId: string): void {
    this.#conversation.delete(itemId);
    this.#emit({ type: 'item.deleted', itemId });
    // A per-turn answer of a deleted item has nothing left to answer (a reply answers the rest of the conversation).
    this.#dropAnswers(
      this.#answers.callOff((trigger) => trigger.mode !== 'reply' && trigger.itemId === itemId),
      'deleted',
    );
  }

  #createItem(newItem: Parameters<typeof itemFromNew>[0], previousItemId: string | null | undefined): void {
    validateNewItem(newItem, 'item');
    const id = newItem.id ?? this.ids.next('item');
    const item = itemFromNew(newItem, id);
    const after = this.#conversation.insert(item, previousItemId);
    this.#emit({ type: 'item.added', item: snapshot(item), previousItemId: after });
    this.#emit({ type: 'item.done', item: snapshot(item), previousItemId: after });
    if (newItem.type !== 'message') return;
    // Audio a client put in an item is transcribed like a committed turn.
    newItem.content.forEach((part, index) => {
      if (part.type === 'input_audio' && part.audio && part.transcript === undefined) {
        this.#transcribe(id, index, resampleSync({ samples: part.audio, sampleRate: this.#config.inputSampleRate }, BUFFER_SAMPLE_RATE).samples);
      }
    });
  }

  // ── Responses ───────────────────────────────────────────────────────────────────────────

  #createResponseByClient(request: ResponseRequest): void {
    if (this.#config.kind !== 'conversation') {
      throw new SpeechbridgeError('invalid_value', 'a transcription session does not create responses', { param: 'type' });
    }
    if (this.#active) {
      throw new SpeechbridgeError(
        'conversation_already_has_active_response',
        `response ${this.#active.id} is still in progress; cancel it or wait for its response.done`,
      );
    }
    const inConversation = request.inConversation !== false && request.input === undefined;
    const answered = inConversation ? this.#unanswered : null;
    this.#startResponse(request, answered);
    if (inConversation) {
      // The client answers the conversation itself: a waiting reply would answer it twice, and so
      // would a per-turn answer of the turn this response names (which now ends with this
      // response). Other turns keep theirs.
      const calledOff = this.#answers.callOff((trigger) => trigger.mode === 'reply' || trigger.itemId === answered?.itemId);
      this.#dropAnswers(
        calledOff.filter((trigger) => trigger.itemId !== answered?.itemId),
        'superseded',
      );
    }
  }

  /** Turns whose automatic answers were called off end as dropped. */
  #dropAnswers(triggers: readonly TurnTrigger[], reason: TurnDropReason): void {
    for (const trigger of triggers) this.#outcomes.end(trigger.itemId, { outcome: 'dropped', reason });
  }

  /** A committed turn's transcript went out: its automatic answer may start. */
  #onTranscriptReleased(itemId: string): void {
    this.#dropAnswers(this.#answers.ready(itemId), 'superseded');
    this.#scheduleStart();
  }

  /**
   * Starts waiting answers a microtask later (as a transcript's promise would), so an answer
   * never starts inside the commit or the event that made it ready.
   */
  #scheduleStart(): void {
    if (this.#startScheduled) return;
    this.#startScheduled = true;
    queueMicrotask(() => {
      this.#startScheduled = false;
      this.#startDeferred();
    });
  }

  /**
   * Starts waiting automatic responses, oldest first, while no response is active and the user
   * is not speaking over them (with interruptResponse, speech would cancel them anyway). One
   * that cannot start (its error is emitted, and its turn fails) does not hold up the turns behind it.
   */
  #startDeferred(): void {
    while (!this.#active && this.#state.kind === 'running' && !this.#userHoldsAnswers()) {
      const trigger = this.#answers.takeReady();
      if (!trigger) return;
      // A per-turn answer of an item the client deleted has nothing to answer.
      if (trigger.mode !== 'reply' && !this.#conversation.has(trigger.itemId)) {
        this.#outcomes.end(trigger.itemId, { outcome: 'dropped', reason: 'deleted' });
        continue;
      }
      try {
        this.#startResponse(this.#autoRequest(trigger), trigger);
      } catch (error) {
        const failure = this.#emitError(error);
        this.#outcomes.end(trigger.itemId, { outcome: 'failed', error: { code: failure.code, message: failure.message } });
      }
    }
  }

  #userHoldsAnswers(): boolean {
    return this.#openTurn !== null && this.#config.turnDetection.interruptResponse;
  }

  /**
   * A reply answers the conversation so far; a translation or rewrite answers its own turn
   * only, so a turn spoken while an earlier one is being answered is neither mixed into that
   * answer nor left out of its own.
   */
  #autoRequest(trigger: TurnTrigger): ResponseRequest {
    if (trigger.mode === 'reply') return { mode: 'reply' };
    return {
      mode: trigger.mode,
      ...(trigger.targetLanguage !== undefined && { targetLanguage: trigger.targetLanguage }),
      input: [{ type: 'item_reference', id: trigger.itemId }],
    };
  }

  #startResponse(request: ResponseRequest, trigger: ResponseTrigger | null): void {
    const conversation = this.#conversation;
    const plan = resolveResponsePlan(this.ids.next('resp'), this.#config, request, this.#providers.responder.capabilities, (itemId) =>
      conversation.has(itemId),
    );
    if (trigger && trigger === this.#unanswered) this.#unanswered = null;
    this.#clearIdleTimer();
    const runner: ResponseRunner = new ResponseRunner({
      plan,
      responder: this.#providers.responder,
      synthesizer: this.#providers.synthesizer,
      prepareMessages: (signal) =>
        buildResponseContext({
          conversation,
          ...(request.input !== undefined && { input: request.input }),
          transcribe: (audio, transcribeSignal) => this.#transcribeInline(audio, transcribeSignal),
          signal,
        }),
      conversation: plan.inConversation
        ? {
            insert: (item) => conversation.insert(item),
            previousItemId: (itemId) => conversation.previousItemId(itemId),
            addAudioSegment: (itemId, segment) => conversation.addAudioSegment(itemId, segment),
          }
        : null,
      trigger,
      ids: this.ids,
      clock: this.#clock,
      hopMs: this.limits.audioHopMs,
      timeoutMs: this.limits.responseTimeoutMs,
      maxSentenceAudioMs: this.limits.maxSentenceAudioMs,
      maxResponseAudioMs: this.limits.maxResponseAudioMs,
      emit: (event) => this.#emit(event),
      onDone: (summary) => this.#onResponseDone(runner, summary),
    });
    this.#active = runner;
    runner.start();
    this.#track(runner.settled);
  }

  #onResponseDone(runner: ResponseRunner, summary: ResponseSummary): void {
    if (this.#active === runner) this.#active = null;
    const answered = summary.info.answersItemId;
    if (answered !== null) this.#outcomes.end(answered, responseEnd(summary));
    if (this.#state.kind !== 'running') return;
    this.#armIdleTimer(summary);
    this.#startDeferred();
  }

  /** OpenAI's behaviour: nothing active is response_cancel_not_active; another response's id is response_not_found. */
  #cancelResponse(responseId: string | undefined): void {
    const active = this.#active;
    if (active && (responseId === undefined || responseId === active.id)) {
      active.cancel('client_cancelled');
      return;
    }
    if (!active) throw new SpeechbridgeError('response_cancel_not_active', 'there is no response in progress to cancel');
    if (responseId !== undefined) {
      throw new SpeechbridgeError('response_not_found', `no active response with id "${responseId}"`, { param: 'responseId' });
    }
  }

  async #transcribeInline(audio: Int16Array, signal: AbortSignal): Promise<string> {
    const transcriber = this.#transcriber;
    const pcm = resampleSync({ samples: audio, sampleRate: this.#config.inputSampleRate }, transcriber.capabilities.sampleRate);
    const transcription = await abortable(transcriber.transcribe(pcm, { signal, ...this.#config.transcription }), signal);
    return transcription.text.trim();
  }

  // ── Idle timeout ────────────────────────────────────────────────────────────────────────

  /**
   * The idle timeout counts from when the response's audio would have finished playing: the
   * client plays from the first audio in real time, so that is first audio + audio length
   * (or response.done, if later).
   */
  #armIdleTimer(summary: ResponseSummary): void {
    this.#clearIdleTimer();
    const { idleTimeoutMs, type } = this.#config.turnDetection;
    if (idleTimeoutMs === null || type === 'none' || this.#config.kind !== 'conversation' || this.#openTurn || this.#finishing) return;
    const playedAtMs = Math.max(summary.doneAtMs, (summary.firstAudioAtMs ?? summary.doneAtMs) + summary.audioMs);
    // Two steps, so the idle window (timeout_triggered's audio_start_ms) starts at the input
    // audio written when the answer finished playing, as OpenAI reports it.
    this.#idleTimer = this.#clock.setTimeout(() => this.#startIdleWindow(idleTimeoutMs), playedAtMs - this.#clock.now());
  }

  #startIdleWindow(idleTimeoutMs: number): void {
    const state = this.#state;
    if (state.kind !== 'running') return;
    const windowStartMs = state.buffer.endMs;
    this.#idleTimer = this.#clock.setTimeout(() => this.#onIdle(windowStartMs), idleTimeoutMs);
  }

  #clearIdleTimer(): void {
    if (this.#idleTimer) this.#clock.clearTimeout(this.#idleTimer);
    this.#idleTimer = null;
  }

  /** Nobody spoke for idleTimeoutMs after the answer: commit what there is and respond. */
  #onIdle(windowStartMs: number): void {
    this.#idleTimer = null;
    const state = this.#state;
    if (state.kind !== 'running' || this.#openTurn || this.#active) return;
    const { buffer } = state;
    const itemId = this.ids.next('item');
    this.#emit({ type: 'input.timeout_triggered', audioStartMs: Math.round(windowStartMs), audioEndMs: Math.round(buffer.endMs), itemId });
    this.#commit(buffer, itemId, undefined, true);
    this.#retainForTurnDetection(buffer);
  }

  // ── Plumbing ────────────────────────────────────────────────────────────────────────────

  async #shutDown(): Promise<void> {
    const state = this.#state;
    this.#state = { kind: 'closing' };
    this.#clearIdleTimer();
    this.#dropAnswers(this.#answers.callOff(), 'closed');
    this.#active?.cancel('disconnected');
    this.#interim.end();
    this.#live.abort();
    for (const job of this.#jobs) job.abort();
    while (this.#tasks.size > 0) await Promise.allSettled([...this.#tasks]);
    if (this.#transcriber !== this.#providers.transcriber) await this.#closeTranscriberSession();
    // Every job has ended by now; this only ends what nothing else could.
    this.#outcomes.endAll({ outcome: 'dropped', reason: 'closed' });
    await this.#turns.close();
    if (state.kind === 'running') state.buffer.close();
    this.#state = { kind: 'closed' };
  }

  /** The session's own recognizer handle; a failure to close it is logged as the session's error, not thrown. */
  async #closeTranscriberSession(): Promise<void> {
    try {
      await this.#transcriber.close?.();
    } catch (error) {
      this.#emitError(error);
    }
  }

  /**
   * Interim passes (a batch recognizer transcribing the turn so far every 700 ms) run when the
   * session shows partials (or their deltas) and its interimPasses allow them: 'auto' runs them
   * on an embedded engine and not on one that sends audio to an upstream (billed per use: the
   * passes would send it about 4× the audio spoken), 'on' and 'off' decide alone.
   */
  #interimPasses(): boolean {
    const wanted = this.#config.interimTranscripts || this.#config.interimDeltas;
    return !this.#live.enabled && wanted && interimPassesRun(this.#config.interimPasses, this.#transcriber);
  }

  /** Holds a task until it settles, so none floats and close() can wait for all. */
  #track(task: Promise<unknown>): void {
    const held: Promise<void> = task.then(
      () => {
        this.#tasks.delete(held);
      },
      (error: unknown) => {
        this.#tasks.delete(held);
        this.#emitError(error);
      },
    );
    this.#tasks.add(held);
  }

  #emitError(error: unknown, eventId?: string): { code: SpeechbridgeError['code']; message: string; param: string | null } {
    const wrapped = toSpeechbridgeError(error);
    this.#emit({ type: 'error', code: wrapped.code, message: wrapped.message, param: wrapped.param, eventId: eventId ?? null });
    return { code: wrapped.code, message: wrapped.message, param: wrapped.param };
  }

  #emit(event: EngineEvent): void {
    if (this.#state.kind === 'closed') return;
    try {
      this.#onEvent(event);
    } catch (error) {
      this.#onListenerError(error, event);
    }
  }
}

/** How a turn that was not to be answered ends: with its transcript. */
function transcriptEnd(event: Extract<EngineEvent, { type: 'transcript.completed' | 'transcript.failed' }>): TurnEnd {
  return event.type === 'transcript.completed' ? { outcome: 'transcribed' } : { outcome: 'failed', error: event.error };
}

/** How a turn ends with the response that answered it. */
function responseEnd({ info }: ResponseSummary): TurnEnd {
  const details = info.statusDetails;
  switch (info.status) {
    case 'completed':
    case 'incomplete':
    case 'in_progress':
      return { outcome: 'answered', responseId: info.id };
    case 'failed':
      return {
        outcome: 'failed',
        responseId: info.id,
        error: details?.type === 'failed' ? details.error : { code: 'internal_error', message: 'the response failed' },
      };
    case 'cancelled':
      return { outcome: 'dropped', responseId: info.id, reason: details?.type === 'cancelled' ? DROP_FOR_CANCEL[details.reason] : 'cancelled' };
  }
}

/** Settings the configured providers cannot honour are refused by name, never silently dropped. */
function checkProviderSupport(config: SessionConfig, providers: SessionProviders): void {
  const { transcriber } = providers;
  if (config.transcriptLogprobs && !transcriber.capabilities.logprobs) {
    throw new SpeechbridgeError(
      'unsupported_feature',
      `the recognizer ${transcriber.name} gives no token log probabilities; leave them out of the session's include`,
      {
        param: 'session.transcriptLogprobs',
      },
    );
  }
  if (config.transcription.diarize && !providers.diarizer) {
    throw new SpeechbridgeError(
      'unsupported_feature',
      `the transcription model ${JSON.stringify(config.transcription.model ?? '')} asks for speaker segments, and no diarizer is configured (DIAR_URL)`,
      { param: 'session.transcription.model' },
    );
  }
}
