/**
 * What the real-service helpers (redis-server, haproxy) share: a free loopback port, the
 * binary's presence checked with a message saying what to install, and a child process in its
 * own process group that is killed as a group.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';

/** A port nothing listens on right now (for servers that cannot bind port 0 and report it). */
export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/** Throws "install … (apt-get install …)" when the binary is not on PATH. */
export function requireBinary(binary: string, aptPackage: string): void {
  const found = spawnSync('sh', ['-c', `command -v ${binary}`], { encoding: 'utf8' });
  if (found.status !== 0)
    throw new Error(`${binary} not found: install ${aptPackage} (apt-get install ${aptPackage}), or run scripts/install-system-packages.sh`);
}

export interface GroupProcess {
  child: ChildProcess;
  output(): string;
  /** Resolves once `pattern` appears in the output; rejects when the process exits first or after timeoutMs. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** SIGTERM (SIGKILL after 5 s) to the whole group; resolves once it exited. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export function startGroupProcess(command: string, args: string[]): GroupProcess {
  const child = spawn(command, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const listeners = new Set<() => void>();
  const collect = (chunk: Buffer) => {
    output += chunk.toString('utf8');
    for (const listener of listeners) listener();
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = once(child, 'exit');
  const gone = () => child.exitCode !== null || child.signalCode !== null;
  return {
    child,
    output: () => output,
    waitFor: (pattern, timeoutMs = 10_000) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (pattern.test(output)) finish();
          else if (gone()) finish(new Error(`${command} exited (${child.exitCode ?? child.signalCode}) before ${pattern}; output:\n${output}`));
        };
        const timer = setTimeout(() => finish(new Error(`${command}: no ${pattern} within ${timeoutMs} ms; output:\n${output}`)), timeoutMs);
        const finish = (error?: Error) => {
          clearTimeout(timer);
          listeners.delete(check);
          if (error) reject(error);
          else resolve();
        };
        listeners.add(check);
        void exited.then(check);
        check();
      }),
    stop: async (signal = 'SIGTERM') => {
      if (gone()) return;
      const kill = (which: NodeJS.Signals) => {
        try {
          process.kill(-child.pid!, which);
        } catch {
          // Already gone.
        }
      };
      kill(signal);
      const killer = setTimeout(() => kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killer);
    },
  };
}
