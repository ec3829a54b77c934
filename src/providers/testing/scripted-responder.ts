/**
 * A Responder that streams scripted text and tool calls with set latencies, for testing
 * response handling, cancellation and barge-in exactly. It never stands in for a real LLM.
 * Text goes out in `deltaChars`-sized deltas; each tool call as one delta with its id and name,
 * then its arguments in `deltaChars`-sized pieces.
 */
import { throwIfAborted } from '../../errors/abort.ts';
import { RESPONSE_MODES, type FinishReason, type RespondRequest, type Responder, type ResponderCapabilities, type ResponderEvent } from '../contracts.ts';
import { delay, injectedError, pickScripted, watchAbort, type CallRecord, type InjectedFailure, type Scripted } from './script.ts';

export interface ScriptedToolCall {
  name: string;
  arguments: string;
  /** Default `call_<n>`. */
  callId?: string;
}

export interface ScriptedTurn {
  text?: string;
  toolCalls?: ScriptedToolCall[];
  /** Default 'tool_calls' when the turn has tool calls, else 'stop'. */
  finishReason?: FinishReason;
}

export interface ScriptedResponderFailure extends InjectedFailure {
  /** Deltas sent before the failure; default 0 (fails before the first). */
  afterDeltas?: number;
}

export interface ScriptedResponderOptions {
  /** Default: { text: 'This is a scripted reply.' }. */
  script?: Scripted<ScriptedTurn, RespondRequest>;
  /** Characters per delta; default 5. */
  deltaChars?: number;
  /** Wait before the first delta; default 0. */
  firstTokenLatencyMs?: number;
  /** Wait before each later delta; default 0. */
  deltaLatencyMs?: number;
  failure?: ScriptedResponderFailure;
  capabilities?: Partial<ResponderCapabilities>;
}

export interface ResponderCall extends CallRecord {
  request: Omit<RespondRequest, 'signal'>;
  /** Deltas (text and tool call) sent. */
  deltas: number;
}

export class ScriptedResponder implements Responder {
  readonly name = 'scripted-responder';
  readonly capabilities: ResponderCapabilities;
  readonly calls: ResponderCall[] = [];
  private readonly options: ScriptedResponderOptions;

  constructor(options: ScriptedResponderOptions = {}) {
    this.options = options;
    this.capabilities = { tools: true, modes: RESPONSE_MODES, ...options.capabilities };
  }

  /** The requests received, oldest first. */
  get requests(): Omit<RespondRequest, 'signal'>[] {
    return this.calls.map((call) => call.request);
  }

  async *respond(request: RespondRequest): AsyncIterable<ResponderEvent> {
    const { signal, ...recorded } = request;
    const call: ResponderCall = { request: recorded, deltas: 0, aborted: false, completed: false };
    this.calls.push(call);
    const callNumber = this.calls.length;
    const unwatch = watchAbort(call, signal);
    try {
      const turn = pickScripted(this.options.script ?? { text: 'This is a scripted reply.' }, request, callNumber - 1);
      const size = Math.max(1, this.options.deltaChars ?? 5);
      const failure = injectedError(this.options.failure, callNumber, 'respond');
      const failAfter = this.options.failure?.afterDeltas ?? 0;
      const events = scriptedEvents(turn, size, callNumber);
      for (const event of events) {
        if (failure && call.deltas >= failAfter) break;
        await delay(call.deltas === 0 ? (this.options.firstTokenLatencyMs ?? 0) : (this.options.deltaLatencyMs ?? 0), signal);
        call.deltas++;
        yield event;
      }
      if (failure) {
        await delay(call.deltas === 0 ? (this.options.firstTokenLatencyMs ?? 0) : 0, signal);
        call.failedWith = failure.code;
        throw failure;
      }
      throwIfAborted(signal);
      const text = turn.text ?? '';
      call.completed = true;
      yield {
        type: 'done',
        finishReason: turn.finishReason ?? (turn.toolCalls?.length ? 'tool_calls' : 'stop'),
        usage: { inputTokens: countWords(request), outputTokens: text.split(/\s+/).filter(Boolean).length },
      };
    } finally {
      unwatch();
    }
  }
}

function scriptedEvents(turn: ScriptedTurn, size: number, callNumber: number): ResponderEvent[] {
  const events: ResponderEvent[] = [];
  const text = turn.text ?? '';
  for (let offset = 0; offset < text.length; offset += size) events.push({ type: 'text.delta', text: text.slice(offset, offset + size) });
  for (const [index, call] of (turn.toolCalls ?? []).entries()) {
    events.push({ type: 'tool_call.delta', index, callId: call.callId ?? `call_${callNumber}_${index}`, name: call.name, argumentsDelta: '' });
    for (let offset = 0; offset < call.arguments.length; offset += size) {
      events.push({ type: 'tool_call.delta', index, argumentsDelta: call.arguments.slice(offset, offset + size) });
    }
  }
  return events;
}

function countWords(request: RespondRequest): number {
  let count = 0;
  for (const message of request.messages) count += message.content.split(/\s+/).filter(Boolean).length;
  return count;
}
