/**
 * A door that serves plain HTTP requests on its path ahead of fastify (Socket.IO's long-polling
 * on /socket.io/); the server's RequestRouter sends them to it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface RequestDoor {
  handleRequest(request: IncomingMessage, response: ServerResponse): void;
}
