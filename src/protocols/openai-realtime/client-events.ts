/**
 * Zod schemas of the realtime client events, GA and beta spellings side by side (a beta
 * client's `session.update` carries `modalities` / `input_audio_format`, a GA client's
 * `output_modalities` / `audio.input.format`; both parse here, and the codec refuses a beta
 * field in a GA session). The session object is strict, as OpenAI's server is: a field it does
 * not define is `unknown_parameter` naming it (our documented extensions — `speechbridge`, the
 * VAD knobs, 16 kHz PCM — are defined here). Elsewhere unknown fields are dropped: only the
 * fields below are kept, so nothing a client sends is stored or echoed raw. parseClientEvent
 * never throws: a message that does not parse becomes a ClientEventError naming the field
 * (`param`) as a dotted path.
 *
 * Bounds: the JSON limits of every door (src/protocols/bounded-json.ts: 64 levels, 100,000
 * values), then REALTIME_FIELD_LIMITS per field. Fields the server echoes back (session.created
 * and session.updated carry the whole session, conversation.item.* the items) are bounded so
 * an echo stays far below the outbound backlog limit (REALTIME_MAX_BUFFERED_KB, 4 MB by
 * default): the largest session object is about 100 KB of instructions plus 256 KB of tools,
 * instead of as much as one 16 MB message could hold.
 */
import { z } from 'zod';
import type { ErrorCode } from '../../errors/registry.ts';
import { RESPONSE_MODES } from '../../engine/events.ts';
import { parseBoundedJson } from '../bounded-json.ts';
import { describeValue, quote } from '../client-values.ts';
import { SESSION_RANGES } from '../../engine/ranges.ts';
import { integerIn, numberIn } from '../range-schemas.ts';
import { TURN_KNOB_FIELDS } from '../turn-knobs.ts';
import { PCM_SAMPLE_RATES } from './audio-format.ts';

/**
 * Per-field limits. OpenAI documents 64 characters for item ids and function names, 16
 * metadata pairs of 64/512 characters and 128 tools; the rest are the gateway's own, chosen
 * well above what real clients send (the agents SDK's event ids are 20–40 characters; 100,000
 * characters of instructions is about 25,000 tokens).
 */
export const REALTIME_FIELD_LIMITS = Object.freeze({
  eventIdChars: 128,
  idChars: 64,
  nameChars: 200,
  voiceChars: 100,
  languageChars: 35,
  instructionsChars: 100_000,
  /** Text of an item's content part, a function call's arguments or output. */
  textChars: 100_000,
  contentParts: 64,
  inputItems: 128,
  tools: 128,
  toolDescriptionChars: 4096,
  /** The JSON schema of one tool's arguments, serialised. */
  toolParametersBytes: 16 * 1024,
  /** All tools together, serialised: what every session.updated repeats. */
  toolsBytes: 256 * 1024,
  transcriptionPromptChars: 10_000,
  /** Transcription keywords: a vocabulary hint, not a document. */
  keywords: 100,
  keywordChars: 64,
  languages: 16,
  includeItems: 16,
  traceFieldChars: 256,
  promptVariables: 64,
  promptVariableChars: 10_000,
});
const LIMITS = REALTIME_FIELD_LIMITS;

// ── Shared pieces ───────────────────────────────────────────────────────────────────────

const text = (max: number) => z.string().max(max);

/** Beta `modalities`: `["text","audio"]` is audio with its transcript, `["text"]` text alone. */
const modalities = z.array(z.enum(['text', 'audio'])).min(1);
/** GA `output_modalities`: one of them; OpenAI refuses both at once (audio always comes with its transcript). */
const outputModalities = z
  .array(z.enum(['text', 'audio']))
  .length(1, 'give one modality: ["audio"] (speech with its transcript) or ["text"]; both at once is not possible');
