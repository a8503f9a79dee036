/**
 * What each node is told in `NodeConfig`: its `spec.podCIDR` (set by the node-ipam controller; empty
 * until then) and the cluster's pod range. One store watch on Nodes keeps a name → podCIDR map and
 * calls `onChange` when a node's CIDR changes, so the gateway can push the new config to a connected
 * agent; a newly registered agent is sent `configOf(name)`.
 *
 *   starting ──list──▶ watching ──watch lost (compacted, dropped, store error)──▶ re-listing ─┐
 *                         ▲                                                                   │
 *                         └───────────────────────────────────────────────────────────────────┘
 *   any ──close──▶ closed
 *
 * Re-listing after a lost watch reports every CIDR that differs from what the map held, so nothing
 * is missed; pushing the same config twice is harmless (the session drops duplicates).
 */
import type { StoredObject } from '../../api/object.js';
import { findResource, type ResourceInfo } from '../../api/resources.js';
import type { Clock } from '../../lib/clock.js';
import { errorMessage } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import type { KeyValue, Store, WatchEvent } from '../store/store.js';
import { decodeObject, resourcePrefix } from '../apiserver/object-codec.js';

export interface NodeConfigFeedOptions {
  readonly store: Store;
  readonly clock: Clock;
  readonly logger: Logger;
  /** The cluster's pod range, sent as `cluster_cidr` (empty when unknown). */
  readonly clusterCidr: string;
  /** A node's pod CIDR changed (or the node appeared with one). */
  readonly onChange: (nodeName: string, config: { podCidr: string; clusterCidr: string }) => void;
}

const retryDelayMs = 1000;

function nodesResource(): ResourceInfo {
  const r = findResource('', 'v1', 'nodes');
  if (r === undefined) throw new Error('nodes resource is not registered');
  return r;
}

export class NodeConfigFeed {
  readonly #o: NodeConfigFeedOptions;
  readonly #prefix = resourcePrefix(nodesResource());
  readonly #cidrs = new Map<string, string>();
  readonly #abort = new AbortController();
  #revision = 0;
  #loop: Promise<void> | undefined;

  constructor(opts: NodeConfigFeedOptions) {
    this.#o = opts;
  }

  /** Lists the Nodes and starts watching. Throws if the first listing fails. */
  async start(): Promise<void> {
    await this.#relist(false);
    this.#loop = this.#watchLoop();
  }

  /** The config node `nodeName` should have now. */
  configOf(nodeName: string): { podCidr: string; clusterCidr: string } {
    return { podCidr: this.#cidrs.get(nodeName) ?? '', clusterCidr: this.#o.clusterCidr };
  }

  async close(): Promise<void> {
    this.#abort.abort();
    await this.#loop;
  }

  async #watchLoop(): Promise<void> {
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      const watch = this.#o.store.watch(this.#prefix, this.#revision + 1, { signal });
      try {
        for await (const batch of watch) this.#apply(batch);
      } catch (err) {
        if (this.#closing()) return;
        this.#o.logger.warn({ err: errorMessage(err) }, 'node watch lost; re-listing node CIDRs');
        await this.#pause();
        try {
          await this.#relist(true);
        } catch (relistErr) {
          this.#o.logger.warn({ err: errorMessage(relistErr) }, 'listing nodes failed; retrying');
        }
      } finally {
        watch.close();
      }
    }
  }

  #apply(batch: readonly WatchEvent[]): void {
    for (const e of batch) {
      this.#revision = Math.max(this.#revision, e.revision);
      if (e.type === 'DELETE') {
        this.#cidrs.delete(nameOfKey(e.key));
        continue;
      }
      this.#set(e.kv, true);
    }
  }

  #set(kv: KeyValue, notify: boolean): void {
    let obj: StoredObject;
    try {
      obj = decodeObject(kv);
    } catch {
      return;
    }
    const name = obj.metadata.name ?? nameOfKey(kv.key);
    const spec = obj['spec'];
    const cidr =
      typeof spec === 'object' &&
      spec !== null &&
      typeof (spec as Record<string, unknown>)['podCIDR'] === 'string'
        ? ((spec as Record<string, unknown>)['podCIDR'] as string)
        : '';
    const before = this.#cidrs.get(name) ?? '';
    this.#cidrs.set(name, cidr);
    if (notify && cidr !== before) this.#o.onChange(name, this.configOf(name));
  }

  async #relist(notify: boolean): Promise<void> {
    let token: string | undefined;
    const seen = new Set<string>();
    do {
      const page = await this.#o.store.list(this.#prefix, {
        limit: 500,
        ...(token === undefined ? {} : { continue: token }),
      });
      for (const kv of page.items) {
        this.#set(kv, notify);
        seen.add(nameOfKey(kv.key));
      }
      this.#revision = page.revision;
      token = page.continue;
    } while (token !== undefined);
    for (const name of [...this.#cidrs.keys()]) if (!seen.has(name)) this.#cidrs.delete(name);
  }

  #closing(): boolean {
    return this.#abort.signal.aborted;
  }

  async #pause(): Promise<void> {
    try {
      await this.#o.clock.sleep(retryDelayMs, this.#abort.signal);
    } catch {
      // aborted: the loop ends
    }
  }
}

function nameOfKey(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1);
}
