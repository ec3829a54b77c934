/**
 * A real OpenAI-compatible audio server on 127.0.0.1, port 0, backed by local engines:
 * `POST /v1/audio/transcriptions` (multipart `file`, `model`, `response_format` json,
 * verbose_json or text; any container ffmpeg reads) answered by a Transcriber (pocketsphinx
 * with a grammar, for exact words), and `POST /v1/audio/speech` (JSON `model`, `input`,
 * `voice`, `response_format` pcm or wav) answered by a Synthesizer (espeak-ng) at OpenAI's
 * 24 kHz. Every request is recorded, on any path and whatever its answer (404 for paths that
 * are not these two), so a test can assert where a gateway sent what. Point WHISPER_URL and
 * TTS_API_URL at `baseURL` (or at its endpoint URLs).
 */
import type { AddressInfo } from 'node:net';
import multipart from '@fastify/multipart';
import Fastify, { type FastifyReply } from 'fastify';
import { decodeAudio } from '../../src/audio/decode.ts';
import { resample } from '../../src/audio/resample.ts';
import { writeWav } from '../../src/audio/wav.ts';
import type { Synthesizer, Transcriber } from '../../src/providers/contracts.ts';

/** OpenAI's speech output rate. */
const SPEECH_SAMPLE_RATE = 24000;

export interface RecordedAudioRequest {
  method: string;
  path: string;
  authorization: string | undefined;
  /** The `model` field (multipart field or JSON body), when there was one. */
  model?: string;
  /** Transcriptions: the bytes of the uploaded file; speech: the `input` text. */
  fileBytes?: number;
  input?: string;
  voice?: string;
  responseFormat?: string;
  status: number;
}

export interface AudioUpstream {
  /** API root, e.g. http://127.0.0.1:41234/v1. */
  baseURL: string;
  requests: RecordedAudioRequest[];
  close(): Promise<void>;
}

export async function startAudioUpstream(engines: { transcriber: Transcriber; synthesizer: Synthesizer }): Promise<AudioUpstream> {
  const requests: RecordedAudioRequest[] = [];
  const app = Fastify({ bodyLimit: 1024 * 1024 });
  await app.register(multipart, { limits: { fileSize: 25 * 1024 * 1024, files: 1 } });
  app.addHook('onResponse', async (request, reply) => {
    const recorded = (request as { recorded?: Partial<RecordedAudioRequest> }).recorded ?? {};
    requests.push({
      method: request.method,
      path: request.url.split('?')[0],
      authorization: request.headers.authorization,
      ...recorded,
      status: reply.statusCode,
    });
  });
  const fail = (reply: FastifyReply, status: number, message: string) =>
    reply.status(status).send({ error: { message, type: 'invalid_request_error', param: null, code: null } });

  app.post('/v1/audio/transcriptions', async (request, reply) => {
    let fileBytes: Buffer | undefined;
    const fields: Record<string, string> = {};
    for await (const part of request.parts()) {
      if (part.type === 'file') fileBytes = await part.toBuffer();
      else fields[part.fieldname] = String(part.value);
    }
    const recorded: Partial<RecordedAudioRequest> = { model: fields.model, responseFormat: fields.response_format, fileBytes: fileBytes?.byteLength };
    (request as { recorded?: Partial<RecordedAudioRequest> }).recorded = recorded;
    if (!fileBytes) return fail(reply, 400, 'file is required');
    if (!fields.model) return fail(reply, 400, 'model is required');
    const audio = await decodeAudio(fileBytes, { sampleRate: engines.transcriber.capabilities.sampleRate });
    const result = await engines.transcriber.transcribe(audio, fields.language ? { language: fields.language } : {});
    switch (fields.response_format ?? 'json') {
      case 'text':
        return reply.type('text/plain').send(result.text);
      case 'verbose_json':
        return { task: 'transcribe', language: 'english', duration: audio.samples.length / audio.sampleRate, text: result.text, segments: [] };
      case 'json':
        return { text: result.text };
      default:
        return fail(reply, 400, `response_format ${fields.response_format} is not offered here`);
    }
  });

  app.post('/v1/audio/speech', async (request, reply) => {
    const body = (request.body ?? {}) as { model?: unknown; input?: unknown; voice?: unknown; response_format?: unknown };
    const format = typeof body.response_format === 'string' ? body.response_format : 'mp3';
    (request as { recorded?: Partial<RecordedAudioRequest> }).recorded = {
      model: typeof body.model === 'string' ? body.model : undefined,
      input: typeof body.input === 'string' ? body.input : undefined,
      voice: typeof body.voice === 'string' ? body.voice : undefined,
      responseFormat: format,
    };
    if (typeof body.input !== 'string' || body.input.trim() === '') return fail(reply, 400, 'input is required');
    if (format !== 'pcm' && format !== 'wav') return fail(reply, 400, `response_format ${format} is not offered here; use pcm or wav`);
    const chunks: Int16Array[] = [];
    for await (const chunk of engines.synthesizer.synthesize({ text: body.input })) chunks.push((await resample(chunk, SPEECH_SAMPLE_RATE)).samples);
    const samples = new Int16Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
    let offset = 0;
    for (const chunk of chunks) {
      samples.set(chunk, offset);
      offset += chunk.length;
    }
    if (format === 'wav') return reply.type('audio/wav').send(writeWav({ samples, sampleRate: SPEECH_SAMPLE_RATE }));
    return reply.type('audio/pcm').send(Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength));
  });

  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as AddressInfo;
  return { baseURL: `http://127.0.0.1:${port}/v1`, requests, close: () => app.close() };
}
