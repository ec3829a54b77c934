/**
 * A real redis-server for tests: on a free loopback port, nothing persisted, in its own
 * process group. `stop()` then `start()` gives a fresh one on the same port (its data gone, as
 * after a crash without persistence); `pause()` makes it hang.
 */
import { freePort, requireBinary, startGroupProcess, type GroupProcess } from './local-service.ts';

export interface TestRedis {
  port: number;
  url: string;
  stop(): Promise<void>;
  /** Starts it again on the same port, empty. */
  start(): Promise<void>;
  /** SIGSTOP: connections stay open and nothing answers (a hung server, not a dead one). */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
}

export async function startRedis(): Promise<TestRedis> {
  requireBinary('redis-server', 'redis-server');
  const port = await freePort();
  let process: GroupProcess | undefined;
  const start = async () => {
    process = startGroupProcess('redis-server', [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--daemonize',
      'no',
      '--loglevel',
      'notice',
    ]);
    await process.waitFor(/Ready to accept connections/);
  };
  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    start,
    pause: () => process?.child.kill('SIGSTOP'),
    resume: () => process?.child.kill('SIGCONT'),
    stop: async () => {
      await process?.stop();
      process = undefined;
    },
  };
}
