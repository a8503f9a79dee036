/**
 * `berth agent`: runs a node agent that joins the controller (once, with a join token), keeps one
 * stream to it, and runs the pods bound to this node. Serves until SIGINT/SIGTERM.
 *
 * Runtimes: only `fake` is available in this build — a SIMULATOR: the real pod workers over the fake
 * runtime, images and network (agent/hollow/simulated-node.ts), so pods are reported Running without
 * any container being started. `runc` and `cri` say so and exit.
 */
import { readFileSync } from 'node:fs';
import { homedir, hostname } from 'node:os';
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { startAgent } from '../agent/agent.js';
import { detectNodeIp } from '../agent/host-info.js';
import {
  podCidrForName,
  simulatedPodManagerFactory,
  simulatedRuntimeName,
} from '../agent/hollow/simulated-node.js';
import { realClock } from '../lib/clock.js';
import { BerthError, errorCodes, errorMessage } from '../lib/errors.js';
import { createLogger } from '../lib/logger.js';
import { createMetricsRegistry } from '../lib/metrics.js';
import { berthVersion } from '../lib/version.js';

interface AgentFlags {
  server: string;
  token?: string;
  tokenFile?: string;
  dataDir: string;
  nodeName: string;
  nodeIp?: string;
  runtime: 'runc' | 'cri' | 'fake';
  labels: Record<string, string>;
  metricsListen: { host: string; port: number };
  gateway?: { host: string; port: number };
  caFile?: string;
  podCidr?: string;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
}

/** The warning every simulated agent logs at start, so nobody mistakes it for a node running containers. */
export const simulatorNotice =
  'runtime "fake" is a SIMULATOR: pods are reported Running but no container is started (the runc runtime is issue #6)';

function defaultAgentDataDir(): string {
  return process.getuid?.() === 0 ? '/var/lib/berth-agent' : join(homedir(), '.berth-agent');
}

/** `HOST:PORT` (`[::1]:PORT` for IPv6; empty host = every interface; port 0 = any free port). */
export function parseListen(value: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(value);
  const port = Number(m?.[3]);
  if (m === null || !Number.isInteger(port) || port > 65535) {
    throw new InvalidArgumentError(`expected HOST:PORT (e.g. 0.0.0.0:10255), got "${value}"`);
  }
  const host = m[1] ?? m[2] ?? '';
  return { host: host === '' ? '0.0.0.0' : host, port };
}

/** `k=v,k2=v2` → labels. */
export function parseLabels(value: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const part of value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')) {
    const eq = part.indexOf('=');
    if (eq <= 0)
      throw new InvalidArgumentError(`expected key=value pairs separated by commas, got "${part}"`);
    labels[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return labels;
}

export function agentCommand(): Command {
  return new Command('agent')
    .description('run a node agent: join the controller and run the pods bound to this node')
    .requiredOption('--server <url>', "the controller's API server URL, e.g. https://10.0.0.1:6443")
    .option(
      '--token <token>',
      'join token (K10…), from DATA_DIR/node-token on the server or `berth token create`',
    )
    .option('--token-file <file>', 'read the join token from a file instead')
    .option('--data-dir <dir>', 'where the agent keeps its key, certificate and state', defaultAgentDataDir())
    .option('--node-name <name>', "this node's name", hostname().toLowerCase())
    .option('--node-ip <ip>', "this node's InternalIP (default: detected from the interfaces)")
    .addOption(
      new Option(
        '--runtime <runtime>',
        'container runtime; "fake" is a simulator that starts no containers (runc and cri: issue #6)',
      )
        .choices(['runc', 'cri', 'fake'])
        .default('runc'),
    )
    .addOption(
      new Option('--labels <k=v,...>', 'labels for the Node object')
        .argParser(parseLabels)
        .default({}, 'none'),
    )
    .addOption(
      new Option('--metrics-listen <host:port>', 'where /metrics is served (port 0: any free port)')
        .argParser(parseListen)
        .default(parseListen('0.0.0.0:10255'), '0.0.0.0:10255'),
    )
    .option(
      '--gateway <host:port>',
      "the controller's agent endpoint (default: the --server host, port 6444)",
      parseListen,
    )
    .option('--ca-file <file>', 'the cluster CA certificate, for a token without a CA hash')
    .option(
      '--pod-cidr <cidr>',
      "pod addresses (IPv4, /8–/30), with --runtime fake (default: a /24 of 10.128.0.0/9 picked by the node's name)",
    )
    .addOption(
      new Option('--log-level <level>', 'log level')
        .choices(['debug', 'info', 'warn', 'error'])
        .default('info'),
    )
    .action(async (flags: AgentFlags) => {
      if (flags.runtime !== 'fake') {
        throw new BerthError(
          errorCodes.CONFIG_INVALID,
          `the ${flags.runtime} runtime is not available in this build yet; use --runtime fake (a simulator that starts no containers)`,
        );
      }
      const token = readToken(flags);
      const logger = createLogger({ level: flags.logLevel });
      logger.warn(simulatorNotice);
      const abort = new AbortController();
      const stopped = new Promise<void>((resolve) => {
        const stop = (): void => {
          abort.abort(new Error('interrupted'));
          resolve();
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      const nodeIp = flags.nodeIp ?? detectNodeIp();
      const registry = createMetricsRegistry({ defaultLabels: { node: flags.nodeName } });
      const agent = await startAgent({
        server: flags.server,
        ...(flags.gateway === undefined ? {} : { gateway: flags.gateway }),
        token,
        dataDir: flags.dataDir,
        nodeName: flags.nodeName,
        nodeIp,
        labels: flags.labels,
        runtime: { name: simulatedRuntimeName, version: berthVersion().version },
        podManagerFactory: simulatedPodManagerFactory({
          nodeName: flags.nodeName,
          nodeIp,
          clock: realClock,
          logger,
          registry,
          podCidr: flags.podCidr ?? podCidrForName(flags.nodeName),
          dataDir: flags.dataDir,
        }),
        logger,
        registry,
        metricsListen: flags.metricsListen,
        ...(flags.caFile === undefined ? {} : { caPem: readFile(flags.caFile, '--ca-file') }),
        signal: abort.signal,
      });
      process.stderr.write(
        `\nBerth agent ${flags.nodeName} joined; connecting to ${agent.gatewayTarget}` +
          (agent.metricsAddress === undefined ? '' : `, metrics at http://${agent.metricsAddress}/metrics`) +
          '\n\n',
      );
      await stopped;
      logger.info('shutting down');
      await agent.close();
    });
}

/** The join token from `--token` or `--token-file` (exactly one). Throws `CONFIG_INVALID`. */
export function readToken(flags: { token?: string; tokenFile?: string }): string {
  if (flags.token !== undefined && flags.tokenFile !== undefined) {
    throw new BerthError(errorCodes.CONFIG_INVALID, 'give --token or --token-file, not both');
  }
  const token =
    flags.token ?? (flags.tokenFile === undefined ? undefined : readFile(flags.tokenFile, '--token-file'));
  if (token === undefined || token.trim() === '') {
    throw new BerthError(
      errorCodes.CONFIG_INVALID,
      'a join token is needed: --token TOKEN or --token-file FILE',
    );
  }
  return token.trim();
}

/** A file's text, or `CONFIG_INVALID` naming the flag it came from. */
export function readFile(path: string, flag: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new BerthError(errorCodes.CONFIG_INVALID, `${flag} ${path}: ${errorMessage(err)}`, { cause: err });
  }
}
