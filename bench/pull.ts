/**
 * B4 — image pull to rootfs-ready (shared/reference/performance-anchors.md).
 *
 * The ~90 MB gzip / ~250 MB / 5-layer image of shared/reference/scripts/mkimage-bench.py is pushed to
 * a local docker-registry started here; then, from a cold store and a dropped page cache each time:
 *   - Berth, layer concurrency 1, 3 and 5: pull request → every layer downloaded, verified, unpacked
 *     and committed, and the container rootfs prepared (bench/lib/pull-child.ts, own process); and
 *     once more at concurrency 3 unpacking in the calling thread (`unpackInWorkers: false`);
 *   - `skopeo copy` to an OCI layout: download + verify, no decompression (the floor);
 *   - containerd 1.6 `ctr images pull` (fetch + unpack into overlayfs snapshots), default and 3
 *     concurrent downloads, against a containerd started here with its own root, state and socket.
 * Wall seconds and CPU seconds (user+sys of the process doing the work; containerd's daemon for ctr)
 * are the medians over the rounds.
 *
 * Every run's directory is kept until the end of the benchmark and removed then: on a filesystem
 * without a journal (ext4 as on the reference VM) the kernel skips inodes freed in the last ~30 s
 * when it allocates new ones, so deleting one run's ~4k files just before the next made that run's
 * file creation several times slower (up to ~0.7 ms of kernel time per file), whichever tool came next.
 * Usage:
 *   npm run bench -- pull [--rounds N] [--image-dir DIR] [--no-drop-caches] [--no-durable] [--no-keep-blobs]
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { registryAvailable, startRegistry, type RegistryHandle } from '../test/harness/registry.js';
import { median, printTable } from './lib/stats.js';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    'image-dir': { type: 'string' },
    'no-drop-caches': { type: 'boolean', default: false },
    'no-durable': { type: 'boolean', default: false },
    'no-keep-blobs': { type: 'boolean', default: false },
    'skip-containerd': { type: 'boolean', default: false },
  },
});
const rounds = Number(args.rounds);
const root = new URL('..', import.meta.url).pathname;
const mkimage = new URL('../../shared/reference/scripts/mkimage-bench.py', import.meta.url).pathname;
const dropCaches = !args['no-drop-caches'] && process.getuid?.() === 0;

interface Sample {
  seconds: number;
  cpu: number;
}

function dropPageCache(): void {
  if (!dropCaches) return;
  spawnSync('sync');
  writeFileSync('/proc/sys/vm/drop_caches', '3');
}

/** Wall, user and sys seconds of a command, from /usr/bin/time. */
function timed(cmd: string, argv: string[]): Sample {
  const r = spawnSync('/usr/bin/time', ['-f', '%e %U %S', cmd, ...argv], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr}`);
  const last = r.stderr.trim().split('\n').at(-1) ?? '';
  const [e, u, s] = last.split(' ').map(Number);
  return { seconds: e ?? NaN, cpu: (u ?? NaN) + (s ?? NaN) };
}

function buildImage(dir: string): string {
  const oci = join(dir, 'oci');
  if (existsSync(join(oci, 'index.json'))) return oci;
  if (!existsSync(mkimage)) throw new Error(`${mkimage} not found; pass --image-dir with an OCI layout`);
  console.log('building the benchmark image (mkimage-bench.py, ~30 s)…');
  mkdirSync(dir, { recursive: true });
  execFileSync('python3', [mkimage], { env: { ...process.env, OUT: oci, TMPDIR: dir }, stdio: 'inherit' });
  return oci;
}

/** Directories of finished runs, removed at the end (see the module comment for why not at once). */
const leftovers: string[] = [];

function berthPull(
  reg: RegistryHandle,
  concurrency: number,
  inThread = false,
): Sample & { loopMs: number; durable: number } {
  const dir = mkdtempSync(join(tmpdir(), 'berth-bench-pull-'));
  leftovers.push(dir);
  dropPageCache();
  const child = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      join(root, 'bench/lib/pull-child.ts'),
      JSON.stringify({
        root: join(dir, 'images'),
        ref: `${reg.host}/bench/big:v1`,
        layerConcurrency: concurrency,
        durable: !args['no-durable'],
        keepLayerBlobs: !args['no-keep-blobs'],
        ...(inThread ? { unpackInWorkers: false } : {}),
      }),
    ],
    { cwd: root, encoding: 'utf8' },
  );
  if (child.status !== 0) throw new Error(`pull child failed: ${child.stderr}`);
  const r = JSON.parse(child.stdout.trim().split('\n').at(-1) ?? '{}') as {
    seconds: number;
    durableSeconds: number;
    cpuUser: number;
    cpuSystem: number;
    maxLoopDelayMs: number;
  };
  return {
    seconds: r.seconds,
    cpu: r.cpuUser + r.cpuSystem,
    loopMs: r.maxLoopDelayMs,
    durable: r.durableSeconds,
  };
}

function skopeoCopy(reg: RegistryHandle): Sample {
  const dir = mkdtempSync(join(tmpdir(), 'berth-bench-skopeo-'));
  leftovers.push(dir);
  dropPageCache();
  return timed('skopeo', [
    'copy',
    '-q',
    '--src-tls-verify=false',
    `docker://${reg.host}/bench/big:v1`,
    `oci:${join(dir, 'oci')}:v1`,
  ]);
}

