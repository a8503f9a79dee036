/**
 * What the runc runtime reads from and removes in cgroupfs: CPU and memory figures for stats, the OOM
 * kill counter (why a container died), and the directories of pods and containers once they are gone.
 * Works on cgroup v1 (per-controller hierarchies, cpuacct possibly mounted apart from cpu — this
 * machine) and on a pure v2 unified hierarchy. Paths are cgroupfs paths as runc takes them
 * (`/berth/pod<uid>/<id>`); the mount point is injectable for tests.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile, rmdir } from 'node:fs/promises';
import { join } from 'node:path';

export interface CgroupFigures {
  readonly cpuUsageCoreNanoSeconds: number;
  readonly memoryUsageBytes: number;
  /** usage − inactive file cache (the kubelet's and cAdvisor's working set). */
  readonly memoryWorkingSetBytes: number;
  readonly memoryRssBytes?: number;
}

/** Reads cgroup files under one cgroupfs mount. */
export class Cgroups {
  readonly mount: string;
  readonly v2: boolean;

  constructor(mount = '/sys/fs/cgroup') {
    this.mount = mount;
    this.v2 = existsSync(join(mount, 'cgroup.controllers'));
  }

  /** CPU and memory of the cgroup at `path`, or undefined when it does not exist (any more). */
  async figures(path: string): Promise<CgroupFigures | undefined> {
    try {
      if (this.v2) {
        const dir = join(this.mount, path);
        const cpu = parseKeyed(await readFile(join(dir, 'cpu.stat'), 'utf8'));
        const usage = Number((await readFile(join(dir, 'memory.current'), 'utf8')).trim());
        const mem = parseKeyed(await readFile(join(dir, 'memory.stat'), 'utf8'));
        return {
          cpuUsageCoreNanoSeconds: (cpu.get('usage_usec') ?? 0) * 1000,
          memoryUsageBytes: usage,
          memoryWorkingSetBytes: Math.max(0, usage - (mem.get('inactive_file') ?? 0)),
          ...(mem.has('anon') ? { memoryRssBytes: mem.get('anon') ?? 0 } : {}),
        };
      }
      const cpu = Number((await readFile(join(this.mount, 'cpuacct', path, 'cpuacct.usage'), 'utf8')).trim());
      const memDir = join(this.mount, 'memory', path);
      const usage = Number((await readFile(join(memDir, 'memory.usage_in_bytes'), 'utf8')).trim());
      const mem = parseKeyed(await readFile(join(memDir, 'memory.stat'), 'utf8'));
      return {
        cpuUsageCoreNanoSeconds: cpu,
        memoryUsageBytes: usage,
        memoryWorkingSetBytes: Math.max(0, usage - (mem.get('total_inactive_file') ?? 0)),
        memoryRssBytes: mem.get('total_rss') ?? 0,
      };
    } catch {
      return undefined;
    }
  }

  /** How many processes the kernel's OOM killer killed in the cgroup (0 when unknown or gone). */
  async oomKills(path: string): Promise<number> {
    try {
      const file = this.v2
        ? join(this.mount, path, 'memory.events')
        : join(this.mount, 'memory', path, 'memory.oom_control');
      return parseKeyed(await readFile(file, 'utf8')).get('oom_kill') ?? 0;
    } catch {
      return 0;
    }
  }

  /**
   * Removes the cgroup at `path` and every cgroup below it, in every hierarchy. Only empty cgroups can
   * be removed; ones still holding processes are left and reported.
   */
  async remove(path: string): Promise<string[]> {
    const roots = this.v2 ? [this.mount] : await hierarchies(this.mount);
    const left: string[] = [];
    for (const root of roots) {
      const dir = join(root, path);
      if (!existsSync(dir)) continue;
      await removeTree(dir, left);
    }
    return left;
  }
}

/** Every mounted v1 hierarchy directory (cpu, cpuacct, memory, pids, unified, systemd…). */
async function hierarchies(mount: string): Promise<string[]> {
  try {
    const entries = await readdir(mount, { withFileTypes: true });
    // cpu,cpuacct-style names are symlinks to the combined mount; the real directories are enough.
    return entries.filter((e) => e.isDirectory()).map((e) => join(mount, e.name));
  } catch {
    return [];
  }
}

async function removeTree(dir: string, left: string[]): Promise<void> {
  let children: string[];
  try {
    children = (await readdir(dir, { withFileTypes: true }))
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
  } catch {
    return;
  }
  for (const c of children) await removeTree(join(dir, c), left);
  try {
    await rmdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') left.push(dir);
  }
}

/** `key value` lines → map (memory.stat, cpu.stat, memory.oom_control, memory.events). */
export function parseKeyed(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k === undefined || k === '' || v === undefined) continue;
    const n = Number(v);
    if (Number.isFinite(n)) out.set(k, n);
  }
  return out;
}
