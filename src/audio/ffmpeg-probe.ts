/**
 * The start-up check that ffmpeg is there and answers (`ffmpeg -version`), so a missing ffmpeg
 * fails at start-up with how to install it, not at the first upload. ffmpeg decodes every
 * container the gateway does not parse itself (decode.ts, stream-decoder.ts) and encodes speech
 * (encode.ts), as a child process (ffmpeg-process.ts). No npm wrapper: the usual one,
 * fluent-ffmpeg, was archived in May 2025 and only builds argument lists, and each call here is
 * one fixed argument list; WASM builds of ffmpeg decode several times slower than the native
 * binary and ship without libmp3lame.
 */
import { abortError } from '../errors/abort.ts';
import { SpeechbridgeError } from '../errors/registry.ts';
import { ffmpegPath, spawnFfmpeg } from './ffmpeg-process.ts';

/** `ffmpeg -version` should answer in tens of ms; 10 s covers a cold disk and a loaded CI machine. */
const VERSION_TIMEOUT_MS = 10_000;

export interface FfmpegInfo {
  /** The version word of `ffmpeg -version`, e.g. "5.1.6-0+deb12u1". */
  version: string;
  /** The binary that answered (FFMPEG_PATH or `ffmpeg` on PATH). */
  path: string;
}

/** Start-up check: resolves with the version, or throws engine_unavailable saying how to install ffmpeg. */
export async function checkFfmpeg(options: { signal?: AbortSignal } = {}): Promise<FfmpegInfo> {
  const { signal } = options;
  if (signal?.aborted) throw abortError(signal?.reason);
  const ffmpeg = spawnFfmpeg(['-version']);
  let stdout = '';
  ffmpeg.child.stdout.setEncoding('utf8');
  ffmpeg.child.stdout.on('data', (text: string) => {
    if (stdout.length < 4096) stdout += text;
  });
  ffmpeg.child.stdin.end();
  const timer = setTimeout(() => ffmpeg.kill(), VERSION_TIMEOUT_MS);
  const onAbort = () => ffmpeg.kill();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const exit = await ffmpeg.exited;
    if (signal?.aborted) throw abortError(signal?.reason);
    if (exit.type === 'spawn_failed') throw exit.error;
    const match = /ffmpeg version (\S+)/.exec(stdout);
    if (exit.code !== 0 || !match) {
      const said = ffmpeg.lastStderrLine() || stdout.split('\n')[0] || `exit code ${exit.code ?? exit.signal}`;
      throw new SpeechbridgeError('engine_unavailable', `${ffmpegPath()} -version did not identify ffmpeg (${said}): check FFMPEG_PATH or reinstall ffmpeg`);
    }
    return { version: match[1], path: ffmpegPath() };
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}
