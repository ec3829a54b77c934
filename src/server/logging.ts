/** The process logger (pino, JSON lines on stderr). Secrets are redacted by path. */
import { type DestinationStream, pino, type Logger } from 'pino';

export type { Logger };

/** destination: where the JSON lines go, stderr unless given. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'speechbridge' },
      redact: {
        // *.headers.authorization: the multipart parser's trace line logs its options with the request headers.
        paths: ['*.apiKey', '*.token', '*.authorization', 'req.headers.authorization', 'headers.authorization', '*.headers.authorization', '*.key'],
        censor: '[redacted]',
      },
    },
    destination ?? pino.destination({ dest: 2, sync: false }),
  );
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
