/**
 * A plain HTTP request answered with an error before any server behind the door reads it
 * (a malformed target, a Socket.IO handshake the instance cannot take): the status, the
 * OpenAI-style JSON error body, and Retry-After when the error says when to retry.
 */
import type { ServerResponse } from 'node:http';
import type { SpeechbridgeError } from '../errors/registry.ts';

export function respondWithError(response: ServerResponse, error: SpeechbridgeError): void {
  const body = JSON.stringify(error.toBody());
  response.writeHead(error.status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    connection: 'close',
    ...(error.retryAfterSeconds !== null && { 'retry-after': String(error.retryAfterSeconds) }),
  });
  response.end(body);
}
