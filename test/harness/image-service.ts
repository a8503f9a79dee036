/**
 * A `LocalImageService` in a fresh temp directory for tests, with real HTTP, and helpers to mount an
 * image's overlay rootfs (root only) and read back a directory tree. `close()` unmounts, closes and
 * removes everything, whatever state the test left.
 */
import { spawnSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalImageService, type LocalImageServiceOptions } from '../../agent/images/local-image-service.js';
import type { PreparedRootfs } from '../../agent/images/image-service.js';
import { createNodeRegistryHttp, globalFetch, type RegistryHttp } from '../../agent/images/registry-http.js';

export interface TestImageService {
  readonly service: LocalImageService;
  readonly root: string;
  readonly http: RegistryHttp;
  /** Mounts a prepared rootfs at a new directory and returns it (root only). */
  mount(rootfs: PreparedRootfs): string;
  close(): Promise<void>;
}

/** Why overlay mounts cannot be tested here, or undefined. */
export function overlayAvailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root (overlay mounts, mknod and trusted.* xattrs need it)';
  const r = spawnSync('grep', ['-qw', 'overlay', '/proc/filesystems']);
  return r.status === 0 ? undefined : 'overlayfs not available';
}

export async function openTestImageService(
  opts: Partial<Omit<LocalImageServiceOptions, 'root' | 'http'>> = {},
): Promise<TestImageService> {
  const root = mkdtempSync(join(tmpdir(), 'berth-images-'));
  const http = await createNodeRegistryHttp(globalFetch());
  const mounts: string[] = [];
  let service: LocalImageService;
  try {
    service = await LocalImageService.open({
      root: join(root, 'images'),
      http,
      noProgressTimeoutMs: 5000,
      ...opts,
    });
  } catch (err) {
    await http.close();
    rmSync(root, { recursive: true, force: true });
    throw err;
  }
  return {
    service,
    root,
    http,
    mount: (rootfs) => {
      const target = join(root, `mnt-${mounts.length}`);
      mkdirSync(target);
      const r = spawnSync(
        'mount',
        ['-t', 'overlay', 'overlay', '-o', rootfs.mount.options.join(','), target],
        {
          encoding: 'utf8',
        },
      );
      if (r.status !== 0) throw new Error(`mount overlay: ${r.stderr}`);
      mounts.push(target);
      return target;
    },
    close: async () => {
      for (const m of mounts.reverse()) spawnSync('umount', ['-l', m]);
      try {
        await service.close();
      } catch {
        // already closed
      }
      await http.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/**
 * A directory tree as `path → description` (`dir 755`, `file 644 <content>`, `link → target`,
 * `char 0,0`), for exact comparisons. Content is shown for files up to 64 bytes.
 */
export function readTree(dir: string, skip: (rel: string) => boolean = () => false): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      const r = rel === '' ? name : `${rel}/${name}`;
      if (skip(r)) continue;
      const st = lstatSync(join(dir, r));
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isDirectory()) {
        out[r] = `dir ${mode}`;
        walk(r);
      } else if (st.isSymbolicLink()) out[r] = `link → ${readlinkSync(join(dir, r))}`;
      else if (st.isFile()) {
        out[r] =
          st.size <= 64
            ? `file ${mode} ${readFileSync(join(dir, r), 'utf8')}`
            : `file ${mode} (${st.size} bytes)`;
      } else if (st.isCharacterDevice()) out[r] = `char ${Math.floor(st.rdev / 256)},${st.rdev % 256}`;
      else out[r] = 'other';
    }
  };
  walk('');
  return out;
}
