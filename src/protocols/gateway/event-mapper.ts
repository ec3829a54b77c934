/**
 * Engine events → gateway messages, for one session:
 *
 *   speech.started → (transcript.interim → stt_partial)* → input.committed →
 *   transcript.completed → stt_final (or transcript.failed → error) → response.created →
 *   first audio.delta → tts_start, audio.delta → binary frame … → response.done →
 *   text_final, tts_end → turn.ended (an error when the turn failed or was not answered).
 *
 * text_final is the response's whole text (the transcript of its audio), known once the
 * response is done; the audio before it streams sentence by sentence as the LLM writes.
 * A response names the turn it answers from response.created on (answersItemId). Which turns
 * are open and when they end is the engine's to say (turn.ended); this only translates.
 */
import type { ConversationItem, EngineEvent, ResponseInfo, TurnEnded } from '../../engine/events.ts';
import { errorMessage, type ServerMessage } from './codec.ts';
import { encodeAudioBytes, type GatewayAudioFormat } from './formats.ts';

export type Outbound = { kind: 'message'; message: ServerMessage } | { kind: 'audio'; bytes: Buffer };

interface ActiveResponse {
  id: string;
  /** The turn it answers. */
  turnId: string | null;
  ttsStarted: boolean;
}

export class GatewayEventMapper {
  private active: ActiveResponse | null = null;

  constructor(private readonly output: GatewayAudioFormat) {}

  map(event: EngineEvent): Outbound[] {
    switch (event.type) {
      case 'transcript.interim':
        // The session shows partials (codec.ts), so a streaming recognizer's deltas come as
        // transcript.interim too, with the text so far: that is what stt_partial carries.
        return [message({ type: 'stt_partial', turn_id: event.itemId, text: event.text })];
      case 'transcript.completed':
        return [message({ type: 'stt_final', turn_id: event.itemId, text: event.transcript })];
      case 'transcript.failed':
        return [message(errorMessage({ code: event.error.code, message: `the turn could not be transcribed: ${event.error.message}` }, event.itemId))];
      case 'response.created':
        this.active = { id: event.response.id, turnId: event.response.answersItemId, ttsStarted: false };
        return [];
      case 'audio.delta':
        return this.audio(event.responseId, event.audio);
      case 'response.done':
        return this.responseDone(event.response);
      case 'turn.ended':
        return this.turnEnded(event);
      case 'error':
        // A turn dropped from the engine's answer queue is reported by its turn.ended, named by its id.
        if (event.code === 'turn_queue_full') return [];
        return [message(errorMessage(event))];
      default:
        return [];
    }
  }

  /** Every turn not answered says why, under its id; an answered one has had its text_final. */
  private turnEnded(event: TurnEnded): Outbound[] {
    const turnId = event.itemId;
    switch (event.outcome) {
      case 'answered':
      case 'transcribed':
        return [];
      case 'failed': {
        // A turn whose transcription failed has had its error; its response fails for the same reason.
        if (event.transcript === null) return [];
        const failure = event.error ?? { code: 'internal_error' as const, message: 'the response failed' };
        return [message(errorMessage({ code: failure.code, message: `the response failed: ${failure.message}` }, turnId))];
      }
      case 'dropped': {
        if (event.error) return [message(errorMessage(event.error, turnId))];
        // Only the session closing drops a turn here (no barge-in, no response.cancel): shutdown or a session limit.
        const what = event.responseId !== null ? 'the response finished' : 'the turn was answered';
        return [message(errorMessage({ code: 'engine_unavailable', message: `the session closed before ${what} (${event.reason ?? 'closed'})` }, turnId))];
      }
    }
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

  /** A failed or cancelled response's error goes out with its turn's turn.ended. */
  private responseDone(response: ResponseInfo): Outbound[] {
    const ttsStarted = this.active?.id === response.id && this.active.ttsStarted;
    if (this.active?.id === response.id) this.active = null;
    const turnId = response.answersItemId;
    const out: Outbound[] = [];
    const answered = response.status === 'completed' || response.status === 'incomplete';
    if (answered) {
      out.push(message({ type: 'text_final', turn_id: turnId, text: responseText(response.output) }));
      if (!ttsStarted) out.push(this.ttsStart(turnId));
    }
    if (ttsStarted || answered) out.push(message({ type: 'tts_end', turn_id: turnId }));
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
