/**
 * The agent's pod network for the runc runtime (`PodNetwork`): one Linux bridge per node whose
 * address is the first host of the node's pod CIDR, a network namespace per pod
 * (`/var/run/netns/<prefix><id>`) joined to the bridge by a veth pair (`bv<id>` on the host, `eth0`
 * in the pod), an address per pod from durable IPAM (ipam-store.ts), and hostPorts as elements of an
 * nft map in Berth's own table (nft-ruleset.ts). Every program runs through the injected
 * `CommandRunner` (`ip`, `nft`, `sysctl`).
 *
 * Per pod, serialised by uid:
 *
 *     (none) ──setUp──▶ allocated (ready:false, on disk) ──netns, veth, addresses, hostPorts──▶ ready
 *        ▲                    │ a step failed: undo, free                                      │
 *        └────────────────────┴───────────────tearDown: hostPorts, netns (+veth), free◀───────────┘
 *
 * The node's network (bridge address, route_localnet, nft table) is made lazily, on the first setUp or
 * when the CIDR becomes known, and rebuilt from the IPAM record after an agent restart. A CIDR change
 * while pods hold addresses of the old one is not applied under their feet: new pods are refused with
 * a message saying so (and `status()` is not ready) until the last old pod is torn down; then the
 * bridge is re-addressed and the table rewritten for the new CIDR. (Kubernetes never changes a Node's
 * podCIDR once set, so this only happens when a Node is deleted and registered again.)
 *
 * On start (the first call), allocations whose netns is gone are freed (the node rebooted, or someone
 * removed it), and netns with this network's prefix that the record does not know are deleted.
 */
import { createHash } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { realClock, type Clock } from '../../lib/clock.js';
import { execCommandRunner, type CommandResult, type CommandRunner } from '../../lib/command-runner.js';
import { BerthError, errorCodes, errorMessage } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import type { CallOptions, PortMapping } from '../runtime/runtime.js';
import type { PodNetwork, PodNetworkRequest, PodNetworkResult } from '../pods/pod-network.js';
import { IpamStore, type HostPortRule, type PodAllocation } from './ipam-store.js';
import { formatCidr, formatIpv4, gatewayOf, parseIpv4, parsePodCidr, type Ipv4Cidr } from './ipv4-cidr.js';
import { elementsScript, tableScript, type HostPortElement } from './nft-ruleset.js';

export interface BridgePodNetworkOptions {
  /** The node's bridge (default `berth0`); at most 15 characters. */
  readonly bridgeName?: string;
  /** Prefix of the pods' netns names (default `berth-`); everything with it belongs to this network. */
  readonly netnsPrefix?: string;
  /** Berth's nft table (`table ip <name>`, default `berth`). */
  readonly nftTable?: string;
  /** Where the IPAM record (`ipam.json`) lives. */
  readonly stateDir: string;
  /** The node's pod CIDR when already known; otherwise `setPodCidr` when the controller says. */
  readonly podCidr?: string;
  readonly runner?: CommandRunner;
  /** Used as given (pass a child logger with `{ component: 'pod-network' }`). */
  readonly logger: Logger;
  /** For measuring how long set-ups take, and the wait for a torn-down pod's veth to go. */
  readonly clock?: Clock;
  /**
   * Whether a link exists in the agent's network namespace; default: listed in /proc/self/net/dev.
   * Tests with a scripted runner pass their own.
   */
  readonly linkExists?: (name: string) => Promise<boolean>;
  /**
   * Turn on `net.ipv4.ip_forward` with the bridge (default true), which pod traffic to other networks
   * and hairpin hostPorts need; the CNI bridge plugin and k3s do the same. Tests that only talk
   * between the node and its pods turn it off to leave the host's setting alone.
   */
  readonly ipForward?: boolean;
}

/** What `removeAll` removes: the names a `BridgePodNetwork` was built with. */
export interface RemoveAllOptions {
  readonly bridgeName?: string;
  readonly netnsPrefix?: string;
  readonly nftTable?: string;
  /** Also forget the IPAM record there. */
  readonly stateDir?: string;
  readonly runner?: CommandRunner;
  readonly logger?: Logger;
}

const DEFAULTS = { bridgeName: 'berth0', netnsPrefix: 'berth-', nftTable: 'berth' } as const;
const NETNS_DIR = '/var/run/netns';
const IFNAME_MAX = 15;

