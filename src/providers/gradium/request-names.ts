/**
 * Model and voice names in requests, for Gradium. Clients of the OpenAI-shaped doors send
 * OpenAI's names by default (`whisper-1`, `gpt-4o-transcribe`, `tts-1`, the voice `alloy`):
 * they name nothing at Gradium, so they mean the configured model or voice. Any other name is
 * passed on for Gradium to judge (a Gradium gateway client's `voice_id`, a model alias).
 */
import { OPENAI_VOICES } from '../openai/voices.ts';

/** Gradium's default voice (Emma), as its documentation and existing deployments use it. */
export const DEFAULT_GRADIUM_VOICE_ID = 'YTpq7expH9539ERJ';

const OPENAI_MODEL_NAMES = /^(whisper-|gpt-|tts-)/i;

export function gradiumModel(requested: string | undefined, configured: string): string {
  return requested && !OPENAI_MODEL_NAMES.test(requested) ? requested : configured;
}

export function gradiumVoice(requested: string | undefined, configured: string): string {
  return requested && !(OPENAI_VOICES as readonly string[]).includes(requested.toLowerCase()) ? requested : configured;
}
