/**
 * FAKE pod network for unit tests and hollow agents: hands out IPv4 addresses from a CIDR in memory
 * (lowest free first, skipping the network address and `.1`, the bridge's), and makes no namespaces.
 * The real network (issue #6) replaces it.
 */
import type { PodNetwork, PodNetworkRequest, PodNetworkResult } from './pod-network.js';

export interface FakePodNetworkOptions {
  /** e.g. `10.244.1.0/24`. */
  readonly cidr: string;
}

export class FakePodNetwork implements PodNetwork {
  readonly #base: number;
  readonly #size: number;
  readonly #byUid = new Map<string, number>();
  readonly #used = new Set<number>();

  constructor(opts: FakePodNetworkOptions) {
    const [addr, bitsText] = opts.cidr.split('/');
    const bits = Number(bitsText);
    const base = parseIPv4(addr ?? '');
    if (base === undefined || !Number.isInteger(bits) || bits < 8 || bits > 30) {
      throw new RangeError(`fake pod network: bad CIDR ${opts.cidr}`);
    }
    this.#size = 2 ** (32 - bits);
    this.#base = base - (base % this.#size);
  }

  setUp(request: PodNetworkRequest): Promise<PodNetworkResult> {
    const existing = this.#byUid.get(request.uid);
    if (existing !== undefined) return Promise.resolve({ ok: true, ips: [formatIPv4(existing)] });
    // .0 is the network, .1 the gateway, the last the broadcast address.
    for (let i = 2; i < this.#size - 1; i++) {
      const ip = this.#base + i;
      if (this.#used.has(ip)) continue;
      this.#used.add(ip);
      this.#byUid.set(request.uid, ip);
      return Promise.resolve({ ok: true, ips: [formatIPv4(ip)] });
    }
    return Promise.resolve({ ok: false, message: 'failed to allocate an IP: range is full' });
  }

  tearDown(uid: string): Promise<void> {
    const ip = this.#byUid.get(uid);
    if (ip !== undefined) {
      this.#used.delete(ip);
      this.#byUid.delete(uid);
    }
    return Promise.resolve();
  }

  /** Addresses in use (for leak checks). */
  get allocated(): number {
    return this.#byUid.size;
  }
}

function parseIPv4(s: string): number | undefined {
  const parts = s.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return undefined;
  return parts.reduce((acc, p) => acc * 256 + p, 0);
}

function formatIPv4(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}
