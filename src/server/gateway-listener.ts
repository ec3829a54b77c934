/**
 * The extra listener GATEWAY_HOST / GATEWAY_PORT open, so clients of the Gradium audio gateway
 * keep their address: the start / audio / end protocol on `/` of its own port, served by the
 * main server's gateway door (the same token check, limits, sessions and shutdown). A plain
 * HTTP request gets 426 with where the HTTP API is; a WebSocket on another path gets 404.
 */
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { SpeechbridgeError } from '../errors/registry.ts';
import { GATEWAY_PATH } from '../protocols/gateway/gateway-door.ts';
import type { UpgradeRouter } from '../protocols/upgrade-router.ts';

export interface GatewayListenerOptions {
  host: string;
  port: number;
  tls?: { certPath: string; keyPath: string };
  router: UpgradeRouter;
  /** The main server's base URL, named in the answer to plain HTTP requests. */
  apiUrl: string;
}

export interface GatewayListener {
  server: HttpServer | HttpsServer;
  port: number;
  /** ws:// or wss:// URL of the gateway protocol on this listener. */
  url: string;
  /** Stops accepting connections; resolves once the open ones have ended (the door closes its sessions). */
  close(): Promise<void>;
}

export async function openGatewayListener(options: GatewayListenerOptions): Promise<GatewayListener> {
  const { host, port, tls, router, apiUrl } = options;
  const answer = (_request: unknown, response: ServerResponse) => upgradeRequired(response, apiUrl);
  const server = tls ? createHttpsServer({ cert: readFileSync(tls.certPath), key: readFileSync(tls.keyPath) }, answer) : createHttpServer(answer);
  router.attach(server, [GATEWAY_PATH]);
  await new Promise<void>((resolve, reject) => {
    const failed = (error: NodeJS.ErrnoException) => {
      server.off('listening', listening);
      const reason = error.code === 'EADDRINUSE' ? 'the port is in use' : error.code === 'EACCES' ? 'permission denied' : error.message;
      reject(Object.assign(new Error(`cannot open the gateway listener on ${host}:${port} (GATEWAY_HOST / GATEWAY_PORT): ${reason}`), { code: error.code }));
    };
    const listening = () => {
      server.off('error', failed);
      resolve();
    };
    server.once('error', failed);
    server.once('listening', listening);
    server.listen(port, host);
  });
  // A client that resets mid-request must not crash the process.
  server.on('clientError', (_error, socket) => socket.destroy());
  const address = server.address() as AddressInfo;
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const clientHost = shown === '0.0.0.0' || shown === '[::]' ? '127.0.0.1' : shown;
  return {
    server,
    port: address.port,
    url: `${tls ? 'wss' : 'ws'}://${clientHost}:${address.port}${GATEWAY_PATH}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function upgradeRequired(response: ServerResponse, apiUrl: string): void {
  const message = `this port serves the gateway WebSocket protocol on / (start, audio, end); the HTTP API is at ${apiUrl}`;
  const body = JSON.stringify(new SpeechbridgeError('not_found', message, { status: 426 }).toBody());
  response.writeHead(426, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    upgrade: 'websocket',
    connection: 'Upgrade',
  });
  response.end(body);
}
