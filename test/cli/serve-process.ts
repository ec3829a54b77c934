/**
 * `speechbridge serve` as a user starts it: the real command in its own process group, its
 * JSON log lines on stderr read as they come, stopped with SIGTERM (the group is killed if it
 * does not exit in time).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { repoRoot } from '../helpers/shared.ts';

export interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

export interface ServeProcess {
  child: ChildProcessWithoutNullStreams;
  /** Every JSON log line so far (lines that are not JSON are kept in `stderr()`). */
  lines(): LogLine[];
  stderr(): string;
  /** Resolves with the first line `match` accepts; rejects when the process exits first or after `timeoutMs`. */
  waitForLine(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** SIGTERM, then the exit code (the process group is killed after 15 s). */
  stop(): Promise<number | null>;
}

/** Variables that would pick other engines than the embedded ones, removed from the child's environment. */
const UPSTREAM_VARIABLES = [
  'OPENAI_API_KEY',
  'OPENAI_API_BASE',
  'WHISPER_URL',
  'AUDIO_API_KEY',
  'OPENAI_REALTIME_URL',
  'TTS_API_URL',
  'ASR_ENGINE',
  'LLM_ENGINE',
  'TTS_ENGINE',
  'API_TOKENS',
  'TLS_CERT',
  'TLS_KEY',
  'NODE_EXTRA_CA_CERTS',
];

export function startServe(args: string[], env: Record<string, string | undefined> = {}): ServeProcess {
  const fullEnv: Record<string, string> = {};
  for (const [key, value] of Object.entries({ ...process.env, LOG_LEVEL: 'info', LOG_FORMAT: 'json' }))
    if (value !== undefined && !UPSTREAM_VARIABLES.includes(key)) fullEnv[key] = value;
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) delete fullEnv[key];
    else fullEnv[key] = value;
  }
  const child = spawn(process.execPath, [path.join(repoRoot, 'bin/speechbridge.js'), 'serve', ...args], { cwd: repoRoot, env: fullEnv, detached: true });
  let stderr = '';
  const lines: LogLine[] = [];
  const waiters: Array<{ match: (line: LogLine) => boolean; resolve: (line: LogLine) => void }> = [];
  let pending = '';
  child.stdout.resume();
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text: string) => {
    stderr += text;
    pending += text;
    const complete = pending.split('\n');
    pending = complete.pop() ?? '';
    for (const raw of complete) {
      let line: LogLine;
      try {
        line = JSON.parse(raw) as LogLine;
      } catch {
        continue;
      }
      lines.push(line);
      for (const waiter of [...waiters]) {
        if (waiter.match(line)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(line);
        }
      }
    }
  });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  return {
    child,
    lines: () => lines,
    stderr: () => stderr,
    waitForLine: (match, timeoutMs = 60_000) => {
      const found = lines.find(match);
      if (found) return Promise.resolve(found);
      return new Promise<LogLine>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no such log line within ${timeoutMs} ms; stderr:\n${stderr}`)), timeoutMs);
        const waiter = {
          match,
          resolve: (line: LogLine) => {
            clearTimeout(timer);
            resolve(line);
          },
        };
        waiters.push(waiter);
        void exited.then(([code]) => {
          if (!waiters.includes(waiter)) return;
          clearTimeout(timer);
          reject(new Error(`speechbridge serve exited with ${code} before the log line came; stderr:\n${stderr}`));
        });
      });
    },
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const killer = setTimeout(() => {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }, 15_000);
      const [code] = await exited;
      clearTimeout(killer);
      return code;
    },
  };
}
