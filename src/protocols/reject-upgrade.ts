/**
 * The refusal of an HTTP upgrade (a WebSocket handshake) before any WebSocket exists: a plain
 * HTTP error with the OpenAI-style JSON error body, then the socket is closed.
 */
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { type ErrorCode, SpeechbridgeError } from '../errors/registry.ts';

/** Answers an upgrade with a plain HTTP error and the OpenAI-style JSON error body, then closes the socket. */
export function rejectUpgrade(socket: Duplex, status: number, code: ErrorCode, message: string, param?: string): void {
  rejectUpgradeWith(socket, new SpeechbridgeError(code, message, { status, param }));
}

/** rejectUpgrade for an error already made: its status, body and Retry-After (when it says when to retry). */
export function rejectUpgradeWith(socket: Duplex, error: SpeechbridgeError): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const { status, retryAfterSeconds } = error;
  const body = JSON.stringify(error.toBody());
  const headers = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}`,
    'Content-Type: application/json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
    ...(status === 401 ? ['WWW-Authenticate: Bearer'] : []),
    ...(retryAfterSeconds !== null ? [`Retry-After: ${retryAfterSeconds}`] : []),
  ];
  socket.end(`${headers.join('\r\n')}\r\n\r\n${body}`);
  socket.once('finish', () => socket.destroy());
}
