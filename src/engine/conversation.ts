/**
 * The conversation of one session: items in order, each with an id, inserted after a given
 * item (or first, or last), retrieved, deleted and truncated, and turned into the messages a
 * responder reads.
 *
 * Bound: at most `maxItems` (500 by default) are kept; inserting one more drops the oldest,
 * counted in `droppedItems`. An LLM's context window fills long before 500 turns, so the
 * dropped items are ones the responder could no longer read anyway.
 *
 * Audio is not kept in items. For an assistant message with audio the response runner records
 * where each sentence's audio starts and ends, which is what truncation needs: a client that
 * stopped playback at audio_end_ms keeps the sentences whose audio had started by then.
 */
import type { ChatMessage, ToolCall } from '../providers/contracts.ts';
import { type ErrorCode, SpeechbridgeError } from '../errors/registry.ts';
import type { ContentPart, ConversationItem, NewItem } from './events.ts';
import type { TranscriptionJob } from './transcription-job.ts';

/** Where one sentence's audio lies in an assistant message's audio, ms from its start. */
export interface AudioSegment {
  text: string;
  startMs: number;
  endMs: number;
}

interface Entry {
  item: ConversationItem;
  /** Assistant audio, one entry per sentence, in order. */
  segments?: AudioSegment[];
  /** The transcription of a user audio item, while running and after. */
  transcription?: TranscriptionJob;
}

export class Conversation {
  readonly maxItems: number;
  /** Items dropped for the bound since the session started. */
  droppedItems = 0;
  #order: string[] = [];
  readonly #entries = new Map<string, Entry>();

  constructor(maxItems = 500) {
    this.maxItems = maxItems;
  }

  get size(): number {
    return this.#order.length;
  }

  get lastItemId(): string | null {
    return this.#order.at(-1) ?? null;
  }

  /** The items in order; the objects are the live ones. */
  items(): ConversationItem[] {
    return this.#order.map((id) => this.#entries.get(id)!.item);
  }

  get(itemId: string): ConversationItem | undefined {
    return this.#entries.get(itemId)?.item;
  }

  has(itemId: string): boolean {
    return this.#entries.has(itemId);
  }

  previousItemId(itemId: string): string | null {
    const index = this.#order.indexOf(itemId);
    return index > 0 ? this.#order[index - 1] : null;
  }

  /**
   * Inserts `item` after `previousItemId` (null: first; undefined: last) and returns the id it
   * follows. Throws item_not_found for an unknown previousItemId, invalid_value for a taken id.
   */
  insert(item: ConversationItem, previousItemId?: string | null): string | null {
    if (this.#entries.has(item.id)) {
      throw new SpeechbridgeError('invalid_value', `an item with id "${item.id}" already exists`, { param: 'item.id' });
    }
    let index: number;
    if (previousItemId === undefined) index = this.#order.length;
    else if (previousItemId === null) index = 0;
    else {
      const previous = this.#order.indexOf(previousItemId);
      if (previous < 0) throw new SpeechbridgeError('item_not_found', `no item with id "${previousItemId}" to insert after`, { param: 'previousItemId' });
      index = previous + 1;
    }
    this.#order.splice(index, 0, item.id);
    this.#entries.set(item.id, { item });
    const after = index > 0 ? this.#order[index - 1] : null;
    while (this.#order.length > this.maxItems) {
      const dropped = this.#order.shift()!;
      this.#entries.get(dropped)?.transcription?.abort();
      this.#entries.delete(dropped);
      this.droppedItems++;
    }
    return after;
  }

  /** Removes an item; throws item_delete_invalid_item_id. */
  delete(itemId: string): void {
    const index = this.#order.indexOf(itemId);
    if (index < 0) throw notFound(itemId, 'item_delete_invalid_item_id');
    this.#order.splice(index, 1);
    this.#entries.delete(itemId);
  }

  /** The item a client asked to see; throws item_retrieve_invalid_item_id. */
  retrieve(itemId: string): ConversationItem {
    const entry = this.#entries.get(itemId);
    if (!entry) throw notFound(itemId, 'item_retrieve_invalid_item_id');
    return entry.item;
  }

