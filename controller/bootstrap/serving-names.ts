/**
 * Which names the API server's certificate must carry, and which URL the admin kubeconfig points at,
 * given where the server listens. Clients check SANs only (Go ignores the CN), so every name or
 * address a client may dial has to be there: the listen address, or every interface address when
 * listening on a wildcard, plus loopback, `localhost` and the host name.
 */
import { isIP } from 'node:net';
import type { NetworkInterfaceInfo } from 'node:os';

export interface ServingNames {
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
}

/** The host's interfaces, as `os.networkInterfaces()` returns them. */
export type NetworkInterfaces = NodeJS.Dict<NetworkInterfaceInfo[]>;

const ipv4Wildcards = new Set(['0.0.0.0']);

/** Whether `host` means "every address" ('', 0.0.0.0, ::). */
export function isWildcardHost(host: string): boolean {
  return host === '' || ipv4Wildcards.has(host) || canonicalIp(host) === '::';
}

/**
 * The SANs for a server listening on `listenHost`. An IPv4 wildcard brings in the IPv4 interface
 * addresses, an IPv6 wildcard (dual-stack) all of them; IPv6 link-local addresses are left out
 * (they need a zone to be dialled, and churn).
 */
export function servingNames(opts: {
  listenHost: string;
  hostname: string;
  interfaces: NetworkInterfaces;
}): ServingNames {
  const dns = new Set<string>(['localhost']);
  const ips = new Set<string>(['127.0.0.1', '::1']);
  const addName = (name: string): void => {
    if (name === '') return;
    if (isIP(name) !== 0) ips.add(canonicalIp(name));
    else dns.add(name.toLowerCase());
  };
  addName(opts.hostname);
  if (isWildcardHost(opts.listenHost)) {
    const ipv6Too = opts.listenHost !== '' && !ipv4Wildcards.has(opts.listenHost);
    for (const infos of Object.values(opts.interfaces)) {
      for (const info of infos ?? []) {
        if (info.internal) continue;
        if (info.family === 'IPv6' && (!ipv6Too || isLinkLocalIpv6(info.address))) continue;
        ips.add(canonicalIp(info.address));
      }
    }
  } else {
    addName(opts.listenHost);
  }
  return { dnsNames: [...dns], ipAddresses: [...ips] };
}

/** Whether a certificate's SANs cover every required name (DNS case-insensitively, IPs canonically). */
export function namesCovered(have: ServingNames, need: ServingNames): boolean {
  const dns = new Set(have.dnsNames.map((n) => n.toLowerCase()));
  const ips = new Set(have.ipAddresses.map(canonicalIp));
  return (
    need.dnsNames.every((n) => dns.has(n.toLowerCase())) &&
    need.ipAddresses.every((ip) => ips.has(canonicalIp(ip)))
  );
}

/** The URL clients should use: loopback for a wildcard listener, brackets around IPv6 literals. */
export function serverUrl(listenHost: string, listenPort: number): string {
  if (isWildcardHost(listenHost)) return `https://127.0.0.1:${listenPort}`;
  const host = isIP(listenHost) === 6 ? `[${canonicalIp(listenHost)}]` : listenHost;
  return `https://${host}:${listenPort}`;
}

/** One spelling per address: IPv6 compressed and lower-case (WHATWG URL rules); IPv4 unchanged. */
export function canonicalIp(ip: string): string {
  if (isIP(ip) !== 6) return ip;
  return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
}

function isLinkLocalIpv6(ip: string): boolean {
  return /^fe[89ab][0-9a-f]:/i.test(canonicalIp(ip));
}
