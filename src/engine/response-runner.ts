/**
 * One response, from response.created to its one response.done.
 *
 * The responder's text streams through a SentenceChunker; each sentence is synthesized as soon
 * as it is complete, in order, while the LLM goes on writing the next (a bounded queue of
 * sentences between the two holds the LLM back when synthesis falls behind). The audio leaves
 * in fixed hops (audio-hops.ts) as audio.delta, and each sentence's text leaves as an
 * audio_transcript.delta just before its first audio, so the transcript a client has always
 * matches the audio it has. A synthesizer that takes text as it is written (textStreaming: Gradium,
 * Wyoming's synthesize-chunk) instead gets the LLM's text piece by piece in one stream per
 * response, and each piece handed to it leaves as an audio_transcript.delta just before the next
 * audio. Text-only responses stream the LLM's deltas as text.delta and call
 * no synthesizer. Tool calls become function_call items whose arguments stream as they come.
 *
 * Every provider call gets the response's AbortSignal. Cancel (client, barge-in, disconnect),
 * a provider failure, the response timeout (RESPONSE_TIMEOUT, counted from response.created)
 * and the audio bounds (MAX_SENTENCE_AUDIO_SECONDS per sentence, MAX_RESPONSE_AUDIO_SECONDS per
 * response) all end the response at once and synchronously:
 * the signal is aborted, the open items are closed as incomplete and response.done is
 * emitted before the call returns; whatever the providers still deliver afterwards is dropped.
 * So there is exactly one response.done, and "one active response" frees up immediately.
 */
import { isAbortError } from '../errors/abort.ts';
import { SentenceChunker } from '../providers/sentences.ts';
import { synthesizeAt, synthesizeStreamAt } from '../providers/synthesize-at.ts';
import { formatMs, LIMIT_SETTINGS } from '../providers/upstream-limits.ts';
import type { ChatMessage, FinishReason, RespondRequest, Responder, ResponderEvent, Synthesizer, TokenUsage } from '../providers/contracts.ts';
import { AudioHops } from './audio-hops.ts';
import { BoundedQueue } from './bounded-queue.ts';
import type { Clock, TimerHandle } from './clock.ts';
import type { AudioSegment } from './conversation.ts';
import { SpeechbridgeError, toSpeechbridgeError } from '../errors/registry.ts';
import type {
  ContentPart,
  ConversationItem,
  EngineEvent,
  Modality,
  ReasoningEffort,
  ResponseInfo,
  ResponseMode,
  ResponseStatus,
  ResponseStatusDetails,
  ResponseUsage,
  ToolChoiceConfig,
  ToolConfig,
  TurnTimings,
} from './events.ts';
import type { IdGenerator } from './ids.ts';

/**
 * Sentences waiting for synthesis. 16 sentences is a minute or more of speech: synthesis
 * that falls that far behind holds the LLM stream back rather than queueing without limit.
 */
const MAX_QUEUED_SENTENCES = 16;

/** LLM text pieces waiting for a text-streaming synthesizer: a few hundred tokens, the same hold-back. */
const MAX_QUEUED_PIECES = 256;

/** A response's settings, resolved from the session config and the response.create overrides. */
export interface ResponsePlan {
  id: string;
  inConversation: boolean;
  outputModalities: Modality[];
  mode: ResponseMode;
  targetLanguage?: string;
  instructions?: string;
  model?: string;
  /** Empty when the responder cannot call tools. */
  tools: ToolConfig[];
  toolChoice: ToolChoiceConfig;
  voice: string;
  ttsModel?: string;
  speed?: number;
  temperature?: number;
  maxOutputTokens: number | null;
  reasoningEffort?: ReasoningEffort;
  parallelToolCalls?: boolean;
  metadata: Record<string, string> | null;
  outputSampleRate: number;
}

/** The user turn a response answers, for its stage timings. */
export interface ResponseTrigger {
  itemId: string;
  /** Engine clock at speech stop (VAD) or commit. */
  stoppedAtMs: number;
  transcription: { readonly completedAtMs: number | null } | null;
}

