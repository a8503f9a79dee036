/**
 * Composition of the `cri` runtime for an agent: one CRI connection shared by `CriRuntime` and
 * `CriImageService`, and the `PodNetwork` to pair with them. With CRI, containerd wires the pod
 * network itself (CNI, as configured in containerd's `cni` section), so `criPodNetwork` hands out no
 * addresses and no namespace: the pod workers then take the IP from the sandbox status.
 *
 * Wiring into the agent (what `berth agent --runtime cri --cri-endpoint unix:///…` does):
 *
 *     const node = createCriNode({ endpoint });
 *     createPodManager({ runtime: node.runtime, images: node.images, network: node.network, … });
 *     … on shutdown: await manager.close(); node.close();
 */
import type { CallOptions } from '../runtime.js';
import type { PodNetwork, PodNetworkRequest, PodNetworkResult } from '../../pods/pod-network.js';
import { CriConnection } from './cri-client.js';
import { CriImageService } from './cri-image-service.js';
import { CriRuntime } from './cri-runtime.js';

/** A `PodNetwork` for runtimes that wire the network themselves: no IPs, no namespace, nothing to undo. */
export const criPodNetwork: PodNetwork = {
  setUp(_request: PodNetworkRequest, _opts?: CallOptions): Promise<PodNetworkResult> {
    return Promise.resolve({ ok: true, ips: [] });
  },
  tearDown(_uid: string, _opts?: CallOptions): Promise<void> {
    return Promise.resolve();
  },
};

export interface CriNodeOptions {
  /** gRPC target of containerd's CRI socket: `unix:///run/containerd/containerd.sock`. */
  readonly endpoint: string;
  /** containerd runtime handler for sandboxes; default containerd's `default_runtime_name`. */
  readonly runtimeHandler?: string;
}

export interface CriNode {
  readonly runtime: CriRuntime;
  readonly images: CriImageService;
  readonly network: PodNetwork;
  /** Closes the shared connection (after the pod manager is closed). */
  close(): void;
}

/** The runtime, image service and network of a node that runs pods through CRI. */
export function createCriNode(opts: CriNodeOptions): CriNode {
  const connection = new CriConnection(opts.endpoint);
  const runtime = new CriRuntime({
    endpoint: opts.endpoint,
    connection,
    ...(opts.runtimeHandler === undefined ? {} : { runtimeHandler: opts.runtimeHandler }),
  });
  const images = new CriImageService({ endpoint: opts.endpoint, connection });
  return {
    runtime,
    images,
    network: criPodNetwork,
    close: () => {
      connection.close();
    },
  };
}
