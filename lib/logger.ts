/**
 * The pino logger factory. Logs are JSON lines by default (what log shippers want); when stderr is a
 * terminal they are pretty-printed for people. Components get child loggers with `{ component }` and
 * receive them by injection — there is no logger singleton.
 */
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export interface LoggerOptions {
  level?: LevelWithSilent;
  /** Pretty-print; defaults to whether stderr is a TTY. */
  pretty?: boolean;
  /** Where JSON lines go when not pretty: a file descriptor, default 2 (stderr). */
  fd?: number;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? 'info';
  const pretty = opts.pretty ?? process.stderr.isTTY;
  if (pretty) {
    return pino({
      level,
      transport: { target: 'pino-pretty', options: { destination: 2, translateTime: 'SYS:HH:MM:ss.l' } },
    });
  }
  return pino({ level }, pino.destination({ fd: opts.fd ?? 2, sync: false }));
}

/** A logger that discards everything, for tests and embedded use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