export class BridgePodNetwork implements PodNetwork {
  readonly #bridge: string;
  readonly #prefix: string;
  readonly #table: string;
  readonly #stateDir: string;
  readonly #runner: CommandRunner;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #linkExists: (name: string) => Promise<boolean>;
  readonly #ipForward: boolean;
  /** The CIDR the controller assigned (undefined until known). */
  #desired: Ipv4Cidr | undefined;
  #desiredError: string | undefined;
  /** The CIDR the bridge and table are set up for. */
  #active: Ipv4Cidr | undefined;
  #infraError: string | undefined;
  #infra: Promise<void> | undefined;
  #store: Promise<IpamStore> | undefined;
  readonly #perUid = new Map<string, Promise<unknown>>();
  /** Serialises IPAM changes and nft writes (allocation is atomic across concurrent setUps). */
  #lock: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(opts: BridgePodNetworkOptions) {
    this.#bridge = opts.bridgeName ?? DEFAULTS.bridgeName;
    this.#prefix = opts.netnsPrefix ?? DEFAULTS.netnsPrefix;
    this.#table = opts.nftTable ?? DEFAULTS.nftTable;
    if (this.#bridge.length > IFNAME_MAX || !/^[A-Za-z0-9_.-]+$/.test(this.#bridge)) {
      throw new BerthError(
        errorCodes.CONFIG_INVALID,
        `bridge name "${this.#bridge}" is not a valid interface name`,
      );
    }
    if (!/^[A-Za-z0-9_.-]*$/.test(this.#prefix) || !/^[A-Za-z0-9_-]+$/.test(this.#table)) {
      throw new BerthError(
        errorCodes.CONFIG_INVALID,
        'netns prefix and nft table may only use letters, digits, _ - .',
      );
    }
    this.#stateDir = opts.stateDir;
    this.#runner = opts.runner ?? execCommandRunner;
    this.#log = opts.logger;
    this.#clock = opts.clock ?? realClock;
    this.#linkExists = opts.linkExists ?? procNetDevHas;
    this.#ipForward = opts.ipForward ?? true;
    if (opts.podCidr !== undefined) this.setPodCidr(opts.podCidr);
  }