/** How a response writes to the conversation; absent for out-of-band responses. */
export interface ResponseConversation {
  /** Appends an item and returns the id it follows. */
  insert(item: ConversationItem): string | null;
  /** The id the item now follows (items may have been inserted or deleted since). */
  previousItemId(itemId: string): string | null;
  addAudioSegment(itemId: string, segment: AudioSegment): void;
}

export interface ResponseSummary {
  info: ResponseInfo;
  /** Engine clock at response.done. */
  doneAtMs: number;
  /** Engine clock when the first audio left; null when none did. */
  firstAudioAtMs: number | null;
  /** Audio emitted, ms. */
  audioMs: number;
}

export interface ResponseRunnerOptions {
  plan: ResponsePlan;
  responder: Responder;
  synthesizer: Synthesizer;
  /** The responder's messages; waits for pending transcripts and may reject (the response then fails). */
  prepareMessages: (signal: AbortSignal) => Promise<ChatMessage[]>;
  conversation: ResponseConversation | null;
  trigger: ResponseTrigger | null;
  ids: IdGenerator;
  clock: Clock;
  hopMs: number;
  /** The whole response, from response.created to response.done. */
  timeoutMs: number;
  /** Synthesized audio one sentence may have. */
  maxSentenceAudioMs: number;
  /** Synthesized audio the response may have. */
  maxResponseAudioMs: number;
  emit: (event: EngineEvent) => void;
  onDone: (summary: ResponseSummary) => void;
}

export type CancelReason = 'client_cancelled' | 'turn_detected' | 'disconnected';

type RunnerState = { kind: 'preparing' } | { kind: 'generating' } | { kind: 'done'; status: ResponseStatus };

type MessageItem = Extract<ConversationItem, { type: 'message' }>;
type CallItem = Extract<ConversationItem, { type: 'function_call' }>;

interface MessageOutput {
  kind: 'message';
  item: MessageItem;
  outputIndex: number;
  /** The one content part (output_audio or output_text), also item.content[0]. */
  part: Extract<ContentPart, { type: 'output_audio' | 'output_text' }>;
  /** Sentences whose audio has started, for the transcript. */
  spoken: string[];
  closed: boolean;
}

interface CallOutput {
  kind: 'call';
  item: CallItem;
  outputIndex: number;
  closed: boolean;
}

export class ResponseRunner {
  readonly id: string;
  readonly plan: ResponsePlan;
  /** Resolves when every task of the response has ended (after response.done). Never rejects. */
  settled: Promise<void> = Promise.resolve();
  readonly #options: ResponseRunnerOptions;
  readonly #controller = new AbortController();
  readonly #audio: boolean;
  #state: RunnerState = { kind: 'preparing' };
  #outputs: Array<MessageOutput | CallOutput> = [];
  #message: MessageOutput | null = null;
  readonly #calls = new Map<number, CallOutput>();
  #finishReason: FinishReason = 'stop';
  #usage: TokenUsage | null = null;
  #timer: TimerHandle | null = null;
  /** What the response is waiting on, for the timeout message. */
  readonly #waiting = new Set<'transcript' | 'llm' | 'speech'>();
  #audioSamples = 0;
  readonly #createdAtMs: number;
  #llmStartedAtMs: number | null = null;
  #firstTokenAtMs: number | null = null;
  #firstAudioAtMs: number | null = null;
  #firstTextAtMs: number | null = null;

  constructor(options: ResponseRunnerOptions) {
    this.#options = options;
    this.plan = options.plan;
    this.id = options.plan.id;
    this.#audio = options.plan.outputModalities.includes('audio');
    this.#createdAtMs = options.clock.now();
  }

  get active(): boolean {
    return !this.#isDone();
  }

