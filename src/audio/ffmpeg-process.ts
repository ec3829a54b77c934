/**
 * One running ffmpeg child: how it is found (FFMPEG_PATH or PATH), how it ends (a tagged exit
 * record instead of scattered 'error'/'close' listeners), and the tail of what it said on stderr,
 * which is the only place ffmpeg explains a failure.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { SpeechbridgeError } from '../errors/registry.ts';

/**
 * stderr kept per process: the last 4 KB. With `-loglevel error` a failing run prints one to
 * five lines of under 200 bytes each; the bound only matters if a build floods warnings.
 */
const STDERR_TAIL_CHARS = 4096;

export const FFMPEG_INSTALL_HINT = 'install it with `apt-get install ffmpeg` (Debian/Ubuntu) or `brew install ffmpeg` (macOS)';

export type FfmpegExit = { type: 'exited'; code: number | null; signal: NodeJS.Signals | null } | { type: 'spawn_failed'; error: SpeechbridgeError };

export interface FfmpegProcess {
  child: ChildProcessWithoutNullStreams;
  /** Settles once, when the process has ended and its pipes are closed, or could not start. */
  exited: Promise<FfmpegExit>;
  /** The last non-empty stderr line, or '' when ffmpeg said nothing. */
  lastStderrLine(): string;
  stderrTail(): string;
  /** SIGKILL: ffmpeg's SIGTERM handler finishes the current packet and flushes muxers, which a cancelled call does not need. */
  kill(): void;
}

export function ffmpegPath(): string {
  const override = process.env.FFMPEG_PATH?.trim();
  return override ? override : 'ffmpeg';
}

export function ffmpegNotFound(cause?: unknown): SpeechbridgeError {
  const override = process.env.FFMPEG_PATH?.trim();
  const message = override
    ? `ffmpeg was not found at FFMPEG_PATH=${override}: point FFMPEG_PATH at an ffmpeg binary, or unset it and ${FFMPEG_INSTALL_HINT}`
    : `ffmpeg was not found on PATH: ${FFMPEG_INSTALL_HINT}`;
  return new SpeechbridgeError('engine_unavailable', message, { cause });
}

/** Quiet flags every call passes: no banner, no progress lines, errors only. */
export const QUIET_ARGS = ['-hide_banner', '-nostats', '-loglevel', 'error'] as const;

export function spawnFfmpeg(args: readonly string[]): FfmpegProcess {
  const child = spawn(ffmpegPath(), [...args], { stdio: ['pipe', 'pipe', 'pipe'], windowsHide: true });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text: string) => {
    stderr = (stderr + text).slice(-STDERR_TAIL_CHARS);
  });
  // A child that exits early closes its stdin; writes then fail with EPIPE. The failure is
  // reported through `exited` and stderr, so the pipe errors themselves are dropped here.
  child.stdin.on('error', () => {});
  child.stdout.on('error', () => {});
  const exited = new Promise<FfmpegExit>((resolve) => {
    child.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'EACCES') resolve({ type: 'spawn_failed', error: ffmpegNotFound(error) });
      else resolve({ type: 'spawn_failed', error: new SpeechbridgeError('engine_failed', `ffmpeg could not start: ${error.message}`, { cause: error }) });
    });
    child.once('close', (code, signal) => resolve({ type: 'exited', code, signal }));
  });
  return {
    child,
    exited,
    lastStderrLine() {
      const lines = stderr
        .split('\n')
        .map((line) => line.trim())
        .filter((line) => line.length > 0);
      return lines.at(-1) ?? '';
    },
    stderrTail: () => stderr,
    kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

/**
 * stdout chunks until the pipe closes. A pipe torn down by a kill or a failed spawn ends the
 * iteration instead of throwing: `exited` says what happened, with ffmpeg's own message.
 */
export async function* readStdout(ffmpeg: FfmpegProcess): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of ffmpeg.child.stdout as AsyncIterable<Buffer>) yield chunk;
  } catch {
    return;
  }
}

// ── Checks and errors shared by decode, stream decode and encode ─────────────────────────

/** A sample rate ffmpeg can produce: an integer from 1 kHz to 384 kHz. */
export function checkSampleRate(sampleRate: number): void {
  if (!Number.isInteger(sampleRate) || sampleRate < 1000 || sampleRate > 384_000) {
    throw new SpeechbridgeError('invalid_value', `sampleRate must be an integer between 1000 and 384000 Hz, got ${sampleRate}`, { param: 'sampleRate' });
  }
}

export function tooLong(maxDurationMs: number): SpeechbridgeError {
  return new SpeechbridgeError('payload_too_large', `the audio is longer than the ${maxDurationMs / 1000} s limit`, { param: 'file', status: 413 });
}

export function unreadable(ffmpeg: FfmpegProcess, code: number | null, signal: NodeJS.Signals | null): SpeechbridgeError {
  const said = ffmpeg.lastStderrLine() || `ffmpeg exited with ${code ?? signal}`;
  return new SpeechbridgeError('unreadable_audio', `the audio could not be decoded: ${said}`, { param: 'file' });
}
