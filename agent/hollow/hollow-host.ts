/**
 * The host facts a hollow agent reports instead of the real machine's: a fixed, configurable size
 * (default 8 CPU, 32 GiB, 110 pods — a typical cloud worker), allocatable computed the way
 * agent/host-info.ts does for real hosts, and an OS description that says it is simulated.
 */
import { arch, release } from 'node:os';
import { defaultMaxPods, goArch, type HostInfo } from '../host-info.js';

export interface HollowHostOptions {
  /** CPU cores (default 8). */
  readonly cpu?: number;
  /** Memory in GiB (default 32). */
  readonly memoryGi?: number;
  /** Pods per node (default 110). */
  readonly pods?: number;
  /** Ephemeral storage in GiB (default 100). */
  readonly storageGi?: number;
  /** A per-node boot id (default derived from nothing: empty). */
  readonly bootId?: string;
}

const evictionMemoryKi = 100 * 1024;

/** Host facts for a hollow node. Plain data: one object may be shared by many agents. */
export function hollowHostInfo(opts: HollowHostOptions = {}): HostInfo {
  const cpu = String(opts.cpu ?? 8);
  const memoryKi = (opts.memoryGi ?? 32) * 1024 * 1024;
  const storageBytes = (opts.storageGi ?? 100) * 1024 ** 3;
  const pods = String(opts.pods ?? defaultMaxPods);
  return {
    capacity: { cpu, memory: `${memoryKi}Ki`, pods, ephemeralStorage: `${storageBytes / 1024}Ki` },
    allocatable: {
      cpu,
      memory: `${memoryKi - evictionMemoryKi}Ki`,
      pods,
      ephemeralStorage: String(Math.floor(storageBytes * 0.9)),
    },
    operatingSystem: 'linux',
    architecture: goArch(arch()),
    kernelVersion: release(),
    osImage: 'Berth hollow node (simulated)',
    bootId: opts.bootId ?? '',
  };
}
