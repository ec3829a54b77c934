/**
 * Plays reply audio through sox's `play` or ALSA's `aplay`, one player process per sample
 * rate, fed raw PCM16 on stdin. A player that cannot start or dies is reported once and the
 * session goes on without sound (the replies are still printed and saved).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { int16ToBytes } from '../../audio/pcm.ts';
import type { PlayerTool } from './audio-tools.ts';
import type { ReplySink } from './client-session.ts';

/**
 * Audio queued for the player beyond which new audio is dropped (and counted): 30 s. A player
 * that falls that far behind is stuck, and an unbounded queue would grow for the whole session.
 */
const MAX_QUEUED_SECONDS = 30;
/** How long close() lets the player finish what it holds, beyond the audio's own length. */
const DRAIN_MARGIN_MS = 2000;

export class Speaker implements ReplySink {
  private child: ChildProcess | undefined;
  private rate = 0;
  private failed = false;
  private queuedUntil = 0;
  private dropped = 0;
  /** The player finishing the last reply after close(): its failure is still a failure, unless the drain limit ended it. */
  private draining: { child: ChildProcess; stopped: boolean } | undefined;

  constructor(
    private readonly tool: PlayerTool,
    private readonly onProblem: (message: string) => void,
  ) {}

  write(samples: Int16Array, sampleRate: number): void {
    if (this.failed) return;
    if (!this.child || this.rate !== sampleRate) this.start(sampleRate);
    const stdin = this.child?.stdin;
    if (!stdin || !stdin.writable) return;
    if (stdin.writableLength / 2 / sampleRate > MAX_QUEUED_SECONDS) {
      this.dropped += samples.length / sampleRate;
      return;
    }
    stdin.write(int16ToBytes(samples));
    this.queuedUntil = Math.max(this.queuedUntil, Date.now()) + (samples.length / sampleRate) * 1000;
  }

  /** Lets the player finish the audio it holds (bounded), then ends it. */
  async close(options: { immediately: boolean }): Promise<void> {
    if (this.dropped > 0) this.onProblem(`dropped ${this.dropped.toFixed(1)} s of reply audio: the player ${this.tool} fell behind`);
    const child = this.child;
    this.child = undefined;
    if (!child) return;
    if (options.immediately) {
      child.kill('SIGTERM');
      return;
    }
    const draining = { child, stopped: false };
    this.draining = draining;
    child.stdin?.end();
    const waitMs = Math.max(0, this.queuedUntil - Date.now()) + DRAIN_MARGIN_MS;
    const timer = setTimeout(() => {
      draining.stopped = true;
      child.kill('SIGTERM');
    }, waitMs);
    if (child.exitCode === null && child.signalCode === null) await new Promise((resolve) => child.once('close', resolve));
    clearTimeout(timer);
    this.draining = undefined;
  }

  private start(sampleRate: number): void {
    this.child?.stdin?.end();
    this.rate = sampleRate;
    const args =
      this.tool === 'play'
        ? ['-q', '-t', 'raw', '-r', String(sampleRate), '-e', 'signed', '-b', '16', '-c', '1', '-L', '-']
        : ['-q', '-t', 'raw', '-f', 'S16_LE', '-r', String(sampleRate), '-c', '1'];
    const child = spawn(this.tool, args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (text: string) => {
      stderr = (stderr + text).slice(-2048);
    });
    child.stdin?.on('error', () => {});
    child.once('error', (error) => this.fail(`cannot play replies with ${this.tool}: ${error.message}`));
    // A player that ends while it is still in use, or while it plays out the last reply, failed or was
    // killed (a rate change lets go of it first; the drain limit's own kill is not a failure).
    child.once('close', (code, signal) => {
      const inUse = this.child === child || (this.draining?.child === child && !this.draining.stopped);
      if ((code !== 0 || signal !== null) && inUse) {
        const said = stderr
          .split('\n')
          .map((line) => line.trim())
          .filter((line) => line && !line.startsWith('ALSA lib'))
          .at(-1);
        this.fail(
          `cannot play replies with ${this.tool}${said ? ` (${said})` : ` (${signal ? `killed by ${signal}` : `exit code ${code}`})`}: check the sound output, or use --no-play (-o reply.wav keeps them)`,
        );
      }
    });
    this.child = child;
  }

  private fail(message: string): void {
    if (this.failed) return;
    this.failed = true;
    this.child = undefined;
    this.onProblem(message);
  }
}
