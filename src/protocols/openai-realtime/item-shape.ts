/**
 * Conversation items on the wire, both ways. Content part names differ by dialect: GA says
 * `output_text` / `output_audio` inside items, beta `text` / `audio`; the content_part events
 * of both say `text` / `audio` (the GA schema's ResponseContentPartAddedEvent.Part). A user
 * `input_audio` part always carries `transcript` (null until transcribed): the agents SDK
 * rejects a user audio part without the key.
 */
import { SpeechbridgeError } from '../../errors/registry.ts';
import type { ContentPart, ConversationItem, ItemReference, NewItem } from '../../engine/events.ts';
import { type AudioFormat, decodeClientAudio } from './audio-format.ts';
import type { WireItem, WireResponseInputItem } from './client-events.ts';
import type { Dialect } from './session-shape.ts';

export function itemToWire(item: ConversationItem, dialect: Dialect): Record<string, unknown> {
  switch (item.type) {
    case 'message':
      return {
        id: item.id,
        object: 'realtime.item',
        type: 'message',
        role: item.role,
        status: item.status,
        content: item.content.map((part) => contentToWire(part, dialect)),
      };
    case 'function_call':
      return {
        id: item.id,
        object: 'realtime.item',
        type: 'function_call',
        status: item.status,
        call_id: item.callId,
        name: item.name,
        arguments: item.arguments,
      };
    case 'function_call_output':
      return {
        id: item.id,
        object: 'realtime.item',
        type: 'function_call_output',
        status: item.status,
        call_id: item.callId,
        output: item.output,
      };
  }
}

function contentToWire(part: ContentPart, dialect: Dialect): Record<string, unknown> {
  switch (part.type) {
    case 'input_text':
      return { type: 'input_text', text: part.text };
    case 'input_audio':
      return { type: 'input_audio', transcript: part.transcript };
    case 'output_text':
      return { type: dialect === 'ga' ? 'output_text' : 'text', text: part.text };
    case 'output_audio':
      return { type: dialect === 'ga' ? 'output_audio' : 'audio', transcript: part.transcript };
  }
}

/** The `part` of response.content_part.added / .done. */
export function contentPartEventToWire(part: ContentPart): Record<string, unknown> {
  switch (part.type) {
    case 'output_audio':
      return { type: 'audio', transcript: part.transcript };
    case 'input_audio':
      return { type: 'audio', transcript: part.transcript ?? '' };
    case 'output_text':
    case 'input_text':
      return { type: 'text', text: part.text };
  }
}

/**
 * A client item → NewItem; input_audio is decoded from base64 in the session's input format.
 * Throws SpeechbridgeError naming `param` + the field: invalid_value, or unsupported_content
 * for an image (the LLMs behind the gateway take text, speech as its transcript, and function
 * results).
 */
export function itemFromWire(item: WireItem, inputFormat: AudioFormat, param: string): NewItem {
  switch (item.type) {
    case 'message': {
      const content = item.content.map((part, index): Extract<NewItem, { type: 'message' }>['content'][number] => {
        const partParam = `${param}.content[${index}]`;
        if (part.type === 'input_image') {
          throw new SpeechbridgeError(
            'unsupported_content',
            `${partParam}: input_image content is not supported; send text or audio (the LLM behind this gateway reads no images)`,
            {
              param: `${partParam}.type`,
            },
          );
        }
        if (part.type === 'input_audio') {
          if (item.role !== 'user') {
            throw new SpeechbridgeError('invalid_value', `${partParam}: input_audio content is allowed only in user messages, not ${item.role}`, {
              param: `${partParam}.type`,
            });
          }
          const audio = part.audio === undefined ? undefined : decodeClientAudio(part.audio, inputFormat, `${partParam}.audio`);
          return { type: 'input_audio', ...(audio && { audio }), ...(typeof part.transcript === 'string' && { transcript: part.transcript }) };
        }
        return { type: part.type, text: part.text };
      });
      return { ...(item.id && { id: item.id }), type: 'message', role: item.role, content };
    }
    case 'function_call':
      return { ...(item.id && { id: item.id }), type: 'function_call', callId: item.call_id, name: item.name, arguments: item.arguments };
    case 'function_call_output':
      return { ...(item.id && { id: item.id }), type: 'function_call_output', callId: item.call_id, output: item.output };
  }
}

export function responseInputFromWire(item: WireResponseInputItem, inputFormat: AudioFormat, param: string): NewItem | ItemReference {
  if (item.type === 'item_reference') return { type: 'item_reference', id: item.id };
  return itemFromWire(item, inputFormat, param);
}
