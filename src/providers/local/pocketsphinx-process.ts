/**
 * One running `pocketsphinx_continuous` that decodes raw 16 kHz PCM16 as it is written to it.
 *
 * Debian's pocketsphinx (0.8+5prealpha) has no live mode of its own: `-infile` is opened with
 * fopen, and the pipes Node gives a child are socket pairs, which `/dev/stdin` cannot open
 * (ENXIO). So the process starts through bash: `exec 3< <(exec cat)` turns our stdin into a real
 * pipe on fd 3, and `exec pocketsphinx_continuous -infile /dev/fd/3 …` replaces bash, so the
 * pid we hold is pocketsphinx's own and its exit is the child's exit. The decoder reads 2048
 * samples (128 ms) at a time and decodes them at once; its own voice-activity detector ends an
 * utterance after 0.5 s of silence and prints that utterance's hypothesis (and, with
 * `-time yes`, one line per word) then, so pieces of text come out while audio still flows.
 * End of input (stdin closed) ends the last utterance; the process prints it and exits.
 *
 * The process is started in its own process group (it leads it), so kill() reaches the `cat`
 * beside it too.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { SpeechbridgeError } from '../../errors/registry.ts';

/** Hypothesis text is a few bytes per second of speech; 1 MiB means something else is printing. */
const MAX_OUTPUT_BYTES = 1 << 20;

/** A log line longer than this is not one we keep (ERROR lines are under 200 characters). */
const MAX_LOG_LINE_CHARS = 4096;

/** ERROR/FATAL log lines kept for the failure message. */
const MAX_ERROR_LINES = 5;

/**
 * Audio written but not yet taken by the decoder, beyond the pipes' own buffers (64 KiB of pipe
 * is 2 s): 30 s of 16 kHz PCM16. A decoder this far behind a live turn will not catch up in
 * time; write() then refuses rather than let memory grow with the turn.
 */
export const MAX_PENDING_AUDIO_BYTES = 30 * 16_000 * 2;

/** Audio held in our socket buffer before writeWithBackpressure waits: 64 KiB, 2 s of 16 kHz PCM16. */
const PIPE_HIGH_WATER_BYTES = 64 * 1024;

export interface PocketsphinxExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Everything printed on stdout (hypotheses and word times). */
  stdout: string;
  /** The ERROR/FATAL lines of its log, newest last. */
  errors: string[];
  /** Set when we ended the process: killed by kill(), or stopped for printing too much. */
  failure?: unknown;
}

type ProcessState = 'running' | 'input-ended' | 'exited';

export class PocketsphinxProcess {
  readonly pid: number | undefined;
  /** performance.now() at spawn: how long it has had to load its models. */
  readonly startedAt: number;
  readonly exited: Promise<PocketsphinxExit>;
  #child: ChildProcess;
  #state: ProcessState = 'running';
  #stdout: Buffer[] = [];
  #outputBytes = 0;
  #partialLine = '';
  #partialLog = '';
  #errors: string[] = [];
  #failure: unknown;
  #lineListener: ((line: string) => void) | undefined;

