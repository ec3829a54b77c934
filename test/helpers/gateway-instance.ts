/**
 * A speechbridge instance as an operator runs it: the real `speechbridge serve` command (its
 * own process group) on a free loopback port, with embedded engines that start in a moment
 * (pocketsphinx, echo replies, espeak-ng), one process, and the environment given. Its URL comes from its
 * "listening on" log line.
 */
import { startServe, type ServeProcess } from '../cli/serve-process.ts';
import { requireTool } from './spoken.ts';

export interface GatewayInstance {
  url: string;
  port: number;
  serve: ServeProcess;
  /** SIGTERM: a clean shutdown. */
  stop(): Promise<void>;
  /** SIGKILL to its process group: a machine that dies. */
  kill(): Promise<void>;
}

export async function startGatewayInstance(env: Record<string, string>): Promise<GatewayInstance> {
  await requireTool('pocketsphinx_continuous', 'apt-get install pocketsphinx pocketsphinx-en-us');
  // One process per instance: these tests count instances (adapter consumers, log lines); workers
  // inside one instance are test/cli/serve-workers.test.ts's.
  const serve = startServe(['--port', '0', '--host', '127.0.0.1', '--asr', 'pocketsphinx', '--workers', '1'], env);
  const line = await serve.waitForLine((entry) => entry.msg.startsWith('speechbridge listening on '));
  const url = String(line.url);
  return {
    url,
    port: Number(new URL(url).port),
    serve,
    stop: async () => {
      await serve.stop();
    },
    kill: async () => {
      if (serve.child.exitCode !== null || serve.child.signalCode !== null) return;
      const exited = new Promise((resolve) => serve.child.once('exit', resolve));
      process.kill(-serve.child.pid!, 'SIGKILL');
      await exited;
    },
  };
}
