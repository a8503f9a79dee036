/**
 * `berth hollow`: runs N hollow agents in this process — SIMULATED nodes for scale tests and
 * benchmarks (kubemark's hollow nodes): the real agent code, joined with a token like any agent, with
 * the fake runtime, images, network and host facts (agent/hollow/). Serves until SIGINT/SIGTERM.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Command, InvalidArgumentError, Option } from 'commander';
import { hollowRelistIntervalMs, startHollowFleet } from '../agent/hollow/hollow-fleet.js';
import { errorMessage } from '../lib/errors.js';
import { createLogger } from '../lib/logger.js';
import { parseLabels, parseListen, readFile, readToken } from './agent-command.js';

interface HollowFlags {
  server: string;
  token?: string;
  tokenFile?: string;
  count: number;
  namePrefix: string;
  firstIndex: number;
  labels: Record<string, string>;
  zones: number;
  dataDir: string;
  nodeIp: string;
  cpu: number;
  memory: number;
  maxPods: number;
  metricsHost?: string;
  relistInterval: number;
  joinConcurrency: number;
  gateway?: { host: string; port: number };
  caFile?: string;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
}

function parseCount(min: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`expected an integer ≥ ${min}`);
    return n;
  };
}

export function hollowCommand(): Command {
  return new Command('hollow')
    .description(
      'run N hollow agents in this process: SIMULATED nodes (real agent code, fake runtime) for scale tests',
    )
    .requiredOption('--server <url>', "the controller's API server URL, e.g. https://10.0.0.1:6443")
    .option('--token <token>', 'join token (K10…), from DATA_DIR/node-token on the server')
    .option('--token-file <file>', 'read the join token from a file instead')
    .option('--count <n>', 'how many agents', parseCount(1), 1)
    .option('--name-prefix <prefix>', 'node names are PREFIX<index>', 'hollow-')
    .option('--first-index <n>', 'index of the first node', parseCount(0), 0)
    .addOption(
      new Option('--labels <k=v,...>', 'labels for every Node').argParser(parseLabels).default({}, 'none'),
    )
    .option(
      '--zones <k>',
      'spread nodes over K zones (topology.kubernetes.io/zone=zone-<index % K>); 0: no zone label',
      parseCount(0),
      0,
    )
    .option(
      '--data-dir <dir>',
      "where each agent keeps its identity (<dir>/<node name>); kept, so a restart doesn't join again",
      join(homedir(), '.berth-hollow'),
    )
    .option('--node-ip <ip>', 'the InternalIP every hollow node reports', '127.0.0.1')
    .option('--cpu <n>', 'CPU cores each node reports', parseCount(1), 8)
    .option('--memory <GiB>', 'memory each node reports, GiB', parseCount(1), 32)
    .option('--max-pods <n>', 'pods per node', parseCount(1), 110)
    .option(
      '--metrics-host <host>',
      "serve each agent's /metrics on HOST, any free port (default: not served)",
    )
    .option(
      '--relist-interval <ms>',
      "pod workers' tick per agent, ms (a real agent's is 1000)",
      parseCount(100),
      hollowRelistIntervalMs,
    )
    .option('--join-concurrency <n>', 'agents joining at once', parseCount(1), 16)
    .option(
      '--gateway <host:port>',
      "the controller's agent endpoint (default: the --server host, port 6444)",
      parseListen,
    )
    .option('--ca-file <file>', 'the cluster CA certificate, for a token without a CA hash')
    .addOption(
      new Option('--log-level <level>', 'log level (per agent logs add up: warn by default)')
        .choices(['debug', 'info', 'warn', 'error'])
        .default('warn'),
    )
    .action(async (flags: HollowFlags) => {
      const token = readToken(flags);
      const logger = createLogger({ level: flags.logLevel });
      process.stderr.write(
        `Starting ${flags.count} hollow agents: SIMULATED nodes — pods are reported Running, no container is started.\n`,
      );
      const abort = new AbortController();
      const stopped = new Promise<void>((resolve) => {
        const stop = (): void => {
          abort.abort(new Error('interrupted'));
          resolve();
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      const t0 = performance.now();
      const progressEvery = Math.max(1, Math.floor(flags.count / 10));
      const fleet = await startHollowFleet({
        server: flags.server,
        ...(flags.gateway === undefined ? {} : { gateway: flags.gateway }),
        token,
        ...(flags.caFile === undefined ? {} : { caPem: readFile(flags.caFile, '--ca-file') }),
        count: flags.count,
        namePrefix: flags.namePrefix,
        firstIndex: flags.firstIndex,
        labels: flags.labels,
        zones: flags.zones,
        dataDir: flags.dataDir,
        nodeIp: flags.nodeIp,
        host: { cpu: flags.cpu, memoryGi: flags.memory, pods: flags.maxPods },
        ...(flags.metricsHost === undefined ? {} : { metricsHost: flags.metricsHost }),
        relistIntervalMs: flags.relistInterval,
        joinConcurrency: flags.joinConcurrency,
        logger,
        signal: abort.signal,
        onStarted: (n) => {
          if (n % progressEvery === 0 || n === flags.count) {
            process.stderr.write(`  ${n}/${flags.count} joined (${seconds(t0)} s)\n`);
          }
        },
      }).catch((err: unknown) => {
        if (abort.signal.aborted) return undefined;
        throw err;
      });
      if (fleet === undefined) return;
      const joined = seconds(t0);
      await Promise.race([fleet.whenConnected(), stopped]);
      if (!abort.signal.aborted) {
        process.stderr.write(
          `${flags.count} hollow agents joined in ${joined} s and connected in ${seconds(t0)} s\n`,
        );
      }
      await stopped;
      logger.info('shutting down');
      try {
        await fleet.close();
      } catch (err) {
        process.stderr.write(`error stopping hollow agents: ${errorMessage(err)}\n`);
      }
    });
}

function seconds(t0: number): string {
  return ((performance.now() - t0) / 1000).toFixed(1);
}
