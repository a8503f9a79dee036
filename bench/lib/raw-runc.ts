/**
 * The raw-runc baseline for B2/B3 (bench/podstart.ts, bench/churn.ts): busybox containers run straight
 * through the `runc` binary with nothing of Berth in the path but the `config.json`, which is
 * `buildOciSpec`'s (so both sides run the same spec — the default capabilities, masked paths and
 * namespaces; runc makes each container its own network namespace). The rootfs is one read-only
 * directory unpacked from the same tar the Berth side pushes to its registry.
 *
 * Everything lives under one temp dir with its own runc `--root` and cgroup parent
 * (`/berth-bench-<random>`); `close()` deletes every container, cgroup and file whatever state a run
 * left, and is safe to call twice. A process `exit` hook does the same if a bench dies first.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { buildOciSpec } from '../../agent/runtime/runc/oci-spec.js';
import {
  resolveProcessArgs,
  type ContainerConfig,
  type PodSandboxConfig,
} from '../../agent/runtime/runtime.js';

export const runcPath = ['/usr/sbin/runc', '/usr/bin/runc'].find((p) => existsSync(p)) ?? 'runc';

/** Why raw runc cannot run here, or undefined. */
export function rawRuncAvailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root (runc and cgroups need it)';
  if (spawnSync(runcPath, ['--version'], { stdio: 'ignore' }).status !== 0)
    return 'no runc binary (Debian package runc)';
  if (spawnSync('tar', ['--version'], { stdio: 'ignore' }).status !== 0) return 'no tar binary';
  return undefined;
}

export interface RawRunc {
  readonly base: string;
  readonly cgroupRoot: string;
  /** `runc run -d` of `argv`; resolves with the wall ms until runc returned (container running). */
  runDetached(id: string, argv: readonly string[]): Promise<number>;
  /** Foreground `runc run` (create → start → exit → delete, runc removes it); resolves with wall ms. */
  runToCompletion(id: string, argv: readonly string[]): Promise<number>;
  /** `runc delete -f` of every container this world has. */
  deleteAll(): Promise<void>;
  close(): void;
}

const live = new Set<RawRunc>();
process.on('exit', () => {
  for (const r of live) r.close();
});

function cgroupHierarchies(): string[] {
  try {
    return readdirSync('/sys/fs/cgroup', { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => join('/sys/fs/cgroup', e.name));
  } catch {
    return [];
  }
}

/** Removes `cgroupRoot` and everything below it in every hierarchy (rmdir only: empty cgroups). */
export function removeCgroupTree(cgroupRoot: string): void {
  for (const h of cgroupHierarchies()) {
    const dir = join(h, cgroupRoot);
    if (existsSync(dir)) spawnSync('find', [dir, '-depth', '-type', 'd', '-exec', 'rmdir', '{}', ';']);
  }
}

function runcIds(root: string): string[] {
  if (!existsSync(root)) return [];
  const r = spawnSync(runcPath, ['--root', root, 'list', '-q'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.split('\n').filter((l) => l !== '') : [];
}

function run(argv: readonly string[], logFd: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0] ?? runcPath, argv.slice(1), { stdio: ['ignore', logFd, logFd] });
    child.once('error', reject);
    child.once('exit', (code) => {
      resolve(code ?? 128);
    });
  });
}

/**
 * Unpacks `rootfsTar` into a private world and returns runners for it. `cgroupPrefix` names the cgroup
 * parent (a random suffix is added).
 */
export function openRawRunc(rootfsTar: Buffer, cgroupPrefix = '/berth-bench'): RawRunc {
  const base = mkdtempSync(join(tmpdir(), 'berth-bench-runc-'));
  const cgroupRoot = `${cgroupPrefix}-${randomBytes(4).toString('hex')}`;
  const root = join(base, 'runc-root');
  const rootfs = join(base, 'rootfs');
  const bundles = join(base, 'bundles');
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    for (const id of runcIds(root))
      spawnSync(runcPath, ['--root', root, 'delete', '-f', id], { stdio: 'ignore' });
    removeCgroupTree(cgroupRoot);
    rmSync(base, { recursive: true, force: true });
    live.delete(world);
  };
  mkdirSync(rootfs);
  mkdirSync(bundles);
  const untar = spawnSync('tar', ['-x', '-C', rootfs], { input: rootfsTar });
  if (untar.status !== 0) {
    rmSync(base, { recursive: true, force: true });
    throw new Error(`unpack the rootfs: ${untar.stderr.toString()}`);
  }
  for (const d of ['proc', 'sys', 'dev', 'tmp']) mkdirSync(join(rootfs, d), { recursive: true });
  const logFd = openSync(join(base, 'containers.log'), 'a');

  const bundle = (id: string, argv: readonly string[]): string => {
    const config: ContainerConfig = {
      metadata: { name: id, attempt: 0 },
      image: { image: 'busybox' },
      command: [...argv],
      args: [],
      envs: [{ key: 'PATH', value: '/bin' }],
      mounts: [],
      labels: {},
      annotations: {},
      logPath: `${id}.log`,
    };
    const sandbox: PodSandboxConfig = {
      metadata: { name: id, namespace: 'bench', uid: id, attempt: 0 },
      hostname: id,
      logDirectory: base,
      portMappings: [],
      labels: {},
      annotations: {},
    };
    const spec = buildOciSpec({
      containerId: id,
      sandbox,
      config,
      process: resolveProcessArgs(config),
      user: { uid: 0, gid: 0, additionalGids: [0] },
      rootfsPath: rootfs,
      cgroupsPath: `${cgroupRoot}/${id}`,
      namespaces: {},
      hostNetwork: false,
      mounts: [],
    });
    const dir = join(bundles, id);
    mkdirSync(dir);
    // A shared rootfs: read-only, so that concurrent containers cannot see each other's writes.
    writeFileSync(
      join(dir, 'config.json'),
      JSON.stringify({ ...spec, root: { path: rootfs, readonly: true } }),
    );
    return dir;
  };

  const world: RawRunc = {
    base,
    cgroupRoot,
    runDetached: async (id, argv) => {
      const dir = bundle(id, argv);
      const t0 = performance.now();
      const code = await run([runcPath, '--root', root, 'run', '-d', '--bundle', dir, id], logFd);
      const ms = performance.now() - t0;
      if (code !== 0) throw new Error(`runc run -d ${id} exited ${code} (see ${base}/containers.log)`);
      return ms;
    },
    runToCompletion: async (id, argv) => {
      const dir = bundle(id, argv);
      const t0 = performance.now();
      const code = await run([runcPath, '--root', root, 'run', '--bundle', dir, id], logFd);
      const ms = performance.now() - t0;
      rmSync(dir, { recursive: true, force: true });
      if (code !== 0) throw new Error(`runc run ${id} exited ${code} (see ${base}/containers.log)`);
      return ms;
    },
    deleteAll: async () => {
      await Promise.all(
        runcIds(root).map((id) =>
          run([runcPath, '--root', root, 'delete', '-f', id], logFd).then(() => undefined),
        ),
      );
      for (const id of readdirSync(bundles)) rmSync(join(bundles, id), { recursive: true, force: true });
    },
    close: () => {
      try {
        closeSync(logFd);
      } catch {
        // already closed
      }
      close();
    },
  };
  live.add(world);
  return world;
}
