/**
 * The process logger (pino, on stderr). JSON lines for log collectors; on a terminal,
 * pino-pretty's readable lines ("12:04:05 INFO: engines …"). Secrets are redacted by path, and
 * every log line is bounded whatever a caller puts in it: a field that holds something a client
 * sent (a deep structure, a 16 MB string) is cut to LOG_BOUNDS before pino serialises it, so
 * logging can neither overflow the stack nor copy a message's worth of bytes per line.
 */
import { createRequire } from 'node:module';
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/**
 * Depth 6 holds every structure the gateway logs itself (`{engines: {transcriber: {…}}}`);
 * 2,000 characters hold an error's top stack frames; 20 items and 50 keys a summary.
 */
export const LOG_BOUNDS = Object.freeze({ depth: 6, stringChars: 2000, arrayItems: 20, objectKeys: 50 });

/** `auto` is pretty when stderr, where the logs go, is a terminal, and JSON otherwise. */
export type LogFormatSetting = 'auto' | 'json' | 'pretty';
export type LogFormat = 'json' | 'pretty';

export function resolveLogFormat(setting: LogFormatSetting, stream: { isTTY?: boolean } = process.stderr): LogFormat {
  return setting === 'auto' ? (stream.isTTY ? 'pretty' : 'json') : setting;
}

/** destination: where JSON lines go, stderr unless given (tests read them). */
export function createLogger(level: string, format: LogFormat = 'json', destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'speechbridge' },
      redact: {
        // *.headers.authorization: the multipart parser's trace line logs its options with the request headers.
        paths: ['*.apiKey', '*.token', '*.authorization', 'req.headers.authorization', 'headers.authorization', '*.headers.authorization', '*.key'],
        censor: '[redacted]',
      },
      formatters: { log: (record) => boundForLog(record) as Record<string, unknown> },
    },
    format === 'pretty' ? prettyStream() : (destination ?? pino.destination({ dest: 2, sync: false })),
  );
}

/** Fields of the start-up lines (engines, listening URL, certificate) that their message already tells. */
const STARTUP_FIELDS = ['engines', 'url', 'auth', 'tls', 'certificate', 'names', 'validTo', 'created', 'workers', 'pids'];

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

/**
 * A copy of `value` within LOG_BOUNDS: deeper levels become "[depth limit]", long strings and
 * arrays are cut with a note of their size, errors keep their class with message and stack cut, and a value
 * whose reading throws becomes "[unreadable]". Recursion is bounded by LOG_BOUNDS.depth.
 */
export function boundForLog(value: unknown, depth = 0): unknown {
  try {
    if (typeof value === 'string') {
      return value.length <= LOG_BOUNDS.stringChars ? value : `${value.slice(0, LOG_BOUNDS.stringChars)}… (${value.length} characters)`;
    }
    if (typeof value !== 'object' || value === null) return typeof value === 'bigint' ? String(value) : value;
    if (depth >= LOG_BOUNDS.depth) return '[depth limit]';
    if (value instanceof Error) {
      // Still an error of its class, so pino's err serializer reports its type; message and stack bounded.
      const copy = Object.create(Object.getPrototypeOf(value) as object) as Error;
      Object.defineProperty(copy, 'message', { value: boundForLog(String(value.message), depth + 1), enumerable: false });
      if (typeof value.stack === 'string') Object.defineProperty(copy, 'stack', { value: boundForLog(value.stack, depth + 1), enumerable: false });
      for (const key of Object.keys(value).slice(0, LOG_BOUNDS.objectKeys))
        (copy as unknown as Record<string, unknown>)[key] = boundForLog((value as unknown as Record<string, unknown>)[key], depth + 1);
      return copy;
    }
    if (ArrayBuffer.isView(value)) return `[${value.byteLength} bytes]`;
    if (Array.isArray(value)) {
      const items = value.slice(0, LOG_BOUNDS.arrayItems).map((item) => boundForLog(item, depth + 1));
      if (value.length > LOG_BOUNDS.arrayItems) items.push(`… (${value.length} items)`);
      return items;
    }
    const out: Record<string, unknown> = {};
    let keys = 0;
    for (const key in value) {
      if (!Object.hasOwn(value, key)) continue;
      if (++keys > LOG_BOUNDS.objectKeys) {
        out['…'] = 'more keys';
        break;
      }
      out[key.length <= 100 ? key : `${key.slice(0, 100)}…`] = boundForLog((value as Record<string, unknown>)[key], depth + 1);
    }
    return out;
  } catch {
    return '[unreadable]';
  }
}