  /**
   * Sets the node's pod CIDR (from the Node's `spec.podCIDR`). The same value again is a no-op. Sets
   * the bridge and table up in the background; `status()` tells how that went. A malformed CIDR is
   * logged and reported by `status()`, the previous one stays in force.
   */
  setPodCidr(cidr: string): void {
    const parsed = parsePodCidr(cidr);
    if (!parsed.ok) {
      this.#desiredError = parsed.message;
      this.#log.error({ cidr }, parsed.message);
      return;
    }
    this.#desiredError = undefined;
    if (this.#desired !== undefined && formatCidr(this.#desired) === formatCidr(parsed.cidr)) return;
    this.#log.info({ cidr: formatCidr(parsed.cidr) }, 'pod CIDR set');
    this.#desired = parsed.cidr;
    if (!this.#closed) void this.#ensureInfra();
  }

  /** Whether new pods can be attached; when not, a message saying why. */
  status(): { ready: boolean; message?: string } {
    if (this.#closed) return { ready: false, message: 'pod network is closed' };
    if (this.#desiredError !== undefined) return { ready: false, message: this.#desiredError };
    if (this.#desired === undefined) return { ready: false, message: 'node has no pod CIDR yet' };
    if (this.#infraError !== undefined) return { ready: false, message: this.#infraError };
    if (this.#active === undefined || formatCidr(this.#active) !== formatCidr(this.#desired)) {
      return { ready: false, message: `setting up bridge ${this.#bridge} for ${formatCidr(this.#desired)}` };
    }
    return { ready: true };
  }

  /** See `PodNetwork.setUp`. Failures are values; an aborted `signal` before the work starts rejects. */
  setUp(request: PodNetworkRequest, opts?: CallOptions): Promise<PodNetworkResult> {
    opts?.signal?.throwIfAborted();
    return this.#serialised(request.uid, async () => {
      if (this.#closed) return { ok: false, message: 'pod network is closed' };
      const started = this.#clock.now();
      try {
        const result = await this.#setUp(request);
        if (result.ok) {
          this.#log.debug(
            {
              pod: `${request.namespace}/${request.name}`,
              ip: result.ips[0],
              ms: this.#clock.now() - started,
            },
            'pod network set up',
          );
        }
        return result;
      } catch (err) {
        this.#log.warn(
          { pod: `${request.namespace}/${request.name}`, err: errorMessage(err) },
          'pod network setup failed',
        );
        return { ok: false, message: `pod network: ${describeError(err)}` };
      }
    });
  }

  /**
   * See `PodNetwork.tearDown`: removes hostPort elements, veth and netns, then frees the address.
   * Idempotent. Throws `BerthError` (`NETWORK_FAILED`) when something could not be removed; the
   * allocation is then kept, so a later call tries again.
   */
  tearDown(uid: string, _opts?: CallOptions): Promise<void> {
    return this.#serialised(uid, () => this.#tearDown(uid));
  }

  /** Waits for operations in flight and stops accepting new ones. Pods' netns, the bridge and the table stay. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled([...this.#perUid.values()]);
    await this.#infra?.catch(() => undefined);
    await this.#lock.catch(() => undefined);
  }

  /**
   * Removes everything a network with these names made: every netns with the prefix, veths still on
   * the bridge, the bridge, the nft table and (with `stateDir`) the IPAM record. For tests and
   * uninstall; running pods lose their network. Throws `BerthError` if something could not be removed.
   */
  static async removeAll(opts: RemoveAllOptions): Promise<void> {
    const runner = opts.runner ?? execCommandRunner;
    const bridge = opts.bridgeName ?? DEFAULTS.bridgeName;
    const prefix = opts.netnsPrefix ?? DEFAULTS.netnsPrefix;
    const table = opts.nftTable ?? DEFAULTS.nftTable;
    const failures: string[] = [];
    // Veths first: a netns that a process still holds outlives `ip netns del`, and its veth with it.
    const ports = await runner.run('ip', ['-j', 'link', 'show', 'master', bridge]);
    if (ports.code === 0) {
      for (const link of parseJsonArray(ports.stdout)) {
        const name = typeof link['ifname'] === 'string' ? link['ifname'] : undefined;
        if (name === undefined) continue;
        const r = await runner.run('ip', ['link', 'del', name]);
        if (r.code !== 0 && !isNotFound(r)) failures.push(`ip link del ${name}: ${r.stderr.trim()}`);
      }
    }
    for (const name of await listNetns(runner)) {
      if (prefix === '' || !name.startsWith(prefix)) continue;
      const r = await runner.run('ip', ['netns', 'del', name]);
      if (r.code !== 0 && !isNotFound(r)) failures.push(`ip netns del ${name}: ${r.stderr.trim()}`);
    }
    const br = await runner.run('ip', ['link', 'del', bridge]);
    if (br.code !== 0 && !isNotFound(br)) failures.push(`ip link del ${bridge}: ${br.stderr.trim()}`);
    const nft = await runner.run('nft', ['delete', 'table', 'ip', table]);
    if (nft.code !== 0 && !isNotFound(nft))
      failures.push(`nft delete table ip ${table}: ${nft.stderr.trim()}`);
    if (opts.stateDir !== undefined) await rm(join(opts.stateDir, 'ipam.json'), { force: true });
    if (failures.length > 0) {
      throw new BerthError(errorCodes.NETWORK_FAILED, `remove pod network: ${failures.join('; ')}`);
    }
    opts.logger?.info({ bridge, prefix, table }, 'pod network removed');
  }

  /** The netns a pod with `uid` gets (exposed for tests and diagnostics). */
  netnsName(uid: string): string {
    return `${this.#prefix}${shortId(uid, 12)}`;
  }

  /** The host end of the pod's veth: `bv` + 8 hex of (bridge, uid), within the 15-character limit. */
  vethName(uid: string): string {
    return `bv${shortId(`${this.#bridge}/${uid}`, 8)}`;
  }

  async #setUp(request: PodNetworkRequest): Promise<PodNetworkResult> {
    const store = await this.#ready();
    const existing = store.get(request.uid);
    if (existing?.ready === true) return attachment(existing);
    const desired = this.#desired;
    if (desired === undefined) {
      return { ok: false, message: this.#desiredError ?? 'node has no pod CIDR yet' };
    }
    await this.#ensureInfra();
    if (this.#infraError !== undefined) return { ok: false, message: this.#infraError };
    if (this.#active === undefined || !sameCidr(this.#active, desired)) {
      return { ok: false, message: `pod network is not ready for ${formatCidr(desired)}` };
    }
    const rules = hostPortRules(request.portMappings);
    if (!rules.ok) return rules;

    const reserved = await this.#locked(async () => {
      const conflict = hostPortConflict(store, request.uid, rules.rules);
      if (conflict !== undefined) return { ok: false as const, message: conflict };
      const ip = existing?.ip ?? store.pickAddress(desired);
      if (ip === undefined) {
        return {
          ok: false as const,
          message: `failed to allocate an IP for the pod: all ${desired.size - 3} pod addresses of ${formatCidr(desired)} are in use`,
        };
      }
      const allocation: PodAllocation = {
        uid: request.uid,
        namespace: request.namespace,
        name: request.name,
        ip,
        netns: this.netnsName(request.uid),
        veth: this.vethName(request.uid),
        hostPorts: rules.rules,
        ready: false,
      };
      store.put(allocation, formatCidr(desired));
      await store.save();
      return { ok: true as const, allocation };
    });
    if (!reserved.ok) return reserved;
    const allocation = reserved.allocation;
    try {
      // A setUp cut off earlier may have left some of its steps behind: start from nothing.
      if (existing !== undefined) await this.#removeLinks(allocation);
      await this.#makeLinks(allocation, desired);
      await this.#locked(async () => {
        const script = elementsScript('add', this.#table, elementsOf(allocation));
        if (script !== '') await this.#must('nft', ['-f', '-'], script);
        store.put({ ...allocation, ready: true }, formatCidr(desired));
        await store.save();
      });
    } catch (err) {
      await this.#undo(store, allocation);
      throw err;
    }
    return attachment(allocation);
  }

  /** Best-effort removal after a failed setUp: links, then the allocation. */
  async #undo(store: IpamStore, allocation: PodAllocation): Promise<void> {
    try {
      await this.#removeLinks(allocation);
      await this.#locked(async () => {
        store.remove(allocation.uid);
        await store.save();
      });
    } catch (err) {
      this.#log.warn(
        { uid: allocation.uid, err: errorMessage(err) },
        'undoing a failed pod network setup failed',
      );
    }
  }

  async #makeLinks(a: PodAllocation, cidr: Ipv4Cidr): Promise<void> {
    // Two `ip -batch` runs instead of nine processes: pod start latency is what users feel.
    await this.#must(
      'ip',
      ['-batch', '-'],
      [
        `netns add ${a.netns}`,
        `link add ${a.veth} type veth peer name eth0 netns ${a.netns}`,
        `link set ${a.veth} master ${this.#bridge}`,
        // Hairpin lets a pod reach itself through a hostPort (the bridge sends the frame back out).
        `link set ${a.veth} type bridge_slave hairpin on`,
        `link set ${a.veth} up`,
        '',
      ].join('\n'),
    );
    await this.#must(
      'ip',
      ['-netns', a.netns, '-batch', '-'],
      [
        `addr add ${a.ip}/${cidr.prefixLength} dev eth0`,
        'link set eth0 up',
        'link set lo up',
        `route add default via ${formatIpv4(gatewayOf(cidr))}`,
        '',
      ].join('\n'),
    );
  }

  /**
   * Deletes the pod's netns and veth; either being gone already is fine. On return the host end is
   * gone, so a setUp of the same pod can make it again.
   */
  async #removeLinks(a: Pick<PodAllocation, 'veth' | 'netns'>): Promise<void> {
    const ns = await this.#runner.run('ip', ['netns', 'del', a.netns]);
    if (ns.code !== 0 && !isNotFound(ns)) throw commandError('ip', ['netns', 'del', a.netns], ns);
    // The pod end lives in the netns, so destroying the netns destroys the pair: one process fewer per
    // pod. The kernel does that asynchronously (usually 5–30 ms), so wait for the host end to go,
    // reading /proc rather than starting `ip`. When a process still holds the netns it outlives
    // `ip netns del` with the veth: then deleting the host end is what removes the pair.
    const deadline = this.#clock.now() + vethGoneWaitMs;
    while (await this.#linkExists(a.veth)) {
      if (this.#clock.now() >= deadline) {
        const veth = await this.#runner.run('ip', ['link', 'del', a.veth]);
        if (veth.code !== 0 && !isNotFound(veth)) throw commandError('ip', ['link', 'del', a.veth], veth);
        return;
      }
      await this.#clock.sleep(5);
    }
  }

  async #tearDown(uid: string): Promise<void> {
    const store = await this.#ready();
    const allocation = store.get(uid);
    if (allocation === undefined) return;
    await this.#locked(async () => {
      const elements = elementsOf(allocation);
      if (elements.length === 0) return;
      const r = await this.#runner.run('nft', ['-f', '-'], {
        input: elementsScript('delete', this.#table, elements),
      });
      // Before the CIDR is known again (after a restart) there is no table to fix: it is rewritten
      // from the record, without this pod, once the CIDR arrives.
      if (r.code === 0 || this.#active === undefined) return;
      // An element already missing fails the whole delete: rewrite the table without this pod.
      this.#log.debug({ uid, stderr: r.stderr.trim() }, 'hostPort delete failed; rewriting the table');
      await this.#writeTable(store, this.#active, uid);
    });
    await this.#removeLinks(allocation);
    const drained = await this.#locked(async () => {
      store.remove(uid);
      await store.save();
      return store.size === 0;
    });
    this.#log.debug({ uid, ip: allocation.ip }, 'pod network torn down');
    // The last pod of an old CIDR is gone: the new one can take over.
    if (
      drained &&
      this.#desired !== undefined &&
      this.#active !== undefined &&
      !sameCidr(this.#desired, this.#active)
    ) {
      await this.#ensureInfra();
    }
  }

  /** Opens the IPAM record and reconciles it with the netns that exist, once. */
  #ready(): Promise<IpamStore> {
    if (this.#store === undefined) {
      const opened = this.#openAndReconcile();
      this.#store = opened;
      // A failed open is retried by the next call.
      opened.catch(() => {
        if (this.#store === opened) this.#store = undefined;
      });
    }
    return this.#store;
  }

  async #openAndReconcile(): Promise<IpamStore> {
    const store = await IpamStore.open(this.#stateDir);
    const existing = new Set(await listNetns(this.#runner));
    let changed = false;
    for (const a of store.all()) {
      if (existing.has(a.netns)) continue;
      this.#log.info(
        { uid: a.uid, pod: `${a.namespace}/${a.name}`, ip: a.ip },
        'netns is gone; freeing the address',
      );
      // Its veth went with the netns; its hostPorts go when the table is next written.
      store.remove(a.uid);
      changed = true;
    }
    const known = new Set(store.all().map((a) => a.netns));
    for (const name of existing) {
      if (this.#prefix === '' || !name.startsWith(this.#prefix) || known.has(name)) continue;
      this.#log.warn({ netns: name }, 'removing a netns this network has no record of');
      const r = await this.#runner.run('ip', ['netns', 'del', name]);
      if (r.code !== 0 && !isNotFound(r))
        this.#log.warn({ netns: name, stderr: r.stderr.trim() }, 'netns removal failed');
    }
    if (changed) await store.save();
    return store;
  }

  /**
   * Makes the bridge and table match the desired CIDR, unless pods still hold addresses of another.
   * Runs are chained, so only one touches the bridge at a time; each looks afresh at what is wanted.
   */
  #ensureInfra(): Promise<void> {
    const desired = this.#desired;
    if (desired === undefined) return Promise.resolve();
    if (this.#active !== undefined && sameCidr(this.#active, desired) && this.#infraError === undefined) {
      return Promise.resolve();
    }
    const next = (this.#infra ?? Promise.resolve()).then(() => this.#applyInfra());
    this.#infra = next;
    return next;
  }

  /** Never rejects: a failure is kept for `status()` and the next setUp tries again. */
  async #applyInfra(): Promise<void> {
    const target = this.#desired;
    if (target === undefined) return;
    if (this.#active !== undefined && sameCidr(this.#active, target) && this.#infraError === undefined)
      return;
    try {
      const store = await this.#ready();
      await this.#locked(async () => {
        if (store.size > 0 && store.cidr !== undefined && store.cidr !== formatCidr(target)) {
          this.#infraError =
            `pod CIDR changed from ${store.cidr} to ${formatCidr(target)}: ${store.size} pod(s) still use ` +
            `${store.cidr}; new pods wait until they are gone`;
          this.#log.warn(
            { from: store.cidr, to: formatCidr(target), pods: store.size },
            'pod CIDR change deferred',
          );
          return;
        }
        await this.#ensureBridge(target);
        if (store.cidr !== formatCidr(target)) {
          store.setCidr(formatCidr(target));
          await store.save();
        }
        await this.#writeTable(store, target);
        this.#active = target;
        this.#infraError = undefined;
        this.#log.info(
          { bridge: this.#bridge, cidr: formatCidr(target), table: this.#table },
          'pod network ready',
        );
      });
    } catch (err) {
      this.#infraError = `set up bridge ${this.#bridge}: ${describeError(err)}`;
      this.#log.error({ err: errorMessage(err) }, 'pod network setup failed');
    }
  }

  async #ensureBridge(cidr: Ipv4Cidr): Promise<void> {
    const wanted = `${formatIpv4(gatewayOf(cidr))}/${cidr.prefixLength}`;
    const show = await this.#runner.run('ip', ['-j', 'addr', 'show', 'dev', this.#bridge]);
    if (show.code !== 0) {
      if (!isNotFound(show)) throw commandError('ip', ['-j', 'addr', 'show', 'dev', this.#bridge], show);
      await this.#must(
        'ip',
        ['-batch', '-'],
        [
          `link add ${this.#bridge} type bridge`,
          `addr add ${wanted} dev ${this.#bridge}`,
          `link set ${this.#bridge} up`,
          '',
        ].join('\n'),
      );
    } else {
      const link = parseJsonArray(show.stdout)[0] ?? {};
      const addrs = Array.isArray(link['addr_info']) ? (link['addr_info'] as Record<string, unknown>[]) : [];
      const inet = addrs
        .filter((a) => a['family'] === 'inet')
        .map((a) => `${String(a['local'])}/${String(a['prefixlen'])}`);
      // An address of an earlier CIDR would route two prefixes to the bridge.
      for (const old of inet.filter((a) => a !== wanted)) {
        await this.#must('ip', ['addr', 'del', old, 'dev', this.#bridge]);
      }
      if (!inet.includes(wanted)) await this.#must('ip', ['addr', 'add', wanted, 'dev', this.#bridge]);
      await this.#must('ip', ['link', 'set', this.#bridge, 'up']);
    }
    // Lets DNAT send 127.0.0.1:<hostPort> to a pod on this bridge.
    await this.#must('sysctl', ['-qw', `net.ipv4.conf.${this.#bridge}.route_localnet=1`]);
    if (this.#ipForward) await this.#must('sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
  }

  /** Rewrites the whole table from the record (ready pods only; `except` left out). Call under the lock. */
  async #writeTable(store: IpamStore, cidr: Ipv4Cidr, except?: string): Promise<void> {
    const elements = store
      .all()
      .filter((a) => a.ready && a.uid !== except)
      .flatMap(elementsOf);
    await this.#must(
      'nft',
      ['-f', '-'],
      tableScript({ table: this.#table, bridge: this.#bridge, cidr, elements }),
    );
  }

  async #must(file: string, args: readonly string[], input?: string): Promise<CommandResult> {
    const r = await this.#runner.run(file, args, input === undefined ? undefined : { input });
    if (r.code !== 0) throw commandError(file, args, r, input);
    return r;
  }

  #locked<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#lock.catch(() => undefined).then(fn);
    this.#lock = next;
    return next;
  }

  #serialised<T>(uid: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#perUid.get(uid) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(fn);
    this.#perUid.set(uid, next);
    const cleanup = (): void => {
      if (this.#perUid.get(uid) === next) this.#perUid.delete(uid);
    };
    next.then(cleanup, cleanup);
    return next;
  }
}

