/**
 * The node IPAM controller (kube-controller-manager's `nodeipam` with the range allocator): gives every
 * Node a `spec.podCIDR` (and `spec.podCIDRs`) of `nodeCidrMaskSize` bits carved out of the cluster CIDR
 * (default 10.42.0.0/16 in /24s, like k3s), which the agent's bridge network hands out to pods.
 *
 * - Never the same range to two nodes: one worker owns the in-memory allocation table, built from the
 *   Nodes in the cache before the first assignment (so a restart keeps every existing assignment) and
 *   kept in step with Node adds, updates and deletes.
 * - A Node keeps its range for life (the API forbids changing it); a deleted Node's range is free
 *   again. Ranges are handed out round-robin after the last one given, so a freed range rests while
 *   others are free.
 * - A Node that already has a podCIDR (set by hand, or outside the cluster CIDR) is left alone; a range
 *   inside ours is marked used.
 * - When every range is taken, the Node gets a Warning Event `CIDRNotAvailable` (once per Node) and is
 *   retried when a Node goes away (and every few minutes).
 */
import type { StoredObject } from '../../api/object.js';
import { BerthError, errorCodes } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import type { ResourceStorage } from '../apiserver/resource-storage.js';
import type { Controller, ControllerContext, ControllerDescriptor } from './controller-manager.js';
import type { EventRecorder } from './event-recorder.js';
import type { Informer } from './informer.js';
import { requireResource } from './informer-factory.js';
import { targetOf, updateObject } from './object-writes.js';
import { runWorkers, type ReconcileResult, type WorkQueue } from './work-queue.js';

/** Configuration of the node IPAM controller (`berth server --cluster-cidr --node-cidr-mask-size`). */
export interface NodeIpamOptions {
  /** The IPv4 range every node's pod CIDR comes from (default `10.42.0.0/16`). */
  readonly clusterCidr?: string;
  /** Prefix length of each node's pod CIDR (default 24: 254 addresses, 253 pods). */
  readonly nodeCidrMaskSize?: number;
  /** How often a node that found no free range looks again without a node deletion (default 5 min). */
  readonly exhaustedRetryMs?: number;
}

export const DEFAULT_CLUSTER_CIDR = '10.42.0.0/16';
export const DEFAULT_NODE_CIDR_MASK_SIZE = 24;

/** The node IPAM controller for the `ControllerManager`. Throws `BerthError` (CONFIG_INVALID) for bad options. */
export function nodeIpamController(opts: NodeIpamOptions = {}): ControllerDescriptor {
  const ranges = planRanges(
    opts.clusterCidr ?? DEFAULT_CLUSTER_CIDR,
    opts.nodeCidrMaskSize ?? DEFAULT_NODE_CIDR_MASK_SIZE,
  );
  return { name: 'node-ipam-controller', create: (ctx) => new NodeIpamController(ctx, ranges, opts) };
}

/** How the cluster CIDR is cut: `count` ranges of `size` addresses from `base`. */
export interface RangePlan {
  readonly clusterCidr: string;
  readonly maskSize: number;
  readonly base: number;
  readonly size: number;
  readonly count: number;
}

/**
 * Validates the options and says how the cluster CIDR is cut. Throws `BerthError` (CONFIG_INVALID)
 * with a message fit for the command line.
 */
