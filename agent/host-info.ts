/**
 * What the agent reports about its host at registration: capacity and allocatable resources as
 * Kubernetes quantities, the node IP, and the operating system facts that end up in the Node's
 * `nodeInfo`. Read from the real host here; hollow agents pass their own (`HostInfo` is plain data).
 *
 * Allocatable follows the kubelet's defaults with no reservations configured: capacity minus the
 * hard eviction thresholds (memory.available<100Mi, nodefs.available<10%).
 */
import { readFile, statfs } from 'node:fs/promises';
import {
  arch,
  availableParallelism,
  networkInterfaces,
  release,
  totalmem,
  type NetworkInterfaceInfo,
} from 'node:os';

/** Resources as Kubernetes quantity strings. */
export interface HostResources {
  readonly cpu: string;
  readonly memory: string;
  readonly pods: string;
  readonly ephemeralStorage: string;
}

export interface HostInfo {
  readonly capacity: HostResources;
  readonly allocatable: HostResources;
  /** GOOS/GOARCH spelling: linux, amd64 / arm64. */
  readonly operatingSystem: string;
  readonly architecture: string;
  readonly kernelVersion: string;
  readonly osImage: string;
  readonly bootId: string;
}

/** Pods per node, the kubelet's default `maxPods`. */
export const defaultMaxPods = 110;

const evictionMemoryBytes = 100 * 1024 * 1024;

/** Reads the host's resources and OS facts; `dataDir`'s file system is the ephemeral storage. */
export async function detectHostInfo(opts: {
  readonly dataDir: string;
  readonly maxPods?: number;
}): Promise<HostInfo> {
  const memory = totalmem();
  const cpus = availableParallelism();
  let storage = 0;
  try {
    const fs = await statfs(opts.dataDir);
    storage = fs.blocks * fs.bsize;
  } catch {
    // unknown: reported as 0
  }
  const pods = String(opts.maxPods ?? defaultMaxPods);
  return {
    capacity: { cpu: String(cpus), memory: kibibytes(memory), pods, ephemeralStorage: kibibytes(storage) },
    allocatable: {
      cpu: String(cpus),
      memory: kibibytes(Math.max(0, memory - evictionMemoryBytes)),
      pods,
      ephemeralStorage: String(Math.floor(storage * 0.9)),
    },
    operatingSystem: process.platform,
    architecture: goArch(arch()),
    kernelVersion: release(),
    osImage: await osImage(),
    bootId: (await readOptional('/proc/sys/kernel/random/boot_id'))?.trim() ?? '',
  };
}

/**
 * The address other nodes reach this one at: the first non-internal IPv4 address of an interface
 * that is not a container bridge or veth, else the first such IPv6 one, else loopback.
 */
export function detectNodeIp(interfaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces()): string {
  const skip = /^(docker|br-|veth|cni|flannel|cali|virbr|berth|lo)/;
  const candidates = Object.entries(interfaces)
    .filter(([name]) => !skip.test(name))
    .flatMap(([, infos]) => infos ?? [])
    .filter((i) => !i.internal && !(i.family === 'IPv6' && /^fe80:/i.test(i.address)));
  const v4 = candidates.find((i) => i.family === 'IPv4');
  return v4?.address ?? candidates[0]?.address ?? '127.0.0.1';
}

/** Node's `os.arch()` as Go (and Kubernetes' `kubernetes.io/arch`) spells it. */
export function goArch(nodeArch: string): string {
  const map: Readonly<Record<string, string>> = {
    x64: 'amd64',
    ia32: '386',
    arm64: 'arm64',
    arm: 'arm',
    ppc64: 'ppc64le',
    s390x: 's390x',
  };
  return map[nodeArch] ?? nodeArch;
}

function kibibytes(bytes: number): string {
  return `${Math.floor(bytes / 1024)}Ki`;
}

async function osImage(): Promise<string> {
  const text = await readOptional('/etc/os-release');
  const m = text === undefined ? null : /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(text);
  return m?.[1] ?? process.platform;
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}
