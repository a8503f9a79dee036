/**
 * The all-in-one node of `berth server --with-agent` (what `npm start` runs): an agent in the server's
 * process, joined with the server's own node token over loopback to its agent gateway — the same
 * join, mTLS stream and pod workers as `berth agent`, so the all-in-one exercises the real paths.
 *
 * Runtime: runc (real containers, agent/runc-node.ts) when this process is root and runc and
 * overlayfs are present; otherwise the fake runtime, a SIMULATOR — pods are reported Running but no
 * container starts — with a warning saying why. `BERTH_LOCAL_RUNTIME=fake` (or `runc`, which then
 * fails loudly instead of falling back) overrides the choice.
 *
 * Host resources of the runc node can be renamed through the environment, so that tests (and two
 * all-in-one servers on one host) do not collide: `BERTH_LOCAL_BRIDGE`, `BERTH_LOCAL_NETNS_PREFIX`,
 * `BERTH_LOCAL_NFT_TABLE`, `BERTH_LOCAL_CGROUP_ROOT`, `BERTH_LOCAL_RUNC_ROOT`, and
 * `BERTH_LOCAL_IP_FORWARD=0` to leave the host's ip_forward alone.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startAgent, type RunningAgent } from '../agent/agent.js';
import { detectNodeIp } from '../agent/host-info.js';
import { createRuncNode, runcNodeUnavailable, runcRuntimeName, type RuncNode } from '../agent/runc-node.js';
import { podCidrForName, simulatedNode, simulatedRuntimeName } from '../agent/hollow/simulated-node.js';
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
  /** Default: the process environment (see the module header). */
  readonly env?: NodeJS.ProcessEnv;
}

/** `runc` when this host can run it (or `BERTH_LOCAL_RUNTIME` says so), else `fake` and why. */
export function localRuntimeChoice(env: NodeJS.ProcessEnv = process.env): {
  runtime: 'runc' | 'fake';
  why?: string;
} {
  const forced = env['BERTH_LOCAL_RUNTIME'];
  if (forced === 'fake') return { runtime: 'fake', why: 'BERTH_LOCAL_RUNTIME=fake' };
  const why = runcNodeUnavailable();
  if (forced === 'runc' && why !== undefined) {
    throw new BerthError(errorCodes.CONFIG_INVALID, `BERTH_LOCAL_RUNTIME=runc: ${why}`);
  }
  return why === undefined ? { runtime: 'runc' } : { runtime: 'fake', why };
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
  const env = opts.env ?? process.env;
  const choice = localRuntimeChoice(env);
  if (choice.runtime === 'fake') log.warn({ why: choice.why }, simulatorNotice);
  const nodeIp = detectNodeIp();
  const registry = createMetricsRegistry({ processMetrics: false, defaultLabels: { node: opts.nodeName } });
  const dataDir = join(opts.dataDir, 'agent');
  let node: RuncNode | undefined;
  if (choice.runtime === 'runc') {
    const e = (k: string): string | undefined => (env[k] === undefined || env[k] === '' ? undefined : env[k]);
    const bridgeName = e('BERTH_LOCAL_BRIDGE');
    const netnsPrefix = e('BERTH_LOCAL_NETNS_PREFIX');
    const nftTable = e('BERTH_LOCAL_NFT_TABLE');
    const cgroupRoot = e('BERTH_LOCAL_CGROUP_ROOT');
    const runcRoot = e('BERTH_LOCAL_RUNC_ROOT');
    node = await createRuncNode({
      nodeName: opts.nodeName,
      nodeIp,
      dataDir,
      clock: realClock,
      logger: log,
      registry,
      ...(bridgeName === undefined ? {} : { bridgeName }),
      ...(netnsPrefix === undefined ? {} : { netnsPrefix }),
      ...(nftTable === undefined ? {} : { nftTable }),
      ...(cgroupRoot === undefined ? {} : { cgroupRoot }),
      ...(runcRoot === undefined ? {} : { runcRoot }),
      ...(env['BERTH_LOCAL_IP_FORWARD'] === '0' ? { ipForward: false } : {}),
    });
    log.info({ runtime: runcRuntimeName }, 'local node runs real containers with runc');
  }
  const runtimeVersion = node === undefined ? undefined : await node.runtime.version();
  const leaves =
    node ??
    simulatedNode({
      nodeName: opts.nodeName,
      nodeIp,
      clock: realClock,
      logger: log,
      registry,
      podCidr: podCidrForName(opts.nodeName),
      dataDir,
    });
  let agent: RunningAgent;
  try {
    agent = await startAgent({
      server: opts.server.url,
      gateway: { host: loopbackFor(gateway.address), port: gateway.port },
      token,
      caPem: opts.server.caCertPem,
      dataDir,
      nodeName: opts.nodeName,
      nodeIp,
      runtime:
        runtimeVersion === undefined
          ? { name: simulatedRuntimeName, version: berthVersion().version }
          : { name: runcRuntimeName, version: runtimeVersion.runtimeVersion },
      podManagerFactory: leaves.factory,
      // kubectl logs / exec, served from the node's runtime.
      streams: leaves.streams,
      logger: log,
      registry,
      metricsListen: opts.metricsListen,
    });
  } catch (err) {
    await node?.close();
    throw err;
  }
  const closeAgent = agent.close.bind(agent);
  return {
    ...agent,
    close: async () => {
      await closeAgent();
      await node?.close();
    },
  };
}

/** The host to dial a gateway listening at `address` (HOST:PORT) from this machine. */
export function loopbackFor(address: string): string {
  const host = address.startsWith('[') ? address.slice(1, address.indexOf(']')) : address.split(':')[0];
  if (host === undefined || host === '' || host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '::1';
  return host;
}
