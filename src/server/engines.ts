/**
 * The engines a server runs on: one transcriber, one responder, one synthesizer and the VAD
 * settings, chosen from configuration (src/server/engine-factory.ts builds them).
 */
import type { Responder, Synthesizer, Transcriber } from '../providers/contracts.ts';

export interface EngineSummary {
  transcriber: { engine: string; model?: string; note?: string };
  responder: { engine: string; model?: string };
  synthesizer: { engine: string; model?: string; voice?: string };
  vad: { engine: string };
}

export interface Engines {
  transcriber: Transcriber;
  responder: Responder;
  synthesizer: Synthesizer;
  summary: EngineSummary;
  close(): Promise<void>;
}
