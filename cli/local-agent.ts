/**
 * The all-in-one node of `berth server --with-agent` (what `npm start` runs): an agent in the server's
 * process, joined with the server's own node token over loopback to its agent gateway — the same
 * join, mTLS stream and pod workers as `berth agent`, so the all-in-one exercises the real paths.
 *
 * Until the runc runtime exists (issue #6) the local node runs the fake runtime, a SIMULATOR: pods
 * are reported Running but no container starts. It says so in the log.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startAgent, type RunningAgent } from '../agent/agent.js';
import { detectNodeIp } from '../agent/host-info.js';
import {
  podCidrForName,
  simulatedPodManagerFactory,
  simulatedRuntimeName,
} from '../agent/hollow/simulated-node.js';
import type { RunningServer } from '../controller/server.js';
import { realClock } from '../lib/clock.js';
import { BerthError, errorCodes, errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { createMetricsRegistry } from '../lib/metrics.js';
import { berthVersion } from '../lib/version.js';
import { simulatorNotice } from './agent-command.js';

export interface LocalAgentOptions {
  readonly server: RunningServer;
  /** The server's data dir: the node token is read from it; the agent keeps its state in `agent/`. */
  readonly dataDir: string;
  readonly nodeName: string;
  /** Where the agent serves /metrics (port 0: any free port; service discovery finds it). */
  readonly metricsListen: { readonly host: string; readonly port: number };
  readonly logger: Logger;
}

/**
 * Starts the local agent and resolves once it has joined. Throws `CONFIG_INVALID` when the server has
 * no agent gateway (its address was taken) or the node name is not a valid Node name.
 */
export async function startLocalAgent(opts: LocalAgentOptions): Promise<RunningAgent> {
  const gateway = opts.server.agentGateway;
  if (gateway === undefined) {
    throw new BerthError(
      errorCodes.CONFIG_INVALID,
      '--with-agent needs the agent gateway, which did not start (its address is in use): pass --agent-listen HOST:PORT',
    );
  }
  let token: string;
  try {
    token = readFileSync(join(opts.dataDir, 'node-token'), 'utf8').trim();
  } catch (err) {
    throw new BerthError(errorCodes.CONFIG_INVALID, `read the node token: ${errorMessage(err)}`, {
      cause: err,
    });
  }
  const log = opts.logger.child({ component: 'local-agent' });
  log.warn(simulatorNotice);
  const nodeIp = detectNodeIp();
  const registry = createMetricsRegistry({ processMetrics: false, defaultLabels: { node: opts.nodeName } });
  const dataDir = join(opts.dataDir, 'agent');
  return startAgent({
    server: opts.server.url,
    gateway: { host: loopbackFor(gateway.address), port: gateway.port },
    token,
    caPem: opts.server.caCertPem,
    dataDir,
    nodeName: opts.nodeName,
    nodeIp,
    runtime: { name: simulatedRuntimeName, version: berthVersion().version },
    podManagerFactory: simulatedPodManagerFactory({
      nodeName: opts.nodeName,
      nodeIp,
      clock: realClock,
      logger: log,
      registry,
      podCidr: podCidrForName(opts.nodeName),
      dataDir,
    }),
    logger: log,
    registry,
    metricsListen: opts.metricsListen,
  });
}

/** The host to dial a gateway listening at `address` (HOST:PORT) from this machine. */
export function loopbackFor(address: string): string {
  const host = address.startsWith('[') ? address.slice(1, address.indexOf(']')) : address.split(':')[0];
  if (host === undefined || host === '' || host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '::1';
  return host;
}
