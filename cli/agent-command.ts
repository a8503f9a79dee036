/**
 * `berth agent`: runs a node agent that joins the controller (once, with a join token), keeps one
 * stream to it, and runs the pods bound to this node. Serves until SIGINT/SIGTERM.
 *
 * Runtimes: `runc` (the default) runs real containers — the image service on disk, the runc runtime,
 * the bridge pod network (agent/runc-node.ts); it needs root, runc and overlayfs, and says what is
 * missing otherwise. `fake` is a SIMULATOR: the real pod workers over the fake runtime, images and
 * network (agent/hollow/simulated-node.ts), so pods are reported Running without any container being
 * started. `cri` runs pods through containerd's CRI API (`--cri-endpoint`), with containerd's own CNI
 * network (agent/cri-agent-node.ts).
 */
import { readFileSync } from 'node:fs';
import { homedir, hostname } from 'node:os';
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { startAgent, type PodManagerFactory } from '../agent/agent.js';
import { createCriAgentNode, criRuntimeName, type CriAgentNode } from '../agent/cri-agent-node.js';
import { detectNodeIp } from '../agent/host-info.js';
import { createRuncNode, runcNodeUnavailable, runcRuntimeName, type RuncNode } from '../agent/runc-node.js';
import type { Runtime } from '../agent/runtime/runtime.js';
import { podCidrForName, simulatedNode, simulatedRuntimeName } from '../agent/hollow/simulated-node.js';
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
  runcRoot?: string;
  cgroupRoot: string;
  runcPath?: string;
  criEndpoint: string;
  bridgeName?: string;
  netnsPrefix?: string;
  nftTable?: string;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
}

/** The warning every simulated agent logs at start, so nobody mistakes it for a node running containers. */
export const simulatorNotice =
  'runtime "fake" is a SIMULATOR: pods are reported Running but no container is started (real containers: the runc runtime, as root)';

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
        'container runtime: runc (real containers; needs root), cri (containerd over CRI, see --cri-endpoint), or "fake", a simulator that starts no containers',
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
      "pod addresses (IPv4, /8–/30) (default: with runc the CIDR the controller assigns; with fake a /24 of 10.128.0.0/9 picked by the node's name)",
    )
    .option('--runc-root <dir>', "runc's state directory (default: /run/berth/<hash of --data-dir>/runc)")
    .option('--runc-path <file>', 'the runc binary (default: /usr/sbin/runc, else runc on PATH)')
    .option('--cgroup-root <path>', 'cgroupfs parent of pod cgroups', '/berth')
    .option(
      '--cri-endpoint <url>',
      "containerd's CRI socket, with --runtime cri",
      'unix:///run/containerd/containerd.sock',
    )
    .option('--bridge-name <name>', 'the pod bridge, with runc (default berth0)')
    .option('--netns-prefix <prefix>', 'name prefix of pod network namespaces, with runc (default berth-)')
    .option(
      '--nft-table <name>',
      'the nftables table for hostPorts and masquerade, with runc (default berth)',
    )
    .addOption(
      new Option('--log-level <level>', 'log level')
        .choices(['debug', 'info', 'warn', 'error'])
        .default('info'),
    )
    .action(async (flags: AgentFlags) => {
      if (flags.runtime === 'cri' && !/^unix:\/\/\//.test(flags.criEndpoint)) {
        throw new BerthError(
          errorCodes.CONFIG_INVALID,
          `--cri-endpoint ${flags.criEndpoint}: expected unix:///path/to/containerd.sock`,
        );
      }
      if (flags.runtime === 'runc') {
        const why = runcNodeUnavailable(flags.runcPath);
        if (why !== undefined) {
          throw new BerthError(
            errorCodes.CONFIG_INVALID,
            `--runtime runc: ${why}; use --runtime fake for a simulator that starts no containers`,
          );
        }
      }
      const token = readToken(flags);
      const logger = createLogger({ level: flags.logLevel });
      if (flags.runtime === 'fake') logger.warn(simulatorNotice);
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
      let node: RuncNode | undefined;
      if (flags.runtime === 'runc') {
        node = await createRuncNode({
          nodeName: flags.nodeName,
          nodeIp,
          dataDir: flags.dataDir,
          clock: realClock,
          logger,
          registry,
          cgroupRoot: flags.cgroupRoot,
          ...(flags.runcRoot === undefined ? {} : { runcRoot: flags.runcRoot }),
          ...(flags.runcPath === undefined ? {} : { runcPath: flags.runcPath }),
          ...(flags.podCidr === undefined ? {} : { podCidr: flags.podCidr }),
          ...(flags.bridgeName === undefined ? {} : { bridgeName: flags.bridgeName }),
          ...(flags.netnsPrefix === undefined ? {} : { netnsPrefix: flags.netnsPrefix }),
          ...(flags.nftTable === undefined ? {} : { nftTable: flags.nftTable }),
        });
      }
      let cri: CriAgentNode | undefined;
      if (flags.runtime === 'cri') {
        cri = createCriAgentNode({
          nodeName: flags.nodeName,
          nodeIp,
          dataDir: flags.dataDir,
          endpoint: flags.criEndpoint,
          clock: realClock,
          logger,
          registry,
          cgroupRoot: flags.cgroupRoot,
        });
      }
      const real: { factory: PodManagerFactory; streams: RuncNode['streams']; runtime: Runtime } | undefined =
        node ?? cri;
      let runtimeVersion: string | undefined;
      if (real !== undefined) {
        try {
          runtimeVersion = (await real.runtime.version()).runtimeVersion;
        } catch (err) {
          throw new BerthError(
            errorCodes.CONFIG_INVALID,
            `--runtime ${flags.runtime}: the runtime does not answer: ${errorMessage(err)}`,
            { cause: err },
          );
        }
      }
      const leaves =
        real ??
        simulatedNode({
          nodeName: flags.nodeName,
          nodeIp,
          clock: realClock,
          logger,
          registry,
          podCidr: flags.podCidr ?? podCidrForName(flags.nodeName),
          dataDir: flags.dataDir,
        });
      const agent = await startAgent({
        server: flags.server,
        ...(flags.gateway === undefined ? {} : { gateway: flags.gateway }),
        token,
        dataDir: flags.dataDir,
        nodeName: flags.nodeName,
        nodeIp,
        labels: flags.labels,
        runtime:
          runtimeVersion === undefined
            ? { name: simulatedRuntimeName, version: berthVersion().version }
            : { name: cri === undefined ? runcRuntimeName : criRuntimeName, version: runtimeVersion },
        podManagerFactory: leaves.factory,
        // kubectl logs / exec, served from the node's runtime.
        streams: leaves.streams,
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
      await node?.close();
      cri?.close();
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
