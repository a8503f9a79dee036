/**
 * The bridge network's durable IPAM record: which pod (by uid) holds which address of the node's pod
 * CIDR, with the names of its netns and veth and its hostPort rules, in `<stateDir>/ipam.json`. The
 * file is replaced atomically (lib/atomic-write.ts) after every change, so after a crash or an agent
 * restart it holds either the state before or after the last change, never a torn mix.
 *
 * An allocation is written *before* its netns is made and removed *after* the netns is gone, so an
 * address in use is always on record; `ready` says whether setUp finished (false: cut off midway, to
 * be redone). The store is not synchronised: its owner (BridgePodNetwork) serialises changes.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../lib/atomic-write.js';
import { BerthError, errorCodes } from '../../lib/errors.js';
import { formatIpv4, isPodAddress, parseIpv4, podAddressCount, type Ipv4Cidr } from './ipv4-cidr.js';

/** A hostPort DNAT rule as nft needs it. `hostIP` absent: every local address. */
export interface HostPortRule {
  readonly protocol: 'tcp' | 'udp' | 'sctp';
  readonly hostPort: number;
  readonly hostIP?: string;
  readonly containerPort: number;
}

/** One pod's attachment. */
export interface PodAllocation {
  readonly uid: string;
  readonly namespace: string;
  readonly name: string;
  readonly ip: string;
  readonly netns: string;
  readonly veth: string;
  readonly hostPorts: readonly HostPortRule[];
  /** True once setUp finished every step; false while it runs or after it was cut off. */
  readonly ready: boolean;
}

interface IpamFile {
  readonly version: 1;
  /** The CIDR every allocation is in (absent: none handed out yet). */
  readonly cidr?: string;
  /** The last address handed out; the next search starts after it (host-local's rotation). */
  readonly lastReserved?: string;
  readonly pods: Record<string, PodAllocation>;
}

const FILE_NAME = 'ipam.json';

export class IpamStore {
  readonly #path: string;
  #cidr: string | undefined;
  #lastReserved: number | undefined;
  readonly #pods: Map<string, PodAllocation>;

  private constructor(path: string, file: IpamFile) {
    this.#path = path;
    this.#cidr = file.cidr;
    this.#lastReserved = file.lastReserved === undefined ? undefined : parseIpv4(file.lastReserved);
    this.#pods = new Map(Object.entries(file.pods));
  }

  /**
   * Reads `<dir>/ipam.json` (creating `dir`); a missing file is an empty record. Throws `BerthError`
   * (`NETWORK_FAILED`) when the file exists but cannot be read or parsed — guessing would risk handing
   * out addresses that running pods hold.
   */
  static async open(dir: string): Promise<IpamStore> {
    const path = join(dir, FILE_NAME);
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const text = await readFile(path, 'utf8').catch((err: unknown) => {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw err;
      });
      if (text === undefined) return new IpamStore(path, { version: 1, pods: {} });
      const file = JSON.parse(text) as Partial<IpamFile>;
      if (file.version !== 1 || typeof file.pods !== 'object') throw new Error('unknown format');
      return new IpamStore(path, file as IpamFile);
    } catch (err) {
      throw new BerthError(errorCodes.NETWORK_FAILED, `read pod network state ${path}`, { cause: err });
    }
  }

  /** The CIDR the allocations are in, as written. */
  get cidr(): string | undefined {
    return this.#cidr;
  }

  get size(): number {
    return this.#pods.size;
  }

  get(uid: string): PodAllocation | undefined {
    return this.#pods.get(uid);
  }

  all(): PodAllocation[] {
    return [...this.#pods.values()];
  }

  /**
   * Picks a free pod address of `cidr`, the first after the last one handed out (wrapping), so that a
   * freed address rests before reuse (stale ARP entries and conntrack flows age out meanwhile). Does
   * not reserve it: `put` does. Undefined when every address is taken.
   */
  pickAddress(cidr: Ipv4Cidr): string | undefined {
    const taken = new Set(this.all().map((a) => parseIpv4(a.ip)));
    const count = podAddressCount(cidr);
    const first = cidr.network + 2;
    const last = this.#lastReserved;
    const start = last !== undefined && isPodAddress(cidr, last) ? last - first + 1 : 0;
    for (let i = 0; i < count; i++) {
      const candidate = first + ((start + i) % count);
      if (!taken.has(candidate)) return formatIpv4(candidate);
    }
    return undefined;
  }

  /** Records (or replaces) an allocation in memory; `save` makes it durable. */
  put(allocation: PodAllocation, cidr: string): void {
    this.#pods.set(allocation.uid, allocation);
    this.#cidr = cidr;
    this.#lastReserved = parseIpv4(allocation.ip);
  }

  /** Forgets an allocation in memory; `save` makes it durable. */
  remove(uid: string): boolean {
    return this.#pods.delete(uid);
  }

  /** Changes the CIDR of the record; only allowed while it holds no allocations. */
  setCidr(cidr: string): void {
    if (this.#pods.size > 0 && cidr !== this.#cidr) {
      throw new BerthError(errorCodes.NETWORK_FAILED, `pod CIDR change to ${cidr} while pods hold addresses`);
    }
    if (cidr !== this.#cidr) this.#lastReserved = undefined;
    this.#cidr = cidr;
  }

  /** Writes the record atomically. Throws `BerthError` (`NETWORK_FAILED`) with the fs error as cause. */
  async save(): Promise<void> {
    const file: IpamFile = {
      version: 1,
      ...(this.#cidr === undefined ? {} : { cidr: this.#cidr }),
      ...(this.#lastReserved === undefined ? {} : { lastReserved: formatIpv4(this.#lastReserved) }),
      pods: Object.fromEntries(this.#pods),
    };
    try {
      await writeFileAtomic(this.#path, `${JSON.stringify(file, null, 1)}\n`, 0o600);
    } catch (err) {
      throw new BerthError(errorCodes.NETWORK_FAILED, `write pod network state ${this.#path}`, {
        cause: err,
      });
    }
  }
}