  /** Throws item_not_found. */
  require(itemId: string): ConversationItem {
    const entry = this.#entries.get(itemId);
    if (!entry) throw notFound(itemId);
    return entry.item;
  }

  setTranscription(itemId: string, job: TranscriptionJob): void {
    const entry = this.#entries.get(itemId);
    if (entry) entry.transcription = job;
  }

  transcriptionOf(itemId: string): TranscriptionJob | undefined {
    return this.#entries.get(itemId)?.transcription;
  }

  /** Adds a sentence's audio to an assistant item; the segment object is live (its endMs grows). */
  addAudioSegment(itemId: string, segment: AudioSegment): void {
    const entry = this.#entries.get(itemId);
    if (entry) (entry.segments ??= []).push(segment);
  }

  /** Ms of audio recorded for an assistant item. */
  audioMs(itemId: string): number {
    return this.#entries.get(itemId)?.segments?.at(-1)?.endMs ?? 0;
  }

  /**
   * Cuts an assistant message's audio at `audioEndMs`: its transcript keeps the sentences whose
   * audio started before that point. Throws item_truncate_invalid_item_id, or invalid_value for a content
   * index that is not audio or a point beyond the item's audio.
   */
  truncate(itemId: string, contentIndex: number, audioEndMs: number): void {
    const entry = this.#entries.get(itemId);
    if (!entry) throw notFound(itemId, 'item_truncate_invalid_item_id');
    const { item } = entry;
    if (item.type !== 'message' || item.role !== 'assistant') {
      throw new SpeechbridgeError('invalid_value', `item "${itemId}" is not an assistant message; only assistant audio can be truncated`, { param: 'itemId' });
    }
    const part = Number.isInteger(contentIndex) ? item.content[contentIndex] : undefined;
    if (!part || part.type !== 'output_audio') {
      throw new SpeechbridgeError('invalid_value', `content ${contentIndex} of item "${itemId}" is not audio`, { param: 'contentIndex' });
    }
    const segments = entry.segments ?? [];
    const totalMs = segments.at(-1)?.endMs ?? 0;
    if (!Number.isFinite(audioEndMs) || audioEndMs < 0 || audioEndMs > totalMs) {
      throw new SpeechbridgeError('invalid_value', `audioEndMs ${audioEndMs} is outside the item's ${Math.round(totalMs)} ms of audio`, {
        param: 'audioEndMs',
      });
    }
    const kept = segments.filter((segment) => segment.startMs < audioEndMs);
    const last = kept.at(-1);
    if (last) last.endMs = Math.min(last.endMs, audioEndMs);
    entry.segments = kept;
    part.transcript = kept.map((segment) => segment.text).join(' ');
  }
}

/** An item as the engine stores it, from one a client created. */
export function itemFromNew(item: NewItem, id: string): ConversationItem {
  switch (item.type) {
    case 'message':
      return { id, type: 'message', role: item.role, status: 'completed', content: item.content.map((part) => contentFromNew(part, item.role)) };
    case 'function_call':
      return { id, type: 'function_call', status: 'completed', callId: item.callId, name: item.name, arguments: item.arguments };
    case 'function_call_output':
      return { id, type: 'function_call_output', status: 'completed', callId: item.callId, output: item.output };
  }
}

function contentFromNew(part: Extract<NewItem, { type: 'message' }>['content'][number], role: 'user' | 'assistant' | 'system'): ContentPart {
  if (part.type === 'input_audio') return { type: 'input_audio', transcript: part.transcript ?? null };
  // OpenAI's `text` and the two typed forms all carry text; the role decides which it is.
  return role === 'assistant' ? { type: 'output_text', text: part.text } : { type: 'input_text', text: part.text };
}

/**
 * The messages a responder reads for these items, oldest first. User audio counts by its
 * transcript (a part with none yet, or whose transcription failed, is left out, and a message
 * left with nothing is skipped); function calls become the assistant's tool calls, joined to
 * the assistant message just before them; outputs become tool messages. A function call
 * cut short (status incomplete) is left out: no output will ever answer it.
 */
