import type { FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { SpeechbridgeError } from '../../errors/registry.ts';

/** The first zod issue as an invalid_value error naming the field. */
export function zodFailure(error: z.ZodError): SpeechbridgeError {
  const issue = error.issues[0];
  const param = issue?.path.map(String).join('.') || null;
  const message = issue ? `${param ? `${param}: ` : ''}${issue.message}` : 'invalid request';
  return new SpeechbridgeError('invalid_value', message, { param });
}

/** A JSON request body checked against `schema`: 415 for another content type, 400 naming the first bad field. */
export function parseJsonBody<T extends z.ZodType>(request: FastifyRequest, schema: T): z.infer<T> {
  if (!request.headers['content-type']?.includes('application/json')) {
    throw new SpeechbridgeError('invalid_content_type', `expected Content-Type application/json, got ${request.headers['content-type'] ?? 'none'}`, {
      status: 415,
    });
  }
  const parsed = schema.safeParse(request.body);
  if (!parsed.success) throw zodFailure(parsed.error);
  return parsed.data;
}
