/**
 * A private runc world for tests: its own runc `--root`, state and log directories under one temp
 * dir, its own cgroup root (`/berth-test-<random>`), a real registry with a busybox image (more applets
 * than the image tests' fixture: `dd`, `true`, `id`…) pulled through a real `LocalImageService`, and
 * `RuncRuntime`s built over those directories (several in turn, to test adoption). `leftovers()` lists
 * what would be left behind (runc containers, mounts under the temp dir, cgroups under the root);
 * `close()` removes all of it whatever state the test left, and is safe to call twice.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { realClock } from '../../lib/clock.js';
import { silentLogger } from '../../lib/logger.js';
import type { ContainerImage } from '../../agent/runtime/runtime.js';
import {
  defaultRuncPath,
  RuncRuntime,
  type RuncRuntimeOptions,
} from '../../agent/runtime/runc/runc-runtime.js';
import { busyboxAvailable, busyboxEntries, makeImage, makeLayer, makeTar, pushImage } from './images.js';
import { openTestImageService, overlayAvailable, type TestImageService } from './image-service.js';
import { registryAvailable, startRegistry, type RegistryHandle } from './registry.js';

/** Why runc tests cannot run here, or undefined. */
export function runcAvailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root (runc, overlay mounts and cgroups need it)';
  const runc = defaultRuncPath();
  try {
    accessSync(runc, constants.X_OK);
  } catch {
    return 'no runc binary (Debian package runc)';
  }
  return overlayAvailable() ?? busyboxAvailable() ?? registryAvailable();
}

const extraApplets = [
  'dd',
  'true',
  'false',
  'id',
  'hostname',
  'env',
  'kill',
  'tail',
  'head',
  'wc',
  'ps',
  'wget',
  'readlink',
  'mkdir',
];

export interface RuncTestEnv {
  readonly base: string;
  readonly runcRoot: string;
  readonly stateDir: string;
  readonly logDir: string;
  readonly cgroupRoot: string;
  readonly runcPath: string;
  readonly images: TestImageService;
  /** The busybox image, pulled, with its record. */
  readonly image: ContainerImage;
  /** A runtime over this world's directories (a new one each call: same records, new process state). */
  runtime(extra?: Partial<RuncRuntimeOptions>): RuncRuntime;
  /** What is still there: runc containers, mounts under `base`, cgroup dirs under the cgroup root. */
  leftovers(): string[];
  close(): Promise<void>;
}

export async function openRuncTestEnv(): Promise<RuncTestEnv> {
  const base = mkdtempSync(join(tmpdir(), 'berth-runc-'));
  const cgroupRoot = `/berth-test-${randomBytes(4).toString('hex')}`;
  const runcPath = defaultRuncPath();
  const runcRoot = join(base, 'runc-root');
  let reg: RegistryHandle | undefined;
  let images: TestImageService | undefined;
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    for (const id of runcIds(runcPath, runcRoot))
      spawnSync(runcPath, ['--root', runcRoot, 'delete', '-f', id]);
    for (const m of mountsUnder(base).reverse()) spawnSync('umount', ['-l', m]);
    removeCgroups(cgroupRoot);
    await images?.close();
    await reg?.stop();
    rmSync(base, { recursive: true, force: true });
  };
  try {
    reg = await startRegistry({ mode: 'plain' });
    const entries = busyboxEntries();
    for (const a of extraApplets) entries.push({ name: `bin/${a}`, type: 'symlink', linkname: 'busybox' });
    const img = makeImage([makeLayer(await makeTar(entries))], { config: { Cmd: ['/bin/sh'] } });
    await pushImage(reg, 'berth/busybox', 'runc', img);
    images = await openTestImageService();
    const pulled = await images.service.pull(`${reg.host}/berth/busybox:runc`);
    if (!pulled.ok) throw new Error(`pull busybox: ${pulled.message}`);
    const image: ContainerImage = { image: `${reg.host}/berth/busybox:runc`, record: pulled.image };
    const svc = images;
    return {
      base,
      runcRoot,
      stateDir: join(base, 'state'),
      logDir: join(base, 'logs'),
      cgroupRoot,
      runcPath,
      images: svc,
      image,
      runtime: (extra = {}) =>
        new RuncRuntime({
          runcPath,
          root: runcRoot,
          stateDir: join(base, 'state'),
          cgroupRoot,
          rootfs: svc.service,
          logger: silentLogger(),
          clock: realClock,
          ...extra,
        }),
      leftovers: () => [
        ...runcIds(runcPath, runcRoot).map((id) => `runc container ${id}`),
        ...mountsUnder(join(base, 'state')).map((m) => `mount ${m}`),
        ...cgroupDirsUnder(cgroupRoot).map((d) => `cgroup ${d}`),
      ],
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

function runcIds(runcPath: string, root: string): string[] {
  if (!existsSync(root)) return [];
  const r = spawnSync(runcPath, ['--root', root, 'list', '-q'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.split('\n').filter((l) => l !== '') : [];
}

function mountsUnder(dir: string): string[] {
  const info = readFileSync('/proc/self/mountinfo', 'utf8');
  return info
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .map((p) => p.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8))))
    .filter((p) => p === dir || p.startsWith(`${dir}/`));
}

function hierarchies(): string[] {
  try {
    return readdirSync('/sys/fs/cgroup', { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => join('/sys/fs/cgroup', e.name));
  } catch {
    return [];
  }
}

/** Cgroup dirs below the root (the root itself may stay until close). */
function cgroupDirsUnder(cgroupRoot: string): string[] {
  const out: string[] = [];
  for (const h of hierarchies()) {
    const dir = join(h, cgroupRoot);
    if (!existsSync(dir)) continue;
    for (const e of readdirSync(dir, { withFileTypes: true }))
      if (e.isDirectory()) out.push(join(dir, e.name));
  }
  return out;
}

function removeCgroups(cgroupRoot: string): void {
  for (const h of hierarchies()) {
    const dir = join(h, cgroupRoot);
    if (existsSync(dir)) spawnSync('find', [dir, '-depth', '-type', 'd', '-exec', 'rmdir', '{}', ';']);
  }
}