function attachment(a: PodAllocation): PodNetworkResult {
  return { ok: true, ips: [a.ip], networkNamespacePath: `${NETNS_DIR}/${a.netns}` };
}

function elementsOf(a: PodAllocation): HostPortElement[] {
  return a.hostPorts.map((r) => ({ ...r, podIp: a.ip }));
}

function sameCidr(a: Ipv4Cidr, b: Ipv4Cidr): boolean {
  return a.network === b.network && a.prefixLength === b.prefixLength;
}

function shortId(text: string, hexChars: number): string {
  return createHash('sha256').update(text).digest('hex').slice(0, hexChars);
}

/** The pod's hostPort rules from its port mappings (those without a hostPort are not rules). */
function hostPortRules(
  mappings: readonly PortMapping[],
): { ok: true; rules: HostPortRule[] } | { ok: false; message: string } {
  const rules: HostPortRule[] = [];
  const seen = new Set<string>();
  for (const m of mappings) {
    if (m.hostPort === undefined || m.hostPort === 0) continue;
    const protocol = m.protocol.toLowerCase() as HostPortRule['protocol'];
    if (!isPort(m.hostPort) || !isPort(m.containerPort)) {
      return { ok: false, message: `invalid port mapping ${m.hostPort}:${m.containerPort}/${m.protocol}` };
    }
    let hostIP: string | undefined;
    if (m.hostIP !== undefined && m.hostIP !== '' && m.hostIP !== '0.0.0.0') {
      if (parseIpv4(m.hostIP) === undefined) {
        return {
          ok: false,
          message: `hostIP ${m.hostIP} of hostPort ${m.hostPort}: only IPv4 addresses are supported`,
        };
      }
      hostIP = m.hostIP;
    }
    const key = `${hostIP ?? '*'}/${protocol}/${m.hostPort}`;
    if (seen.has(key)) continue;
    seen.add(key);
    rules.push({
      protocol,
      hostPort: m.hostPort,
      containerPort: m.containerPort,
      ...(hostIP === undefined ? {} : { hostIP }),
    });
  }
  return { ok: true, rules };
}

