import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Conversation, toChatMessages } from '../../src/engine/conversation.ts';
import { SpeechbridgeError } from '../../src/errors/registry.ts';
import type { ConversationItem } from '../../src/engine/events.ts';

function user(id: string, text: string): ConversationItem {
  return { id, type: 'message', role: 'user', status: 'completed', content: [{ type: 'input_text', text }] };
}

function assistantAudio(id: string, transcript: string): ConversationItem {
  return { id, type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_audio', transcript }] };
}

function codeOf(run: () => void): string | undefined {
  try {
    run();
  } catch (error) {
    return error instanceof SpeechbridgeError ? `${error.code}:${error.param}` : String(error);
  }
  return undefined;
}

describe('Conversation', () => {
  test('keeps at most maxItems, dropping the oldest and counting them', () => {
    const conversation = new Conversation(3);
    for (const id of ['a', 'b', 'c', 'd', 'e']) conversation.insert(user(id, id));
    assert.deepEqual(
      conversation.items().map((item) => item.id),
      ['c', 'd', 'e'],
    );
    assert.equal(conversation.droppedItems, 2);
    assert.equal(
      codeOf(() => conversation.require('a')),
      'item_not_found:itemId',
    );
  });

  test('truncate keeps the sentences whose audio started before audioEndMs', () => {
    const segments = [
      { text: 'One.', startMs: 0, endMs: 500 },
      { text: 'Two.', startMs: 500, endMs: 1200 },
      { text: 'Three.', startMs: 1200, endMs: 2000 },
    ];
    const spoken = () => {
      const conversation = new Conversation();
      conversation.insert(assistantAudio('r', 'One. Two. Three.'));
      for (const segment of segments) conversation.addAudioSegment('r', { ...segment });
      return conversation;
    };
    const transcriptAt = (audioEndMs: number) => {
      const conversation = spoken();
      conversation.truncate('r', 0, audioEndMs);
      const item = conversation.get('r')!;
      return item.type === 'message' && item.content[0].type === 'output_audio' ? [item.content[0].transcript, conversation.audioMs('r')] : null;
    };
    assert.deepEqual(transcriptAt(0), ['', 0]);
    assert.deepEqual(transcriptAt(1), ['One.', 1]);
    assert.deepEqual(transcriptAt(500), ['One.', 500]);
    assert.deepEqual(transcriptAt(501), ['One. Two.', 501]);
    assert.deepEqual(transcriptAt(2000), ['One. Two. Three.', 2000]);
    const conversation = spoken();
    assert.equal(
      codeOf(() => conversation.truncate('r', 0, 2001)),
      'invalid_value:audioEndMs',
    );
    assert.equal(
      codeOf(() => conversation.truncate('r', 0, -1)),
      'invalid_value:audioEndMs',
    );
    assert.equal(
      codeOf(() => conversation.truncate('r', 1, 0)),
      'invalid_value:contentIndex',
    );
    conversation.truncate('r', 0, 700);
    assert.equal(
      codeOf(() => conversation.truncate('r', 0, 701)),
      'invalid_value:audioEndMs',
      'the cut audio is gone',
    );
    conversation.insert(user('u', 'hi'));
    assert.equal(
      codeOf(() => conversation.truncate('u', 0, 0)),
      'invalid_value:itemId',
    );
  });

  test('chat messages: audio by transcript, tool calls joined to the assistant turn, outputs as tool messages', () => {
    const items: ConversationItem[] = [
      { id: '1', type: 'message', role: 'system', status: 'completed', content: [{ type: 'input_text', text: 'Be terse.' }] },
      { id: '2', type: 'message', role: 'user', status: 'completed', content: [{ type: 'input_audio', transcript: 'weather?' }] },
      { id: '3', type: 'message', role: 'user', status: 'completed', content: [{ type: 'input_audio', transcript: null }] },
      assistantAudio('4', 'Let me check.'),
      { id: '5', type: 'function_call', status: 'completed', callId: 'c1', name: 'weather', arguments: '{}' },
      { id: '6', type: 'function_call', status: 'incomplete', callId: 'c2', name: 'weather', arguments: '{"ci' },
      { id: '7', type: 'function_call_output', status: 'completed', callId: 'c1', output: 'sunny' },
      { id: '8', type: 'function_call', status: 'completed', callId: 'c3', name: 'time', arguments: '{}' },
    ];
    assert.deepEqual(toChatMessages(items), [
      { role: 'system', content: 'Be terse.' },
      { role: 'user', content: 'weather?' },
      { role: 'assistant', content: 'Let me check.', toolCalls: [{ callId: 'c1', name: 'weather', arguments: '{}' }] },
      { role: 'tool', callId: 'c1', content: 'sunny' },
      { role: 'assistant', content: '', toolCalls: [{ callId: 'c3', name: 'time', arguments: '{}' }] },
    ]);
  });
});
