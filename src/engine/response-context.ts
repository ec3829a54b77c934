/**
 * What a response's LLM call reads: the conversation (or the response's own input items),
 * once every pending transcript in it has arrived, as chat messages.
 *
 * Policy for a failed transcription: when the newest user item in the context (the
 * conversation, or the conversation items the response's input names, as a per-turn answer's
 * does) has no transcript because its transcription failed, the response fails with that error
 * (code and message), since answering without the user's words would answer something else
 * (a translation of nothing). Older items whose transcription failed are left out of the context.
 */
import { abortable } from '../errors/abort.ts';
import type { ChatMessage } from '../providers/contracts.ts';
import { itemFromNew, toChatMessages, type Conversation } from './conversation.ts';
import { SpeechbridgeError } from '../errors/registry.ts';
import type { ConversationItem, ItemReference, NewItem } from './events.ts';

export interface ResponseContextOptions {
  conversation: Conversation;
  /** The response's input items, which replace the conversation when given; references name conversation items. */
  input?: Array<NewItem | ItemReference>;
  /** Transcribes audio of an input item that came without a transcript. */
  transcribe: (audio: Int16Array, signal: AbortSignal) => Promise<string>;
  signal: AbortSignal;
}

export async function buildResponseContext(options: ResponseContextOptions): Promise<ChatMessage[]> {
  const { conversation, input, signal } = options;
  if (input) {
    const referenced = input.flatMap((item) => (item.type === 'item_reference' ? [item.id] : []));
    await awaitTranscripts(conversation, () => referenced, signal);
    const items = await inputItems(input, conversation, options.transcribe, signal);
    failIfNewestTurnUntranscribed(items, conversation, new Set(referenced));
    return toChatMessages(items);
  }
  await awaitTranscripts(conversation, () => conversation.items().map((item) => item.id), signal);
  const items = conversation.items();
  failIfNewestTurnUntranscribed(items, conversation);
  return toChatMessages(items);
}

/** Throws the transcription's error when the newest user item is a conversation item (one of `fromConversation`, when given) whose transcription failed. */
function failIfNewestTurnUntranscribed(items: readonly ConversationItem[], conversation: Conversation, fromConversation?: ReadonlySet<string>): void {
  const newestUser = items.findLast((item) => item.type === 'message' && item.role === 'user');
  if (!newestUser || (fromConversation && !fromConversation.has(newestUser.id))) return;
  const outcome = conversation.transcriptionOf(newestUser.id)?.outcome;
  if (outcome?.status === 'failed') {
    throw new SpeechbridgeError(outcome.error.code, `the user's turn could not be transcribed: ${outcome.error.message}`);
  }
}

/** Waits until no item among `itemIds()` has a transcription running (awaiting one may let another start, so it looks again). */
async function awaitTranscripts(conversation: Conversation, itemIds: () => string[], signal: AbortSignal): Promise<void> {
  for (;;) {
    const pending = itemIds()
      .map((id) => conversation.transcriptionOf(id))
      .find((job) => job?.pending);
    if (!pending) return;
    await abortable(pending.result, signal);
  }
}

async function inputItems(
  input: Array<NewItem | ItemReference>,
  conversation: Conversation,
  transcribe: ResponseContextOptions['transcribe'],
  signal: AbortSignal,
): Promise<ConversationItem[]> {
  const items: ConversationItem[] = [];
  for (const [index, newItem] of input.entries()) {
    if (newItem.type === 'item_reference') {
      // An item deleted since response.create is left out rather than failing the response.
      const referenced = conversation.get(newItem.id);
      if (referenced) items.push(referenced);
      continue;
    }
    const item = itemFromNew(newItem, newItem.id ?? `input_${index}`);
    if (newItem.type === 'message' && item.type === 'message') {
      for (const [partIndex, part] of newItem.content.entries()) {
        const stored = item.content[partIndex];
        if (part.type === 'input_audio' && part.audio && part.transcript === undefined && stored.type === 'input_audio') {
          stored.transcript = await transcribe(part.audio, signal);
        }
      }
    }
    items.push(item);
  }
  return items;
}
