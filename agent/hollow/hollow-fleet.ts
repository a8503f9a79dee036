/**
 * Hollow agents: N simulated nodes in one process (kubemark's hollow node, many per process). Each is
 * the real agent — `startAgent` (join with the token and a CSR, mTLS, one gRPC stream, heartbeats,
 * registration) over the real pod workers — with only the leaves swapped (simulated-node.ts: fake
 * runtime, images, network, probes; hollow-host.ts: fixed host facts).
 *
 * What one agent costs, and the choices that keep a thousand in one process affordable:
 * - one gRPC channel (TLS connection) each, as real agents have — the controller sees N peers;
 * - a metrics registry each, without process metrics (prom-client's default collectors would run N
 *   times), served on its own port only when asked (`metricsHost`): names would clash in one registry;
 * - a pod-worker tick every 5 s instead of the kubelet's 1 s (1,000 timers a second otherwise), so a
 *   scripted container exit is noticed within 5 s;
 * - joins run a few at a time (`joinConcurrency`): each is a key generation here and a signature on
 *   the controller, and a burst of a thousand would time out. Data dirs are kept, so a restarted
 *   fleet reuses its identities and skips the join.
 */
import { join } from 'node:path';
import { realClock, type Clock } from '../../lib/clock.js';
import { errorMessage } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import { createMetricsRegistry } from '../../lib/metrics.js';
import { berthVersion } from '../../lib/version.js';
import { startAgent, type RunningAgent } from '../agent.js';
import { hollowHostInfo, type HollowHostOptions } from './hollow-host.js';
import { podCidrForIndex, simulatedPodManagerFactory, simulatedRuntimeName } from './simulated-node.js';

/** The zone label the scheduler's topology plugins read. */
export const zoneLabel = 'topology.kubernetes.io/zone';

export interface HollowFleetOptions {
  /** The API server URL (the gateway is its host, port 6444, unless `gateway` is given). */
  readonly server: string;
  readonly gateway?: { readonly host: string; readonly port: number };
  readonly token: string;
  /** The cluster CA, for a token without a CA hash. */
  readonly caPem?: string;
  readonly count: number;
  /** Node names are `<prefix><index>` (default `hollow-`). */
  readonly namePrefix?: string;
  /** Index of the first node (default 0), so several fleets can share a cluster. */
  readonly firstIndex?: number;
  /** Labels on every node. */
  readonly labels?: Readonly<Record<string, string>>;
  /** Spread nodes over this many zones: `topology.kubernetes.io/zone=zone-<index % zones>`; 0: no label. */
  readonly zones?: number;
  /** Each agent keeps its identity in `<dataDir>/<node name>`. */
  readonly dataDir: string;
  /** InternalIP every hollow node reports (default 127.0.0.1: they all live on this host). */
  readonly nodeIp?: string;
  readonly host?: HollowHostOptions;
  /** Serve each agent's /metrics on this host, any free port; not served when absent. */
  readonly metricsHost?: string;
  /** Pod workers' tick, ms (default 5000). */
  readonly relistIntervalMs?: number;
  /** Joins (first starts) in flight at once (default 16). */
  readonly joinConcurrency?: number;
  readonly heartbeatIntervalMs?: number;
  readonly clock?: Clock;
  readonly logger: Logger;
  /** Aborts starting (agents already started are closed). */
  readonly signal?: AbortSignal;
  /** Called after each agent has started (joined), with how many have. */
  readonly onStarted?: (started: number, agent: RunningAgent) => void;
}

export interface HollowFleet {
  readonly agents: readonly RunningAgent[];
  /** Resolves when every agent has a stream up. */
  whenConnected(): Promise<void>;
  /** How many agents have a stream up now. */
  connectedCount(): number;
  /** Closes every agent (streams, pod workers, metrics servers). */
  close(): Promise<void>;
}

/** Default pod-worker tick of hollow agents, ms. */
export const hollowRelistIntervalMs = 5000;

/**
 * Starts `count` hollow agents and resolves once all have joined (their streams come up on their
 * own; see `whenConnected`). If any fails to start, the ones started are closed and the error thrown.
 */
export async function startHollowFleet(opts: HollowFleetOptions): Promise<HollowFleet> {
  const clock = opts.clock ?? realClock;
  const prefix = opts.namePrefix ?? 'hollow-';
  const first = opts.firstIndex ?? 0;
  const zones = opts.zones ?? 0;
  const host = hollowHostInfo(opts.host);
  const version = berthVersion().version;
  const agents: RunningAgent[] = [];
  let next = 0;
  let failed: unknown;

  const startOne = async (i: number): Promise<void> => {
    const index = first + i;
    const nodeName = `${prefix}${index}`;
    const nodeIp = opts.nodeIp ?? '127.0.0.1';
    const logger = opts.logger.child({ hollow: nodeName });
    const registry = createMetricsRegistry({ processMetrics: false });
    const dataDir = join(opts.dataDir, nodeName);
    const agent = await startAgent({
      server: opts.server,
      ...(opts.gateway === undefined ? {} : { gateway: opts.gateway }),
      token: opts.token,
      ...(opts.caPem === undefined ? {} : { caPem: opts.caPem }),
      dataDir,
      nodeName,
      nodeIp,
      labels: {
        ...opts.labels,
        ...(zones > 0 ? { [zoneLabel]: `zone-${index % zones}` } : {}),
      },
      runtime: { name: simulatedRuntimeName, version },
      podManagerFactory: simulatedPodManagerFactory({
        nodeName,
        nodeIp,
        clock,
        logger,
        registry,
        podCidr: podCidrForIndex(index),
        relistIntervalMs: opts.relistIntervalMs ?? hollowRelistIntervalMs,
        dataDir,
      }),
      logger,
      clock,
      registry,
      host,
      ...(opts.metricsHost === undefined ? {} : { metricsListen: { host: opts.metricsHost, port: 0 } }),
      ...(opts.heartbeatIntervalMs === undefined ? {} : { heartbeatIntervalMs: opts.heartbeatIntervalMs }),
      ...(opts.signal === undefined ? {} : { signal: opts.signal }),
    });
    agents.push(agent);
    opts.onStarted?.(agents.length, agent);
  };

  const worker = async (): Promise<void> => {
    while (failed === undefined && next < opts.count && opts.signal?.aborted !== true) {
      const i = next++;
      try {
        await startOne(i);
      } catch (err) {
        failed ??= err;
      }
    }
  };
  const workers = Math.max(1, Math.min(opts.joinConcurrency ?? 16, opts.count));
  await Promise.all(Array.from({ length: workers }, worker));

  const close = async (): Promise<void> => {
    const results = await Promise.allSettled(agents.map((a) => a.close()));
    for (const r of results) {
      if (r.status === 'rejected')
        opts.logger.warn({ err: errorMessage(r.reason) }, 'hollow agent close failed');
    }
  };
  if (failed !== undefined || opts.signal?.aborted === true) {
    await close();
    throw failed ?? opts.signal?.reason;
  }
  return {
    agents,
    whenConnected: async () => {
      await Promise.all(agents.map((a) => a.client.whenConnected()));
    },
    connectedCount: () => agents.filter((a) => a.client.connected).length,
    close,
  };
}
