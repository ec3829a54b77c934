/**
 * Live microphone audio through sox (`sox -t alsa <device>`, or sox's default device) or
 * `arecord`, as mono PCM16 chunks at the rate asked for. A recorder that fails (no such tool,
 * no device, device busy) ends the stream with an error naming the tool, the device and the
 * fix; aborting the signal stops the recorder and ends the stream quietly.
 */
import { spawn } from 'node:child_process';
import { SpeechbridgeError } from '../../errors/registry.ts';
import { INSTALL_HINT, type RecorderTool } from './audio-tools.ts';
import { PcmChunker } from './pcm-chunker.ts';

/** stderr kept from the recorder: the tail that explains a failure (ALSA prints a dozen lines first). */
const STDERR_TAIL_CHARS = 4096;

export interface MicrophoneOptions {
  tool: RecorderTool;
  /** ALSA device string; absent: the tool's default device. */
  device?: string;
  sampleRate: number;
  signal: AbortSignal;
}

export async function* recordMicrophone(options: MicrophoneOptions): AsyncGenerator<Int16Array> {
  const { tool, device, sampleRate, signal } = options;
  const args =
    tool === 'sox'
      ? ['-q', ...(device ? ['-t', 'alsa', device] : ['-d']), '-t', 'raw', '-r', String(sampleRate), '-e', 'signed', '-b', '16', '-c', '1', '-L', '-']
      : ['-q', ...(device ? ['-D', device] : []), '-t', 'raw', '-f', 'S16_LE', '-r', String(sampleRate), '-c', '1'];
  if (signal.aborted) return;
  const child = spawn(tool, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text: string) => {
    stderr = (stderr + text).slice(-STDERR_TAIL_CHARS);
  });
  const exited = new Promise<{ code: number | null; error?: NodeJS.ErrnoException }>((resolve) => {
    child.once('error', (error: NodeJS.ErrnoException) => resolve({ code: null, error }));
    child.once('close', (code) => resolve({ code }));
  });
  const stop = () => child.kill('SIGTERM');
  signal.addEventListener('abort', stop, { once: true });
  const where = device ? `device ${device}` : 'the default device';
  try {
    const chunker = new PcmChunker();
    // An abort ends the stream at once, even if the recorder (or a child it left) keeps the pipe open.
    const aborted = new Promise<'aborted'>((resolve) => signal.addEventListener('abort', () => resolve('aborted'), { once: true }));
    const reader = (child.stdout as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    for (;;) {
      const next = await Promise.race([reader.next(), aborted]);
      if (next === 'aborted') return;
      if (next.done) break;
      const samples = chunker.push(next.value);
      if (samples.length > 0) yield samples;
    }
    const exit = await exited;
    if (signal.aborted) return;
    if (exit.error) {
      const missing = exit.error.code === 'ENOENT';
      throw new SpeechbridgeError(
        'engine_unavailable',
        missing ? `the recorder ${tool} is not installed: ${INSTALL_HINT}, or pipe raw PCM with --input -` : `${tool} could not start: ${exit.error.message}`,
      );
    }
    const said = lastLine(stderr);
    throw new SpeechbridgeError(
      'engine_unavailable',
      `${tool} could not record from ${where}${said ? ` (${said})` : ` (exit code ${exit.code})`}: connect a microphone or pick another with --device (see listen --list-devices), or pipe raw PCM with --input -`,
    );
  } finally {
    signal.removeEventListener('abort', stop);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    child.stdout.destroy();
  }
}

/** The most telling stderr line: sox's and arecord's own message, not ALSA's library chatter before it. */
function lastLine(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  const own = lines.filter((line) => !line.startsWith('ALSA lib'));
  return (own.at(-1) ?? lines.at(-1) ?? '').slice(0, 300);
}
