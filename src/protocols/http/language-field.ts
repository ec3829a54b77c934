/**
 * A language form field of the HTTP routes: an ISO-639-1 code or an English name ("fr",
 * "French"), normalised to the code. Empty or absent is `undefined`; anything else unknown is
 * a validation issue naming the field, so the 400 says what to send.
 */
import { z } from 'zod';
import { languageCode } from '../../providers/languages.ts';

export function languageField(field: string) {
  return z
    .string()
    .max(40)
    .optional()
    .transform((value, context) => {
      if (value === undefined || value.trim() === '') return undefined;
      const code = languageCode(value);
      if (!code)
        context.addIssue({ code: 'custom', message: `unknown language ${JSON.stringify(value)} for ${field}: use an ISO-639-1 code such as "en" or "fr"` });
      return code;
    });
}
