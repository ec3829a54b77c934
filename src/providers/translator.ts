/**
 * Text translation through the configured Responder (mode 'translate'), with the streamed
 * deltas collected into one string and the result kept in a TranslationCache.
 */
import { throwIfAborted } from '../errors/abort.ts';
import { SpeechbridgeError } from '../errors/registry.ts';
import type { Responder } from './contracts.ts';
import type { TranslationCache } from './translation-cache.ts';

/**
 * A translation may run longer than its source (German from English: about 1.3×), never 10×
 * plus a paragraph: past that the model is rambling or looping, and collecting stops.
 */
const MAX_GROWTH = 10;
const MAX_EXTRA_CHARS = 2000;

export class Translator {
  private readonly responder: Responder;
  private readonly cache: TranslationCache;

  constructor(responder: Responder, cache: TranslationCache) {
    this.responder = responder;
    this.cache = cache;
  }

  /** `text` in `language` (an ISO-639-1 code); a repeat of a cached pair makes no call. */
  async translate(text: string, language: string, signal: AbortSignal): Promise<string> {
    throwIfAborted(signal);
    if (text.trim() === '') return '';
    const cached = this.cache.get(text, language);
    if (cached !== undefined) return cached;
    if (!this.responder.capabilities.modes.includes('translate')) {
      throw new SpeechbridgeError('engine_unavailable', `the language model (${this.responder.name}) does not translate`);
    }
    const limit = text.length * MAX_GROWTH + MAX_EXTRA_CHARS;
    let translation = '';
    // Leaving the loop early (the limit below) ends the responder's stream, and with it the upstream request.
    for await (const event of this.responder.respond({ mode: 'translate', targetLanguage: language, messages: [{ role: 'user', content: text }], signal })) {
      if (event.type !== 'text.delta') continue;
      translation += event.text;
      if (translation.length > limit) {
        const source = this.responder.upstream ?? this.responder.name;
        throw new SpeechbridgeError(
          'upstream_response_too_large',
          `${source} wrote a translation into ${language} of more than ${limit} characters for a ${text.length}-character text; stopped`,
        );
      }
    }
    const result = translation.trim();
    this.cache.set(text, language, result);
    return result;
  }
}
