/**
 * Responses on the wire, both ways: `response.create`'s `response` → ResponseRequest, and
 * ResponseInfo → the `response` object of response.created / response.done (GA groups voice
 * and format under `audio.output` and says `output_modalities`; beta says `modalities`,
 * `voice`, `output_audio_format`).
 */
import { CATEGORIES, ERROR_CODES } from '../../errors/registry.ts';
import type { ResponseInfo, ResponseRequest, ResponseStatusDetails, ResponseUsage } from '../../engine/events.ts';
import { type AudioFormat, toBetaFormat, toGaFormat } from './audio-format.ts';
import type { WireResponseCreate } from './client-events.ts';
import { itemToWire, responseInputFromWire } from './item-shape.ts';
import { type Dialect, betaModalities, definedOnly, toolChoiceFromWire, toolFromWire } from './session-shape.ts';

export function responseRequestFromWire(wire: WireResponseCreate | undefined, inputFormat: AudioFormat): ResponseRequest | undefined {
  if (!wire) return undefined;
  const modalities = wire.output_modalities ?? wire.modalities;
  const voice = wire.audio?.output?.voice ?? wire.voice;
  const maxTokens = wire.max_output_tokens ?? wire.max_response_output_tokens;
  return definedOnly<ResponseRequest>({
    instructions: wire.instructions,
    outputModalities: modalities && [...new Set(modalities)],
    // OpenAI: "auto" (or a conversation id) writes to the default conversation, "none" is out-of-band.
    inConversation: wire.conversation === undefined ? undefined : wire.conversation !== 'none',
    input: wire.input?.map((item, index) => responseInputFromWire(item, inputFormat, `response.input[${index}]`)),
    tools: wire.tools?.map((tool, index) => toolFromWire(tool, `response.tools[${index}]`)),
    toolChoice: wire.tool_choice === undefined ? undefined : toolChoiceFromWire(wire.tool_choice, 'response.tool_choice'),
    voice: voice === undefined ? undefined : typeof voice === 'string' ? voice : voice.id,
    temperature: wire.temperature,
    maxOutputTokens: maxTokens === undefined ? undefined : maxTokens === 'inf' ? null : maxTokens,
    metadata: wire.metadata ?? undefined,
    mode: wire.speechbridge?.mode,
    targetLanguage: wire.speechbridge?.target_language,
  });
}

export interface ResponseWireContext {
  dialect: Dialect;
  conversationId: string;
  output: AudioFormat;
}

export function responseToWire(response: ResponseInfo, context: ResponseWireContext): Record<string, unknown> {
  const common = {
    id: response.id,
    object: 'realtime.response',
    status: response.status,
    status_details: statusDetailsToWire(response.statusDetails),
    output: response.output.map((item) => itemToWire(item, context.dialect)),
    conversation_id: response.inConversation ? context.conversationId : null,
    max_output_tokens: response.maxOutputTokens ?? 'inf',
    metadata: response.metadata,
    usage: usageToWire(response.usage),
  };
  if (context.dialect === 'beta') {
    return { ...common, modalities: betaModalities(response.outputModalities), voice: response.voice, output_audio_format: toBetaFormat(context.output) };
  }
  return { ...common, output_modalities: response.outputModalities, audio: { output: { format: toGaFormat(context.output), voice: response.voice } } };
}

function statusDetailsToWire(details: ResponseStatusDetails): Record<string, unknown> | null {
  if (details === null) return null;
  switch (details.type) {
    case 'cancelled':
    case 'incomplete':
      return { type: details.type, reason: details.reason };
    case 'failed': {
      const wireType = CATEGORIES[ERROR_CODES[details.error.code].category].wireType;
      return { type: 'failed', error: { type: wireType, code: details.error.code, message: details.error.message } };
    }
  }
}

function usageToWire(usage: ResponseUsage | null): Record<string, unknown> | null {
  if (!usage) return null;
  return {
    total_tokens: usage.inputTokens + usage.outputTokens,
    input_tokens: usage.inputTokens,
    output_tokens: usage.outputTokens,
    input_token_details: {
      text_tokens: usage.inputTextTokens,
      audio_tokens: usage.inputAudioTokens,
      cached_tokens: 0,
      cached_tokens_details: { text_tokens: 0, audio_tokens: 0 },
    },
    output_token_details: { text_tokens: usage.outputTextTokens, audio_tokens: usage.outputAudioTokens },
  };
}
