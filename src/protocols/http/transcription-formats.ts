/**
 * Renders a Transcription in the response formats of OpenAI's /v1/audio/transcriptions:
 * json, text, verbose_json, srt and vtt.
 */
import type { Transcription } from '../../providers/contracts.ts';
import { languageName } from '../../providers/languages.ts';

export const TRANSCRIPTION_FORMATS = ['json', 'text', 'verbose_json', 'srt', 'vtt'] as const;
export type TranscriptionFormat = (typeof TRANSCRIPTION_FORMATS)[number];

export interface RenderedBody {
  contentType: string;
  body: string;
}

export function renderTranscription(transcription: Transcription, format: TranscriptionFormat): RenderedBody {
  switch (format) {
    case 'json':
      return json({ text: transcription.text, usage: { type: 'duration', seconds: Math.ceil(transcription.durationMs / 1000) } });
    case 'text':
      return { contentType: 'text/plain; charset=utf-8', body: `${transcription.text}\n` };
    case 'verbose_json':
      return json({
        task: 'transcribe',
        // OpenAI reports the language by its English name ("english"), not its code.
        language: transcription.language ? languageName(transcription.language) : 'unknown',
        duration: round(transcription.durationMs / 1000, 3),
        text: transcription.text,
        segments: segmentsOf(transcription).map((segment, id) => ({
          id,
          seek: 0,
          start: round(segment.startMs / 1000, 3),
          end: round(segment.endMs / 1000, 3),
          text: segment.text,
          tokens: [],
          temperature: 0,
          avg_logprob: 0,
          compression_ratio: 0,
          no_speech_prob: 0,
        })),
        usage: { type: 'duration', seconds: Math.ceil(transcription.durationMs / 1000) },
      });
    case 'srt':
      return {
        contentType: 'application/x-subrip; charset=utf-8',
        body: segmentsOf(transcription)
          .map((segment, index) => `${index + 1}\n${timestamp(segment.startMs, ',')} --> ${timestamp(segment.endMs, ',')}\n${segment.text.trim()}\n`)
          .join('\n'),
      };
    case 'vtt':
      return {
        contentType: 'text/vtt; charset=utf-8',
        body: `WEBVTT\n\n${segmentsOf(transcription)
          .map((segment) => `${timestamp(segment.startMs, '.')} --> ${timestamp(segment.endMs, '.')}\n${segment.text.trim()}\n`)
          .join('\n')}`,
      };
  }
}

/** Providers without timestamps still get one segment spanning the whole audio. */
function segmentsOf(transcription: Transcription) {
  if (transcription.segments.length > 0) return transcription.segments;
  if (transcription.text.trim() === '') return [];
  return [{ startMs: 0, endMs: transcription.durationMs, text: transcription.text }];
}

function timestamp(totalMs: number, separator: ',' | '.'): string {
  const ms = Math.max(0, Math.round(totalMs));
  const hours = Math.floor(ms / 3_600_000);
  const minutes = Math.floor((ms % 3_600_000) / 60_000);
  const seconds = Math.floor((ms % 60_000) / 1000);
  const millis = ms % 1000;
  return `${pad(hours, 2)}:${pad(minutes, 2)}:${pad(seconds, 2)}${separator}${pad(millis, 3)}`;
}

function pad(value: number, width: number): string {
  return String(value).padStart(width, '0');
}

function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

function json(value: unknown): RenderedBody {
  return { contentType: 'application/json; charset=utf-8', body: JSON.stringify(value) };
}
