/**
 * What the CLI client tests share: the real server on port 0 around real engines (WebRTC VAD,
 * pocketsphinx with the command grammar, the echo responder, espeak-ng), and the real
 * `speechbridge` command run as a child process, with its output collected.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import path from 'node:path';
import { readWav } from '../../src/audio/wav.ts';
import { rmsDbfs, type PcmAudio } from '../../src/audio/pcm.ts';
import type { Transcriber } from '../../src/providers/contracts.ts';
import type { RunningServer } from '../../src/server/app.ts';
import { EchoResponder } from '../../src/providers/local/echo-responder.ts';
import { EspeakSynthesizer } from '../../src/providers/local/espeak-synthesizer.ts';
import { createPocketsphinxTranscriber } from '../../src/providers/local/pocketsphinx-transcriber.ts';
import { readFile } from 'node:fs/promises';
import { assembleProviders, startTestServer } from '../helpers/server.ts';
import { repoRoot } from '../helpers/shared.ts';
import { COMMAND_GRAMMAR, requireTool } from '../helpers/spoken.ts';

export interface CliServer {
  server: RunningServer;
  /** The server's own recognizer, to transcribe reply audio back. */
  transcriber: Transcriber;
  /** ws:// URL of the server root (the CLI picks the path). */
  wsUrl: string;
  close(): Promise<void>;
}

/** The real server with real engines; `env` adds configuration (API_TOKENS, …). */
export async function startCliServer(env: Record<string, string> = {}): Promise<CliServer> {
  await requireTool('pocketsphinx_continuous', 'apt-get install pocketsphinx pocketsphinx-en-us');
  const synthesizer = await EspeakSynthesizer.create({ workers: 1 });
  const transcriber = await createPocketsphinxTranscriber({ grammar: COMMAND_GRAMMAR, timeoutMs: 20_000 });
  const server = await startTestServer(assembleProviders({ transcriber, responder: new EchoResponder(), synthesizer }), env);
  return {
    server,
    transcriber,
    wsUrl: server.url.replace(/^http/, 'ws'),
    close: async () => {
      await server.close();
      await synthesizer.close();
    },
  };
}

export interface CliRun {
  child: ChildProcessWithoutNullStreams;
  /** Everything written so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves when stdout has matched `pattern` (rejects after `timeoutMs` saying what came). */
  waitForStdout(pattern: RegExp, timeoutMs?: number): Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

/** Longest a CLI run may take before the test kills it: the slowest case streams 3 s of audio in real time. */
const RUN_TIMEOUT_MS = 45_000;

/** Runs `node bin/speechbridge.js …args`; `env` replaces chosen variables (undefined removes one). */
export function runCli(args: string[], env: Record<string, string | undefined> = {}): CliRun {
  const fullEnv: Record<string, string> = {};
  for (const [key, value] of Object.entries({ ...process.env, LOG_LEVEL: 'warn', ...env })) if (value !== undefined) fullEnv[key] = value;
  delete fullEnv.SPEECHBRIDGE_TOKEN;
  if (env.SPEECHBRIDGE_TOKEN !== undefined) fullEnv.SPEECHBRIDGE_TOKEN = env.SPEECHBRIDGE_TOKEN;
  const child = spawn(process.execPath, [path.join(repoRoot, 'bin/speechbridge.js'), ...args], {
    cwd: repoRoot,
    env: fullEnv,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const watchers: Array<{ pattern: RegExp; resolve: () => void }> = [];
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (text: string) => {
    stdout += text;
    for (const watcher of [...watchers]) {
      if (watcher.pattern.test(stdout)) {
        watchers.splice(watchers.indexOf(watcher), 1);
        watcher.resolve();
      }
    }
  });
  child.stderr.on('data', (text: string) => {
    stderr += text;
  });
  child.stdin.on('error', () => {});
  const killer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) => {
    child.once('close', (code, signal) => {
      clearTimeout(killer);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    waitForStdout: (pattern, timeoutMs = 30_000) =>
      new Promise<void>((resolve, reject) => {
        if (pattern.test(stdout)) {
          resolve();
          return;
        }
        const timer = setTimeout(
          () => reject(new Error(`stdout did not match ${pattern} within ${timeoutMs} ms; stdout: ${stdout}; stderr: ${stderr}`)),
          timeoutMs,
        );
        watchers.push({
          pattern,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      }),
  };
}

/** The JSON events of a `--json` run, one per stdout line. */
export function jsonEvents(stdout: string): Array<{ type: string } & Record<string, any>> {
  return stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as { type: string } & Record<string, any>);
}

export async function readWavFile(file: string): Promise<{ audio: PcmAudio; seconds: number; dbfs: number }> {
  const audio = readWav(await readFile(file));
  return { audio, seconds: audio.samples.length / audio.sampleRate, dbfs: rmsDbfs(audio.samples) };
}
