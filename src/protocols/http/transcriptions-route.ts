/**
 * POST /v1/audio/transcriptions — OpenAI-compatible multipart upload: `file` (any container
 * ffmpeg reads), `model`, `language`, `prompt`, `response_format`, `temperature`.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Transcriber } from '../../providers/contracts.ts';
import { languageCode } from '../../providers/languages.ts';
import { abortOnDisconnect } from './disconnect.ts';
import { readMultipart } from './multipart.ts';
import { TRANSCRIPTION_FORMATS, renderTranscription } from './transcription-formats.ts';
import { decodeUploadedAudio, requireAudioFile } from './uploaded-audio.ts';
import { zodFailure } from './validation.ts';

const FIELDS = z.object({
  model: z.string().max(200).optional(),
  language: z
    .string()
    .max(40)
    .optional()
    .transform((value, context) => {
      if (value === undefined || value.trim() === '') return undefined;
      const code = languageCode(value);
      if (!code) context.addIssue({ code: 'custom', message: `unknown language ${JSON.stringify(value)}: use an ISO-639-1 code such as "en" or "fr"` });
      return code;
    }),
  prompt: z.string().max(10_000).optional(),
  response_format: z.enum(TRANSCRIPTION_FORMATS).default('json'),
  temperature: z.coerce.number().min(0).max(1).optional(),
});

export function registerTranscriptionsRoute(app: FastifyInstance, transcriber: Transcriber): void {
  app.post('/v1/audio/transcriptions', async (request, reply) => {
    const upload = await readMultipart(request);
    const parsed = FIELDS.safeParse(upload.fields);
    if (!parsed.success) throw zodFailure(parsed.error);
    const fields = parsed.data;
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
    const rendered = renderTranscription(transcription, fields.response_format);
    return reply.type(rendered.contentType).send(rendered.body);
  });
}
