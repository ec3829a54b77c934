/**
 * The WebSocket under every CLI client (`ws`): opens with the token as a bearer header, turns
 * handshake failures into messages a user can act on (server not running, token refused, no
 * such endpoint), and offers the small set of operations the protocol clients need.
 */
import { once } from 'node:events';
import { WebSocket, type RawData } from 'ws';
import { rawDataToBuffer } from '../../protocols/raw-data.ts';
import { SpeechbridgeError } from '../../errors/registry.ts';

/** A handshake that takes longer than 10 s is a server that accepts TCP but does not answer. */
const HANDSHAKE_TIMEOUT_MS = 10_000;

/**
 * Outbound bytes queued in the socket beyond which senders wait (drain): 1 MB is 21 s of
 * 24 kHz PCM16 as binary frames, 16 s as base64 JSON.
 */
const HIGH_WATER_BYTES = 1024 * 1024;

/** How often drain() looks at bufferedAmount: `ws` has no event for it going down. */
const DRAIN_POLL_MS = 10;

/** Largest error body read from a refused handshake: the server's are under 300 bytes. */
const MAX_REFUSAL_BODY_BYTES = 4096;

const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ETIMEDOUT', 'ECONNRESET']);

/** TLS failures that a certificate the user trusts would fix (self-signed, private CA, wrong host name). */
const TLS_TRUST_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

export interface SocketHandlers {
  onText(text: string): void;
  onBinary(bytes: Buffer): void;
  onClose(code: number, reason: string): void;
}

export class ClientSocket {
  private constructor(private readonly socket: WebSocket) {}

  static async open(url: string, token: string | undefined, handlers: SocketHandlers, signal: AbortSignal): Promise<ClientSocket> {
    const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
    const socket = new WebSocket(url, { headers, handshakeTimeout: HANDSHAKE_TIMEOUT_MS, perMessageDeflate: false });
    socket.on('message', (data: RawData, isBinary: boolean) => {
      const bytes = rawDataToBuffer(data);
      if (isBinary) handlers.onBinary(bytes);
      else handlers.onText(bytes.toString('utf8'));
    });
    const onAbort = () => socket.terminate();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('open', () => resolve());
        socket.once('error', (error: NodeJS.ErrnoException) => reject(connectFailure(url, error)));
        socket.once('unexpected-response', (_request, response) => {
          const chunks: Buffer[] = [];
          let size = 0;
          response.on('data', (chunk: Buffer) => {
            if (size < MAX_REFUSAL_BODY_BYTES) chunks.push(chunk);
            size += chunk.length;
          });
          response.on('end', () => reject(refusal(url, response.statusCode ?? 0, Buffer.concat(chunks).toString('utf8'), token !== undefined)));
          response.on('error', () => reject(refusal(url, response.statusCode ?? 0, '', token !== undefined)));
        });
        socket.once('close', () => reject(new SpeechbridgeError('upstream_unreachable', `the connection to ${url} closed during the handshake`)));
      });
    } catch (error) {
      socket.removeAllListeners('error');
      socket.on('error', () => {});
      socket.terminate();
      if (signal.aborted) throw signal.reason;
      throw error;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
    socket.removeAllListeners('close');
    socket.removeAllListeners('error');
    // After the handshake a socket error is followed by 'close', which is where it is reported.
    socket.on('error', () => {});
    socket.once('close', (code: number, reason: Buffer) => handlers.onClose(code, reason.toString('utf8')));
    return new ClientSocket(socket);
  }

  get isOpen(): boolean {
    return this.socket.readyState === WebSocket.OPEN;
  }

  sendJson(message: Record<string, unknown>): void {
    if (this.isOpen) this.socket.send(JSON.stringify(message));
  }

  sendBinary(bytes: Uint8Array): void {
    if (this.isOpen) this.socket.send(bytes, { binary: true });
  }

  async drain(signal: AbortSignal): Promise<void> {
    while (this.isOpen && this.socket.bufferedAmount > HIGH_WATER_BYTES) {
      signal.throwIfAborted();
      await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS));
    }
  }

  /** Closes with 1000 and waits for the close handshake (the server answers within milliseconds; 2 s at most). */
  async close(): Promise<void> {
    const socket = this.socket;
    if (socket.readyState === WebSocket.CLOSED) return;
    const closed = once(socket, 'close');
    if (socket.readyState === WebSocket.OPEN) socket.close(1000);
    const timer = setTimeout(() => socket.terminate(), 2000);
    try {
      await closed;
    } finally {
      clearTimeout(timer);
    }
  }
}

function connectFailure(url: string, error: NodeJS.ErrnoException): SpeechbridgeError {
  const code = error.code ?? '';
  if (UNREACHABLE_CODES.has(code) || /ECONNREFUSED|ENOTFOUND/.test(error.message)) {
    return new SpeechbridgeError(
      'upstream_unreachable',
      `cannot reach speechbridge at ${url}: is it running? (${code || error.message}; start it with \`speechbridge serve\`, or give --url)`,
      {
        cause: error,
      },
    );
  }
  if (TLS_TRUST_CODES.has(code)) {
    return new SpeechbridgeError(
      'upstream_unreachable',
      `cannot connect to ${url}: the server's TLS certificate is not trusted (${error.message}); for a self-signed or private CA certificate, run with NODE_EXTRA_CA_CERTS=/path/to/cert.pem`,
      { cause: error },
    );
  }
  if (/handshake timed out/i.test(error.message)) {
    return new SpeechbridgeError(
      'upstream_unreachable',
      `cannot reach speechbridge at ${url}: the WebSocket handshake took more than ${HANDSHAKE_TIMEOUT_MS / 1000} s`,
      { cause: error },
    );
  }
  return new SpeechbridgeError('upstream_unreachable', `cannot connect to ${url}: ${error.message}`, { cause: error });
}

function refusal(url: string, status: number, body: string, gaveToken: boolean): SpeechbridgeError {
  const said = serverMessage(body);
  const detail = said ? `: ${said}` : '';
  if (status === 401 || status === 403) {
    const fix = gaveToken
      ? "check --token or SPEECHBRIDGE_TOKEN: it must be one of the server's API_TOKENS"
      : 'the server requires a token: pass --token <token> or set SPEECHBRIDGE_TOKEN';
    return new SpeechbridgeError('invalid_api_key', `the server refused the token (HTTP ${status}${detail}); ${fix}`, { status });
  }
  if (status === 404) {
    return new SpeechbridgeError('not_found', `${url} has no WebSocket endpoint there (HTTP 404${detail}): check --url and --protocol, or update the server`, {
      status,
    });
  }
  return new SpeechbridgeError('upstream_error', `the server refused the connection to ${url} (HTTP ${status}${detail})`, { status });
}

/** A server message parsed as JSON, or undefined when it is not JSON (the client reports that as an error). */
export function parseServerJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** The `error.message` of the server's JSON error body, else the body's first line. */
function serverMessage(body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: { message?: unknown } };
    if (typeof parsed.error?.message === 'string') return parsed.error.message;
  } catch {
    // Not JSON: fall back to the text itself.
  }
  return body.split('\n')[0]?.trim().slice(0, 200) ?? '';
}