export function planRanges(clusterCidr: string, maskSize: number): RangePlan {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d{1,2})$/.exec(clusterCidr.trim());
  const address = m === null ? undefined : parseIpv4(m[1] ?? '');
  const prefix = Number(m?.[2]);
  if (address === undefined || !Number.isInteger(prefix) || prefix > 32) {
    throw new BerthError(
      errorCodes.CONFIG_INVALID,
      `cluster CIDR "${clusterCidr}" is not an IPv4 CIDR (like 10.42.0.0/16)`,
    );
  }
  if (!Number.isInteger(maskSize) || maskSize < prefix || maskSize > 30) {
    throw new BerthError(
      errorCodes.CONFIG_INVALID,
      `node CIDR mask size ${maskSize} must be from the cluster CIDR's /${prefix} to /30`,
    );
  }
  if (maskSize - prefix > 16) {
    throw new BerthError(
      errorCodes.CONFIG_INVALID,
      `cluster CIDR ${clusterCidr} cut into /${maskSize}s gives more than 65536 node ranges; use a larger mask size`,
    );
  }
  const clusterSize = 2 ** (32 - prefix);
  const base = address - (address % clusterSize);
  return {
    clusterCidr: `${formatIpv4(base)}/${prefix}`,
    maskSize,
    base,
    size: 2 ** (32 - maskSize),
    count: 2 ** (maskSize - prefix),
  };
}

const nodes = requireResource('', 'v1', 'nodes');

/** The node IPAM controller (see the module comment). */
export class NodeIpamController implements Controller {
  readonly name = 'node-ipam-controller';
  readonly #storage: ResourceStorage;
  readonly #log: Logger;
  readonly #events: EventRecorder;
  readonly #nodes: Informer;
  readonly #queue: WorkQueue;
  readonly #plan: RangePlan;
  readonly #retryMs: number;
  /** Range index → the node holding it. */
  readonly #owner = new Map<number, string>();
  /** Node name → its range index. */
  readonly #byNode = new Map<string, number>();
  /** Nodes told about exhaustion (told once). */
  readonly #warned = new Set<string>();
  #next = 0;
  #built = false;

