/**
 * Engine events → gateway messages, for one session. Besides the mapping it keeps the ledger
 * of turns the engine has committed, so the connection can tell when every turn has its
 * result (`end` waits for that) and so that no turn ends silently:
 *
 *   speech.started → (transcript.interim → stt_partial)* → input.committed →
 *   transcript.completed → stt_final (or transcript.failed → error) → response.created →
 *   first audio.delta → tts_start, audio.delta → binary frame … → response.done →
 *   text_final, tts_end (or error).
 *
 * text_final is the response's whole text (the transcript of its audio), known once the
 * response is done; the audio before it streams sentence by sentence as the LLM writes.
 * A response names the turn it answers from response.created on (answersItemId).
 */
import type { ConversationItem, EngineEvent, ResponseInfo } from '../../engine/events.ts';
import { errorMessage, type ServerMessage } from './codec.ts';
import { encodeAudioBytes, type GatewayAudioFormat } from './formats.ts';

export type Outbound = { kind: 'message'; message: ServerMessage } | { kind: 'audio'; bytes: Buffer };

/** Where a committed turn is: being transcribed, or transcribed and waiting for its response. */
interface TurnRecord {
  stage: 'transcribing' | 'awaiting_response';
  /** Its transcription failed (already reported); the response the engine still runs for it fails the same way. */
  transcriptFailed: boolean;
}

interface ActiveResponse {
  id: string;
  /** The turn it answers. */
  turnId: string | null;
  ttsStarted: boolean;
}

export class GatewayEventMapper {
  private openTurn: string | null = null;
  private readonly turns = new Map<string, TurnRecord>();
  private active: ActiveResponse | null = null;

  constructor(private readonly output: GatewayAudioFormat) {}

  /** No open turn, no transcription running and no response running. */
  get settled(): boolean {
    if (this.openTurn !== null || this.active !== null) return false;
    for (const turn of this.turns.values()) if (turn.stage === 'transcribing') return false;
    return true;
  }

  /**
   * Turns transcribed but never answered, once the engine is settled: each gets an error so it
   * does not end silently, and leaves the ledger. Empty while the engine still works.
   */
  takeUnanswered(): ServerMessage[] {
    if (!this.settled) return [];
    const messages: ServerMessage[] = [];
    for (const [turnId, turn] of this.turns) {
      if (!turn.transcriptFailed) {
        messages.push(errorMessage({ code: 'internal_error', message: `turn ${turnId} was transcribed but the engine made no response for it` }, turnId));
      }
    }
    this.turns.clear();
    return messages;
  }

  map(event: EngineEvent): Outbound[] {
    switch (event.type) {
      case 'speech.started':
        this.openTurn = event.itemId;
        return [];
      case 'speech.stopped':
        if (this.openTurn === event.itemId) this.openTurn = null;
        return [];
      case 'input.cleared':
        this.openTurn = null;
        return [];
      case 'input.committed':
        if (this.openTurn === event.itemId) this.openTurn = null;
        this.turns.set(event.itemId, { stage: 'transcribing', transcriptFailed: false });
        return [];
      case 'transcript.interim':
        // The session shows partials (codec.ts), so a streaming recognizer's deltas come as
        // transcript.interim too, with the text so far: that is what stt_partial carries.
        return [message({ type: 'stt_partial', turn_id: event.itemId, text: event.text })];
      case 'transcript.completed':
        this.transcribed(event.itemId, false);
        return [message({ type: 'stt_final', turn_id: event.itemId, text: event.transcript })];
      case 'transcript.failed':
        this.transcribed(event.itemId, true);
        return [message(errorMessage({ code: event.error.code, message: `the turn could not be transcribed: ${event.error.message}` }, event.itemId))];
      case 'response.created':
        this.active = { id: event.response.id, turnId: event.response.answersItemId, ttsStarted: false };
        return [];
      case 'audio.delta':
        return this.audio(event.responseId, event.audio);
      case 'response.done':
        return this.responseDone(event.response);
      case 'error':
        // A turn dropped from the engine's answer queue ends with this error, named by its id.
        if (event.code === 'turn_queue_full' && event.param !== null && this.turns.delete(event.param)) {
          return [message(errorMessage(event, event.param))];
        }
        return [message(errorMessage(event))];
      default:
        return [];
    }
  }

  private transcribed(itemId: string, failed: boolean): void {
    const turn = this.turns.get(itemId);
    if (!turn) return;
    turn.stage = 'awaiting_response';
    turn.transcriptFailed = failed;
  }

  private audio(responseId: string, samples: Int16Array): Outbound[] {
    const active = this.active;
    if (!active || active.id !== responseId) return [];
    const out: Outbound[] = [];
    if (!active.ttsStarted) {
      active.ttsStarted = true;
      out.push(this.ttsStart(active.turnId));
    }
    out.push({ kind: 'audio', bytes: encodeAudioBytes(samples, this.output) });
    return out;
  }

  private ttsStart(turnId: string | null): Outbound {
    return message({ type: 'tts_start', turn_id: turnId, format: this.output.name, sample_rate: this.output.sampleRate });
  }

  private responseDone(response: ResponseInfo): Outbound[] {
    const ttsStarted = this.active?.id === response.id && this.active.ttsStarted;
    if (this.active?.id === response.id) this.active = null;
    const turnId = response.answersItemId;
    const turn = turnId === null ? undefined : this.turns.get(turnId);
    if (turnId !== null) this.turns.delete(turnId);
    const out: Outbound[] = [];
    const details = response.statusDetails;
    switch (response.status) {
      case 'completed':
      case 'incomplete':
        out.push(message({ type: 'text_final', turn_id: turnId, text: responseText(response.output) }));
        if (!ttsStarted) out.push(this.ttsStart(turnId));
        break;
      case 'failed':
        // A turn whose transcription failed has had its error; its response fails for the same reason.
        if (!turn?.transcriptFailed) {
          const failure = details?.type === 'failed' ? details.error : { code: 'internal_error' as const, message: 'the response failed' };
          out.push(message(errorMessage({ code: failure.code, message: `the response failed: ${failure.message}` }, turnId)));
        }
        break;
      case 'cancelled': {
        // Only the session closing cancels a response here (no barge-in, no response.cancel): shutdown or a session limit.
        const reason = details?.type === 'cancelled' ? details.reason : 'cancelled';
        out.push(message(errorMessage({ code: 'engine_unavailable', message: `the session closed before the response finished (${reason})` }, turnId)));
        break;
      }
      case 'in_progress':
        break;
    }
    if (ttsStarted || response.status === 'completed' || response.status === 'incomplete') out.push(message({ type: 'tts_end', turn_id: turnId }));
    return out;
  }
}

function message(value: ServerMessage): Outbound {
  return { kind: 'message', message: value };
}

/** The assistant's words in a response's output: the transcript of its audio, or its text. */
function responseText(output: ConversationItem[]): string {
  const parts: string[] = [];
  for (const item of output) {
    if (item.type !== 'message' || item.role !== 'assistant') continue;
    for (const part of item.content) {
      if (part.type === 'output_audio') parts.push(part.transcript);
      else if (part.type === 'output_text') parts.push(part.text);
    }
  }
  return parts.join(' ').trim();
}