  /** The signal every provider call of this response gets. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** A method, not a field read, so checks after an await are not narrowed away by the compiler. */
  #isDone(): boolean {
    return this.#state.kind === 'done';
  }

  /** Emits response.created and starts the work. */
  start(): void {
    this.#options.emit({ type: 'response.created', response: this.#info('in_progress', null) });
    this.#timer = this.#options.clock.setTimeout(() => this.#fail(this.#timeoutError()), this.#options.timeoutMs);
    this.settled = this.#run();
  }

  /** Ends the response now with status cancelled; a no-op once it is done. */
  cancel(reason: CancelReason): void {
    if (this.#isDone()) return;
    this.#closeOpenOutputs('incomplete');
    this.#finalize('cancelled', { type: 'cancelled', reason });
  }

  async #run(): Promise<void> {
    let messages: ChatMessage[];
    this.#waiting.add('transcript');
    try {
      messages = await this.#options.prepareMessages(this.#controller.signal);
    } catch (error) {
      this.#fail(error);
      return;
    } finally {
      this.#waiting.delete('transcript');
    }
    if (this.#isDone()) return;
    if (this.plan.mode !== 'reply' && !messages.some((message) => message.role === 'user')) {
      // A translation or rewrite of a turn with no words (noise, a cough) is no words: an LLM
      // asked to translate nothing would answer with a request for text, spoken aloud.
      this.#complete();
      return;
    }
    this.#state = { kind: 'generating' };
    const { synthesizer } = this.#options;
    const textStreaming = this.#audio && synthesizer.capabilities.textStreaming === true && synthesizer.synthesizeStream !== undefined;
    const queue = this.#audio ? new BoundedQueue<string>(textStreaming ? MAX_QUEUED_PIECES : MAX_QUEUED_SENTENCES, this.#controller.signal) : null;
    const reading = this.#read(messages, queue, textStreaming).catch((error: unknown) => this.#fail(error));
    const speak = textStreaming ? this.#speakAsWritten : this.#speak;
    const speaking = queue ? speak.call(this, queue).catch((error: unknown) => this.#fail(error)) : undefined;
    await reading;
    await speaking;
    this.#complete();
  }

  /** Streams the responder: text to the chunker (audio) or to text.delta, tool calls to their items. */
  async #read(messages: ChatMessage[], queue: BoundedQueue<string> | null, textStreaming: boolean): Promise<void> {
    const { plan, responder } = this.#options;
    const request: RespondRequest = {
      mode: plan.mode,
      messages,
      signal: this.#controller.signal,
      ...(plan.instructions !== undefined && { instructions: plan.instructions }),
      ...(plan.targetLanguage !== undefined && { targetLanguage: plan.targetLanguage }),
      ...(plan.model !== undefined && { model: plan.model }),
      ...(plan.tools.length > 0 && {
        tools: plan.tools.map(({ name, description, parameters }) => ({
          name,
          ...(description !== undefined && { description }),
          ...(parameters && { parameters }),
        })),
        toolChoice: typeof plan.toolChoice === 'object' ? { name: plan.toolChoice.name } : plan.toolChoice,
      }),
      ...(plan.temperature !== undefined && { temperature: plan.temperature }),
      ...(plan.maxOutputTokens !== null && { maxOutputTokens: plan.maxOutputTokens }),
      ...(plan.reasoningEffort !== undefined && { reasoningEffort: plan.reasoningEffort }),
      // Only with tools: an upstream refuses parallel_tool_calls on a request that has none.
      ...(plan.parallelToolCalls !== undefined && plan.tools.length > 0 && { parallelToolCalls: plan.parallelToolCalls }),
    };
    const chunker = queue && !textStreaming ? new SentenceChunker() : null;
    this.#llmStartedAtMs = this.#options.clock.now();
    this.#waiting.add('llm');
    try {
      await this.#readEvents(responder.respond(request), chunker, queue);
    } finally {
      this.#waiting.delete('llm');
    }
    if (this.#isDone()) return;
    if (chunker && queue) for (const sentence of chunker.flush()) await queue.push(sentence);
    queue?.close();
    const status = this.#finishReason === 'length' || this.#finishReason === 'content_filter' ? 'incomplete' : 'completed';
    for (const call of this.#calls.values()) this.#closeCall(call, status);
    if (this.#message && this.#message.part.type === 'output_text') this.#closeMessage(this.#message, status);
  }

  async #readEvents(events: AsyncIterable<ResponderEvent>, chunker: SentenceChunker | null, queue: BoundedQueue<string> | null): Promise<void> {
    for await (const event of events) {
      if (this.#isDone()) return;
      switch (event.type) {
        case 'text.delta': {
          if (!event.text) break;
          this.#firstTokenAtMs ??= this.#options.clock.now();
          const message = this.#message ?? this.#openMessage();
          if (chunker && queue) {
            for (const sentence of chunker.push(event.text)) await queue.push(sentence);
          } else if (queue) {
            await queue.push(event.text);
          } else if (message.part.type === 'output_text') {
            message.part.text += event.text;
            this.#firstTextAtMs ??= this.#options.clock.now();
            this.#emit({ type: 'text.delta', ...this.#ref(message), delta: event.text });
          }
          break;
        }
        case 'tool_call.delta': {
          this.#firstTokenAtMs ??= this.#options.clock.now();
          const call = this.#calls.get(event.index) ?? this.#openCall(event.index, event.callId, event.name);
          if (event.name && !call.item.name) call.item.name = event.name;
          if (event.argumentsDelta) {
            call.item.arguments += event.argumentsDelta;
            this.#emit({
              type: 'function_call.arguments.delta',
              responseId: this.id,
              itemId: call.item.id,
              outputIndex: call.outputIndex,
              callId: call.item.callId,
              delta: event.argumentsDelta,
            });
          }
          break;
        }
        case 'done':
          this.#finishReason = event.finishReason;
          this.#usage = event.usage ?? null;
          break;
      }
    }
  }

  /** The response's audio leaving in fixed hops as audio.delta, with the first-audio time and the total. */
  #audioOut(): { hops: AudioHops; msOf: (samples: number) => number; emitHop: (audio: Int16Array) => void } {
    const { plan, clock, hopMs } = this.#options;
    return {
      hops: new AudioHops(plan.outputSampleRate, hopMs),
      msOf: (samples) => (samples * 1000) / plan.outputSampleRate,
      emitHop: (audio) => {
        if (this.#isDone() || !this.#message) return;
        this.#firstAudioAtMs ??= clock.now();
        this.#audioSamples += audio.length;
        this.#emit({ type: 'audio.delta', ...this.#ref(this.#message), audio });
      },
    };
  }

  /** Synthesizes queued sentences in order and sends their audio in hops. */
  async #speak(queue: BoundedQueue<string>): Promise<void> {
    const { plan, synthesizer, conversation } = this.#options;
    const { hops, msOf, emitHop } = this.#audioOut();
    for await (const sentence of queue) {
      if (this.#isDone()) return;
      const message = this.#message!;
      let segment: AudioSegment | null = null;
      const begin = (): AudioSegment => {
        const startMs = msOf(hops.receivedSamples);
        const started: AudioSegment = { text: sentence, startMs, endMs: startMs };
        const delta = message.spoken.length === 0 ? sentence : ` ${sentence}`;
        message.spoken.push(sentence);
        if (message.part.type === 'output_audio') message.part.transcript = message.spoken.join(' ');
        conversation?.addAudioSegment(message.item.id, started);
        this.#emit({ type: 'audio_transcript.delta', ...this.#ref(message), delta });
        return started;
      };
      const request = {
        text: sentence,
        voice: plan.voice,
        signal: this.#controller.signal,
        ...(plan.speed !== undefined && { speed: plan.speed }),
        ...(plan.ttsModel !== undefined && { model: plan.ttsModel }),
      };
      const perSentence = { maxMs: this.#options.maxSentenceAudioMs, per: 'one sentence', setting: LIMIT_SETTINGS.maxSentenceAudioMs };
      this.#waiting.add('speech');
      try {
        // Leaving this loop by a throw stops the synthesizer, and with it an upstream's request.
        for await (const chunk of synthesizeAt(synthesizer, plan.outputSampleRate, request, perSentence)) {
          if (this.#isDone()) return;
          if (msOf(hops.receivedSamples + chunk.length) > this.#options.maxResponseAudioMs) throw this.#tooMuchAudio();
          segment ??= begin();
          hops.push(chunk, emitHop);
          segment.endMs = msOf(hops.receivedSamples);
        }
      } finally {
        this.#waiting.delete('speech');
      }
      // A sentence with nothing to say ("...") still belongs to the transcript.
      if (!this.#isDone() && segment === null) begin();
    }
    hops.flush(emitHop);
  }

  /**
   * One synthesizer stream for the whole response, fed the LLM's text as it comes. The stream
   * starts with the first piece of text (a response of tool calls only opens none); the text
   * handed over since the last audio leaves as one audio_transcript.delta before that audio.
   */
  async #speakAsWritten(queue: BoundedQueue<string>): Promise<void> {
    const { plan, synthesizer, conversation } = this.#options;
    const { hops, msOf, emitHop } = this.#audioOut();
    const pieces = queue[Symbol.asyncIterator]();
    const first = await pieces.next();
    if (first.done || this.#isDone()) return;
    const message = this.#message!;
    let unsaid = '';
    const handedOver = async function* (): AsyncIterable<string> {
      unsaid += first.value;
      yield first.value;
      for (;;) {
        const next = await pieces.next();
        if (next.done) return;
        unsaid += next.value;
        yield next.value;
      }
    };
    let segment: AudioSegment | null = null;
    const say = (): void => {
      const text = message.spoken.length === 0 ? unsaid.trimStart() : unsaid;
      unsaid = '';
      if (!text) return;
      const startMs = msOf(hops.receivedSamples);
      segment = { text, startMs, endMs: startMs };
      message.spoken.push(text);
      if (message.part.type === 'output_audio') message.part.transcript += text;
      conversation?.addAudioSegment(message.item.id, segment);
      this.#emit({ type: 'audio_transcript.delta', ...this.#ref(message), delta: text });
    };
    const request = {
      voice: plan.voice,
      signal: this.#controller.signal,
      ...(plan.speed !== undefined && { speed: plan.speed }),
      ...(plan.ttsModel !== undefined && { model: plan.ttsModel }),
    };
    const perResponse = { maxMs: this.#options.maxResponseAudioMs, per: 'one response', setting: LIMIT_SETTINGS.maxResponseAudioMs };
    this.#waiting.add('speech');
    try {
      for await (const chunk of synthesizeStreamAt(synthesizer, plan.outputSampleRate, handedOver(), request, perResponse)) {
        if (this.#isDone()) return;
        if (unsaid) say();
        hops.push(chunk, emitHop);
        if (segment) (segment as AudioSegment).endMs = msOf(hops.receivedSamples);
      }
    } finally {
      this.#waiting.delete('speech');
    }
    // Text with nothing to say still belongs to the transcript.
    if (!this.#isDone()) say();
    hops.flush(emitHop);
  }

  #tooMuchAudio(): SpeechbridgeError {
    const { synthesizer, maxResponseAudioMs } = this.#options;
    return new SpeechbridgeError(
      'upstream_response_too_large',
      `${synthesizer.upstream ?? synthesizer.name} sent more than ${formatMs(maxResponseAudioMs)} of audio for one response (${LIMIT_SETTINGS.maxResponseAudioMs}); synthesis was stopped`,
    );
  }

  /** The response timeout, naming what was still running: the turn's transcript, the LLM, speech. */
  #timeoutError(): SpeechbridgeError {
    const { responder, synthesizer, timeoutMs } = this.#options;
    const running: string[] = [];
    if (this.#waiting.has('transcript')) running.push('the transcript of the turn');
    if (this.#waiting.has('llm')) running.push(`the LLM at ${responder.upstream ?? responder.name}`);
    if (this.#waiting.has('speech')) running.push(`speech synthesis at ${synthesizer.upstream ?? synthesizer.name}`);
    const still = running.length > 0 ? `; still waiting for ${running.join(' and ')}` : '';
    return new SpeechbridgeError(
      'upstream_timeout',
      `the response took longer than ${formatMs(timeoutMs)} in total (${LIMIT_SETTINGS.responseTimeoutMs})${still}`,
    );
  }

  /** Both tasks ended: close the message and end the response as the LLM finished it. */
  #complete(): void {
    if (this.#isDone()) return;
    let details: ResponseStatusDetails = null;
    if (this.#finishReason === 'length') details = { type: 'incomplete', reason: 'max_output_tokens' };
    else if (this.#finishReason === 'content_filter') details = { type: 'incomplete', reason: 'content_filter' };
    const status = details ? 'incomplete' : 'completed';
    this.#closeOpenOutputs(status);
    this.#finalize(status, details);
  }

  #fail(error: unknown): void {
    if (this.#isDone()) return;
    const wrapped = isAbortError(error)
      ? new SpeechbridgeError('internal_error', 'a provider call was aborted without a cancel', { cause: error })
      : toSpeechbridgeError(error);
    this.#closeOpenOutputs('incomplete');
    this.#finalize('failed', { type: 'failed', error: { code: wrapped.code, message: wrapped.message } });
  }

  #finalize(status: ResponseStatus, details: ResponseStatusDetails): void {
    const { clock, emit } = this.#options;
    this.#state = { kind: 'done', status };
    if (this.#timer) clock.clearTimeout(this.#timer);
    // Stops provider calls still running; after completion it finds none.
    this.#controller.abort();
    const info = this.#info(status, details);
    emit({ type: 'turn.timings', timings: this.#timings() });
    emit({ type: 'response.done', response: info });
    this.#options.onDone({
      info,
      doneAtMs: clock.now(),
      firstAudioAtMs: this.#firstAudioAtMs,
      audioMs: (this.#audioSamples * 1000) / this.plan.outputSampleRate,
    });
  }

  #openMessage(): MessageOutput {
    const part: MessageOutput['part'] = this.#audio ? { type: 'output_audio', transcript: '' } : { type: 'output_text', text: '' };
    const item: MessageItem = { id: this.#options.ids.next('item'), type: 'message', role: 'assistant', status: 'in_progress', content: [part] };
    const message: MessageOutput = { kind: 'message', item, outputIndex: this.#outputs.length, part, spoken: [], closed: false };
    this.#message = message;
    this.#addOutput(message);
    this.#emit({ type: 'content_part.added', ...this.#ref(message), part: { ...part } });
    return message;
  }

  #openCall(index: number, callId: string | undefined, name: string | undefined): CallOutput {
    const item: CallItem = {
      id: this.#options.ids.next('item'),
      type: 'function_call',
      status: 'in_progress',
      callId: callId || this.#options.ids.next('call'),
      name: name ?? '',
      arguments: '',
    };
    const call: CallOutput = { kind: 'call', item, outputIndex: this.#outputs.length, closed: false };
    this.#calls.set(index, call);
    this.#addOutput(call);
    return call;
  }

  #addOutput(output: MessageOutput | CallOutput): void {
    this.#outputs.push(output);
    this.#emit({ type: 'output_item.added', responseId: this.id, outputIndex: output.outputIndex, item: snapshot(output.item) });
    const conversation = this.#options.conversation;
    if (conversation) {
      const previousItemId = conversation.insert(output.item);
      this.#emit({ type: 'item.added', item: snapshot(output.item), previousItemId });
    }
  }

  #closeOpenOutputs(status: 'completed' | 'incomplete'): void {
    for (const output of this.#outputs) {
      if (output.closed) continue;
      if (output.kind === 'message') this.#closeMessage(output, status);
      else this.#closeCall(output, status);
    }
  }

  #closeMessage(message: MessageOutput, status: 'completed' | 'incomplete'): void {
    message.closed = true;
    message.item.status = status;
    const ref = this.#ref(message);
    const emit = this.#options.emit;
    if (message.part.type === 'output_audio') {
      emit({ type: 'audio.done', ...ref });
      emit({ type: 'audio_transcript.done', ...ref, transcript: message.part.transcript });
    } else {
      emit({ type: 'text.done', ...ref, text: message.part.text });
    }
    emit({ type: 'content_part.done', ...ref, part: { ...message.part } });
    this.#emitItemDone(message);
  }

  #closeCall(call: CallOutput, status: 'completed' | 'incomplete'): void {
    call.closed = true;
    call.item.status = status;
    if (status === 'completed') {
      const { id, callId, name, arguments: args } = call.item;
      this.#options.emit({
        type: 'function_call.arguments.done',
        responseId: this.id,
        itemId: id,
        outputIndex: call.outputIndex,
        callId,
        name,
        arguments: args,
      });
    }
    this.#emitItemDone(call);
  }

  #emitItemDone(output: MessageOutput | CallOutput): void {
    const emit = this.#options.emit;
    // OpenAI finalizes the conversation item (conversation.item.done) before the response's output item.
    const conversation = this.#options.conversation;
    if (conversation) emit({ type: 'item.done', item: snapshot(output.item), previousItemId: conversation.previousItemId(output.item.id) });
    emit({ type: 'output_item.done', responseId: this.id, outputIndex: output.outputIndex, item: snapshot(output.item) });
  }

  #ref(message: MessageOutput): { responseId: string; itemId: string; outputIndex: number; contentIndex: number } {
    return { responseId: this.id, itemId: message.item.id, outputIndex: message.outputIndex, contentIndex: 0 };
  }

  /** Emits unless the response is already done (a provider delivering after a cancel). */
  #emit(event: EngineEvent): void {
    if (!this.#isDone()) this.#options.emit(event);
  }

  #info(status: ResponseStatus, details: ResponseStatusDetails): ResponseInfo {
    const { plan } = this;
    return {
      id: this.id,
      status,
      statusDetails: details,
      output: this.#outputs.map((output) => snapshot(output.item)),
      outputModalities: [...plan.outputModalities],
      inConversation: plan.inConversation,
      metadata: plan.metadata,
      usage: this.#usage ? usageOf(this.#usage) : null,
      voice: plan.voice,
      maxOutputTokens: plan.maxOutputTokens,
      answersItemId: this.#options.trigger?.itemId ?? null,
    };
  }

  #timings(): TurnTimings {
    const trigger = this.#options.trigger;
    const transcribedAt = trigger?.transcription?.completedAtMs ?? null;
    const firstOutput = this.#audio ? this.#firstAudioAtMs : this.#firstTextAtMs;
    const from = trigger?.stoppedAtMs ?? this.#createdAtMs;
    return {
      itemId: trigger?.itemId ?? null,
      responseId: this.id,
      transcriptionMs: trigger && transcribedAt !== null ? transcribedAt - trigger.stoppedAtMs : null,
      firstTokenMs: this.#firstTokenAtMs !== null && this.#llmStartedAtMs !== null ? this.#firstTokenAtMs - this.#llmStartedAtMs : null,
      firstAudioMs: this.#firstAudioAtMs !== null && this.#firstTokenAtMs !== null ? this.#firstAudioAtMs - this.#firstTokenAtMs : null,
      totalMs: firstOutput !== null ? firstOutput - from : null,
    };
  }
}

/** A copy of an item, so events keep the state they were sent with. */
export function snapshot(item: ConversationItem): ConversationItem {
  return item.type === 'message' ? { ...item, content: item.content.map((part) => ({ ...part })) } : { ...item };
}

function usageOf(usage: TokenUsage): ResponseUsage {
  return {
    inputTokens: usage.inputTokens,
    outputTokens: usage.outputTokens,
    inputTextTokens: usage.inputTokens,
    inputAudioTokens: 0,
    outputTextTokens: usage.outputTokens,
    outputAudioTokens: 0,
  };
}
