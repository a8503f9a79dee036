/**
 * The `PodNetwork` seam: gives a pod its addresses before its sandbox runs and takes them back after
 * the sandbox is gone. The agent's network (netns + bridge + veth + IPAM, a later issue) implements
 * it for runc; `FakePodNetwork` hands out addresses from a CIDR for unit tests and hollow agents. With
 * the `cri` runtime, containerd wires the network itself: a network that returns no IPs lets the pod
 * workers take the sandbox status's IP instead.
 *
 * Order, per pod: `setUp` → runPodSandbox (joining `networkNamespacePath`) … stopPodSandbox →
 * `tearDown`. Both are idempotent and keyed by pod uid, so after an agent restart `setUp` returns the
 * attachment the pod already has.
 */
import type { CallOptions, PortMapping } from '../runtime/runtime.js';

export interface PodNetworkRequest {
  readonly uid: string;
  readonly namespace: string;
  readonly name: string;
  readonly portMappings: readonly PortMapping[];
}

export interface PodNetworkAttachment {
  /** The pod's IPs, primary first; empty when the runtime wires the network (CRI). */
  readonly ips: readonly string[];
  /** The network namespace the sandbox must join, when this network made one. */
  readonly networkNamespacePath?: string;
}

export type PodNetworkResult =
  ({ readonly ok: true } & PodNetworkAttachment) | { readonly ok: false; readonly message: string };

export interface PodNetwork {
  /** Prepares (or returns the existing) attachment of a pod. Failure is a value (`FailedCreatePodSandBox`). */
  setUp(request: PodNetworkRequest, opts?: CallOptions): Promise<PodNetworkResult>;
  /** Releases the pod's addresses and namespace. Idempotent. */
  tearDown(uid: string, opts?: CallOptions): Promise<void>;
}
