/**
 * A real HAProxy for tests, running deploy/haproxy.cfg (the shipped configuration) with the
 * test's addresses: the frontend on a free loopback port, the two templated servers replaced
 * by the given loopback instances, and health checks every 250 ms instead of 2 s so a killed
 * instance is noticed within a test's patience. Runs in the foreground in its own process group.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { io, type Socket } from 'socket.io-client';
import { freePort, requireBinary, startGroupProcess } from './local-service.ts';
import { repoRoot } from './shared.ts';

export const HAPROXY_CONFIG = path.join(repoRoot, 'deploy', 'haproxy.cfg');

export interface TestHaproxy {
  port: number;
  url: string;
  output(): string;
  stop(): Promise<void>;
}

/** deploy/haproxy.cfg with the frontend on `port` and `backends` (host:port) in place of the templated servers. */
export async function haproxyConfigFor(port: number, backends: string[]): Promise<string> {
  const shipped = await readFile(HAPROXY_CONFIG, 'utf8');
  const servers = backends.map((address, index) => `  server gateway${index + 1} ${address}`).join('\n');
  const adapted = shipped
    .replace(/^(\s*)bind :8080$/m, `$1bind 127.0.0.1:${port}`)
    .replace(/^\s*server-template .*$/m, servers)
    .replace(/inter 2s fall 2 rise 2/, 'inter 250ms fall 1 rise 1');
  for (const [before, after] of [
    [shipped.match(/bind :8080/), adapted.includes(`bind 127.0.0.1:${port}`)],
    [shipped.match(/server-template/), adapted.includes('server gateway1')],
  ] as const) {
    if (!before || !after) throw new Error(`${HAPROXY_CONFIG} changed shape: the tests adapt its "bind :8080" and "server-template" lines`);
  }
  return adapted;
}

export async function startHaproxy(backends: string[]): Promise<TestHaproxy> {
  requireBinary('haproxy', 'haproxy');
  const port = await freePort();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'speechbridge-haproxy-'));
  const file = path.join(dir, 'haproxy.cfg');
  await writeFile(file, await haproxyConfigFor(port, backends));
  const process = startGroupProcess('haproxy', ['-db', '-f', file]);
  const url = `http://127.0.0.1:${port}`;
  // Up once it answers through to an instance.
  const deadline = Date.now() + 10_000;
  for (;;) {
    const status = await fetch(`${url}/healthz`).then(
      (response) => response.status,
      () => 0,
    );
    if (status === 200) break;
    if (Date.now() > deadline || process.child.exitCode !== null) {
      await process.stop();
      throw new Error(`haproxy did not pass requests through within 10 s (last status ${status}); output:\n${process.output()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    port,
    url,
    output: process.output,
    stop: async () => {
      await process.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A socket.io-client session through the balancer as a browser opens one: long-polling first,
 * then the upgrade, with the sticky cookie sent back (withCredentials) so every poll reaches the
 * instance that answered the handshake. Not yet connected: the caller listens first.
 */
export function stickySocketIo(haproxy: TestHaproxy, token: string): Socket {
  return io(`${haproxy.url}/realtime`, { transports: ['polling', 'websocket'], withCredentials: true, auth: { token }, reconnection: false, forceNew: true });
}
