/**
 * The providers a server runs on: one transcriber, one responder, one synthesizer and the VAD
 * settings, chosen from configuration (src/server/provider-factory.ts builds them).
 */
import type { Responder, Synthesizer, Transcriber } from '../providers/contracts.ts';

/** Why a transcriber other than the configured one runs (shown by `GET /` and the demo page). */
export interface FallbackSummary {
  /** The engine that was meant to run, e.g. "whisper base.en". */
  from: string;
  /** Why it could not, in words for a user (no server paths; the log has the details). */
  reason: string;
}

export interface ProviderSummary {
  transcriber: { engine: string; model?: string; note?: string; fallback?: FallbackSummary };
  responder: { engine: string; model?: string };
  synthesizer: { engine: string; model?: string; voice?: string };
  vad: { engine: string };
}

export interface Providers {
  transcriber: Transcriber;
  responder: Responder;
  synthesizer: Synthesizer;
  summary: ProviderSummary;
  close(): Promise<void>;
}

/**
 * One line for people: "speech recognition whisper base.en · replies echo · speech synthesis
 * espeak-ng (voice alloy) · VAD webrtc-vad (aggressiveness 2)", with the fallback note when
 * the offline fallback runs.
 */
export function describeProviders(summary: ProviderSummary): string {
  const { transcriber, responder, synthesizer, vad } = summary;
  const named = (engine: string, model?: string) => (model ? `${engine} ${model}` : engine);
  const recognition = named(transcriber.engine, transcriber.model) + (transcriber.note ? ` (${transcriber.note})` : '');
  const speech = named(synthesizer.engine, synthesizer.model) + (synthesizer.voice ? ` (voice ${synthesizer.voice})` : '');
  return `speech recognition ${recognition} · replies ${named(responder.engine, responder.model)} · speech synthesis ${speech} · VAD ${vad.engine}`;
}
