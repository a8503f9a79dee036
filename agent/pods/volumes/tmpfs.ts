/**
 * tmpfs mounts for memory-backed volumes (emptyDir `medium: Memory`, secrets), done with the host's
 * `mount`/`umount` through a `CommandRunner` so tests can script them, and the mount table read
 * back from /proc/self/mountinfo — the truth after an agent restart, when memory of what was
 * mounted is gone.
 */
import { readFile } from 'node:fs/promises';
import type { CommandRunner } from '../../../lib/command-runner.js';

/** Reads the mount table (`/proc/self/mountinfo` format). */
export type MountTableReader = () => Promise<string>;

export const procMountTable: MountTableReader = () => readFile('/proc/self/mountinfo', 'utf8');

/** Mount points in a mountinfo text that are `root` or below it, deepest first. */
export function mountPointsUnder(mountinfo: string, root: string): string[] {
  const base = root.replace(/\/+$/, '');
  const out: string[] = [];
  for (const line of mountinfo.split('\n')) {
    const field = line.split(' ')[4];
    if (field === undefined) continue;
    // mountinfo escapes space, tab, newline and backslash as \ooo.
    const point = field.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (point === base || point.startsWith(`${base}/`)) out.push(point);
  }
  return [...new Set(out)].sort((a, b) => b.length - a.length);
}

/** Mounts a fresh tmpfs on `dir`; returns the error text on failure. */
export async function mountTmpfs(
  runner: CommandRunner,
  dir: string,
  opts: { readonly mode: number; readonly sizeBytes?: number },
): Promise<string | undefined> {
  const options = [`mode=${opts.mode.toString(8).padStart(4, '0')}`];
  if (opts.sizeBytes !== undefined && opts.sizeBytes > 0) options.push(`size=${Math.ceil(opts.sizeBytes)}`);
  const res = await runner.run('mount', ['-t', 'tmpfs', '-o', options.join(','), 'tmpfs', dir]);
  return res.code === 0 ? undefined : `mount -t tmpfs on ${dir} failed: ${(res.stderr || res.stdout).trim()}`;
}

/** Unmounts `dir`; returns the error text on failure. */
export async function unmount(runner: CommandRunner, dir: string): Promise<string | undefined> {
  const res = await runner.run('umount', [dir]);
  return res.code === 0 ? undefined : `umount ${dir} failed: ${(res.stderr || res.stdout).trim()}`;
}
