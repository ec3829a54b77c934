/**
 * Routes HTTP upgrades (WebSocket handshakes) by path to the door that serves it. One listener
 * on the server's `upgrade` event, so every door (Socket.IO's engine too) registers here rather
 * than racing its own listener.
 *
 * The request target is rewritten to its normal form first (src/protocols/request-target.ts, as
 * for plain HTTP requests), so a door routes and checks its token on the same path whatever
 * spelling the client used; a malformed target gets a 400. An unknown path needs a token like
 * any other (401 without one), then gets a 404; every refusal is a JSON body, then the socket
 * is closed.
 */
import type { Server as HttpServer, IncomingMessage } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import type { DoorAuth } from './door-auth.ts';
import { rejectUpgrade } from './reject-upgrade.ts';
import { normalizeRequestTarget } from './request-target.ts';
import { offeredSubprotocols } from './subprotocols.ts';

export interface UpgradeDoor {
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void;
  close?(): Promise<void>;
}

export class UpgradeRouter {
  private readonly doors = new Map<string, UpgradeDoor>();
  private readonly listeners = new Map<HttpServer | HttpsServer, (request: IncomingMessage, socket: Duplex, head: Buffer) => void>();

  /** auth: the token check for paths no door serves (each door checks its own). */
  constructor(private readonly auth?: DoorAuth) {}

  add(path: string, door: UpgradeDoor): this {
    this.doors.set(normalizedPath(path), door);
    return this;
  }

  /** The normalised paths that have a door. */
  get paths(): string[] {
    return [...this.doors.keys()];
  }

  /** Routes the server's upgrades; with `paths`, only to the doors at those paths (an extra listener for one protocol). */
  attach(server: HttpServer | HttpsServer, paths?: readonly string[]): this {
    const allowed = paths ? new Set(paths.map(normalizedPath)) : null;
    const listener = (request: IncomingMessage, socket: Duplex, head: Buffer) => this.route(request, socket, head, allowed);
    server.on('upgrade', listener);
    this.listeners.set(server, listener);
    return this;
  }

  /** Stops routing and closes every door (their sessions end with 1001). */
  async close(): Promise<void> {
    for (const [server, listener] of this.listeners) server.off('upgrade', listener);
    this.listeners.clear();
    await Promise.all([...this.doors.values()].map((door) => door.close?.()));
  }

  private route(request: IncomingMessage, socket: Duplex, head: Buffer, allowed: Set<string> | null): void {
    // A client that resets mid-handshake must not crash the process with an unhandled 'error'.
    socket.on('error', () => socket.destroy());
    const outcome = normalizeRequestTarget(request.url ?? '/');
    if (!outcome.ok) {
      rejectUpgrade(socket, 400, 'invalid_request_target', outcome.reason);
      return;
    }
    request.url = outcome.target.url;
    const path = outcome.target.path;
    const door = !allowed || allowed.has(path) ? this.doors.get(path) : undefined;
    if (door) {
      door.handleUpgrade(request, socket, head);
      return;
    }
    const refusal = this.auth?.check({ headers: request.headers, url: request.url, protocols: offeredSubprotocols(request) });
    if (refusal) {
      rejectUpgrade(socket, 401, 'invalid_api_key', refusal);
      return;
    }
    const known = this.paths.filter((known) => !allowed || allowed.has(known));
    rejectUpgrade(socket, 404, 'not_found', `no WebSocket endpoint at ${path}; known: ${known.join(', ') || 'none'}`);
  }
}

/** A door's path in the form the router keys it by. */
function normalizedPath(path: string): string {
  const outcome = normalizeRequestTarget(path);
  if (!outcome.ok) throw new Error(`cannot route ${path}: ${outcome.reason}`);
  return outcome.target.path;
}
