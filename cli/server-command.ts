/**
 * `berth server`: runs the controller — API server on the embedded store (or etcd). Prints where the
 * kubeconfig is and a first command to try, then serves until SIGINT/SIGTERM.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Command, Option, InvalidArgumentError } from 'commander';
import { createLogger } from '../lib/logger.js';
import { startServer } from '../controller/server.js';

export function defaultDataDir(): string {
  return process.getuid?.() === 0 ? '/var/lib/berth' : join(homedir(), '.berth');
}

export function parseHostPort(value: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(value);
  const port = Number(m?.[3]);
  if (m === null || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidArgumentError(`expected HOST:PORT (e.g. 127.0.0.1:6443), got "${value}"`);
  }
  const host = m[1] ?? m[2] ?? '';
  return { host: host === '' ? '0.0.0.0' : host, port };
}

function parseDuration(value: string): number {
  const m = /^(\d+)(ms|s|m|h)?$/.exec(value);
  if (m === null) throw new InvalidArgumentError(`expected a duration like 300s, 5m or 1h, got "${value}"`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? 's'] ?? 1000;
  return Number(m[1]) * unit;
}

interface ServerFlags {
  dataDir: string;
  listen: { host: string; port: number };
  store: 'sqlite' | 'etcd';
  etcdEndpoints?: string;
  etcdPrefix: string;
  compactionWindow: number;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
}

export function serverCommand(): Command {
  return new Command('server')
    .description(
      'run the Berth controller: the Kubernetes-compatible API server on the embedded store (or etcd)',
    )
    .option('--data-dir <dir>', 'where state, keys and the kubeconfig live', defaultDataDir())
    .option('--listen <host:port>', 'API server address', parseHostPort, parseHostPort('127.0.0.1:6443'))
    .addOption(
      new Option('--store <backend>', 'state store backend').choices(['sqlite', 'etcd']).default('sqlite'),
    )
    .option('--etcd-endpoints <urls>', 'comma-separated etcd client URLs (with --store etcd)')
    .option('--etcd-prefix <prefix>', 'key prefix inside etcd', '/berth')
    .option(
      '--compaction-window <duration>',
      'history kept for watches before compaction',
      parseDuration,
      300_000,
    )
    .addOption(
      new Option('--log-level <level>', 'log level')
        .choices(['debug', 'info', 'warn', 'error'])
        .default('info'),
    )
    .action(async (flags: ServerFlags) => {
      const logger = createLogger({ level: flags.logLevel });
      const server = await startServer({
        dataDir: flags.dataDir,
        listenHost: flags.listen.host,
        listenPort: flags.listen.port,
        store: flags.store,
        ...(flags.etcdEndpoints === undefined
          ? {}
          : {
              etcdEndpoints: flags.etcdEndpoints
                .split(',')
                .map((s) => s.trim())
                .filter((s) => s !== ''),
            }),
        etcdPrefix: flags.etcdPrefix,
        compactionWindowMs: flags.compactionWindow,
        logger,
      });
      process.stderr.write(
        `\nBerth is serving at ${server.url}\n` +
          `Kubeconfig: ${server.kubeconfigPath}\n` +
          `Try:        kubectl --kubeconfig ${server.kubeconfigPath} get namespaces\n\n`,
      );
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          resolve();
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      logger.info('shutting down');
      await server.close();
    });
}
