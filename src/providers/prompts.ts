/**
 * Default system prompts for the three responder modes. DEFAULT_SYSTEM_PROMPT (the env
 * variable) replaces the reply prompt; a request's own instructions replace any of them.
 * The replies are spoken, so the prompts ask for short plain sentences: markdown would be read
 * out as symbols, and a long first sentence delays the first audio.
 */
import type { RespondRequest } from './contracts.ts';

export const DEFAULT_SYSTEM_PROMPT =
  'You are a helpful voice assistant. Your replies are spoken aloud, so answer in short, natural spoken sentences. ' +
  'Keep answers brief unless asked for detail. Do not use markdown, lists, headings, code blocks, emoji or URLs; ' +
  'spell out symbols and abbreviations the way a person would say them.';

/** Used when a translate request names no target language. */
export const DEFAULT_TARGET_LANGUAGE = 'English';

export function translatePrompt(targetLanguage: string): string {
  return (
    `Translate the user's text into ${targetLanguage}. Output only the translation: ` +
    'no explanations, notes, quotes or transliterations. Keep the meaning, tone and names; ' +
    'if the text is already in that language, repeat it unchanged.'
  );
}

export const REWRITE_PROMPT =
  'Rewrite the transcript you are given into concise, well-punctuated text that preserves its meaning. ' +
  'Remove filler words, false starts and repetitions; fix capitalization and punctuation. ' +
  'Do not answer questions in it or add anything. Output only the rewritten text.';

export interface PromptDefaults {
  /** Replaces DEFAULT_SYSTEM_PROMPT for mode 'reply' (the DEFAULT_SYSTEM_PROMPT setting). */
  replyPrompt?: string;
}

/**
 * The system prompt for a request: its own instructions, else the mode's default. For
 * 'translate' the target language is always stated, also after custom instructions, because
 * the request carries it separately.
 */
export function systemPromptFor(request: Pick<RespondRequest, 'mode' | 'instructions' | 'targetLanguage'>, defaults: PromptDefaults = {}): string {
  const instructions = request.instructions?.trim();
  switch (request.mode) {
    case 'reply':
      return instructions || defaults.replyPrompt || DEFAULT_SYSTEM_PROMPT;
    case 'translate': {
      const target = languageDisplayName(request.targetLanguage ?? DEFAULT_TARGET_LANGUAGE);
      return instructions ? `${instructions}\n\nTranslate into ${target}.` : translatePrompt(target);
    }
    case 'rewrite':
      return instructions || REWRITE_PROMPT;
  }
}

/** "fr" → "French", "pt-BR" → "Brazilian Portuguese"; anything else is returned as given. */
export function languageDisplayName(language: string): string {
  const trimmed = language.trim();
  if (!/^[a-z]{2,3}(-[a-z0-9]{2,8})*$/i.test(trimmed)) return trimmed;
  try {
    return new Intl.DisplayNames(['en'], { type: 'language', fallback: 'none' }).of(trimmed) ?? trimmed;
  } catch {
    return trimmed;
  }
}
