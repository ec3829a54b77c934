/**
 * The refusal of an HTTP upgrade (a WebSocket handshake) before any WebSocket exists: a plain
 * HTTP error with the OpenAI-style JSON error body, then the socket is closed.
 */
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { type ErrorCode, SpeechbridgeError } from '../errors/registry.ts';

/** Answers an upgrade with a plain HTTP error and the OpenAI-style JSON error body, then closes the socket. */
export function rejectUpgrade(socket: Duplex, status: number, code: ErrorCode, message: string, param?: string): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify(new SpeechbridgeError(code, message, { status, param }).toBody());
  const headers = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}`,
    'Content-Type: application/json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
    ...(status === 401 ? ['WWW-Authenticate: Bearer'] : []),
  ];
  socket.end(`${headers.join('\r\n')}\r\n\r\n${body}`);
  socket.once('finish', () => socket.destroy());
}