const betaFormat = z.enum(['pcm16', 'g711_ulaw', 'g711_alaw']);
const gaFormat = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('audio/pcm'),
    rate: z.union(PCM_SAMPLE_RATES.map((rate) => z.literal(rate)) as [z.ZodLiteral<16000>, z.ZodLiteral<24000>]).optional(),
  }),
  z.object({ type: z.literal('audio/pcmu') }),
  z.object({ type: z.literal('audio/pcma') }),
]);
/** GA sessions take the object; a beta string is accepted there too, as some clients mix them. */
const anyFormat = z.union([gaFormat, betaFormat]);
const voice = z.union([z.string().min(1).max(LIMITS.voiceChars), z.object({ id: z.string().min(1).max(LIMITS.voiceChars) })]);
/** OpenAI documents 0.25–1.5; the synthesizers here go to 4. */
const speed = numberIn(SESSION_RANGES.speed);
const temperature = numberIn(SESSION_RANGES.temperature);
/** OpenAI's range: 1–4096 or "inf". */
const maxOutputTokens = z.union([integerIn(SESSION_RANGES.maxOutputTokens), z.literal('inf')]);

/** ISO-639-1, optionally with a region (`en`, `pt-BR`), as the recognizers take it. */
const languageCode = text(LIMITS.languageChars).regex(/^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$/, 'must be an ISO-639-1 code such as "en" or "pt-BR"');
const transcription = z.strictObject({
  model: text(LIMITS.nameChars).optional(),
  language: text(LIMITS.languageChars).optional(),
  prompt: text(LIMITS.transcriptionPromptChars).optional(),
  /** Words or phrases to expect; passed on in the recognizer's prompt (session-shape.ts). */
  keywords: z.array(text(LIMITS.keywordChars).min(1)).max(LIMITS.keywords).optional(),
  /** The languages the audio may be in; one is passed on as the language hint. */
  languages: z.array(languageCode).min(1).max(LIMITS.languages).optional(),
  /** OpenAI's latency/accuracy trade of gpt-realtime-whisper: reported back; the recognizers here have no such knob. */
  delay: z.enum(['minimal', 'low', 'medium', 'high', 'xhigh']).optional(),
});
const noiseReduction = z
  .strictObject({
    type: z.enum(['near_field', 'far_field']).optional(),
    strength: z.number().min(0).max(1).optional(),
  })
  .nullable();

/** server_vad as OpenAI documents it, plus the gateway's own detector knobs (README: turn detection). */
const serverVad = z.strictObject({
  type: z.literal('server_vad'),
  threshold: numberIn(SESSION_RANGES.threshold).optional(),
  prefix_padding_ms: integerIn(SESSION_RANGES.padMs).optional(),
  silence_duration_ms: integerIn(SESSION_RANGES.endMs).optional(),
  create_response: z.boolean().optional(),
  interrupt_response: z.boolean().optional(),
  /** 1 s to 10 min; OpenAI allows 5–30 s, shorter is useful in tests and kiosks. */
  idle_timeout_ms: integerIn(SESSION_RANGES.idleTimeoutMs).nullable().optional(),
  engine: z.enum(['webrtc', 'silero']).optional(),
  ...TURN_KNOB_FIELDS,
});
const semanticVad = z.strictObject({
  type: z.literal('semantic_vad'),
  eagerness: z.enum(['low', 'medium', 'high', 'auto']).optional(),
  create_response: z.boolean().optional(),
  interrupt_response: z.boolean().optional(),
});
/** `{type:'none'}` is read as null (turn detection off), which some clients send instead. */
const turnDetection = z.discriminatedUnion('type', [serverVad, semanticVad, z.strictObject({ type: z.literal('none') })]).nullable();

/** A JSON schema as the client wrote it (its depth is bounded at parse), within a size. */
const toolParameters = z
  .record(z.string(), z.unknown())
  .refine((schema) => JSON.stringify(schema).length <= LIMITS.toolParametersBytes, `the JSON schema must be at most ${LIMITS.toolParametersBytes} bytes`);
