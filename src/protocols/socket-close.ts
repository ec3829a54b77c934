/**
 * Closing a door's WebSocket so that it ends even when the client has stopped reading: the
 * close frame goes out, and a socket whose close frame is still stuck behind an unread
 * backlog CLOSE_GRACE_MS later is destroyed. Every door waits at most that long for an
 * engine finishing before a server-side close, too.
 */
import type { WebSocket } from 'ws';

/** One second: a reading client gets a close frame (and a finishing engine its last event) well within it. */
export const CLOSE_GRACE_MS = 1000;

export function closeWebSocket(socket: WebSocket, code: number, reason: string): void {
  if (socket.readyState !== socket.OPEN && socket.readyState !== socket.CONNECTING) return;
  socket.close(code, reason);
  const destroy = setTimeout(() => socket.terminate(), CLOSE_GRACE_MS);
  destroy.unref();
  socket.once('close', () => clearTimeout(destroy));
}
