/**
 * The responder used when no LLM is configured: it says back the last user message, word by
 * word, so the whole pipeline (ASR → response → TTS) works out of the box.
 *
 * It does the same in every mode: 'translate' and 'rewrite' also return what was heard
 * unchanged, since there is no model to translate or rewrite with. Usage counts words, not
 * tokens (input: every message; output: the words echoed).
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { throwIfAborted } from '../../errors/abort.ts';
import { RESPONSE_MODES, type ChatMessage, type RespondRequest, type Responder, type ResponderCapabilities, type ResponderEvent } from '../contracts.ts';

export class EchoResponder implements Responder {
  readonly name = 'echo';
  readonly capabilities: ResponderCapabilities = { tools: false, modes: RESPONSE_MODES };

  async *respond(request: RespondRequest): AsyncIterable<ResponderEvent> {
    const { signal } = request;
    throwIfAborted(signal);
    const words = lastUserText(request.messages).match(/\S+\s*/g) ?? [];
    for (const [index, word] of words.entries()) {
      // One event-loop turn per word so an abort from a timer or socket lands between words.
      if (index > 0) await nextTurn();
      throwIfAborted(signal);
      yield { type: 'text.delta', text: index === words.length - 1 ? word.trimEnd() : word };
    }
    throwIfAborted(signal);
    yield {
      type: 'done',
      finishReason: 'stop',
      usage: { inputTokens: countWords(request.messages), outputTokens: words.length },
    };
  }
}

function lastUserText(messages: ChatMessage[]): string {
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i];
    if (message.role === 'user') return message.content.trim();
  }
  return '';
}

function countWords(messages: ChatMessage[]): number {
  let count = 0;
  for (const message of messages) count += message.content.match(/\S+/g)?.length ?? 0;
  return count;
}
