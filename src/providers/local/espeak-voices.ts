/**
 * Voice names for the espeak-ng synthesizer: espeak's own (language names such as "en-us",
 * "en-gb", "fr", "de", "es"; voice files such as "en-gb-x-rp"; full identifiers such as
 * "gmw/en-US"; each optionally with a "+variant" such as "en-us+f3"), plus OpenAI's voice
 * names mapped onto English voices and variants so OpenAI clients work unchanged.
 * Speed maps onto espeak's rate in words per minute.
 */
import { SpeechbridgeError } from '../../errors/registry.ts';
import { OPENAI_VOICES, type OpenAIVoice } from '../openai/voices.ts';

/** One voice file as espeak-ng lists it; a lower priority number is a better match. */
export interface EspeakVoiceInfo {
  identifier: string;
  languages: { priority: number; name: string }[];
}

/** What the loaded engine offers: its voice files and its variant names (m1…m8, f1…f5, klatt…). */
export interface EspeakCatalogue {
  voices: EspeakVoiceInfo[];
  variants: string[];
}

/**
 * OpenAI voice → espeak voice. Pitch decides the variant: OpenAI's lower voices (ash, echo,
 * onyx, verse, cedar) get male variants, the higher ones (coral, nova, sage, shimmer, marin)
 * female ones; ballad and fable use the British RP voice. alloy, OpenAI's default, is plain
 * American English.
 */
export const OPENAI_VOICE_MAP: Readonly<Record<OpenAIVoice, string>> = {
  alloy: 'en-us',
  ash: 'en-us+m3',
  ballad: 'en-gb-x-rp+m2',
  coral: 'en-us+f3',
  echo: 'en-us+m1',
  fable: 'en-gb-x-rp',
  nova: 'en-us+f2',
  onyx: 'en-us+m8',
  sage: 'en-us+f4',
  shimmer: 'en-us+f5',
  verse: 'en-us+m2',
  marin: 'en-us+f1',
  cedar: 'en-us+m4',
};

export const OPENAI_VOICE_NAMES: readonly string[] = OPENAI_VOICES;

/** espeak-ng's own default rate. */
export const DEFAULT_WORDS_PER_MINUTE = 175;
/** The rate range espeak-ng accepts without libsonic (not in this build): it clamps outside it. */
export const MIN_WORDS_PER_MINUTE = 80;
export const MAX_WORDS_PER_MINUTE = 450;

export class EspeakVoices {
  /** Lower-case name → espeak voice identifier. */
  private readonly byName = new Map<string, string>();
  /** Lower-case variant → its file name. */
  private readonly variants = new Map<string, string>();
  /** Names to advertise: OpenAI's first, then espeak's language and file names. */
  readonly names: readonly string[];

  constructor(catalogue: EspeakCatalogue) {
    // Language names first, the lowest priority number winning as in espeak-ng's own voice
    // selection ("en-gb" → gmw/en); then file names and identifiers, which win over them.
    const languagePriority = new Map<string, number>();
    for (const voice of catalogue.voices) {
      for (const language of voice.languages) {
        const key = language.name.toLowerCase();
        const best = languagePriority.get(key);
        if (best === undefined || language.priority < best) {
          languagePriority.set(key, language.priority);
          this.byName.set(key, voice.identifier);
        }
      }
    }
    for (const voice of catalogue.voices) {
      this.byName.set(baseName(voice.identifier).toLowerCase(), voice.identifier);
      this.byName.set(voice.identifier.toLowerCase(), voice.identifier);
    }
    for (const variant of catalogue.variants) this.variants.set(variant.toLowerCase(), variant);
    const espeakNames = new Set<string>();
    for (const voice of catalogue.voices) {
      espeakNames.add(baseName(voice.identifier).toLowerCase());
      for (const language of voice.languages) espeakNames.add(language.name.toLowerCase());
    }
    this.names = [...OPENAI_VOICE_NAMES, ...[...espeakNames].sort()];
  }

  /** The argument for espeak's set_voice ("gmw/en-US+f3"), or unknown_voice. */
  resolve(voice: string): string {
    const requested = voice.trim().toLowerCase();
    const mapped = Object.hasOwn(OPENAI_VOICE_MAP, requested) ? OPENAI_VOICE_MAP[requested as OpenAIVoice] : requested;
    const [base, variant, ...extra] = mapped.split('+');
    const identifier = this.byName.get(base);
    const variantFile = variant === undefined ? undefined : this.variants.get(variant);
    if (!identifier || extra.length > 0 || (variant !== undefined && !variantFile)) {
      throw new SpeechbridgeError(
        'unknown_voice',
        `voice "${voice}" is not an espeak-ng voice or an OpenAI voice name; use one of ${OPENAI_VOICE_NAMES.join(', ')}, ` +
          'or an espeak-ng language such as en-us, en-gb, fr, de, es (optionally with a variant: en-us+f3)',
        { param: 'voice' },
      );
    }
    return variantFile ? `${identifier}+${variantFile}` : identifier;
  }

  has(voice: string): boolean {
    try {
      this.resolve(voice);
      return true;
    } catch {
      return false;
    }
  }
}

/**
 * OpenAI speed (0.25–4, 1 = normal) → espeak words per minute. espeak-ng clamps to 80–450
 * wpm, so speeds below about 0.46 or above about 2.57 sound the same as those limits.
 */
export function wordsPerMinute(speed: number | undefined): number {
  if (speed === undefined) return DEFAULT_WORDS_PER_MINUTE;
  if (!Number.isFinite(speed) || speed < 0.25 || speed > 4) {
    throw new SpeechbridgeError('invalid_value', `speed must be between 0.25 and 4, got ${speed}`, { param: 'speed' });
  }
  const rate = Math.round(DEFAULT_WORDS_PER_MINUTE * speed);
  return Math.min(MAX_WORDS_PER_MINUTE, Math.max(MIN_WORDS_PER_MINUTE, rate));
}

function baseName(identifier: string): string {
  return identifier.slice(identifier.lastIndexOf('/') + 1);
}
