/**
 * A private containerd 1.6 for CRI tests: its own config, root, state dir, sockets, runc root, CNI
 * config (bridge + host-local from /usr/lib/cni, with a bridge name and /24 unique to the handle) and
 * registry hosts (plain-HTTP test registries as `certs.d/<host>/hosts.toml`). The system's
 * /run/containerd is never used, except the shim sockets containerd 1.6 always puts in
 * /run/containerd/s (hard-coded there).
 *
 * The harness creates the bridge itself, with the gateway address, and tells the bridge plugin
 * `isGateway: false`: the plugin would otherwise set the host's `net.ipv4.ip_forward` to 1. Pods get
 * no default route (the tests only talk host ↔ pod over the bridge).
 *
 * `stop()` removes everything: every sandbox through CRI (which deletes the pods' netns and CNI
 * allocations), containerd (SIGTERM, then SIGKILL), shims still serving our socket (by pid), mounts
 * left under the directory, the bridge, the pods' netns and cgroup parents, the CNI result cache
 * entries of our network, and the directory. A watchdog kills containerd if the test process dies.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  closeSync,
  readdirSync,
  readFileSync,
  rmSync,
  rmdirSync,
  writeFileSync,
} from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CriConnection } from '../../agent/runtime/cri/cri-client.js';
import * as cri from '../../proto/gen/runtime/v1/api.js';
import { freePort } from './ports.js';

export interface ContainerdRegistry {
  /** `127.0.0.1:PORT`. */
  readonly host: string;
  /** CA to trust for an HTTPS registry; absent: plain HTTP. */
  readonly caPem?: string;
}

export interface StartContainerdOptions {
  /** The pause image for sandboxes, e.g. `127.0.0.1:PORT/berth/pause:latest` (pulled on first use). */
  readonly sandboxImage: string;
  /** Registries containerd may pull from. */
  readonly registries?: readonly ContainerdRegistry[];
}

export interface ContainerdHandle {
  /** `unix:///…/containerd.sock` — the CRI endpoint. */
  readonly endpoint: string;
  readonly dir: string;
  /** The CNI bridge's name and its /24, e.g. `bcri1a2b3c` and `10.213.7.0/24`. */
  readonly bridge: string;
  readonly subnet: string;
  /** cgroupfs parent to give sandboxes (`<cgroupRoot>/pod<uid>`), removed by `stop()`. */
  readonly cgroupRoot: string;
  /** containerd's log so far. */
  log(): string;
  stop(): Promise<void>;
}

const binaries = [
  '/usr/bin/containerd',
  '/usr/bin/containerd-shim-runc-v2',
  '/usr/sbin/runc',
  '/usr/lib/cni/bridge',
  '/usr/lib/cni/host-local',
  '/usr/lib/cni/loopback',
];

/** Why containerd tests must be skipped here, or undefined. */
export function containerdAvailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'containerd tests need root';
  for (const b of binaries) {
    try {
      accessSync(b, constants.X_OK);
    } catch {
      return `${b} not found (Debian packages containerd, runc, containernetworking-plugins)`;
    }
  }
  return undefined;
}

const live = new Set<ChildProcess>();
let hooked = false;
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const c of live) c.kill('SIGKILL');
  });
}

