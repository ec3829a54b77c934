/**
 * Request bodies stop at their route's `bodyLimit` (1 MB for JSON routes, MAX_UPLOAD_MB plus
 * the form fields for uploads): a declared Content-Length over it is refused with 413 before a
 * byte of the body is read, and a body that passes it while it streams (chunked, or longer
 * than it said) is read no further. Any answer given before the body has arrived (a 413, a
 * 401) closes the connection: to reuse it, Node would otherwise read and throw away the rest
 * of the body, all 300 MB of a 300 MB upload.
 */
import { STATUS_CODES } from 'node:http';
import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { SpeechbridgeError } from '../../errors/registry.ts';

/** Refuses a declared Content-Length over the route's limit (onRequest: no body read yet). */
export function registerBodyLimit(app: FastifyInstance): void {
  app.addHook('onRequest', async (request) => {
    const declared = Number(request.headers['content-length']);
    const limit = request.routeOptions.bodyLimit;
    if (Number.isFinite(declared) && limit !== undefined && declared > limit) {
      // The same words as the limits found while reading (multipart.ts, error-reply.ts).
      const which = request.isMultipart() ? 'for an upload (MAX_UPLOAD_MB and the form fields)' : 'for a JSON body';
      throw new SpeechbridgeError(
        'payload_too_large',
        `request body of ${declared} bytes (Content-Length) is larger than the limit of ${limit} bytes ${which}`,
        { status: 413 },
      );
    }
  });
}

/**
 * How long a refused connection stays half-closed before it is destroyed: time for the client
 * to read the 413 before the kernel resets the connection over the unread body.
 */
const LINGER_MS = 2000;

/**
 * Answers a request whose body is still arriving (a 413, or any refusal before the body was
 * read: a missing token, a second file) and closes the connection without reading more of
 * the body. Not through Node's own `Connection: close` handling: it destroys the socket the
 * moment the reply is written, and closing a socket with unread bytes makes the kernel send a
 * reset that overtakes the reply (the client sees ECONNRESET instead of the 413). So the reply
 * is written on the socket here, then a half-close (FIN), and the socket is destroyed after
 * LINGER_MS. Such replies skip fastify's onResponse hook (and the HTTP request metrics).
 */
export function replyWithoutReadingBody(request: FastifyRequest, reply: FastifyReply, failure: SpeechbridgeError): void {
  request.raw.unpipe();
  request.raw.pause();
  const socket = request.raw.socket;
  reply.hijack();
  if (!socket || socket.destroyed) return;
  const body = JSON.stringify(failure.toBody());
  const headers: Record<string, unknown> = {
    ...reply.getHeaders(),
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    connection: 'close',
  };
  const lines = Object.entries(headers)
    .filter(([, value]) => value !== undefined)
    .flatMap(([name, value]) => [value].flat().map((item) => `${name}: ${String(item)}`));
  socket.end(`HTTP/1.1 ${failure.status} ${STATUS_CODES[failure.status] ?? 'Error'}\r\n${lines.join('\r\n')}\r\n\r\n${body}`);
  const linger = setTimeout(() => socket.destroy(), LINGER_MS);
  linger.unref();
  socket.once('close', () => clearTimeout(linger));
}

/**
 * Calls onOver once the stream has delivered more than `limit` bytes. Counts only while the
 * stream flows (a 'data' listener added before that would start the flow itself, and the
 * parser that is about to pipe the stream would miss what flowed first).
 */
export function watchBodySize(stream: Readable, limit: number, onOver: (bytes: number) => void): () => void {
  let bytes = 0;
  let over = false;
  const count = (chunk: Buffer | string) => {
    bytes += chunk.length;
    if (bytes > limit && !over) {
      over = true;
      onOver(bytes);
    }
  };
  const start = () => {
    stream.off('resume', start);
    stream.on('data', count);
  };
  if (stream.readableFlowing === true) start();
  else stream.on('resume', start);
  return () => {
    stream.off('resume', start);
    stream.off('data', count);
  };
}
