/**
 * IPv4 prefixes for the pod network: parsing `10.42.3.0/24`, and the addresses the bridge network
 * gives out of it — the network address and the broadcast address are never handed out, the first host
 * is the bridge's (the pods' gateway), the rest go to pods. Addresses are plain numbers (0 … 2³²−1)
 * so that IPAM can count through them.
 */

/** A parsed IPv4 prefix. `network` is the first address (host bits cleared). */
export interface Ipv4Cidr {
  readonly network: number;
  readonly prefixLength: number;
  /** Number of addresses in the prefix (2^(32 − prefixLength)). */
  readonly size: number;
}

/** The narrowest prefix the bridge network accepts: a gateway plus at least one pod. */
export const MAX_POD_PREFIX_LENGTH = 30;
/** The widest prefix accepted (a /8 is already 16 M addresses; IPAM state would not scale further). */
export const MIN_POD_PREFIX_LENGTH = 8;

/** Parses a dotted quad; undefined unless it is exactly four decimal octets. */
export function parseIpv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    value = value * 256 + octet;
  }
  return value;
}

/** Formats a number as a dotted quad. */
export function formatIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');
}

/**
 * Parses a pod CIDR (`a.b.c.d/n`, n within [{@link MIN_POD_PREFIX_LENGTH}, {@link MAX_POD_PREFIX_LENGTH}]).
 * Host bits are cleared (`10.42.3.7/24` is `10.42.3.0/24`). Returns an error message for anything else.
 */
export function parsePodCidr(text: string): { ok: true; cidr: Ipv4Cidr } | { ok: false; message: string } {
  const m = /^([0-9.]+)\/(\d{1,2})$/.exec(text.trim());
  const address = m === null ? undefined : parseIpv4(m[1] ?? '');
  const prefixLength = Number(m?.[2]);
  if (address === undefined || !Number.isInteger(prefixLength) || prefixLength > 32) {
    return { ok: false, message: `"${text}" is not an IPv4 CIDR (like 10.42.0.0/24)` };
  }
  if (prefixLength < MIN_POD_PREFIX_LENGTH || prefixLength > MAX_POD_PREFIX_LENGTH) {
    return {
      ok: false,
      message: `pod CIDR ${text} must have a prefix length from /${MIN_POD_PREFIX_LENGTH} to /${MAX_POD_PREFIX_LENGTH}`,
    };
  }
  const size = 2 ** (32 - prefixLength);
  return { ok: true, cidr: { network: address - (address % size), prefixLength, size } };
}

/** `a.b.c.d/n` with host bits cleared. */
export function formatCidr(cidr: Ipv4Cidr): string {
  return `${formatIpv4(cidr.network)}/${cidr.prefixLength}`;
}

/** The bridge's address: the first host of the prefix. */
export function gatewayOf(cidr: Ipv4Cidr): number {
  return cidr.network + 1;
}

/** Whether `address` is one a pod may be given (inside, not network, gateway or broadcast). */
export function isPodAddress(cidr: Ipv4Cidr, address: number): boolean {
  return address >= cidr.network + 2 && address <= cidr.network + cidr.size - 2;
}

/** How many pod addresses the prefix has. */
export function podAddressCount(cidr: Ipv4Cidr): number {
  return cidr.size - 3;
}