  constructor(ctx: ControllerContext, plan: RangePlan, opts: NodeIpamOptions = {}) {
    this.#storage = ctx.storage;
    this.#log = ctx.logger;
    this.#events = ctx.events;
    this.#plan = plan;
    this.#retryMs = opts.exhaustedRetryMs ?? 300_000;
    this.#queue = ctx.newQueue('node_ipam');
    this.#nodes = ctx.informers.informerFor(nodes);
    this.#nodes.addEventHandler({
      onAdd: (node) => {
        this.#queue.add(node.metadata.name ?? '');
      },
      onUpdate: (old, node) => {
        if (podCidrOf(old) !== podCidrOf(node) || podCidrOf(node) === '')
          this.#queue.add(node.metadata.name ?? '');
      },
      onDelete: (node) => {
        this.#queue.add(node.metadata.name ?? '');
      },
    });
  }

  run(signal: AbortSignal): Promise<void> {
    // Before any assignment: every range the cached Nodes hold is taken.
    if (!this.#built) {
      for (const node of this.#nodes.list()) this.#occupy(node);
      this.#built = true;
      this.#log.info(
        {
          clusterCidr: this.#plan.clusterCidr,
          maskSize: this.#plan.maskSize,
          used: this.#owner.size,
          ranges: this.#plan.count,
        },
        'node IPAM allocating pod CIDRs',
      );
    }
    return runWorkers(this.#queue, (name) => this.reconcile(name), { signal, logger: this.#log });
  }

  /** Ranges in use (for tests and metrics). */
  get used(): number {
    return this.#owner.size;
  }

  /** Assigns `name` a range if it has none; releases the range of a Node that is gone. */
  async reconcile(name: string): Promise<ReconcileResult | undefined> {
    const node = this.#nodes.get(undefined, name);
    if (node === undefined) {
      this.#release(name);
      return undefined;
    }
    if (podCidrOf(node) !== '') {
      this.#occupy(node);
      return undefined;
    }
    const index = this.#byNode.get(name) ?? this.#nextFree();
    if (index === undefined) {
      if (!this.#warned.has(name)) {
        this.#warned.add(name);
        const message =
          `no pod CIDR left for node ${name}: all ${this.#plan.count} /${this.#plan.maskSize} ranges of ` +
          `${this.#plan.clusterCidr} are in use (delete nodes, or restart the server with a wider --cluster-cidr)`;
        this.#events.event(node, 'Warning', 'CIDRNotAvailable', message);
        this.#log.warn({ node: name }, message);
      }
      return { requeueAfterMs: this.#retryMs };
    }
    // Reserved before the write, so that no other node is given it meanwhile.
    this.#take(index, name);
    const cidr = this.#cidrOf(index);
    const outcome = await updateObject(this.#storage, nodes, targetOf(node), (current) => {
      const spec = (current.spec ?? {}) as Record<string, unknown>;
      if (typeof spec['podCIDR'] === 'string' && spec['podCIDR'] !== '') return false;
      current.spec = { ...spec, podCIDR: cidr, podCIDRs: [cidr] };
      return true;
    });
    if (outcome.outcome === 'gone') {
      this.#release(name);
      return undefined;
    }
    if (outcome.outcome === 'unchanged') {
      // Someone else set it first: theirs stands.
      this.#release(name);
      this.#occupy(outcome.object);
      return undefined;
    }
    this.#warned.delete(name);
    this.#log.info({ node: name, podCIDR: cidr }, 'pod CIDR assigned');
    return undefined;
  }

  /** Marks the range `node` holds (when inside the cluster CIDR and of our size) as taken by it. */
  #occupy(node: StoredObject): void {
    const name = node.metadata.name ?? '';
    const index = this.#indexOf(podCidrOf(node));
    if (index === undefined) return;
    const owner = this.#owner.get(index);
    if (owner !== undefined && owner !== name) {
      this.#log.warn(
        { node: name, other: owner, podCIDR: podCidrOf(node) },
        'two nodes hold the same pod CIDR',
      );
      return;
    }
    const previous = this.#byNode.get(name);
    if (previous !== undefined && previous !== index) this.#owner.delete(previous);
    this.#take(index, name);
  }

  #take(index: number, name: string): void {
    this.#owner.set(index, name);
    this.#byNode.set(name, index);
    this.#next = (index + 1) % this.#plan.count;
  }

  #release(name: string): void {
    const index = this.#byNode.get(name);
    this.#warned.delete(name);
    if (index === undefined) return;
    this.#byNode.delete(name);
    if (this.#owner.get(index) === name) this.#owner.delete(index);
    this.#log.info({ node: name, podCIDR: this.#cidrOf(index) }, 'pod CIDR released');
    // Nodes that found none may now get this one.
    for (const node of this.#nodes.list()) {
      if (podCidrOf(node) === '' && node.metadata.name !== name) this.#queue.add(node.metadata.name ?? '');
    }
  }

  #nextFree(): number | undefined {
    for (let i = 0; i < this.#plan.count; i++) {
      const index = (this.#next + i) % this.#plan.count;
      if (!this.#owner.has(index)) return index;
    }
    return undefined;
  }

  #cidrOf(index: number): string {
    return `${formatIpv4(this.#plan.base + index * this.#plan.size)}/${this.#plan.maskSize}`;
  }

  #indexOf(cidr: string): number | undefined {
    const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d{1,2})$/.exec(cidr);
    const address = m === null ? undefined : parseIpv4(m[1] ?? '');
    if (address === undefined || Number(m?.[2]) !== this.#plan.maskSize) return undefined;
    const offset = address - this.#plan.base;
    if (offset < 0 || offset % this.#plan.size !== 0) return undefined;
    const index = offset / this.#plan.size;
    return index < this.#plan.count ? index : undefined;
  }
}

function podCidrOf(node: StoredObject): string {
  const spec = node.spec as Record<string, unknown> | undefined;
  const cidr = spec?.['podCIDR'];
  return typeof cidr === 'string' ? cidr : '';
}

function parseIpv4(text: string): number | undefined {
  const parts = text.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return undefined;
  return parts.reduce((acc, p) => acc * 256 + p, 0);
}

function formatIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');
}
