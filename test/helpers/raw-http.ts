/**
 * HTTP/1.1 over a raw TCP socket, for request targets that fetch and undici would normalise
 * before sending (`%2e%2e`, `//`, absolute-form `http://host/path`), and WebSocket handshakes
 * whose answer is only the status line.
 */
import net from 'node:net';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface RawRequest {
  method: string;
  target: string;
  headers?: Record<string, string>;
  body?: string;
}

/** Sends one request with `Connection: close` and reads the answer to the end. */
export async function rawRequest(port: number, request: RawRequest): Promise<RawResponse> {
  const socket = net.connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  const ended = new Promise<void>((resolve, reject) => {
    socket.once('close', () => resolve());
    socket.once('error', reject);
  });
  const body = request.body ?? '';
  const headers = {
    host: `127.0.0.1:${port}`,
    connection: 'close',
    ...(request.method === 'GET' || request.method === 'HEAD' ? {} : { 'content-length': String(Buffer.byteLength(body)) }),
    ...request.headers,
  };
  socket.write(
    `${request.method} ${request.target} HTTP/1.1\r\n${Object.entries(headers)
      .map(([name, value]) => `${name}: ${value}`)
      .join('\r\n')}\r\n\r\n${body}`,
  );
  await ended;
  return parseResponse(Buffer.concat(chunks).toString('utf8'));
}

/** Sends a WebSocket handshake and resolves with the answer's status (101 when accepted), then closes the socket. */
export async function rawUpgrade(port: number, target: string, headers: Record<string, string> = {}): Promise<RawResponse> {
  const socket = net.connect(port, '127.0.0.1');
  let received = '';
  try {
    return await new Promise<RawResponse>((resolve, reject) => {
      socket.on('data', (chunk: Buffer) => {
        received += chunk.toString('latin1');
        const headEnd = received.indexOf('\r\n\r\n');
        if (headEnd < 0) return;
        const head = parseResponse(received);
        // A refusal has a JSON body of known length; a 101 is followed by WebSocket frames.
        const length = Number(head.headers['content-length'] ?? 0);
        if (head.status === 101 || Buffer.byteLength(head.body) >= length) resolve(head);
      });
      socket.once('error', reject);
      socket.once('close', () => reject(new Error(`the server closed the connection without answering ${target}: ${JSON.stringify(received)}`)));
      const lines = {
        host: `127.0.0.1:${port}`,
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
        ...headers,
      };
      socket.write(
        `GET ${target} HTTP/1.1\r\n${Object.entries(lines)
          .map(([name, value]) => `${name}: ${value}`)
          .join('\r\n')}\r\n\r\n`,
      );
    });
  } finally {
    socket.destroy();
  }
}

function parseResponse(text: string): RawResponse {
  const headEnd = text.indexOf('\r\n\r\n');
  if (headEnd < 0) throw new Error(`not an HTTP response: ${JSON.stringify(text.slice(0, 200))}`);
  const [statusLine, ...headerLines] = text.slice(0, headEnd).split('\r\n');
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine)?.[1]);
  if (!status) throw new Error(`not an HTTP status line: ${JSON.stringify(statusLine)}`);
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status, headers, body: text.slice(headEnd + 4) };
}
