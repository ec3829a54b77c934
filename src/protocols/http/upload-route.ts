/**
 * POST /upload — multipart `file` (any container ffmpeg reads), `target_lang` and
 * `primary_lang` (ISO-639-1 codes or English names, default "fr") →
 * `{"detected_lang","transcription","diarization"?,"translation_<lang>"…}`.
 *
 * The file is transcribed without a language hint: `detected_lang` is the language the
 * transcriber reports, detected where it can detect (capabilities.languageDetection), else the
 * one language it transcribes (pocketsphinx, English-only whisper models: "en"), else "unknown".
 * The text is translated into primary_lang and target_lang where they differ from it, through
 * the configured LLM, each translation cached. Diarization (DIAR_URL) runs alongside. A failed
 * translation or diarization is reported in the body (`translation_<lang>_error`,
 * `diarization_error`) instead of failing the request.
 */
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { z } from 'zod';
import { isAbortError } from '../../errors/abort.ts';
import { SpeechbridgeError, toSpeechbridgeError } from '../../errors/registry.ts';
import type { Transcriber } from '../../providers/contracts.ts';
import type { DiarizationClient } from '../../providers/diarization-client.ts';
import type { Translator } from '../../providers/translator.ts';
import { abortOnDisconnect } from './disconnect.ts';
import { languageField } from './language-field.ts';
import { readMultipart, type UploadedFile, uploadLimits } from './multipart.ts';
import { decodeUploadedAudio, requireAudioFile } from './uploaded-audio.ts';
import { zodFailure } from './validation.ts';

/**
 * Smallest file accepted: 16 KB, half a second of 16 kHz WAV. Anything smaller is a click of
 * the record button rather than speech; it gets a 400 that says so instead of an empty result.
 */
export const MIN_UPLOAD_BYTES = 16 * 1024;

const DEFAULT_LANGUAGE = 'fr';

/** Empty or absent: DEFAULT_LANGUAGE. */
const language = (field: string) => languageField(field).transform((code) => code ?? DEFAULT_LANGUAGE);

const FIELDS = z.object({ target_lang: language('target_lang'), primary_lang: language('primary_lang') });

export interface UploadRouteOptions {
  transcriber: Transcriber;
  /** Translates through the configured LLM, with its cache. */
  translator: Translator;
  /** Present when diarization is configured (DIAR_URL). */
  diarizer?: DiarizationClient;
  /** MAX_UPLOAD_MB in bytes. */
  maxUploadBytes: number;
}

type DiarizationOutcome = { diarization: unknown } | { diarization_error: string } | undefined;

export function registerUploadRoute(app: FastifyInstance, options: UploadRouteOptions): void {
  const { transcriber, translator, diarizer } = options;
  const limits = uploadLimits(options.maxUploadBytes);
  app.post('/upload', { bodyLimit: limits.maxBodyBytes }, async (request, reply) => {
    const upload = await readMultipart(request, limits);
    const parsed = FIELDS.safeParse(upload.fields);
    if (!parsed.success) throw zodFailure(parsed.error);
    const fields = parsed.data;
    const file = requireAudioFile(upload);
    if (file.bytes.length < MIN_UPLOAD_BYTES) {
      throw new SpeechbridgeError(
        'upload_too_small',
        `uploaded file ${JSON.stringify(file.filename)} is ${file.bytes.length} bytes; /upload needs at least ${MIN_UPLOAD_BYTES} bytes (16 KB) of audio`,
        { param: 'file' },
      );
    }

    const signal = abortOnDisconnect(reply);
    // Diarization needs only the file, so it runs while the audio is decoded and transcribed;
    // its own controller stops it when the transcription fails.
    const diarizationStop = new AbortController();
    const diarizing = diarizer ? diarize(diarizer, file, AbortSignal.any([signal, diarizationStop.signal]), request.log) : Promise.resolve(undefined);
    let diarization: DiarizationOutcome;
    try {
      const audio = await decodeUploadedAudio(file, transcriber.capabilities.sampleRate, signal);
      const transcription = await transcriber.transcribe(audio, { signal });
      const detected = detectedLanguage(transcriber, transcription.language);
      const targets = [...new Set([fields.primary_lang, fields.target_lang])].filter((target) => target !== baseLanguage(detected));
      const translations = await Promise.all(targets.map((target) => translate(translator, transcription.text, target, signal, request.log)));
      diarization = await diarizing;
      return reply.send({
        detected_lang: detected,
        transcription: transcription.text,
        ...diarization,
        ...Object.assign({}, ...translations),
      });
    } finally {
      diarizationStop.abort();
      // Settles at once after the abort; awaited so no call outlives the request.
      await diarizing;
    }
  });
}

/** The transcriber's language for this file: detected, or the only one it knows, or "unknown". */
function detectedLanguage(transcriber: Transcriber, reported: string | undefined): string {
  if (reported) return reported;
  const known = transcriber.capabilities.languages;
  return known !== 'any' && known.length === 1 ? known[0] : 'unknown';
}

/** "en-US" → "en": translation targets are compared by language, not region. */
function baseLanguage(code: string): string {
  return code.toLowerCase().split(/[-_]/)[0];
}

async function translate(translator: Translator, text: string, target: string, signal: AbortSignal, log: FastifyBaseLogger): Promise<Record<string, string>> {
  try {
    return { [`translation_${target}`]: await translator.translate(text, target, signal) };
  } catch (error) {
    if (isAbortError(error)) throw error;
    const failure = toSpeechbridgeError(error);
    log.warn({ code: failure.code, target }, `translation failed: ${failure.message}`);
    return { [`translation_${target}_error`]: failure.message };
  }
}

/** Never rejects: a failure is the outcome `diarization_error`, an abort is no outcome. */
async function diarize(client: DiarizationClient, file: UploadedFile, signal: AbortSignal, log: FastifyBaseLogger): Promise<DiarizationOutcome> {
  try {
    return { diarization: await client.diarize(file, signal) };
  } catch (error) {
    if (isAbortError(error)) return undefined;
    const failure = toSpeechbridgeError(error);
    log.warn({ code: failure.code }, `diarization failed: ${failure.message}`);
    return { diarization_error: failure.message };
  }
}