function run(cmd: string, args: readonly string[]): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}` };
}

/** A /24 in 10.192.0.0/10 that no route on this host covers yet. */
function pickSubnet(): string {
  const routes = run('ip', ['-4', 'route', 'show', 'table', 'all']).out;
  for (let i = 0; i < 100; i++) {
    const b = 192 + ((randomBytes(1)[0] ?? 0) % 60);
    const c = randomBytes(1)[0] ?? 0;
    const subnet = `10.${b}.${c}.0/24`;
    if (!routes.includes(`10.${b}.${c}.`)) return subnet;
  }
  throw new Error('containerd harness: no free /24 found');
}

function cgroupHierarchies(): string[] {
  try {
    return readdirSync('/sys/fs/cgroup').map((d) => join('/sys/fs/cgroup', d));
  } catch {
    return [];
  }
}

/** rmdir a cgroup tree bottom-up (cgroup dirs hold only pseudo-files, so rmdir is the way). */
function removeCgroupTree(path: string): void {
  if (!existsSync(path)) return;
  for (const e of readdirSync(path, { withFileTypes: true })) {
    if (e.isDirectory()) removeCgroupTree(join(path, e.name));
  }
  try {
    rmdirSync(path);
  } catch {
    // busy (a process still in it) or gone
  }
}

/** Starts containerd and waits until CRI answers `Version`. */
export async function startContainerd(opts: StartContainerdOptions): Promise<ContainerdHandle> {
  const reason = containerdAvailable();
  if (reason !== undefined) throw new Error(reason);
  hookExit();
  const dir = mkdtempSync(join(tmpdir(), 'berth-containerd-'));
  const id = randomBytes(3).toString('hex');
  const bridge = `bcri${id}`;
  const network = `berth-cri-${id}`;
  const subnet = pickSubnet();
  const prefix = subnet.slice(0, subnet.lastIndexOf('.'));
  const gateway = `${prefix}.1`;
  const cgroupRoot = `/berth-cri-${id}`;
  const sock = join(dir, 'containerd.sock');
  const endpoint = `unix://${sock}`;
  const streamPort = await freePort();
  for (const d of ['root', 'state', 'cni-conf', 'cni-ipam', 'certs.d', 'opt', 'runc-root'])
    mkdirSync(join(dir, d));

  writeFileSync(
    join(dir, 'cni-conf', '10-berth.conflist'),
    JSON.stringify({
      cniVersion: '1.0.0',
      name: network,
      plugins: [
        {
          type: 'bridge',
          bridge,
          isGateway: false,
          ipMasq: false,
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            dataDir: join(dir, 'cni-ipam'),
            ranges: [[{ subnet, gateway }]],
          },
        },
      ],
    }),
  );
  for (const r of opts.registries ?? []) {
    const hostDir = join(dir, 'certs.d', r.host);
    mkdirSync(hostDir, { recursive: true });
    const scheme = r.caPem === undefined ? 'http' : 'https';
    const lines = [
      `server = "${scheme}://${r.host}"`,
      `[host."${scheme}://${r.host}"]`,
      '  capabilities = ["pull", "resolve"]',
    ];
    if (r.caPem === undefined) lines.push('  skip_verify = true');
    else {
      writeFileSync(join(hostDir, 'ca.crt'), r.caPem);
      lines.push(`  ca = "${join(hostDir, 'ca.crt')}"`);
    }
    writeFileSync(join(hostDir, 'hosts.toml'), lines.join('\n') + '\n');
  }
  const config = `version = 2
root = "${join(dir, 'root')}"
state = "${join(dir, 'state')}"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.internal.v1.tracing", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "${sock}"
[ttrpc]
  address = "${sock}.ttrpc"
[debug]
  level = "info"
[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "${join(dir, 'opt')}"
  [plugins."io.containerd.runtime.v1.linux"]
    runtime_root = "${join(dir, 'runc-v1-root')}"
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "${opts.sandboxImage}"
    stream_server_address = "127.0.0.1"
    stream_server_port = "${streamPort}"
    restrict_oom_score_adj = true
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          SystemdCgroup = false
          BinaryName = "/usr/sbin/runc"
          Root = "${join(dir, 'runc-root')}"
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "${join(dir, 'cni-conf')}"
      max_conf_num = 1
    [plugins."io.containerd.grpc.v1.cri".registry]
      config_path = "${join(dir, 'certs.d')}"
`;
  writeFileSync(join(dir, 'config.toml'), config);

  // The bridge with the gateway address, so the host reaches pods without the plugin's isGateway.
  const made = run('ip', ['link', 'add', 'name', bridge, 'type', 'bridge']);
  if (!made.ok) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`containerd harness: ip link add ${bridge}: ${made.out}`);
  }
  run('ip', ['addr', 'add', `${gateway}/24`, 'dev', bridge]);
  run('ip', ['link', 'set', bridge, 'up']);

  const logFile = join(dir, 'containerd.log');
  const fd = openSync(logFile, 'a');
  const child = spawn('/usr/bin/containerd', ['--config', join(dir, 'config.toml')], {
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  live.add(child);
  child.unref();
  const watchdog = startWatchdog(child.pid ?? 0);
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      resolve();
    }),
  );
  const state = { exited: false };
  void exited.then(() => {
    state.exited = true;
  });
  const log = (): string => {
    try {
      return readFileSync(logFile, 'utf8');
    } catch {
      return '';
    }
  };

  let stopped: Promise<void> | undefined;
  const handle: ContainerdHandle = {
    endpoint,
    dir,
    bridge,
    subnet,
    cgroupRoot,
    log,
    stop: () => {
      stopped ??= (async () => {
        const netns = new Set<string>();
        if (!state.exited) await removeAllSandboxes(endpoint, netns).catch(() => undefined);
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
        live.delete(child);
        watchdog?.kill('SIGKILL');
        killShims(sock);
        unmountUnder(dir);
        for (const ns of netns) {
          if (existsSync(ns)) {
            run('umount', [ns]);
            rmSync(ns, { force: true });
          }
        }
        run('ip', ['link', 'del', bridge]);
        for (const h of cgroupHierarchies()) removeCgroupTree(join(h, cgroupRoot));
        removeCniResults(network);
        rmSync(dir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };

  try {
    const conn = new CriConnection(endpoint);
    try {
      const deadline = Date.now() + 20_000;
      for (;;) {
        if (state.exited) throw new Error(`containerd exited during startup:\n${log()}`);
        if (existsSync(sock)) {
          const ok = await conn
            .runtimeCall('version', cri.VersionRequest.fromPartial({ version: 'v1' }))
            .then(
              () => true,
              () => false,
            );
          if (ok) break;
        }
        if (Date.now() > deadline) throw new Error(`containerd did not answer CRI in 20 s:\n${log()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      conn.close();
    }
  } catch (err) {
    await handle.stop();
    throw err;
  }
  return handle;
}

/** Stops and removes every sandbox (and so every container) through CRI; collects their netns paths. */
async function removeAllSandboxes(endpoint: string, netns: Set<string>): Promise<void> {
  const conn = new CriConnection(endpoint);
  try {
    const list = await conn.runtimeCall('listPodSandbox', cri.ListPodSandboxRequest.fromPartial({}));
    for (const sb of list.items) {
      try {
        const st = await conn.runtimeCall(
          'podSandboxStatus',
          cri.PodSandboxStatusRequest.fromPartial({ podSandboxId: sb.id, verbose: true }),
        );
        // containerd 1.6 names the netns only in the sandbox's OCI spec.
        const info = JSON.parse(st.info['info'] ?? '{}') as {
          netNamespacePath?: string;
          runtimeSpec?: { linux?: { namespaces?: { type: string; path?: string }[] } };
        };
        const path =
          info.netNamespacePath ??
          info.runtimeSpec?.linux?.namespaces?.find((n) => n.type === 'network')?.path;
        if (path !== undefined && path !== '') netns.add(path);
      } catch {
        // no verbose info: containerd removes the netns itself on stop
      }
      await conn
        .runtimeCall('stopPodSandbox', cri.StopPodSandboxRequest.fromPartial({ podSandboxId: sb.id }))
        .catch(() => undefined);
      await conn
        .runtimeCall('removePodSandbox', cri.RemovePodSandboxRequest.fromPartial({ podSandboxId: sb.id }))
        .catch(() => undefined);
    }
  } finally {
    conn.close();
  }
}

/** SIGKILLs shims that serve our containerd (their command line names our socket), by pid. */
function killShims(sock: string): void {
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    const args = cmdline.split('\0');
    if (args[0]?.endsWith('containerd-shim-runc-v2') === true && args.includes(sock)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // exited meanwhile
      }
    }
  }
}

/** Unmounts (lazily, deepest first) whatever is still mounted under `dir` (rootfs overlays, shm). */
function unmountUnder(dir: string): void {
  const mounts = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .map((p) => p.replace(/\\040/g, ' '))
    .filter((p) => p === dir || p.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) run('umount', ['-l', m]);
}

/** Drops the CNI plugins' result cache entries for our network (`/var/lib/cni/results/<net>-…`). */
function removeCniResults(network: string): void {
  const dir = '/var/lib/cni/results';
  try {
    for (const f of readdirSync(dir)) if (f.startsWith(`${network}-`)) rmSync(join(dir, f), { force: true });
  } catch {
    // no cache
  }
}

function startWatchdog(pid: number): ChildProcess | undefined {
  if (pid === 0) return undefined;
  try {
    const w = spawn(
      '/bin/sh',
      ['-c', 'cat >/dev/null; kill -KILL "$1" 2>/dev/null', 'berth-containerd-watchdog', String(pid)],
      {
        stdio: ['pipe', 'ignore', 'ignore'],
        detached: true,
      },
    );
    w.on('error', () => undefined);
    w.unref();
    if (w.stdin instanceof Socket) w.stdin.unref();
    return w;
  } catch {
    return undefined;
  }
}
