/**
 * The primary's listener when the server runs as several workers: it accepts each connection
 * on SERVER_NAME:SERVER_PORT, reads only as far as the request line, picks a worker and hands
 * it the socket itself, with the bytes read so far (the worker's side is @socket.io/sticky's
 * setupWorker, which puts them back in front of the socket). The worker then reads the rest
 * straight from the kernel and writes its answers itself: a WebSocket session, an upload and
 * a refusal before the body is read all happen in the worker, as with one process.
 *
 * Which worker: a Socket.IO long-polling or upgrade request names its session (`sid=` in the
 * request line), and goes to the worker that holds it (the workers report their sessions as
 * sticky's protocol does); anything else goes to the next ready worker in turn, among those
 * under capacity while there is one (src/server/capacity-guard.ts). The client
 * can send its next request before the worker's report of a new session has crossed to the
 * primary (a busy machine delays IPC), so a request naming a session not known yet waits up to
 * SESSION_WAIT_MS for the report before it is sent to any worker (which then answers that the
 * session is unknown, as engine.io does for a stale one).
 *
 * Why not sticky's own setupPrimary: it relays every request that has a body (an upload, a
 * polling POST) through the primary over IPC, without backpressure, so a 25 MB upload is read
 * in full by the primary whatever the worker answers. Reading stops here at the request line
 * (libuv's reading is stopped before the handle leaves, so no byte stays behind in this
 * process).
 *
 * Bounds: 8 KiB for the request line and 30 s to send it; then the connection is closed.
 * With no ready worker the answer is 503.
 */
import type { Worker } from 'node:cluster';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/** The longest request line looked at: a Socket.IO request line is well under 1 KiB. */
const MAX_REQUEST_LINE_BYTES = 8 * 1024;
/** As long as a browser's preconnect may wait before its first request. */
const REQUEST_LINE_TIMEOUT_MS = 30_000;
/** How long a request naming an unknown session waits for a worker to report it. */
const SESSION_WAIT_MS = 3000;
/** engine.io's session ids: 20 characters of base64url. */
const SESSION_ID = /[?&]sid=([\w-]{20})/;

export interface ClusterRouterOptions {
  host: string;
  port: number;
  /** The workers that may take new connections (ready, and under capacity while any is), in a stable order. */
  readyWorkers(): Worker[];
  /** The worker holding a Socket.IO session, when one does. */
  workerOfSession(sessionId: string): Worker | undefined;
  /** Resolves with the worker once one reports the session, or undefined after `timeoutMs`. */
  sessionReported(sessionId: string, timeoutMs: number): Promise<Worker | undefined>;
}

export interface ClusterRouter {
  server: Server;
  port: number;
  /** Stops accepting; connections not yet handed over are closed (the handed ones are their workers'). */
  close(): void;
}

export async function openClusterRouter(options: ClusterRouterOptions): Promise<ClusterRouter> {
  const waiting = new Set<Socket>();
  let turn = 0;

  const nextInTurn = (): Worker | undefined => {
    const ready = options.readyWorkers();
    if (ready.length === 0) return undefined;
    turn = (turn + 1) % ready.length;
    return ready[turn];
  };

  const route = (socket: Socket, head: Buffer) => {
    const session = SESSION_ID.exec(head.toString('latin1', 0, lineEnd(head)))?.[1];
    if (session === undefined) return handOver(socket, head, nextInTurn());
    const holder = options.workerOfSession(session);
    if (holder) return handOver(socket, head, holder);
    void options.sessionReported(session, SESSION_WAIT_MS).then((reported) => {
      if (socket.destroyed) return;
      handOver(socket, head, reported ?? nextInTurn());
    });
  };

  const handOver = (socket: Socket, head: Buffer, worker: Worker | undefined) => {
    waiting.delete(socket);
    if (!worker) {
      socket.end(
        `HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(NO_WORKER_BODY)}\r\n\r\n${NO_WORKER_BODY}`,
      );
      return;
    }
    worker.send({ type: 'sticky:connection', data: head }, socket, { keepOpen: false }, (error: Error | null) => {
      if (error) socket.destroy();
    });
  };

  const server = createServer((socket) => {
    waiting.add(socket);
    const chunks: Buffer[] = [];
    let length = 0;
    socket.setTimeout(REQUEST_LINE_TIMEOUT_MS, () => socket.destroy());
    // Kept while the handle is on its way: an error here must not reach the primary's top level.
    socket.on('error', () => socket.destroy());
    socket.on('close', () => waiting.delete(socket));
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      length += chunk.length;
      if (chunk.indexOf(0x0a) < 0 && length < MAX_REQUEST_LINE_BYTES) return;
      socket.off('data', onData);
      stopReading(socket);
      socket.setTimeout(0);
      socket.removeAllListeners('close');
      route(socket, chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, length));
    };
    socket.on('data', onData);
  });
  // A client that resets before its request line is one closed socket, nothing more.
  server.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: options.host, port: options.port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () => {
      for (const socket of waiting) socket.destroy();
      server.close();
    },
  };
}

const NO_WORKER_BODY = JSON.stringify({ error: { message: 'no worker is ready; try again', type: 'server_error', param: null, code: 'engine_unavailable' } });

function lineEnd(head: Buffer): number {
  const end = head.indexOf(0x0a);
  return end < 0 ? head.length : end;
}

/**
 * Stops this process reading the socket, now and until the handle has left: pausing the
 * stream alone lets libuv read on into this process's buffer, and those bytes would be lost
 * when the handle moves to the worker. Stopping libuv's reading inside the 'data' callback is
 * not enough either: after each chunk the stream schedules a read of more (its read-ahead up
 * to the high-water mark, paused or not), which would start libuv reading again while the
 * handle waits here, for a session's report or for the handles sent before it to be taken. A
 * POST's body would go into this process and the worker would wait for it forever. So the
 * socket's own read is made a no-op: nothing in this process asks the kernel for more.
 */
function stopReading(socket: Socket): void {
  const handle = (socket as Socket & { _handle?: { reading?: boolean; readStop?: () => number } })._handle;
  if (handle?.readStop) {
    handle.reading = false;
    handle.readStop();
  }
  socket._read = () => {};
  socket.pause();
}
