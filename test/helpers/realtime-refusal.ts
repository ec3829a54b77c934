/**
 * Opening /v1/realtime (or any WebSocket door) when a refusal is expected: the HTTP status,
 * Retry-After and JSON error body the upgrade was answered with, or the open socket when it was
 * not refused.
 */
import WebSocket from 'ws';

export type UpgradeOutcome =
  | { opened: true; socket: WebSocket }
  | { opened: false; status: number; retryAfter: string | undefined; body: { error?: { code?: string; type?: string; message?: string } } };

export function tryUpgrade(url: string, token: string, protocols: string[] = ['realtime']): Promise<UpgradeOutcome> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, protocols, { headers: { authorization: `Bearer ${token}` } });
    socket.once('open', () => resolve({ opened: true, socket }));
    socket.once('unexpected-response', (_request, response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => {
        let body: Extract<UpgradeOutcome, { opened: false }>['body'];
        try {
          body = JSON.parse(text);
        } catch {
          body = { error: { message: text } };
        }
        const retryAfter = response.headers['retry-after'];
        resolve({ opened: false, status: response.statusCode ?? 0, retryAfter, body });
      });
    });
    socket.once('error', reject);
  });
}
