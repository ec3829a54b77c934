/**
 * The server's one 'request' listener, ahead of fastify's. It rewrites each request's target to
 * its normal form (src/protocols/request-target.ts) before anything else reads it, so fastify
 * routes, and the token check judges, one and the same path; a malformed target gets a 400 with
 * the JSON error body. Paths another server owns (Socket.IO long-polling on `/socket.io/`) go to
 * it; everything else goes to fastify.
 *
 * Socket.IO is served here rather than through fastify: fastify answers every request itself
 * with a 503 from the moment shutdown starts, so a polling client could not collect its last
 * messages and the close.
 */
import type { Server as HttpServer, IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import { SpeechbridgeError } from '../errors/registry.ts';
import { respondWithError } from '../protocols/error-response.ts';
import type { RequestDoor } from '../protocols/request-door.ts';
import { normalizeRequestTarget } from '../protocols/request-target.ts';

export class RequestRouter {
  private readonly doors = new Map<string, RequestDoor>();

  /** Sends requests whose normalised path is exactly `path` (a trailing slash is dropped) to the door. */
  add(path: string, door: RequestDoor): this {
    const outcome = normalizeRequestTarget(path);
    if (!outcome.ok) throw new Error(`cannot route ${path}: ${outcome.reason}`);
    this.doors.set(outcome.target.path, door);
    return this;
  }

  /** Takes over the server's 'request' listeners (fastify's): they get what no door takes. */
  attach(server: HttpServer | HttpsServer): this {
    const others = server.listeners('request') as RequestListener[];
    server.removeAllListeners('request');
    server.on('request', (request: IncomingMessage, response: ServerResponse) => {
      if (!this.rewrite(request, response)) return;
      const door = this.doors.get(pathOf(request.url ?? '/'));
      if (door) door.handleRequest(request, response);
      else for (const listener of others) listener.call(server, request, response);
    });
    return this;
  }

  /** Rewrites request.url to its normal form; false when the target was malformed and answered. */
  private rewrite(request: IncomingMessage, response: ServerResponse): boolean {
    const original = request.url ?? '/';
    const outcome = normalizeRequestTarget(original);
    if (!outcome.ok) {
      respondWithError(response, new SpeechbridgeError('invalid_request_target', outcome.reason));
      return false;
    }
    // fastify's request.originalUrl reads this, as after its own rewriteUrl.
    (request as IncomingMessage & { originalUrl?: string }).originalUrl = original;
    request.url = outcome.target.url;
    return true;
  }
}

function pathOf(url: string): string {
  const queryAt = url.indexOf('?');
  return queryAt >= 0 ? url.slice(0, queryAt) : url;
}
