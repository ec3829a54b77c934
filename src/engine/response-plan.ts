/**
 * A response's settings: the session config with a response.create's overrides on top, each
 * override checked like the same field in session.update (invalid_value naming
 * `response.<field>`). Tools are dropped when the responder cannot call them: the engine picks
 * behaviour from the provider's capabilities, and a responder without tools answers in words.
 */
import type { ResponderCapabilities } from '../providers/contracts.ts';
import { validateNewItem } from './conversation.ts';
import { SpeechbridgeError } from '../errors/registry.ts';
import type { ResponseRequest, SessionConfig } from './events.ts';
import type { ResponsePlan } from './response-runner.ts';
import { checkString } from '../errors/field-checks.ts';
import { checkMaxOutputTokens, checkModalities, checkTemperature, checkToolChoice, checkToolChoiceNames, checkTools } from './session-config.ts';

/** OpenAI's limit: 16 metadata pairs, keys up to 64 and values up to 512 characters. */
const MAX_METADATA_KEYS = 16;

/** `hasItem` tells whether an item_reference in the input names an existing item. */
export function resolveResponsePlan(
  id: string,
  config: SessionConfig,
  request: ResponseRequest,
  responder: ResponderCapabilities,
  hasItem: (itemId: string) => boolean,
): ResponsePlan {
  const outputModalities =
    request.outputModalities !== undefined ? checkModalities(request.outputModalities, 'response.outputModalities') : config.outputModalities;
  const tools = request.tools !== undefined ? checkTools(request.tools, 'response.tools') : config.tools;
  const toolChoice = request.toolChoice !== undefined ? checkToolChoice(request.toolChoice, 'response.toolChoice') : config.toolChoice;
  if (request.tools !== undefined || request.toolChoice !== undefined) checkToolChoiceNames(toolChoice, tools, 'response.toolChoice');
  const mode = request.mode ?? config.mode;
  if (!responder.modes.includes(mode)) {
    throw new SpeechbridgeError('invalid_value', `the responder does not support mode "${mode}"; it supports ${responder.modes.join(', ')}`, {
      param: 'response.mode',
    });
  }
  if (request.inConversation !== undefined && typeof request.inConversation !== 'boolean') {
    throw new SpeechbridgeError('invalid_value', 'response.inConversation must be true or false', { param: 'response.inConversation' });
  }
  if (request.input !== undefined) {
    if (!Array.isArray(request.input)) throw new SpeechbridgeError('invalid_value', 'response.input must be an array of items', { param: 'response.input' });
    request.input.forEach((item, index) => {
      const param = `response.input[${index}]`;
      if (item?.type !== 'item_reference') return validateNewItem(item, param);
      if (typeof item.id !== 'string' || !hasItem(item.id)) {
        throw new SpeechbridgeError('item_not_found', `${param} names item ${JSON.stringify(item.id)}, which is not in the conversation`, {
          param: `${param}.id`,
        });
      }
    });
  }
  const instructions = request.instructions !== undefined ? checkString(request.instructions, 'response.instructions', 100_000, true) : config.instructions;
  const targetLanguage = request.targetLanguage !== undefined ? checkString(request.targetLanguage, 'response.targetLanguage', 100) : config.targetLanguage;
  const temperature = request.temperature !== undefined ? checkTemperature(request.temperature, 'response.temperature') : config.temperature;
  return {
    id,
    inConversation: request.inConversation ?? true,
    outputModalities,
    mode,
    ...(targetLanguage !== undefined && { targetLanguage }),
    ...(instructions !== undefined && { instructions }),
    ...(config.model !== undefined && { model: config.model }),
    tools: responder.tools ? tools : [],
    toolChoice,
    voice: request.voice !== undefined ? checkString(request.voice, 'response.voice', 100) : config.voice,
    ...(config.ttsModel !== undefined && { ttsModel: config.ttsModel }),
    ...(config.speed !== undefined && { speed: config.speed }),
    ...(temperature !== undefined && { temperature }),
    maxOutputTokens: request.maxOutputTokens !== undefined ? checkMaxOutputTokens(request.maxOutputTokens, 'response.maxOutputTokens') : config.maxOutputTokens,
    ...(config.reasoningEffort !== undefined && { reasoningEffort: config.reasoningEffort }),
    ...(config.parallelToolCalls !== undefined && { parallelToolCalls: config.parallelToolCalls }),
    metadata: request.metadata !== undefined ? checkMetadata(request.metadata) : null,
    outputSampleRate: config.outputSampleRate,
  };
}

function checkMetadata(value: unknown): Record<string, string> {
  const param = 'response.metadata';
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new SpeechbridgeError('invalid_value', `${param} must be an object of strings`, { param });
  const entries = Object.entries(value);
  if (entries.length > MAX_METADATA_KEYS) throw new SpeechbridgeError('invalid_value', `${param} holds at most ${MAX_METADATA_KEYS} keys`, { param });
  for (const [key, entry] of entries) {
    if (key.length > 64 || typeof entry !== 'string' || entry.length > 512) {
      throw new SpeechbridgeError('invalid_value', `${param}.${key} must be a string of at most 512 characters under a key of at most 64`, {
        param: `${param}.${key}`,
      });
    }
  }
  return { ...(value as Record<string, string>) };
}
