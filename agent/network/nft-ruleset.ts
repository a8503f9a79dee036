/**
 * The nftables text of the bridge network's own table (`table ip <name>`), so that Berth never edits
 * rules it does not own and removal is one `nft delete table`:
 *
 * - `hostports` (proto . port → pod ip . port) and `hostip_ports` (host ip . proto . port → …) maps,
 *   looked up by DNAT in `prerouting` (traffic from outside) and `output` (from the node itself,
 *   127.0.0.1 included — which also needs `route_localnet` on the bridge);
 * - `postrouting` masquerades pod traffic leaving the bridge for other networks, node-originated
 *   traffic into the bridge (so replies to 127.0.0.1 find their way back) and DNATed pod-to-pod
 *   traffic (hairpin: a pod reaching a hostPort on its own node).
 *
 * Whole-table writes are `table {}; delete table; table { … }` in one `nft -f -` transaction: atomic
 * and idempotent. Single pods change elements only.
 */
import { formatCidr, type Ipv4Cidr } from './ipv4-cidr.js';
import type { HostPortRule } from './ipam-store.js';

/** A hostPort rule of one pod, with the pod's address. */
export interface HostPortElement extends HostPortRule {
  readonly podIp: string;
}

export interface TableSpec {
  readonly table: string;
  readonly bridge: string;
  readonly cidr: Ipv4Cidr;
  readonly elements: readonly HostPortElement[];
}

const WILDCARD_MAP = 'hostports';
const HOST_IP_MAP = 'hostip_ports';

/** The script that replaces the whole table with one for `spec` (run with `nft -f -`). */
export function tableScript(spec: TableSpec): string {
  const cidr = formatCidr(spec.cidr);
  const bridge = JSON.stringify(spec.bridge);
  const wildcard = spec.elements.filter((e) => e.hostIP === undefined);
  const byHost = spec.elements.filter((e) => e.hostIP !== undefined);
  const dnat = [
    `fib daddr type local dnat ip to ip daddr . meta l4proto . th dport map @${HOST_IP_MAP}`,
    `fib daddr type local dnat ip to meta l4proto . th dport map @${WILDCARD_MAP}`,
  ];
  return [
    `table ip ${spec.table} {}`,
    `delete table ip ${spec.table}`,
    `table ip ${spec.table} {`,
    `  map ${WILDCARD_MAP} {`,
    '    type inet_proto . inet_service : ipv4_addr . inet_service',
    ...elementsLine(wildcard),
    '  }',
    `  map ${HOST_IP_MAP} {`,
    '    type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service',
    ...elementsLine(byHost),
    '  }',
    '  chain prerouting {',
    '    type nat hook prerouting priority dstnat; policy accept;',
    ...dnat.map((r) => `    ${r}`),
    '  }',
    '  chain output {',
    '    type nat hook output priority -100; policy accept;',
    ...dnat.map((r) => `    ${r}`),
    '  }',
    '  chain postrouting {',
    '    type nat hook postrouting priority srcnat; policy accept;',
    `    ip saddr ${cidr} ip daddr != ${cidr} oifname != ${bridge} masquerade`,
    `    oifname ${bridge} fib saddr type local masquerade`,
    `    oifname ${bridge} ct status dnat ip saddr ${cidr} masquerade`,
    '  }',
    '}',
    '',
  ].join('\n');
}

/** The script that adds (or deletes) `elements` in one transaction; empty when there are none. */
export function elementsScript(
  verb: 'add' | 'delete',
  table: string,
  elements: readonly HostPortElement[],
): string {
  const lines: string[] = [];
  const wildcard = elements.filter((e) => e.hostIP === undefined);
  const byHost = elements.filter((e) => e.hostIP !== undefined);
  const render = verb === 'add' ? element : key;
  if (wildcard.length > 0) {
    lines.push(`${verb} element ip ${table} ${WILDCARD_MAP} { ${wildcard.map(render).join(', ')} }`);
  }
  if (byHost.length > 0) {
    lines.push(`${verb} element ip ${table} ${HOST_IP_MAP} { ${byHost.map(render).join(', ')} }`);
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

function elementsLine(elements: readonly HostPortElement[]): string[] {
  return elements.length === 0 ? [] : [`    elements = { ${elements.map(element).join(', ')} }`];
}

function key(e: HostPortElement): string {
  const base = `${e.protocol} . ${e.hostPort}`;
  return e.hostIP === undefined ? base : `${e.hostIP} . ${base}`;
}

function element(e: HostPortElement): string {
  return `${key(e)} : ${e.podIp} . ${e.containerPort}`;
}