/** CPU seconds (utime + stime) of a process so far. */
function processCpu(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function containerdPull(reg: RegistryHandle, concurrency: number | undefined): Promise<Sample> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-bench-containerd-'));
  const sock = join(dir, 'containerd.sock');
  writeFileSync(
    join(dir, 'config.toml'),
    [
      'version = 2',
      `root = "${join(dir, 'root')}"`,
      `state = "${join(dir, 'state')}"`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]',
      '[grpc]',
      `  address = "${sock}"`,
      '[ttrpc]',
      `  address = "${sock}.ttrpc"`,
      '[debug]',
      '  level = "warn"',
      '[plugins]',
      '  [plugins."io.containerd.internal.v1.opt"]',
      `    path = "${join(dir, 'opt')}"`,
    ].join('\n') + '\n',
  );
  let child: ChildProcess | undefined;
  try {
    child = spawn('containerd', ['--config', join(dir, 'config.toml')], { stdio: 'ignore' });
    const deadline = Date.now() + 10_000;
    while (spawnSync('ctr', ['--address', sock, 'version'], { stdio: 'ignore' }).status !== 0) {
      if (Date.now() > deadline) throw new Error('containerd did not start');
      await new Promise((r) => setTimeout(r, 50));
    }
    dropPageCache();
    const pid = child.pid ?? 0;
    const before = processCpu(pid);
    const ctr = timed('ctr', [
      '--address',
      sock,
      '-n',
      'berth-bench',
      'images',
      'pull',
      '--plain-http',
      ...(concurrency === undefined ? [] : ['--max-concurrent-downloads', String(concurrency)]),
      `${reg.host}/bench/big:v1`,
    ]);
    return { seconds: ctr.seconds, cpu: ctr.cpu + processCpu(pid) - before };
  } finally {
    if (child !== undefined) {
      const exited = new Promise((r) => child?.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      child.kill('SIGKILL');
    }
    // containerd leaves no mounts after a pull; make sure before removing its root.
    for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
      const target = line.split(' ')[1];
      if (target?.startsWith(dir) === true) spawnSync('umount', ['-l', target]);
    }
    leftovers.push(dir);
  }
}

