/**
 * `berth server`: runs the controller — API server on the embedded store (or etcd). Prints where the
 * kubeconfig is and a first command to try, then serves until SIGINT/SIGTERM.
 */
import { homedir, hostname } from 'node:os';
import { join } from 'node:path';
import { Command, Option, InvalidArgumentError } from 'commander';
import { createLogger } from '../lib/logger.js';
import { startServer } from '../controller/server.js';
import { startLocalAgent } from './local-agent.js';

export function defaultDataDir(): string {
  return process.getuid?.() === 0 ? '/var/lib/berth' : join(homedir(), '.berth');
}

/** Parses `HOST:PORT` (`[::1]:6443` for IPv6; an empty host means every interface). */
export function parseHostPort(value: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(value);
  const port = Number(m?.[3]);
  if (m === null || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidArgumentError(`expected HOST:PORT (e.g. 127.0.0.1:6443), got "${value}"`);
  }
  const host = m[1] ?? m[2] ?? '';
  return { host: host === '' ? '0.0.0.0' : host, port };
}

/**
 * Parses `--listen`: {@link parseHostPort}, refusing port 0, because the kubeconfig written on first
 * start names the port and must stay valid. Throws commander's InvalidArgumentError, which the CLI
 * prints with the flag's name.
 */
export function parseApiListen(value: string): { host: string; port: number } {
  const address = parseHostPort(value);
  if (address.port === 0) {
    throw new InvalidArgumentError(
      'port 0 (any free port) cannot be used: the kubeconfig in the data dir names the port, so give a fixed one (e.g. 127.0.0.1:6443)',
    );
  }
  return address;
}

function parseDuration(value: string): number {
  const m = /^(\d+)(ms|s|m|h)?$/.exec(value);
  if (m === null) throw new InvalidArgumentError(`expected a duration like 300s, 5m or 1h, got "${value}"`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? 's'] ?? 1000;
  return Number(m[1]) * unit;
}

function parsePositiveDuration(value: string): number {
  const ms = parseDuration(value);
  if (ms <= 0) throw new InvalidArgumentError(`expected a duration above zero, got "${value}"`);
  return ms;
}

function parseSeconds(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`expected whole seconds (e.g. 4), got "${value}"`);
  return Number(value);
}

interface ServerFlags {
  dataDir: string;
  listen: { host: string; port: number };
  agentListen: { host: string; port: number };
  store: 'sqlite' | 'etcd';
  etcdEndpoints?: string;
  etcdPrefix: string;
  compactionWindow: number;
  withAgent: boolean;
  nodeName: string;
  agentMetricsListen?: { host: string; port: number };
  nodeMonitorGracePeriod: number;
  defaultTolerationSeconds: number;
  clusterCidr: string;
  nodeCidrMaskSize: number;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
}

export function serverCommand(): Command {
  return new Command('server')
    .description(
      'run the Berth controller: the Kubernetes-compatible API server on the embedded store (or etcd)',
    )
    .option('--data-dir <dir>', 'where state, keys and the kubeconfig live', defaultDataDir())
    .option('--listen <host:port>', 'API server address', parseApiListen, parseApiListen('127.0.0.1:6443'))
    .addOption(
      new Option(
        '--agent-listen <host:port>',
        'where agents connect (gRPC, mTLS); agents dial the --server host on port 6444 unless told --gateway',
      )
        .argParser(parseHostPort)
        .default(parseHostPort('0.0.0.0:6444'), '0.0.0.0:6444'),
    )
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
    .option(
      '--with-agent',
      'also run a node agent in this process (all-in-one): real containers with runc when root with runc and overlayfs, otherwise "fake", a SIMULATOR that starts no containers (BERTH_LOCAL_RUNTIME=runc|fake forces one)',
      false,
    )
    .option('--node-name <name>', "the local agent's node name (with --with-agent)", hostname().toLowerCase())
    .option(
      '--agent-metrics-listen <host:port>',
      'where the local agent serves /metrics (with --with-agent; default: the --listen host, any free port — Prometheus finds it through /berth/v1/prometheus-sd)',
      parseHostPort,
    )
    .option(
      '--node-monitor-grace-period <duration>',
      'silence after which a node is marked NotReady (Ready=Unknown) and tainted unreachable',
      parsePositiveDuration,
      8000,
    )
    .option(
      '--default-toleration-seconds <seconds>',
      'how long pods that do not say otherwise stay on a not-ready or unreachable node before they are evicted',
      parseSeconds,
      4,
    )
    .option('--cluster-cidr <cidr>', "the IPv4 range nodes' pod CIDRs are cut from", '10.42.0.0/16')
    .option(
      '--node-cidr-mask-size <bits>',
      "prefix length of each node's pod CIDR (24: 253 pods per node)",
      (v: string) => {
        if (!/^\d{1,2}$/.test(v))
          throw new InvalidArgumentError(`expected a prefix length like 24, got "${v}"`);
        return Number(v);
      },
      24,
    )
    .addOption(
      new Option('--log-level <level>', 'log level')
        .choices(['debug', 'info', 'warn', 'error'])
        .default('info'),
    )
    .action(async (flags: ServerFlags, command: Command) => {
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
        nodeMonitorGracePeriodMs: flags.nodeMonitorGracePeriod,
        defaultTolerationSeconds: flags.defaultTolerationSeconds,
        clusterCidr: flags.clusterCidr,
        nodeCidrMaskSize: flags.nodeCidrMaskSize,
        // The default address may be taken (another server on this machine): then run without agents.
        agentListen: {
          ...flags.agentListen,
          optional: command.getOptionValueSource('agentListen') === 'default',
        },
        logger,
      });
      let agent: Awaited<ReturnType<typeof startLocalAgent>> | undefined;
      if (flags.withAgent) {
        try {
          agent = await startLocalAgent({
            server,
            dataDir: flags.dataDir,
            nodeName: flags.nodeName,
            metricsListen: flags.agentMetricsListen ?? { host: flags.listen.host, port: 0 },
            logger,
          });
        } catch (err) {
          await server.close();
          throw err;
        }
      }
      process.stderr.write(
        `\nBerth is serving at ${server.url}\n` +
          `Kubeconfig: ${server.kubeconfigPath}\n` +
          `Try:        kubectl --kubeconfig ${server.kubeconfigPath} get namespaces\n` +
          (server.agentGateway === undefined
            ? '\n'
            : `Agents:     berth agent --server ${server.url} --token-file ${join(flags.dataDir, 'node-token')}` +
              ` (gateway ${server.agentGateway.address})\n\n`) +
          (agent === undefined
            ? ''
            : agent.runtimeName === 'fake'
              ? `Local node: ${agent.nodeName} (runtime "fake": a simulator, no containers are started)\n\n`
              : `Local node: ${agent.nodeName} (runtime "${agent.runtimeName}")\n\n`),
      );
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          resolve();
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      logger.info('shutting down');
      await agent?.close();
      await server.close();
    });
}
