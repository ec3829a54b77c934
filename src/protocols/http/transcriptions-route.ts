/**
 * POST /v1/audio/transcriptions — OpenAI-compatible multipart upload: `file` (any container
 * ffmpeg reads), `model`, `language`, `prompt`, `response_format`, `temperature`, `stream`.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { SpeechbridgeError } from '../../errors/registry.ts';
import type { Transcriber } from '../../providers/contracts.ts';
import { abortOnDisconnect } from './disconnect.ts';
import { languageField } from './language-field.ts';
import { readMultipart, uploadLimits } from './multipart.ts';
import { TRANSCRIPTION_FORMATS, renderTranscription } from './transcription-formats.ts';
import { decodeUploadedAudio, requireAudioFile } from './uploaded-audio.ts';
import { zodFailure } from './validation.ts';

const FIELDS = z.object({
  model: z.string().max(200).optional(),
  language: languageField('language'),
  prompt: z.string().max(10_000).optional(),
  response_format: z.enum(TRANSCRIPTION_FORMATS).default('json'),
  temperature: z.coerce.number().min(0).max(1).optional(),
  stream: z
    .enum(['true', 'false'], { error: 'stream must be "true" or "false"' })
    .optional()
    .transform((value) => value === 'true'),
});

/** OpenAI streams transcripts (gpt-4o-transcribe) only in these formats; segment timings have no event. */
const STREAMED_FORMATS = new Set<string>(['json', 'text']);

/**
 * OpenAI's streamed transcript, `stream: "true"`: transcript.text.delta then transcript.text.done,
 * as SSE. Answered for every model name: OpenAI ignores `stream` for whisper-1, and an SDK that
 * asked for a stream then finds no events in the JSON it gets.
 */
function transcriptEvents(text: string): string {
  const events = [...(text ? [{ type: 'transcript.text.delta', delta: text }] : []), { type: 'transcript.text.done', text }];
  return events.map((event) => `data: ${JSON.stringify(event)}\n\n`).join('');
}

/** maxUploadBytes: MAX_UPLOAD_MB, the largest audio file. */
export function registerTranscriptionsRoute(app: FastifyInstance, transcriber: Transcriber, maxUploadBytes: number): void {
  const limits = uploadLimits(maxUploadBytes);
  app.post('/v1/audio/transcriptions', { bodyLimit: limits.maxBodyBytes }, async (request, reply) => {
    const upload = await readMultipart(request, limits);
    const parsed = FIELDS.safeParse(upload.fields);
    if (!parsed.success) throw zodFailure(parsed.error);
    const fields = parsed.data;
    if (fields.stream && !STREAMED_FORMATS.has(fields.response_format)) {
      throw new SpeechbridgeError(
        'unsupported_format',
        `stream "true" is available with response_format "json" or "text", not ${JSON.stringify(fields.response_format)}`,
        {
          param: 'response_format',
        },
      );
    }
    const file = requireAudioFile(upload);

    const signal = abortOnDisconnect(reply);
    const audio = await decodeUploadedAudio(file, transcriber.capabilities.sampleRate, signal);
    const transcription = await transcriber.transcribe(audio, {
      signal,
      language: fields.language,
      prompt: fields.prompt,
      temperature: fields.temperature,
      model: fields.model,
    });
    if (fields.stream) {
      // The text is whole before the first event, so a failure above is still a JSON error.
      return reply.type('text/event-stream').header('cache-control', 'no-cache').send(transcriptEvents(transcription.text));
    }
    const rendered = renderTranscription(transcription, fields.response_format);
    return reply.type(rendered.contentType).send(rendered.body);
  });
}
