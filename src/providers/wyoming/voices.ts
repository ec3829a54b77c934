/**
 * Voice names for a Wyoming synthesis server, from the voices its `info` lists (piper's are
 * names like "en_US-lessac-medium", some with several speakers). A requested voice resolves to
 * what the `synthesize` event's `voice` field carries:
 *
 * 1. a voice the server lists, by name in any case → that voice;
 * 2. `voice:speaker` for a multi-speaker voice → that voice and speaker;
 * 3. an OpenAI voice name (alloy, coral…, what OpenAI clients send and DEFAULT_TTS_VOICE's
 *    default) → the server's first installed voice, so those clients work unchanged;
 * 4. a language tag ("en", "en-GB", "de_DE") → the first installed voice speaking it (the exact
 *    tag first, then the language alone): piper picks a voice by name only, so the gateway
 *    chooses one rather than sending a language the server would ignore;
 * 5. anything else → unknown_voice, listing some voices the server has.
 */
import { SpeechbridgeError } from '../../errors/registry.ts';
import { OPENAI_VOICES } from '../openai/voices.ts';
import type { WyomingTtsProgram, WyomingTtsVoice } from './messages.ts';

/** The `voice` field of `synthesize`; undefined lets the server use its own default. */
export interface WyomingVoiceChoice {
  name: string;
  speaker?: string;
}

/** Voice names quoted in an unknown_voice message; piper lists over a hundred. */
const QUOTED_VOICES = 8;

export class WyomingVoices {
  /** Names to advertise: OpenAI's, then the server's. */
  readonly names: readonly string[];
  readonly #program: WyomingTtsProgram;
  readonly #byName = new Map<string, WyomingTtsVoice>();
  readonly #server: string;

  constructor(program: WyomingTtsProgram, server: string) {
    this.#program = program;
    this.#server = server;
    for (const voice of program.voices) if (!this.#byName.has(voice.name.toLowerCase())) this.#byName.set(voice.name.toLowerCase(), voice);
    this.names = [...new Set([...OPENAI_VOICES, ...program.voices.map((voice) => voice.name)])];
  }

  /** The voice to send for `requested`; undefined when the server lists none (its default speaks). */
  resolve(requested: string): WyomingVoiceChoice | undefined {
    const wanted = requested.trim();
    const key = wanted.toLowerCase();
    const named = this.#byName.get(key);
    if (named) return { name: named.name };
    const colon = wanted.lastIndexOf(':');
    if (colon > 0) {
      const voice = this.#byName.get(key.slice(0, colon));
      const speaker = voice?.speakers.find((name) => name.toLowerCase() === key.slice(colon + 1));
      if (voice && speaker) return { name: voice.name, speaker };
    }
    if ((OPENAI_VOICES as readonly string[]).includes(key)) return this.#defaultVoice();
    const byLanguage = this.#byLanguage(key);
    if (byLanguage) return { name: byLanguage.name };
    throw new SpeechbridgeError('unknown_voice', this.#unknown(wanted), { param: 'voice' });
  }

  #defaultVoice(): WyomingVoiceChoice | undefined {
    const voice = this.#program.voices.find((candidate) => candidate.installed) ?? this.#program.voices[0];
    return voice ? { name: voice.name } : undefined;
  }

  #byLanguage(key: string): WyomingTtsVoice | undefined {
    if (!/^[a-z]{2,3}([-_][a-z0-9]{2,8})*$/.test(key)) return undefined;
    const tag = normalizeTag(key);
    const base = tag.split('-')[0];
    const installed = this.#program.voices.filter((voice) => voice.installed);
    const pools = [installed, this.#program.voices];
    for (const pool of pools) {
      const exact = pool.find((voice) => voice.languages.some((language) => normalizeTag(language) === tag));
      if (exact) return exact;
    }
    for (const pool of pools) {
      const sameLanguage = pool.find((voice) => voice.languages.some((language) => normalizeTag(language).split('-')[0] === base));
      if (sameLanguage) return sameLanguage;
    }
    return undefined;
  }

  #unknown(wanted: string): string {
    const voices = this.#program.voices.map((voice) => voice.name);
    const listed =
      voices.length === 0
        ? 'it lists no voices'
        : `its voices: ${voices.slice(0, QUOTED_VOICES).join(', ')}${voices.length > QUOTED_VOICES ? `… (${voices.length} in all)` : ''}`;
    return `${this.#server} (${this.#program.name}) has no voice "${wanted.slice(0, 100)}"; ${listed}; a language code or an OpenAI voice name picks one too`;
  }
}

/** "en_US" and "en-us" → "en-us". */
function normalizeTag(tag: string): string {
  return tag.trim().toLowerCase().replace(/_/g, '-');
}
