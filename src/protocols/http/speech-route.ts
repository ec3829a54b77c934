/**
 * POST /v1/audio/speech — OpenAI-compatible JSON body (`model`, `input`, `voice`,
 * `response_format`, `speed`, `instructions`, `stream_format`), streamed: audio leaves as
 * soon as the first sentence is synthesized. PCM is 24 kHz 16-bit mono, as OpenAI's.
 */
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { encodeAudio } from '../../audio/ffmpeg.ts';
import { int16ToBytes } from '../../audio/pcm.ts';
import { wavHeader } from '../../audio/wav.ts';
import { SpeechbridgeError } from '../../engine/errors.ts';
import type { Synthesizer } from '../../providers/contracts.ts';
import { synthesizeAt } from '../../providers/synthesize-at.ts';
import { abortOnDisconnect } from './disconnect.ts';
import { zodFailure } from './validation.ts';

export const SPEECH_SAMPLE_RATE = 24_000;
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
  input: z
    .string({ error: 'input is required: the text to speak' })
    .max(MAX_INPUT_CHARS, `input is longer than ${MAX_INPUT_CHARS} characters`),
  voice: z.string().max(100).optional(),
  response_format: z.enum(SPEECH_FORMATS).default('mp3'),
  speed: z.number().min(0.25).max(4).optional(),
  instructions: z.string().max(4096).optional(),
  stream_format: z.enum(['audio', 'sse']).default('audio'),
});

export function registerSpeechRoute(app: FastifyInstance, synthesizer: Synthesizer, defaultVoice: string): void {
  app.post('/v1/audio/speech', async (request, reply) => {
    if (!request.headers['content-type']?.includes('application/json')) {
      throw new SpeechbridgeError('invalid_content_type', `expected Content-Type application/json, got ${request.headers['content-type'] ?? 'none'}`, { status: 415 });
    }
    const parsed = BODY.safeParse(request.body);
    if (!parsed.success) throw zodFailure(parsed.error);
    const body = parsed.data;
    if (body.input.trim() === '') throw new SpeechbridgeError('empty_input', 'input is empty: give the text to speak', { param: 'input' });

    const signal = abortOnDisconnect(reply);
    const pcm = synthesizeAt(synthesizer, SPEECH_SAMPLE_RATE, {
      text: body.input,
      voice: body.voice ?? defaultVoice,
      speed: body.speed,
      instructions: body.instructions,
      model: body.model,
      signal,
    });
    // Pull the first chunk before any header is sent, so a bad voice or a failing engine
    // still gets a proper JSON error instead of a truncated audio stream.
    const iterator = pcm[Symbol.asyncIterator]();
    const first = await iterator.next();
    const samples = prepend(first, iterator);

    if (body.stream_format === 'sse') {
      return reply
        .type('text/event-stream')
        .header('cache-control', 'no-cache')
        .send(Readable.from(sseEvents(samples, body.response_format)));
    }
    const bytes =
      body.response_format === 'pcm' || body.response_format === 'wav'
        ? rawPcm(samples, body.response_format === 'wav')
        : encodeAudio(samples, { sampleRate: SPEECH_SAMPLE_RATE, format: body.response_format, signal });
    return reply.type(CONTENT_TYPES[body.response_format]).send(Readable.from(bytes));
  });
}

async function* prepend(first: IteratorResult<Int16Array>, rest: AsyncIterator<Int16Array>): AsyncIterable<Int16Array> {
  if (first.done) return;
  yield first.value;
  for (let next = await rest.next(); !next.done; next = await rest.next()) yield next.value;
}

async function* rawPcm(samples: AsyncIterable<Int16Array>, withWavHeader: boolean): AsyncIterable<Buffer> {
  if (withWavHeader) yield wavHeader(SPEECH_SAMPLE_RATE);
  for await (const chunk of samples) yield Buffer.from(int16ToBytes(chunk));
}

/** OpenAI's SSE speech stream: speech.audio.delta events with base64 audio, then speech.audio.done. */
async function* sseEvents(samples: AsyncIterable<Int16Array>, format: SpeechFormat): AsyncIterable<string> {
  if (format !== 'pcm') {
    throw new SpeechbridgeError('unsupported_format', 'stream_format "sse" is available with response_format "pcm"', { param: 'response_format' });
  }
  let total = 0;
  for await (const chunk of samples) {
    total += chunk.length;
    yield `data: ${JSON.stringify({ type: 'speech.audio.delta', audio: int16ToBytes(chunk).toString('base64') })}\n\n`;
  }
  yield `data: ${JSON.stringify({ type: 'speech.audio.done', usage: { output_audio_seconds: total / SPEECH_SAMPLE_RATE } })}\n\n`;
}
