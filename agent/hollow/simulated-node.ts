/**
 * The leaves of a SIMULATED node: the real pod workers (agent/pods) over the fake runtime, the fake
 * image service, the fake pod network and a probe transport where every endpoint answers healthy.
 * Nothing here starts a process or touches the host's network; pods are reported Running because the
 * fake runtime says their containers run. Used by `berth agent --runtime fake`, by the all-in-one
 * `berth server --with-agent` where runc cannot run, and by hollow agents
 * (kubemark's hollow node: the real agent code with only the leaves swapped).
 *
 * Pod addresses come from a per-node /24 (not the CIDR the controller assigns, so hollow fleets need no
 * wide --cluster-cidr): given, or
 * derived from the node name so that a handful of simulated nodes rarely share one.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { Registry } from 'prom-client';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import type { PodManagerFactory } from '../agent.js';
import { FakePodNetwork } from '../pods/fake-pod-network.js';
import { createPodManager, type PodManager } from '../pods/pod-workers.js';
import { alwaysHealthyTransport } from '../pods/prober.js';
import { FakeImageService } from '../runtime/fake/fake-image-service.js';
import { FakeRuntime } from '../runtime/fake/fake-runtime.js';
import { createStreamHandlers } from '../streams/default-stream-handlers.js';
import type { StreamHandlers } from '../streams/stream-types.js';

/** The runtime name simulated nodes report (Node `containerRuntimeVersion` is `fake://<version>`). */
export const simulatedRuntimeName = 'fake';

export interface SimulatedNodeOptions {
  readonly nodeName: string;
  readonly nodeIp: string;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Where the pod workers' kubelet_* metrics go; none exported when absent. */
  readonly registry?: Registry;
  /** The node's pod CIDR (an IPv4 /8 to /30); default {@link podCidrForName}. */
  readonly podCidr?: string;
  /** Pod workers' relist/probe tick, ms (default 1000, the kubelet's PLEG period). */
  readonly relistIntervalMs?: number;
  /** Every pod gets a turn at least this often, ms (default 60 000). */
  readonly resyncIntervalMs?: number;
  /** Default time an image pull takes, ms (pods may override it by annotation). Default 0. */
  readonly pullDelayMs?: number;
  /** The node's data dir; only names the (never written) pod log directories. */
  readonly dataDir?: string;
  /** Called with what was built, for tests and benchmarks that look inside. */
  readonly onCreated?: (parts: SimulatedNodeParts) => void;
}

/** What a simulated node is made of. */
export interface SimulatedNodeParts {
  readonly runtime: FakeRuntime;
  readonly images: FakeImageService;
  readonly network: FakePodNetwork;
  readonly pods: PodManager;
}

/** A `startAgent` pod manager factory that builds a simulated node's leaves and real pod workers. */
export function simulatedPodManagerFactory(opts: SimulatedNodeOptions): PodManagerFactory {
  return (reporter) => {
    const runtime = new FakeRuntime({ clock: opts.clock, name: simulatedRuntimeName });
    const images = new FakeImageService({
      clock: opts.clock,
      ...(opts.pullDelayMs === undefined ? {} : { pullDelayMs: opts.pullDelayMs }),
    });
    const network = new FakePodNetwork({ cidr: opts.podCidr ?? podCidrForName(opts.nodeName) });
    const pods = createPodManager({
      runtime,
      images,
      network,
      reporter,
      clock: opts.clock,
      logger: opts.logger,
      nodeName: opts.nodeName,
      nodeIP: opts.nodeIp,
      probeTransport: alwaysHealthyTransport,
      ...(opts.registry === undefined ? {} : { registry: opts.registry }),
      ...(opts.relistIntervalMs === undefined ? {} : { relistIntervalMs: opts.relistIntervalMs }),
      ...(opts.resyncIntervalMs === undefined ? {} : { resyncIntervalMs: opts.resyncIntervalMs }),
      ...(opts.dataDir === undefined ? {} : { podLogsDir: join(opts.dataDir, 'pods') }),
    });
    opts.onCreated?.({ runtime, images, network, pods });
    return pods;
  };
}

/**
 * A simulated node for one agent: its pod manager factory, and `kubectl logs`/`exec` handlers served
 * from the fake runtime that factory builds (what `berth agent --runtime fake` and the all-in-one's
 * fallback hand to `startAgent`).
 */
export function simulatedNode(opts: SimulatedNodeOptions): {
  readonly factory: PodManagerFactory;
  readonly streams: StreamHandlers;
} {
  let runtime: FakeRuntime | undefined;
  const factory = simulatedPodManagerFactory({
    ...opts,
    onCreated: (parts) => {
      runtime = parts.runtime;
      opts.onCreated?.(parts);
    },
  });
  const streams = createStreamHandlers({
    runtime: () => runtime,
    podLogsDir: opts.dataDir === undefined ? '/var/log/pods' : join(opts.dataDir, 'pods'),
    clock: opts.clock,
  });
  return { factory, streams };
}

/**
 * The `index`-th /24 of 10.128.0.0/9 (32,768 of them): hollow agents number their nodes, so each
 * gets its own range. Throws RangeError past the last one.
 */
export function podCidrForIndex(index: number): string {
  if (!Number.isInteger(index) || index < 0 || index >= 32_768) {
    throw new RangeError(`pod CIDR index ${index} is outside 0..32767`);
  }
  return `10.${128 + Math.floor(index / 256)}.${index % 256}.0/24`;
}

/** A /24 of 10.128.0.0/9 chosen by hashing the node name (collisions are possible, and harmless here). */
export function podCidrForName(nodeName: string): string {
  const digest = createHash('sha256').update(nodeName).digest();
  return podCidrForIndex(digest.readUInt16BE(0) % 32_768);
}