/** A message when another pod on the node already has one of `rules`' host ports. */
function hostPortConflict(store: IpamStore, uid: string, rules: readonly HostPortRule[]): string | undefined {
  for (const other of store.all()) {
    if (other.uid === uid) continue;
    for (const mine of rules) {
      const clash = other.hostPorts.find(
        (theirs) =>
          theirs.protocol === mine.protocol &&
          theirs.hostPort === mine.hostPort &&
          (theirs.hostIP === undefined || mine.hostIP === undefined || theirs.hostIP === mine.hostIP),
      );
      if (clash !== undefined) {
        return `hostPort ${mine.hostPort}/${mine.protocol.toUpperCase()} is already used by pod ${other.namespace}/${other.name}`;
      }
    }
  }
  return undefined;
}

function isPort(n: number): boolean {
  return Number.isInteger(n) && n > 0 && n < 65536;
}

/** How long tearDown waits for the kernel to destroy a pod's veth with its netns before deleting it. */
const vethGoneWaitMs = 500;

/** True when `/proc/self/net/dev` (this process's network namespace) lists `name`. */
async function procNetDevHas(name: string): Promise<boolean> {
  const text = await readFile('/proc/self/net/dev', 'utf8');
  return text.split('\n').some((line) => line.trimStart().startsWith(`${name}:`));
}

