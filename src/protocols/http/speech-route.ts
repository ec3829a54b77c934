/**
 * POST /v1/audio/speech — OpenAI-compatible JSON body (`model`, `input`, `voice`,
 * `response_format`, `speed`, `instructions`, `stream_format`), streamed: audio leaves as
 * soon as the first sentence is synthesized. PCM is 24 kHz 16-bit mono, as OpenAI's.
 */
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { SESSION_RANGES } from '../../engine/ranges.ts';
import { numberIn } from '../range-schemas.ts';
import type { Synthesizer } from '../../providers/contracts.ts';
import { encodeSpeech, SPEECH_SAMPLE_RATE, speakFor } from './speech-audio.ts';
import { parseJsonBody } from './validation.ts';

export { SPEECH_SAMPLE_RATE } from './speech-audio.ts';
const MAX_INPUT_CHARS = 4096;

export const SPEECH_FORMATS = ['mp3', 'opus', 'aac', 'flac', 'wav', 'pcm'] as const;
type SpeechFormat = (typeof SPEECH_FORMATS)[number];

const CONTENT_TYPES: Record<SpeechFormat, string> = {
  mp3: 'audio/mpeg',
  opus: 'audio/ogg; codecs=opus',
  aac: 'audio/aac',
  flac: 'audio/flac',
  wav: 'audio/wav',
  pcm: 'audio/pcm',
};

const BODY = z.object({
  model: z.string().max(200).optional(),
  input: z.string({ error: 'input is required: the text to speak' }).max(MAX_INPUT_CHARS, `input is longer than ${MAX_INPUT_CHARS} characters`),
  voice: z.string().max(100).optional(),
  response_format: z.enum(SPEECH_FORMATS).default('mp3'),
  speed: numberIn(SESSION_RANGES.speed).optional(),
  instructions: z.string().max(4096).optional(),
  stream_format: z.enum(['audio', 'sse']).default('audio'),
});

/** `maxAudioMs`: MAX_RESPONSE_AUDIO_SECONDS, the most audio one request may have. */
export function registerSpeechRoute(app: FastifyInstance, synthesizer: Synthesizer, defaultVoice: string, maxAudioMs: number): void {
  app.post('/v1/audio/speech', async (request, reply) => {
    const body = parseJsonBody(request, BODY);
    const { samples, signal } = await speakFor(reply, synthesizer, body, defaultVoice, maxAudioMs);

    if (body.stream_format === 'sse') {
      return reply
        .type('text/event-stream')
        .header('cache-control', 'no-cache')
        .send(Readable.from(sseEvents(samples, body.response_format, signal)));
    }
    return reply.type(CONTENT_TYPES[body.response_format]).send(Readable.from(encodeSpeech(samples, body.response_format, signal)));
  });
}

/**
 * OpenAI's SSE speech stream: speech.audio.delta events carrying base64 bytes of
 * `format` (OpenAI streams every response_format this way, mp3 by default), then
 * speech.audio.done.
 */
async function* sseEvents(samples: AsyncIterable<Int16Array>, format: SpeechFormat, signal: AbortSignal): AsyncIterable<string> {
  let total = 0;
  async function* counted(): AsyncIterable<Int16Array> {
    for await (const chunk of samples) {
      total += chunk.length;
      yield chunk;
    }
  }
  for await (const bytes of encodeSpeech(counted(), format, signal)) {
    if (bytes.length > 0) yield `data: ${JSON.stringify({ type: 'speech.audio.delta', audio: bytes.toString('base64') })}\n\n`;
  }
  yield `data: ${JSON.stringify({ type: 'speech.audio.done', usage: { output_audio_seconds: total / SPEECH_SAMPLE_RATE } })}\n\n`;
}
