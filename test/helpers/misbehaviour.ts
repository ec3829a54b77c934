/**
 * What the fake upstreams in the test tree share to misbehave on a real socket: answers that
 * are huge, endless, dripping or empty, written only as fast as the socket takes them (so the
 * upstream's own memory stays flat and what it managed to write shows how much the gateway
 * read), and a count of the connections still open, to show the gateway closed its requests.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/**
 * - huge: a well-formed start, then `bytes` of body, as fast as the socket takes them, then a proper end.
 * - endless: the same without an end.
 * - drip: one small piece every `everyMs`, forever: never silent for long, never done.
 * - empty: HTTP 200 with an empty body.
 */
export type Misbehaviour = { kind: 'huge'; bytes: number } | { kind: 'endless' } | { kind: 'drip'; everyMs: number } | { kind: 'empty' };

/** One answer as the upstream wrote it. */
export interface AnswerRecord {
  route: string;
  /** What the upstream was told to do: misbehave, answer normally, or answer with an error status. */
  behaviour: Misbehaviour | 'normal' | { status: number };
  /** Body bytes handed to the socket. */
  bytesWritten: number;
  /** True once the client closed the connection before the answer ended. */
  closedByClient: boolean;
  /** Resolves when the answer ended, either way. */
  finished: Promise<void>;
}

export interface ConnectionCount {
  /** Connections open now that carried a request. */
  open(): number;
  /** Resolves once none is open; rejects after `timeoutMs` with how many still are. */
  drained(timeoutMs: number): Promise<void>;
}

/**
 * Counts the connections that carried a request and are still open. A connection that never
 * carried one is left out: after destroying a socket mid-answer, undici (Node's fetch) opens a
 * spare connection to the same origin that sends nothing and closes on its own idle timeout.
 */
export function countConnections(server: Server): ConnectionCount {
  const sockets = new Set<Socket>();
  server.on('request', (request: IncomingMessage) => {
    const socket = request.socket;
    if (sockets.has(socket) || socket.destroyed) return;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  return {
    open: () => sockets.size,
    drained: async (timeoutMs) => {
      const deadline = Date.now() + timeoutMs;
      while (sockets.size > 0) {
        if (Date.now() > deadline) throw new Error(`${sockets.size} upstream connection(s) still open after ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
  };
}

/** A record whose `finished` resolves when the response ends or its connection closes. */
export function recordAnswer(route: string, behaviour: AnswerRecord['behaviour'], response: ServerResponse): AnswerRecord {
  let finish: () => void = () => {};
  const record: AnswerRecord = { route, behaviour, bytesWritten: 0, closedByClient: false, finished: new Promise<void>((resolve) => (finish = resolve)) };
  response.once('close', () => {
    if (!response.writableEnded) record.closedByClient = true;
    finish();
  });
  return record;
}

/**
 * Writes `head`, then `piece(index)` for as long as it gives one (as fast as the socket takes
 * it, or one every `everyMs`), then `tail`; stops when the client goes away.
 */
export async function writeBody(
  response: ServerResponse,
  record: AnswerRecord,
  parts: { head?: string | Buffer; piece: (index: number) => string | Buffer | null; tail?: string | Buffer; everyMs?: number },
): Promise<void> {
  const gone = () => response.destroyed || response.writableEnded;
  const write = (data: string | Buffer): boolean => {
    record.bytesWritten += Buffer.byteLength(data);
    return response.write(data);
  };
  if (parts.head !== undefined && parts.head.length > 0) write(parts.head);
  for (let index = 0; ; index++) {
    if (gone()) return;
    const piece = parts.piece(index);
    if (piece === null) break;
    const flowing = write(piece);
    if (parts.everyMs !== undefined) await sleepUnlessClosed(response, parts.everyMs);
    else if (!flowing) await drainOrClose(response);
  }
  if (gone()) return;
  response.end(parts.tail);
  if (parts.tail !== undefined) record.bytesWritten += Buffer.byteLength(parts.tail);
}

/** A piece source for `bytes` in total, cut into 64 KB pieces of `fill`; endless when bytes is Infinity. */
export function pieces(bytes: number, fill: Buffer): (index: number) => Buffer | null {
  const size = 64 * 1024;
  const block = Buffer.alloc(size);
  for (let offset = 0; offset < size; offset += fill.length) fill.copy(block, offset);
  let left = bytes;
  return () => {
    if (left <= 0) return null;
    const take = Math.min(size, left);
    left -= take;
    return take === size ? block : block.subarray(0, take);
  };
}

function drainOrClose(response: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      response.off('drain', done);
      response.off('close', done);
      resolve();
    };
    response.once('drain', done);
    response.once('close', done);
  });
}

function sleepUnlessClosed(response: ServerResponse, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      response.off('close', done);
      resolve();
    }
    response.once('close', done);
  });
}