async function main(): Promise<void> {
  const skip = registryAvailable();
  if (skip !== undefined) {
    console.log(`skipping: ${skip}`);
    return;
  }
  const imageDir = args['image-dir'] ?? mkdtempSync(join(tmpdir(), 'berth-bench-image-'));
  const ownImage = args['image-dir'] === undefined;
  let reg: RegistryHandle | undefined;
  try {
    const oci = buildImage(imageDir);
    const index = JSON.parse(readFileSync(join(oci, 'index.json'), 'utf8')) as {
      manifests: { digest: string }[];
    };
    const manifest = JSON.parse(
      readFileSync(join(oci, 'blobs/sha256', (index.manifests[0]?.digest ?? '').slice(7)), 'utf8'),
    ) as { layers: { size: number }[] };
    const gzBytes = manifest.layers.reduce((n, l) => n + l.size, 0);
    reg = await startRegistry({ mode: 'plain' });
    execFileSync('skopeo', [
      'copy',
      '-q',
      '--dest-tls-verify=false',
      `oci:${oci}:v1`,
      `docker://${reg.host}/bench/big:v1`,
    ]);
    const haveContainerd =
      !args['skip-containerd'] &&
      spawnSync('containerd', ['--version']).status === 0 &&
      process.getuid?.() === 0;

    const samples = new Map<string, Sample[]>();
    const loops: number[] = [];
    const durable = new Map<number, number[]>();
    const add = (name: string, s: Sample): void => {
      samples.set(name, [...(samples.get(name) ?? []), s]);
      console.log(`  ${name}: ${s.seconds.toFixed(2)} s, ${s.cpu.toFixed(2)} CPU-s`);
    };
    console.log(
      `image: ${manifest.layers.length} layers, ${(gzBytes / 1e6).toFixed(1)} MB compressed; ${rounds} rounds; page cache ${dropCaches ? 'dropped' : 'NOT dropped'} before each run; durable=${!args['no-durable']} keepLayerBlobs=${!args['no-keep-blobs']}`,
    );
    // One unmeasured pull warms the registry process and Node's compile cache.
    berthPull(reg, 3);
    for (let round = 1; round <= rounds; round++) {
      console.log(`round ${round}`);
      add('skopeo copy (download + verify, no unpack)', skopeoCopy(reg));
      for (const c of [1, 3, 5]) {
        const s = berthPull(reg, c);
        loops.push(s.loopMs);
        durable.set(c, [...(durable.get(c) ?? []), s.durable]);
        add(`berth, layer concurrency ${c}`, s);
      }
      add('berth, in-thread unpack, layer concurrency 3', berthPull(reg, 3, true));
      if (haveContainerd) {
        add('containerd 1.6 ctr images pull (default)', await containerdPull(reg, undefined));
        add('containerd 1.6 ctr images pull (3 downloads)', await containerdPull(reg, 3));
      }
    }
    console.log('');
    const rows: string[][] = [];
    const med = new Map<string, { s: number; cpu: number }>();
    for (const [name, list] of samples) {
      const s = median(list.map((x) => x.seconds));
      const cpu = median(list.map((x) => x.cpu));
      med.set(name, { s, cpu });
      rows.push([
        name,
        s.toFixed(2),
        `${Math.min(...list.map((x) => x.seconds)).toFixed(2)}–${Math.max(...list.map((x) => x.seconds)).toFixed(2)}`,
        cpu.toFixed(2),
        (gzBytes / 1e6 / s).toFixed(0),
      ]);
    }
    printTable(['B4 pull → rootfs-ready', 'median s', 'range s', 'CPU-s', 'MB/s gz'], rows);
    const berth3 = med.get('berth, layer concurrency 3');
    const ctr = med.get('containerd 1.6 ctr images pull (default)');
    console.log('');
    console.log(`Berth max event-loop delay during pulls: ${Math.max(...loops).toFixed(0)} ms`);
    console.log(
      `Berth time to durable (layers synced, blobs fsync'd; after rootfs-ready): ${[...durable]
        .map(([c, v]) => `c=${c} ${median(v).toFixed(2)} s`)
        .join(', ')}`,
    );
    if (berth3 !== undefined) {
      console.log(
        `goal ≤ 2.5 s: ${berth3.s <= 2.5 ? 'met' : 'NOT met'} (${berth3.s.toFixed(2)} s at concurrency 3)` +
          (ctr === undefined
            ? ''
            : `; goal ≥ 2.5× faster than containerd: ${ctr.s / berth3.s >= 2.5 ? 'met' : 'NOT met'} (${(ctr.s / berth3.s).toFixed(1)}×)`),
      );
    }
    const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
    console.log(`load average at the end: ${load} (2 cores, shared machine)`);
  } finally {
    await reg?.stop();
    for (const dir of leftovers) rmSync(dir, { recursive: true, force: true });
    if (ownImage) rmSync(imageDir, { recursive: true, force: true });
  }
}

await main();
