/**
 * POST /tts-proxy — JSON `{model, input, voice, response_format, speed?, instructions?}` →
 * audio. The server's synthesizer does the work: the TTS upstream when TTS_API_URL is set
 * (the request's model and voice are passed on), else the embedded engine. Opus comes in a
 * WebM container by default (`audio/webm`, what browsers record and play through
 * MediaSource); `response_format: "ogg"` gives Ogg/Opus (`audio/ogg`). Failures, the
 * upstream's included, answer with `{"error":{"message","type","param","code"}}`: 400 for
 * bad input or an unknown voice, 502/503/504 when the upstream fails, cannot be reached or
 * times out.
 */
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { SESSION_RANGES } from '../../engine/ranges.ts';
import { numberIn } from '../range-schemas.ts';
import { SpeechbridgeError } from '../../errors/registry.ts';
import type { Synthesizer } from '../../providers/contracts.ts';
import { encodeSpeech, speakFor, type SpeechEncoding } from './speech-audio.ts';
import { parseJsonBody } from './validation.ts';

const MAX_INPUT_CHARS = 4096;

/** 'opus' and 'webm' are both Opus in WebM; 'ogg' is Opus in Ogg. */
export const TTS_PROXY_FORMATS = ['opus', 'webm', 'ogg', 'mp3', 'aac', 'flac', 'wav', 'pcm'] as const;
type ProxyFormat = (typeof TTS_PROXY_FORMATS)[number];

const OUTPUT: Record<ProxyFormat, { encoding: SpeechEncoding; contentType: string }> = {
  opus: { encoding: 'webm', contentType: 'audio/webm' },
  webm: { encoding: 'webm', contentType: 'audio/webm' },
  ogg: { encoding: 'opus', contentType: 'audio/ogg' },
  mp3: { encoding: 'mp3', contentType: 'audio/mpeg' },
  aac: { encoding: 'aac', contentType: 'audio/aac' },
  flac: { encoding: 'flac', contentType: 'audio/flac' },
  wav: { encoding: 'wav', contentType: 'audio/wav' },
  pcm: { encoding: 'pcm', contentType: 'audio/pcm' },
};

const BODY = z.object({
  model: z.string().max(200).optional(),
  input: z.string({ error: 'input is required: the text to speak' }).max(MAX_INPUT_CHARS, `input is longer than ${MAX_INPUT_CHARS} characters`),
  voice: z.string().max(100).optional(),
  response_format: z.string().max(20).default('opus'),
  speed: numberIn(SESSION_RANGES.speed).optional(),
  instructions: z.string().max(4096).optional(),
});

/** `maxAudioMs`: MAX_RESPONSE_AUDIO_SECONDS, the most audio one request may have. */
export function registerTtsProxyRoute(app: FastifyInstance, synthesizer: Synthesizer, defaultVoice: string, maxAudioMs: number): void {
  app.post('/tts-proxy', async (request, reply) => {
    const body = parseJsonBody(request, BODY);
    const format = body.response_format.toLowerCase();
    if (!isProxyFormat(format)) {
      throw new SpeechbridgeError(
        'unsupported_format',
        `unknown response_format ${JSON.stringify(body.response_format)}; expected one of ${TTS_PROXY_FORMATS.join(', ')}`,
        {
          param: 'response_format',
        },
      );
    }
    const { samples, signal } = await speakFor(reply, synthesizer, body, defaultVoice, maxAudioMs);
    const output = OUTPUT[format];
    return reply.type(output.contentType).send(Readable.from(encodeSpeech(samples, output.encoding, signal)));
  });
}

function isProxyFormat(format: string): format is ProxyFormat {
  return (TTS_PROXY_FORMATS as readonly string[]).includes(format);
}