async function listNetns(runner: CommandRunner): Promise<string[]> {
  const r = await runner.run('ip', ['-j', 'netns', 'list']);
  if (r.code !== 0) throw commandError('ip', ['-j', 'netns', 'list'], r);
  return parseJsonArray(r.stdout)
    .map((n) => n['name'])
    .filter((n): n is string => typeof n === 'string');
}

/** `ip -j` prints nothing at all for an empty list. */
function parseJsonArray(text: string): Record<string, unknown>[] {
  if (text.trim() === '') return [];
  try {
    const parsed: unknown = JSON.parse(text);
    return Array.isArray(parsed) ? (parsed as Record<string, unknown>[]) : [];
  } catch {
    return [];
  }
}

/** The "it is not there" answers of ip and nft, which removal treats as done. */
function isNotFound(r: CommandResult): boolean {
  return /Cannot find device|does not exist|No such file or directory|Cannot open network namespace/i.test(
    r.stderr,
  );
}

function commandError(file: string, args: readonly string[], r: CommandResult, input?: string): BerthError {
  const what =
    input === undefined
      ? `${file} ${args.join(' ')}`
      : `${file} ${args.join(' ')} <<< ${JSON.stringify(input.trim())}`;
  const detail = r.stderr.trim() === '' ? `exit code ${String(r.code)}` : r.stderr.trim();
  return new BerthError(errorCodes.NETWORK_FAILED, `${what}: ${detail}`);
}

function describeError(err: unknown): string {
  const cause = err instanceof Error && err.cause !== undefined ? `: ${errorMessage(err.cause)}` : '';
  return `${errorMessage(err)}${cause}`;
}