const functionTool = z.strictObject({
  type: z.literal('function').optional(),
  name: z.string().min(1).max(64),
  description: text(LIMITS.toolDescriptionChars).optional(),
  parameters: toolParameters.optional(),
});
/** OpenAI's remote MCP tool: parsed only to be refused by name (unsupported_tool_type), so its other fields are not read. */
const mcpTool = z.looseObject({ type: z.literal('mcp') });
const tools = z
  .array(z.discriminatedUnion('type', [functionTool, mcpTool], { error: 'a tool is {"type": "function", "name", "description", "parameters"}' }))
  .max(LIMITS.tools)
  .refine((list) => JSON.stringify(list).length <= LIMITS.toolsBytes, `the tools together must be at most ${LIMITS.toolsBytes} bytes of JSON`);
const toolChoice = z.union([
  z.enum(['auto', 'none', 'required']),
  z.strictObject({ type: z.literal('function'), name: z.string().min(1).max(64) }),
  z.looseObject({ type: z.literal('mcp') }),
]);
/** OpenAI's metadata limits: 16 pairs, keys up to 64 characters, values up to 512. */
const metadata = z
  .record(z.string().max(64), z.string().max(512))
  .refine((value) => Object.keys(value).length <= 16, 'at most 16 metadata pairs')
  .nullable();
const speechbridgeExtension = z.strictObject({
  mode: z.enum(RESPONSE_MODES).optional(),
  target_language: z.string().min(1).max(64).optional(),
  /** Partial text of the turn while it is spoken (conversation.item.input_audio_transcription.partial). */
  interim_transcripts: z.boolean().optional(),
  /** With a batch recognizer, whether those partials come from interim passes; default the server's INTERIM_PASSES. */
  interim_passes: z.enum(['auto', 'on', 'off']).optional(),
  /** Each answered turn's stage timings (speechbridge.turn.timings). */
  turn_timings: z.boolean().optional(),
});

/**
 * Session fields the gateway does not act on but echoes, in their documented shapes (OpenAI's
 * RealtimeTracingConfig, ResponsePrompt, RealtimeTruncation); unknown keys inside are dropped.
 */
const traceField = text(LIMITS.traceFieldChars);
const tracing = z
  .union([
    z.literal('auto'),
    z.strictObject({
      workflow_name: traceField.optional(),
      group_id: traceField.optional(),
      metadata: z
        .record(z.string().max(64), z.union([z.string().max(512), z.number(), z.boolean(), z.null()]))
        .refine((value) => Object.keys(value).length <= 16, 'at most 16 metadata pairs')
        .optional(),
    }),
  ])
  .nullable();
const promptText = text(LIMITS.promptVariableChars);
const promptVariable = z.union([
  promptText,
  z.strictObject({ type: z.literal('input_text'), text: promptText }),
  z.strictObject({
    type: z.literal('input_image'),
    detail: z.enum(['low', 'high', 'auto']).optional(),
    file_id: promptText.optional(),
    image_url: promptText.optional(),
  }),
  z.strictObject({
    type: z.literal('input_file'),
    file_id: promptText.optional(),
    file_url: promptText.optional(),
    file_data: promptText.optional(),
    filename: promptText.optional(),
  }),
]);
const prompt = z
  .strictObject({
    id: z.string().min(1).max(LIMITS.nameChars),
    version: z.string().max(64).nullable().optional(),
    variables: z
      .record(z.string().max(64), promptVariable)
      .refine((value) => Object.keys(value).length <= LIMITS.promptVariables, `at most ${LIMITS.promptVariables} variables`)
      .nullable()
      .optional(),
  })
  .nullable();
const truncation = z.union([
  z.enum(['auto', 'disabled']),
  z.strictObject({
    type: z.literal('retention_ratio'),
    retention_ratio: z.number().min(0).max(1),
    token_limits: z.strictObject({ post_instructions: z.number().int().min(0).optional() }).optional(),
  }),
]);
/** The include values OpenAI defines. */
const includeItem = z.enum(['item.input_audio_transcription.logprobs']);
/** OpenAI's reasoning settings for reasoning models (gpt-realtime-2): reported back. */
const reasoning = z.strictObject({ effort: z.enum(['minimal', 'low', 'medium', 'high', 'xhigh']).optional() });

