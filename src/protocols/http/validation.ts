import type { z } from 'zod';
import { SpeechbridgeError } from '../../engine/errors.ts';

/** The first zod issue as an invalid_value error naming the field. */
export function zodFailure(error: z.ZodError): SpeechbridgeError {
  const issue = error.issues[0];
  const param = issue?.path.map(String).join('.') || null;
  const message = issue ? `${param ? `${param}: ` : ''}${issue.message}` : 'invalid request';
  return new SpeechbridgeError('invalid_value', message, { param });
}
