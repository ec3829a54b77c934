/**
 * WebSocket subprotocols at a door's upgrade. Browsers cannot set headers on a WebSocket, so a
 * token rides in the `openai-insecure-api-key.<token>` subprotocol (TokenAuth reads it), and a
 * browser fails the handshake when it offered subprotocols and the server selected none.
 */
import type { IncomingMessage } from 'node:http';

export const TOKEN_SUBPROTOCOL_PREFIX = 'openai-insecure-api-key.';

/** The subprotocols the client offered, in its order. */
export function offeredSubprotocols(request: IncomingMessage): string[] {
  const header = request.headers['sec-websocket-protocol'];
  if (typeof header !== 'string') return [];
  return header
    .split(',')
    .map((protocol) => protocol.trim())
    .filter(Boolean);
}

/**
 * For doors without protocol names of their own: the first offered protocol that carries no
 * token, or else the token protocol itself (the client already holds the token, and a browser
 * could not connect otherwise); false when none was offered.
 */
export function selectAnySubprotocol(protocols: Set<string>): string | false {
  const offered = [...protocols];
  return offered.find((protocol) => !protocol.startsWith(TOKEN_SUBPROTOCOL_PREFIX)) ?? offered[0] ?? false;
}