export function toChatMessages(items: readonly ConversationItem[]): ChatMessage[] {
  const messages: ChatMessage[] = [];
  for (const item of items) {
    switch (item.type) {
      case 'message': {
        const text = item.content
          .map(partText)
          .filter((piece): piece is string => piece !== null && piece.trim() !== '')
          .join(' ');
        if (!text) break;
        messages.push({ role: item.role, content: text } as ChatMessage);
        break;
      }
      case 'function_call': {
        if (item.status === 'incomplete') break;
        const call: ToolCall = { callId: item.callId, name: item.name, arguments: item.arguments };
        const last = messages.at(-1);
        if (last?.role === 'assistant') (last.toolCalls ??= []).push(call);
        else messages.push({ role: 'assistant', content: '', toolCalls: [call] });
        break;
      }
      case 'function_call_output':
        messages.push({ role: 'tool', callId: item.callId, content: item.output });
        break;
    }
  }
  return messages;
}

function partText(part: ContentPart): string | null {
  switch (part.type) {
    case 'input_text':
    case 'output_text':
      return part.text;
    case 'input_audio':
    case 'output_audio':
      return part.transcript;
  }
}

/** The codes OpenAI gives each operation on an unknown item (item_retrieve_invalid_item_id, …). */
function notFound(itemId: string, code: Extract<ErrorCode, `item_${string}`> = 'item_not_found'): SpeechbridgeError {
  return new SpeechbridgeError(code, `no item with id "${itemId}" in the conversation`, { param: 'itemId' });
}

/**
 * Checks an item a client sent (item.create, response.create input) beyond its shape, which
 * the protocol codec validated: roles, part types and field types. Throws invalid_value
 * naming the field under `param`.
 */
export function validateNewItem(item: NewItem, param: string): void {
  const invalid = (field: string, message: string) => new SpeechbridgeError('invalid_value', message, { param: `${param}.${field}` });
  if (typeof item !== 'object' || item === null) throw new SpeechbridgeError('invalid_value', `${param} must be an object`, { param });
  if (item.id !== undefined && (typeof item.id !== 'string' || item.id.length === 0 || item.id.length > 64)) {
    throw invalid('id', `${param}.id must be a string of 1 to 64 characters`);
  }
  switch (item.type) {
    case 'message': {
      if (item.role !== 'user' && item.role !== 'assistant' && item.role !== 'system')
        throw invalid('role', `${param}.role must be "user", "assistant" or "system"`);
      if (!Array.isArray(item.content)) throw invalid('content', `${param}.content must be an array`);
      item.content.forEach((part, index) => {
        const at = `content[${index}]`;
        if (part?.type === 'input_audio') {
          if (item.role !== 'user') throw invalid(`${at}.type`, `only user messages can hold input_audio`);
          if (part.audio !== undefined && !(part.audio instanceof Int16Array)) throw invalid(`${at}.audio`, `${param}.${at}.audio must be PCM16 samples`);
          if (part.transcript !== undefined && typeof part.transcript !== 'string')
            throw invalid(`${at}.transcript`, `${param}.${at}.transcript must be a string`);
        } else if (part?.type === 'input_text' || part?.type === 'output_text' || part?.type === 'text') {
          if (typeof part.text !== 'string') throw invalid(`${at}.text`, `${param}.${at}.text must be a string`);
        } else {
          throw invalid(`${at}.type`, `${param}.${at}.type must be input_text, output_text, text or input_audio`);
        }
      });
      return;
    }
    case 'function_call':
      if (typeof item.callId !== 'string' || !item.callId) throw invalid('callId', `${param}.callId must be a non-empty string`);
      if (typeof item.name !== 'string' || !item.name) throw invalid('name', `${param}.name must be a non-empty string`);
      if (typeof item.arguments !== 'string') throw invalid('arguments', `${param}.arguments must be a string (JSON)`);
      return;
    case 'function_call_output':
      if (typeof item.callId !== 'string' || !item.callId) throw invalid('callId', `${param}.callId must be a non-empty string`);
      if (typeof item.output !== 'string') throw invalid('output', `${param}.output must be a string`);
      return;
    default:
      throw invalid('type', `${param}.type must be message, function_call or function_call_output`);
  }
}
