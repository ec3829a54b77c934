/**
 * The process logger (pino, on stderr). JSON lines for log collectors; on a terminal,
 * pino-pretty's readable lines ("12:04:05 INFO: engines …"). Secrets are redacted by path.
 */
import { createRequire } from 'node:module';
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/** `auto` is pretty when stderr, where the logs go, is a terminal, and JSON otherwise. */
export type LogFormatSetting = 'auto' | 'json' | 'pretty';
export type LogFormat = 'json' | 'pretty';

export function resolveLogFormat(setting: LogFormatSetting, stream: { isTTY?: boolean } = process.stderr): LogFormat {
  return setting === 'auto' ? (stream.isTTY ? 'pretty' : 'json') : setting;
}

export function createLogger(level: string, format: LogFormat = 'json'): Logger {
  return pino(
    {
      level,
      base: { service: 'speechbridge' },
      redact: {
        paths: ['*.apiKey', '*.token', '*.authorization', 'req.headers.authorization', 'headers.authorization', '*.key'],
        censor: '[redacted]',
      },
    },
    format === 'pretty' ? prettyStream() : pino.destination({ dest: 2, sync: false }),
  );
}

/** Fields of the start-up lines (engines, listening URL, certificate) that their message already tells. */
const STARTUP_FIELDS = ['engines', 'url', 'auth', 'tls', 'certificate', 'names', 'validTo', 'created'];

type PrettyFactory = (options: Record<string, unknown>) => DestinationStream;

/**
 * pino-pretty in the main thread rather than as a transport: a transport is a worker thread
 * that takes ~100 ms to start and can lose the last lines when the process exits at once.
 * Loaded only here, so JSON logging never pays for it.
 */
function prettyStream(): DestinationStream {
  const pretty = createRequire(import.meta.url)('pino-pretty') as PrettyFactory;
  return pretty({
    destination: 2,
    sync: true,
    colorize: process.stderr.isTTY === true,
    translateTime: 'SYS:HH:MM:ss',
    // The start-up lines say in words what these fields hold for log collectors.
    ignore: ['pid', 'hostname', 'service', ...STARTUP_FIELDS].join(','),
    singleLine: true,
  });
}

/** For one-shot CLI commands: plain "speechbridge: message" lines on stderr instead of JSON. */
export function createCliLogger(level: string): Logger {
  return pino(
    { level, base: undefined, timestamp: false },
    {
      write(line: string) {
        const record = JSON.parse(line) as { msg?: string };
        process.stderr.write(`speechbridge: ${record.msg ?? line}\n`);
      },
    },
  );
}