export const sessionSchema = z.strictObject({
  type: z.enum(['realtime', 'transcription']).optional(),
  model: text(LIMITS.nameChars).optional(),
  instructions: text(LIMITS.instructionsChars).optional(),
  output_modalities: outputModalities.optional(),
  audio: z
    .strictObject({
      input: z
        .strictObject({
          format: anyFormat.optional(),
          transcription: transcription.nullable().optional(),
          noise_reduction: noiseReduction.optional(),
          turn_detection: turnDetection.optional(),
        })
        .optional(),
      output: z.strictObject({ format: anyFormat.optional(), voice: voice.optional(), speed: speed.optional() }).optional(),
    })
    .optional(),
  tools: tools.optional(),
  tool_choice: toolChoice.optional(),
  parallel_tool_calls: z.boolean().optional(),
  reasoning: reasoning.optional(),
  max_output_tokens: maxOutputTokens.optional(),
  tracing: tracing.optional(),
  prompt: prompt.optional(),
  include: z.array(includeItem).max(LIMITS.includeItems).nullable().optional(),
  truncation: truncation.optional(),
  speechbridge: speechbridgeExtension.optional(),
  // Beta spellings (BETA_SESSION_FIELDS: a GA session.update refuses them).
  modalities: modalities.optional(),
  input_audio_format: betaFormat.optional(),
  output_audio_format: betaFormat.optional(),
  turn_detection: turnDetection.optional(),
  input_audio_transcription: transcription.nullable().optional(),
  input_audio_noise_reduction: noiseReduction.optional(),
  voice: voice.optional(),
  speed: speed.optional(),
  temperature: temperature.optional(),
  max_response_output_tokens: maxOutputTokens.optional(),
});
export type WireSession = z.infer<typeof sessionSchema>;

// ── Items ───────────────────────────────────────────────────────────────────────────────

const partText = text(LIMITS.textChars);
const contentPart = z.discriminatedUnion('type', [
  z.object({ type: z.literal('input_text'), text: partText }),
  z.object({ type: z.literal('text'), text: partText }),
  z.object({ type: z.literal('output_text'), text: partText }),
  // The audio is not echoed (items carry its transcript), so the message size bounds it.
  z.object({ type: z.literal('input_audio'), audio: z.string().optional(), transcript: partText.nullable().optional() }),
  // Parsed only to be refused by name (unsupported_content, item-shape.ts): the LLMs here take no images.
  z.object({ type: z.literal('input_image') }),
]);
const itemId = z.string().min(1).max(LIMITS.idChars);
const callId = z.string().min(1).max(LIMITS.nameChars);
const messageItem = z.object({
  id: itemId.optional(),
  type: z.literal('message'),
  role: z.enum(['user', 'assistant', 'system']),
  content: z.array(contentPart).max(LIMITS.contentParts),
});
const functionCallItem = z.object({
  id: itemId.optional(),
  type: z.literal('function_call'),
  call_id: callId,
  name: z.string().min(1).max(64),
  arguments: partText,
});
const functionCallOutputItem = z.object({
  id: itemId.optional(),
  type: z.literal('function_call_output'),
  call_id: callId,
  output: partText,
});
export const itemSchema = z.discriminatedUnion('type', [messageItem, functionCallItem, functionCallOutputItem]);
export type WireItem = z.infer<typeof itemSchema>;
const itemReference = z.object({ type: z.literal('item_reference'), id: itemId });
export const responseInputItemSchema = z.discriminatedUnion('type', [messageItem, functionCallItem, functionCallOutputItem, itemReference]);
export type WireResponseInputItem = z.infer<typeof responseInputItemSchema>;

// ── Responses ───────────────────────────────────────────────────────────────────────────