  /** `binary` and `args` as for pocketsphinx_continuous, without -infile (this class sets it). */
  constructor(binary: string, args: readonly string[]) {
    this.startedAt = performance.now();
    const script = 'exec 3< <(exec cat 2>/dev/null); exec "$0" "$@"';
    this.#child = spawn('bash', ['-c', script, binary, '-infile', '/dev/fd/3', ...args], { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    this.pid = this.#child.pid;
    const child = this.#child;
    // A decoder that died leaves our writes with EPIPE; its exit is what reports the failure.
    child.stdin!.on('error', () => {});
    child.stdout!.on('data', (chunk: Buffer) => this.#onStdout(chunk));
    child.stderr!.on('data', (chunk: Buffer) => this.#onStderr(chunk));
    this.exited = new Promise((resolve) => {
      let spawnError: NodeJS.ErrnoException | undefined;
      child.on('error', (error: NodeJS.ErrnoException) => {
        spawnError ??= error;
      });
      child.on('exit', () => {
        // `cat` sees end of input and exits with it; nothing else holds our stdin.
        child.stdin!.destroy();
      });
      child.on('close', (code, signal) => {
        this.#state = 'exited';
        if (this.#partialLine) this.#emitLine(this.#partialLine);
        this.#partialLine = '';
        const failure =
          this.#failure ??
          (spawnError
            ? new SpeechbridgeError('engine_unavailable', `pocketsphinx could not be started through bash: ${spawnError.message}`, { cause: spawnError })
            : undefined);
        resolve({
          code,
          signal,
          stdout: Buffer.concat(this.#stdout).toString('utf8'),
          errors: [...this.#errors],
          ...(failure !== undefined ? { failure } : {}),
        });
      });
    });
  }

  /** True until the process has exited. */
  get running(): boolean {
    return this.#state !== 'exited';
  }

  /** Bytes written that the pipe has not yet taken. */
  get pendingBytes(): number {
    return this.#child.stdin!.writableLength;
  }

  /** Called with each complete stdout line as it is printed (hypotheses and word-time lines). */
  onLine(listener: ((line: string) => void) | undefined): void {
    this.#lineListener = listener;
  }

  /**
   * Sends 16 kHz samples to the decoder. Throws engine_busy when the decoder has fallen more
   * than MAX_PENDING_AUDIO_BYTES behind, and engine_failed after the process has exited.
   */
  write(samples: Int16Array): void {
    if (this.#state === 'exited') throw new SpeechbridgeError('engine_failed', 'pocketsphinx has exited and takes no more audio');
    if (this.#state === 'input-ended') throw new SpeechbridgeError('internal_error', 'audio was written to pocketsphinx after its input ended');
    if (samples.length === 0) return;
    if (this.pendingBytes + samples.byteLength > MAX_PENDING_AUDIO_BYTES) {
      throw new SpeechbridgeError(
        'engine_busy',
        `pocketsphinx is more than ${MAX_PENDING_AUDIO_BYTES / 32_000} s of audio behind; the machine is too busy to decode live`,
      );
    }
    // A copy: the caller may reuse its buffer before the socket has sent it.
    this.#child.stdin!.write(Buffer.from(samples.buffer.slice(samples.byteOffset, samples.byteOffset + samples.byteLength)));
  }

  /**
   * Sends samples and, when more than PIPE_HIGH_WATER_BYTES wait in our socket buffer, resolves
   * only once the decoder has taken them (or rejects when the process exits): the caller then
   * reads its audio no faster than pocketsphinx decodes it.
   */
  async writeWithBackpressure(samples: Int16Array): Promise<void> {
    if (this.#state === 'exited') throw new SpeechbridgeError('engine_failed', 'pocketsphinx has exited and takes no more audio');
    if (this.#state === 'input-ended') throw new SpeechbridgeError('internal_error', 'audio was written to pocketsphinx after its input ended');
    if (samples.length === 0) return;
    const stdin = this.#child.stdin!;
    stdin.write(Buffer.from(samples.buffer.slice(samples.byteOffset, samples.byteOffset + samples.byteLength)));
    if (stdin.writableLength <= PIPE_HIGH_WATER_BYTES) return;
    await new Promise<void>((resolve, reject) => {
      const onDrain = () => {
        stdin.off('close', onClose);
        resolve();
      };
      const onClose = () => {
        stdin.off('drain', onDrain);
        reject(new SpeechbridgeError('engine_failed', 'pocketsphinx stopped taking audio'));
      };
      stdin.once('drain', onDrain);
      stdin.once('close', onClose);
    });
  }

  /** Ends the input: the decoder finishes the last utterance, prints it and exits. */
  endInput(): void {
    if (this.#state !== 'running') return;
    this.#state = 'input-ended';
    this.#child.stdin!.end();
  }

  /** Stops the process and the `cat` beside it at once (SIGKILL: decoding holds no state worth a clean exit). */
  kill(reason?: unknown): void {
    if (this.#state === 'exited') return;
    this.#failure ??= reason;
    try {
      // The negative pid is the process group: pocketsphinx (which leads it) and its `cat`.
      if (this.pid !== undefined) process.kill(-this.pid, 'SIGKILL');
    } catch {
      this.#child.kill('SIGKILL');
    }
  }

  /** Lets Node exit while this process waits idle (a warm process must not keep a CLI alive). */
  setIdle(idle: boolean): void {
    const handles = [this.#child, this.#child.stdin, this.#child.stdout, this.#child.stderr] as Array<{ ref(): void; unref(): void } | null>;
    for (const handle of handles) {
      if (idle) handle?.unref();
      else handle?.ref();
    }
  }

  #onStdout(chunk: Buffer): void {
    this.#outputBytes += chunk.length;
    if (this.#outputBytes > MAX_OUTPUT_BYTES) {
      this.kill(new SpeechbridgeError('engine_failed', `pocketsphinx printed more than ${MAX_OUTPUT_BYTES} bytes`));
      return;
    }
    this.#stdout.push(chunk);
    const lines = (this.#partialLine + chunk.toString('utf8')).split('\n');
    this.#partialLine = lines.pop()!;
    for (const line of lines) this.#emitLine(line);
  }

  #emitLine(line: string): void {
    this.#lineListener?.(line);
  }

  /** Keeps only the ERROR/FATAL lines of the log; the INFO lines (several KiB per utterance) are dropped as they come. */
  #onStderr(chunk: Buffer): void {
    const lines = (this.#partialLog + chunk.toString('utf8')).split('\n');
    this.#partialLog = lines.pop()!;
    if (this.#partialLog.length > MAX_LOG_LINE_CHARS) this.#partialLog = '';
    for (const line of lines) {
      if (!/^(ERROR|FATAL)/.test(line)) continue;
      this.#errors.push(line.trim().slice(0, 300));
      if (this.#errors.length > MAX_ERROR_LINES) this.#errors.shift();
    }
  }
}

/** What a process that ended without being asked to says about itself, for a failure message. */
export function describeExit(exit: PocketsphinxExit): string {
  const how = exit.signal ? `was stopped by ${exit.signal}` : `exited with ${exit.code}`;
  return `pocketsphinx ${how}: ${exit.errors.join('; ') || 'no error message'}`;
}
