/**
 * Every door (/v1/realtime, /v1/transcriptions, the gateway on /, Socket.IO /realtime) on one
 * real HTTP server on port 0, over real session providers whose start waits at a gate the test
 * opens: what a client sends while a session starts can then be tested exactly. Metrics go to
 * the registry the test reads.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { GATEWAY_PATH, createGatewayDoor } from '../../src/protocols/gateway/gateway-door.ts';
import type { DoorSessionFactory } from '../../src/protocols/door-session.ts';
import { REALTIME_PATH, createRealtimeDoor } from '../../src/protocols/openai-realtime/realtime-door.ts';
import { SOCKETIO_PATH, SocketIoDoor } from '../../src/protocols/socketio/socketio-door.ts';
import { TRANSCRIPTIONS_PATH, createTranscriptionsDoor } from '../../src/protocols/transcriptions/transcriptions-door.ts';
import { UpgradeRouter } from '../../src/protocols/upgrade-router.ts';
import { TokenAuth } from '../../src/server/auth.ts';
import { loadConfig } from '../../src/server/config.ts';
import { createLogger } from '../../src/server/logging.ts';
import { RequestRouter } from '../../src/server/request-router.ts';
import { createSessionFactory } from '../../src/server/session-factory.ts';
import { createSessionMetrics, type DoorName } from '../../src/server/session-metrics.ts';
import { assembleProviders } from '../helpers/server.ts';

export interface Doors {
  /** ws://127.0.0.1:port */
  wsUrl: string;
  httpUrl: string;
  /** Lets every session start that waits, and every later one at once. */
  openGate(): void;
  /** Sessions started from now on wait for openGate() again. */
  closeGate(): void;
  /** Sessions whose engine has been asked to start. */
  readonly starts: number;
  metrics(): Promise<string>;
  close(): Promise<void>;
}

/** env: configuration variables (REALTIME_HEARTBEAT_SECONDS …); gated: sessions wait for openGate() before they start. */
export async function startDoors(env: Record<string, string> = {}, gated = false): Promise<Doors> {
  const config = loadConfig({ LOG_LEVEL: 'silent', ...env });
  const logger = createLogger('silent');
  const registry = new Registry();
  const sessions = createSessionMetrics(registry);
  const providers = assembleProviders({});
  let gate: { opened: Promise<void>; open: () => void } | null = null;
  const closeGate = () => {
    let open: () => void = () => {};
    const opened = new Promise<void>((resolve) => (open = resolve));
    gate = { opened, open };
  };
  const openGate = () => {
    gate?.open();
    gate = null;
  };
  if (gated) closeGate();
  let starts = 0;
  const factoryFor = (door: DoorName): DoorSessionFactory => {
    const create = createSessionFactory({ config, providers, metrics: { door, sessions } });
    return (request) => {
      const session = create(request);
      return {
        start: async () => {
          starts++;
          if (gate) await gate.opened;
          await session.start();
        },
        handle: (input) => session.handle(input),
        finish: (options) => session.finish(options),
        get config() {
          return session.config;
        },
        close: () => session.close(),
      };
    };
  };
  const auth = new TokenAuth([]);
  const limits = config.realtime;
  const upgrades = new UpgradeRouter(auth)
    .add(REALTIME_PATH, createRealtimeDoor({ auth, createSession: factoryFor('realtime'), limits, logger, metrics: sessions.forDoor('realtime') }))
    .add(
      TRANSCRIPTIONS_PATH,
      createTranscriptionsDoor({ auth, createSession: factoryFor('transcriptions'), limits, logger, metrics: sessions.forDoor('transcriptions') }),
    )
    .add(GATEWAY_PATH, createGatewayDoor({ auth, createSession: factoryFor('gateway'), limits, logger, metrics: sessions.forDoor('gateway') }));
  const socketio = new SocketIoDoor({ auth, createSession: factoryFor('socketio'), limits, logger, engineName: 'test', metrics: sessions.forDoor('socketio') });
  upgrades.add(SOCKETIO_PATH, socketio);
  const server: Server = createServer((_request, response) => response.writeHead(404).end());
  upgrades.attach(server);
  new RequestRouter().add(SOCKETIO_PATH, socketio).attach(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    wsUrl: `ws://127.0.0.1:${port}`,
    httpUrl: `http://127.0.0.1:${port}`,
    openGate,
    closeGate,
    get starts() {
      return starts;
    },
    metrics: () => registry.metrics(),
    close: async () => {
      openGate();
      await Promise.all([upgrades.close(), socketio.close()]);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await providers.close();
    },
  };
}

/** The value of one metric line, or 0 when it is not there yet. */
export function metricValue(text: string, name: string, labels: string): number {
  const line = text.split('\n').find((entry) => entry.startsWith(`${name}${labels} `));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

/** Polls until `check` holds (at most `timeoutMs`); fails with `what` otherwise. */
export async function eventually(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`never happened: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