export const responseCreateSchema = z.object({
  instructions: text(LIMITS.instructionsChars).optional(),
  output_modalities: outputModalities.optional(),
  modalities: modalities.optional(),
  conversation: text(64).optional(),
  input: z.array(responseInputItemSchema).max(LIMITS.inputItems).optional(),
  tools: tools.optional(),
  tool_choice: toolChoice.optional(),
  metadata: metadata.optional(),
  voice: voice.optional(),
  audio: z.object({ output: z.object({ voice: voice.optional(), format: anyFormat.optional() }).optional() }).optional(),
  max_output_tokens: maxOutputTokens.optional(),
  max_response_output_tokens: maxOutputTokens.optional(),
  temperature: temperature.optional(),
  speechbridge: speechbridgeExtension.optional(),
});
export type WireResponseCreate = z.infer<typeof responseCreateSchema>;

// ── Client events ───────────────────────────────────────────────────────────────────────

const eventId = z.string().max(LIMITS.eventIdChars).optional();

export const CLIENT_EVENT_SCHEMAS = {
  'session.update': z.object({ type: z.literal('session.update'), event_id: eventId, session: sessionSchema }),
  'transcription_session.update': z.object({
    type: z.literal('transcription_session.update'),
    event_id: eventId,
    session: sessionSchema,
  }),
  'input_audio_buffer.append': z.object({ type: z.literal('input_audio_buffer.append'), event_id: eventId, audio: z.string() }),
  'input_audio_buffer.commit': z.object({ type: z.literal('input_audio_buffer.commit'), event_id: eventId }),
  'input_audio_buffer.clear': z.object({ type: z.literal('input_audio_buffer.clear'), event_id: eventId }),
  'conversation.item.create': z.object({
    type: z.literal('conversation.item.create'),
    event_id: eventId,
    previous_item_id: itemId.nullable().optional(),
    item: itemSchema,
  }),
  'conversation.item.retrieve': z.object({ type: z.literal('conversation.item.retrieve'), event_id: eventId, item_id: itemId }),
  'conversation.item.delete': z.object({ type: z.literal('conversation.item.delete'), event_id: eventId, item_id: itemId }),
  'conversation.item.truncate': z.object({
    type: z.literal('conversation.item.truncate'),
    event_id: eventId,
    item_id: itemId,
    content_index: z.number().int().min(0),
    audio_end_ms: z.number().int().min(0),
  }),
  'response.create': z.object({ type: z.literal('response.create'), event_id: eventId, response: responseCreateSchema.optional() }),
  'response.cancel': z.object({ type: z.literal('response.cancel'), event_id: eventId, response_id: z.string().max(LIMITS.idChars).optional() }),
} as const;

export type ClientEventType = keyof typeof CLIENT_EVENT_SCHEMAS;
export type ClientEvent = { [Type in ClientEventType]: z.infer<(typeof CLIENT_EVENT_SCHEMAS)[Type]> }[ClientEventType];

export interface ClientEventError {
  code: ErrorCode;
  message: string;
  param: string | null;
  /** The offending event's event_id when it could be read. */
  eventId: string | null;
}

export type ParsedClientEvent = { ok: true; event: ClientEvent } | { ok: false; error: ClientEventError };

