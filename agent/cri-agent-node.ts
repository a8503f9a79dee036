/**
 * The leaves of a node that runs pods through containerd's CRI (`berth agent --runtime cri`): the
 * CRI runtime and image service over one connection (agent/runtime/cri), containerd's own CNI
 * network (the pod workers take the pod IP from the sandbox status), the real probe transport, and
 * the default log/exec stream handlers over the CRI runtime — composed with the same pod workers as
 * the runc node (agent/runc-node.ts), so both runtimes give the same pod behaviour.
 *
 * containerd writes the container logs itself, at the paths the pod workers hand it, under
 * `<data dir>/pods`; `kubectl logs` reads them from there.
 */
import { join } from 'node:path';
import type { Registry } from 'prom-client';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import type { PodManagerFactory } from './agent.js';
import { createPodManager } from './pods/pod-workers.js';
import { createCriNode, type CriNode } from './runtime/cri/cri-node.js';
import { createStreamHandlers } from './streams/default-stream-handlers.js';
import type { StreamHandlers } from './streams/stream-types.js';

/** The runtime name CRI nodes report (container ids `containerd://…`). */
export const criRuntimeName = 'containerd';

export interface CriAgentNodeOptions {
  readonly nodeName: string;
  readonly nodeIp: string;
  /** The agent's data dir: pod logs in `pods/`, volumes in `volumes/`. */
  readonly dataDir: string;
  /** containerd's CRI socket, `unix:///run/containerd/containerd.sock`. */
  readonly endpoint: string;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly registry?: Registry;
  /** cgroupfs parent of pod cgroups, handed to containerd per sandbox; default `/berth`. */
  readonly cgroupRoot?: string;
}

export interface CriAgentNode {
  readonly factory: PodManagerFactory;
  readonly streams: StreamHandlers;
  readonly runtime: CriNode['runtime'];
  /** Closes the CRI connection (after the pod manager is closed); containers keep running. */
  close(): void;
}

/** Connects to containerd (lazily, on the first call) and composes the node's pod workers. */
export function createCriAgentNode(opts: CriAgentNodeOptions): CriAgentNode {
  const node = createCriNode({ endpoint: opts.endpoint });
  const podLogsDir = join(opts.dataDir, 'pods');
  const logger = opts.logger.child({ runtime: criRuntimeName });
  const factory: PodManagerFactory = (reporter, services) =>
    createPodManager({
      runtime: node.runtime,
      images: node.images,
      network: node.network,
      reporter,
      clock: opts.clock,
      logger,
      nodeName: opts.nodeName,
      nodeIP: opts.nodeIp,
      podLogsDir,
      cgroupRoot: opts.cgroupRoot ?? '/berth',
      volumesDir: join(opts.dataDir, 'volumes'),
      objects: services.objects,
      ...(opts.registry === undefined ? {} : { registry: opts.registry }),
    });
  return {
    factory,
    streams: createStreamHandlers({ runtime: node.runtime, podLogsDir, clock: opts.clock }),
    runtime: node.runtime,
    close: () => {
      node.close();
    },
  };
}
