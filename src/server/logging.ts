/** The process logger (pino, JSON lines on stderr). Secrets are redacted by path. */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string): Logger {
  return pino(
    {
      level,
      base: { service: 'speechbridge' },
      redact: {
        paths: ['*.apiKey', '*.token', '*.authorization', 'req.headers.authorization', 'headers.authorization', '*.key'],
        censor: '[redacted]',
      },
    },
    pino.destination({ dest: 2, sync: false }),
  );
}
