/**
 * The per-pod files the runc runtime bind-mounts into every container of a sandbox, as the kubelet
 * manages them: `/etc/hosts`, `/etc/resolv.conf` and `/etc/hostname`. Written once per sandbox into
 * its state directory (ours, never inside an image), read-only in the containers.
 *
 * - hosts: the localhost entries the kubelet writes; with `hostNetwork`, the node's own /etc/hosts.
 *   The pod IP line the kubelet adds is missing: the runtime is not told the pod's IP.
 * - resolv.conf: from `dnsConfig` when given (servers, searches, options), else the node's file (the
 *   kubelet's `Default` DNS policy).
 * - hostname: the sandbox's hostname (with hostNetwork, the node's hostname is what uname says, but the
 *   file still names the pod's, as the kubelet does).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DnsConfig, Mount, PodSandboxConfig } from '../runtime.js';

const managedHosts = [
  '# Kubernetes-managed hosts file (Berth runc runtime).',
  '127.0.0.1\tlocalhost',
  '::1\tlocalhost ip6-localhost ip6-loopback',
  'fe00::0\tip6-localnet',
  'fe00::0\tip6-mcastprefix',
  'fe00::1\tip6-allnodes',
  'fe00::2\tip6-allrouters',
  '',
].join('\n');

/** resolv.conf text for a DNS config. */
export function resolvConf(dns: DnsConfig): string {
  const lines: string[] = [];
  if (dns.searches.length > 0) lines.push(`search ${dns.searches.join(' ')}`);
  for (const s of dns.servers) lines.push(`nameserver ${s}`);
  if (dns.options.length > 0) lines.push(`options ${dns.options.join(' ')}`);
  return `${lines.join('\n')}\n`;
}

/** Writes the three files into `dir` and returns them as read-only bind mounts, in mount order. */
export async function writeSandboxFiles(
  dir: string,
  config: PodSandboxConfig,
  host: { readonly hostsPath?: string; readonly resolvConfPath?: string } = {},
): Promise<Mount[]> {
  const hostNetwork = config.linux?.hostNetwork === true;
  const hosts = hostNetwork
    ? await readFile(host.hostsPath ?? '/etc/hosts', 'utf8').catch(() => managedHosts)
    : managedHosts;
  const resolv =
    config.dnsConfig !== undefined && config.dnsConfig.servers.length + config.dnsConfig.searches.length > 0
      ? resolvConf(config.dnsConfig)
      : await readFile(host.resolvConfPath ?? '/etc/resolv.conf', 'utf8').catch(() => '');
  const files: [string, string][] = [
    ['hosts', hosts],
    ['resolv.conf', resolv],
    ['hostname', `${config.hostname}\n`],
  ];
  const mounts: Mount[] = [];
  for (const [name, text] of files) {
    const path = join(dir, name);
    // Not fsynced: after a host crash the sandbox (its netns, its processes) is gone anyway.
    await writeFile(path, text, { mode: 0o644 });
    mounts.push({ containerPath: `/etc/${name}`, hostPath: path, readonly: true });
  }
  return mounts;
}