/** Parses one text message; never throws. */
export function parseClientEvent(message: string): ParsedClientEvent {
  const bounded = parseBoundedJson(message);
  if (!bounded.ok) {
    // Text that is not JSON has no event_id to trust; a message over the bounds is JSON, and its event_id is named.
    const eventId = bounded.error.code === 'invalid_json' ? null : eventIdFromHead(message);
    return failure(bounded.error.code, bounded.error.message, bounded.error.param, eventId);
  }
  const json = bounded.value;
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return failure('invalid_value', 'a client event must be a JSON object with a "type" field', 'type', null);
  }
  const record = json as Record<string, unknown>;
  // Echoed in the error event only when it is one a client could mean (an oversized id is itself the error).
  const clientEventId = typeof record.event_id === 'string' && record.event_id.length <= LIMITS.eventIdChars ? record.event_id : null;
  if (typeof record.type !== 'string') {
    return failure('invalid_value', `"type" must be a string naming the event, got ${describeValue(record.type)}`, 'type', clientEventId);
  }
  if (!Object.hasOwn(CLIENT_EVENT_SCHEMAS, record.type)) {
    // OpenAI's answer to an unknown type: invalid_value on `type`, listing the supported ones.
    const hint = record.type === 'output_audio_buffer.clear' ? ' (output_audio_buffer.clear exists only on WebRTC and SIP connections)' : '';
    const supported = Object.keys(CLIENT_EVENT_SCHEMAS)
      .map((type) => `'${type}'`)
      .join(', ');
    return failure('invalid_value', `Invalid value: ${quote(record.type)}${hint}. Supported values are: ${supported}.`, 'type', clientEventId);
  }
  const append = appendEvent(record);
  if (append) return { ok: true, event: append };
  const schema = CLIENT_EVENT_SCHEMAS[record.type as ClientEventType];
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    // A field that does not exist is named first: a misspelt field explains the errors it causes.
    const unknown = parsed.error.issues.find((issue) => issue.code === 'unrecognized_keys');
    if (unknown) {
      const param = formatParam([...unknown.path, unknown.keys[0]]);
      return failure('unknown_parameter', `Unknown parameter: '${param}'.`, param, clientEventId);
    }
    const { param, message } = describeIssue(parsed.error.issues[0]);
    return failure('invalid_value', `${record.type}: ${message}`, param, clientEventId);
  }
  return { ok: true, event: parsed.data as ClientEvent };
}

/**
 * The event of the 20 ms input path, 50 times a second per session, read without the schema
 * when it is well-formed: what its schema keeps (type, event_id up to eventIdChars, audio as
 * a string), built the same way. Anything else (a missing or non-string field, an overlong
 * event_id) returns null and goes through the schema, which words the error.
 */
function appendEvent(record: Record<string, unknown>): ClientEvent | null {
  if (record.type !== 'input_audio_buffer.append') return null;
  const { audio, event_id: eventId } = record;
  if (typeof audio !== 'string') return null;
  if (eventId === undefined) return { type: 'input_audio_buffer.append', audio };
  if (typeof eventId !== 'string' || eventId.length > LIMITS.eventIdChars) return null;
  return { type: 'input_audio_buffer.append', event_id: eventId, audio };
}

/** `session.audio.input.format.type`, with array indices as `tools[0]`. */
export function formatParam(path: readonly PropertyKey[]): string | null {
  let param = '';
  for (const key of path) {
    if (typeof key === 'number') param += `[${key}]`;
    else param += param === '' ? String(key) : `.${String(key)}`;
  }
  return param === '' ? null : param;
}

function describeIssue(issue: z.core.$ZodIssue): { param: string | null; message: string } {
  const param = formatParam(issue.path);
  let message = issue.message;
  if (issue.code === 'invalid_union' && issue.errors.length > 0) {
    const options = [...new Set(issue.errors.map((branch) => branch[0]?.message).filter(Boolean))];
    message = options.join(', or ');
  }
  return { param, message: param ? `${param}: ${message}` : message };
}

function failure(code: ErrorCode, message: string, param: string | null, eventId: string | null): ParsedClientEvent {
  return { ok: false, error: { code, message, param, eventId } };
}

/** Only this much of a message that cannot be parsed is searched for its event_id. */
const EVENT_ID_SEARCH_CHARS = 512;

/** The client's event_id from the head of a message refused before parsing, when it is there. */
export function eventIdFromHead(message: string): string | null {
  const head = message.slice(0, EVENT_ID_SEARCH_CHARS);
  return new RegExp(`"event_id"\\s*:\\s*"([^"\\\\]{1,${LIMITS.eventIdChars}})"`).exec(head)?.[1] ?? null;
}
