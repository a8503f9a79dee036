/**
 * RUNC runtime: the default `Runtime`, running real containers with runc (OCI runtime spec generated
 * by `buildOciSpec`, overlayfs rootfs from the image service, cgroupfs limits) without a Node process
 * per container. See runtime.ts for the states and the contract; records.ts for the durable records
 * and their states; process-launcher.ts for the shim.
 *
 * Decisions:
 * - **Sandbox = a record, not a process.** No pause container: a sandbox is its record, its cgroup
 *   parent, the network namespace the pod network made (`linux.networkNamespacePath`; the host's with
 *   `hostNetwork`; absent → each container gets its own loopback-only namespace) and the hosts /
 *   resolv.conf / hostname files bind-mounted into its containers. Each container gets its own pid,
 *   ipc, uts and mount namespaces. `sharePidNamespace` would need a pause process to own the pid
 *   namespace and is refused (`InvalidConfig`). This keeps `runPodSandbox` at a few file writes.
 * - **Detached containers.** `startContainer` launches a `/bin/sh` shim (setsid, no stdio) that holds
 *   the container's stdout/stderr FIFOs read-write and runs `runc run --keep` in the foreground, then
 *   writes the exit code to `exit` atomically. The shim outlives the agent; the container never sees
 *   EPIPE. The agent reads the FIFOs into the CRI-format log file (cri-log.ts); while the agent is
 *   down, output waits in the pipe (64 KiB; then the container blocks on write, like conmon's).
 * - **Exit and OOM.** `--keep` leaves the stopped container and its cgroup, so the agent reads the
 *   OOM kill counter before `runc delete` (reason `OOMKilled`, else `Completed`/`Error`). Exits are
 *   noticed when the FIFOs reach EOF (the shim is gone), and on any read of the container.
 *   `startedAt`/`finishedAt` are the mtimes of the shim's `pid` and `exit` files, so they are right
 *   even when the agent was down.
 * - **Adoption.** The first call loads every record; RUNNING containers get their FIFO readers back,
 *   containers whose exit was recorded while the agent was down are finalised, a container whose
 *   start was asked but never confirmed is marked `StartError` (never started again), and one that
 *   runc no longer knows (host rebooted) is marked exited with code 255. Directories of creates that
 *   crashed half-way are unmounted, released and removed.
 * - **cgroups.** Sandbox cgroup parent: `linux.cgroupParent` when it lies under `cgroupRoot`, else
 *   `<cgroupRoot>/pod<uid>`; a container's cgroup is `<parent>/<containerId>`. Removing a sandbox
 *   removes its parent in every hierarchy.
 * - **Exec.** `execSync` runs `runc exec` with a pid file; on timeout the exec'd process is SIGKILLed
 *   by pid (runc cannot forward SIGKILL) and the result is 137 with `timedOut`. Output is capped at
 *   the command runner's 64 MiB. `execStream` pipes `runc exec`; with a tty, util-linux `script`
 *   allocates a host pty and runs `runc exec -t` from a constant command string, the argv travelling
 *   in environment variables (no user data in shell text). Resizing a tty is not supported.
 * - **Security.** runc is always the configured absolute path, never a binary from an image
 *   (CVE-2019-5736 is also fixed in runc ≥ 1.0-rc7 by its memfd clone). Mount destinations are resolved
 *   by runc inside the rootfs; `validateOciSpecInput` refuses cwd/mounts in /proc (CVE-2024-21626) and
 *   per-process /proc host paths. The agent's own files (logs, FIFOs) are opened with O_NOFOLLOW.
 */
import { randomBytes } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { isAbsolute, join, normalize } from 'node:path';
import type { Clock } from '../../../lib/clock.js';
import { execCommandRunner, type CommandRunner } from '../../../lib/command-runner.js';
import { BerthError, errorCodes, errorMessage } from '../../../lib/errors.js';
import type { Logger } from '../../../lib/logger.js';
import type { RootfsProvider } from '../../images/image-service.js';
import { imageRefOf } from '../image-ref.js';
import type {
  CallOptions,
  Container,
  ContainerConfig,
  ContainerFilter,
  ContainerStats,
  ContainerStatus,
  CreateContainerResult,
  ExecStreamRequest,
  ExecStreamSession,
  ExecSyncRequest,
  ExecSyncResult,
  Mount,
  PodSandbox,
  PodSandboxConfig,
  PodSandboxFilter,
  PodSandboxStatus,
  RunPodSandboxResult,
  Runtime,
  RuntimeCondition,
  RuntimeFailure,
  RuntimeVersion,
  StartContainerResult,
} from '../runtime.js';
import { matchesLabels, resolveProcessArgs } from '../runtime.js';
import { Cgroups } from './cgroups.js';
import { CriLogWriter, pumpFifo, type FifoPump } from './cri-log.js';
import { loadSeccompProfile } from './default-security.js';
import { resolveImageUser } from './image-user.js';
import { buildOciSpec, validateOciSpecInput, type OciSpecInput } from './oci-spec.js';
import { argvFromEnvScript, spawnProcessLauncher, type ProcessLauncher } from './process-launcher.js';
import { RecordStore, type ContainerRecord, type SandboxRecord } from './records.js';
import { firstLine, lastRuncLogMessage, RuncCli } from './runc-cli.js';
import { writeSandboxFiles } from './sandbox-files.js';

export interface RuncRuntimeOptions {
  /** runc binary; default `/usr/sbin/runc`, else `/usr/bin/runc`, else the first `runc` on PATH. */
  readonly runcPath?: string;
  /** runc's `--root` state directory, private to this agent (e.g. `/run/berth/runc`). */
  readonly root: string;
  /** Durable records, bundles and FIFOs (e.g. `<data-dir>/runc`). */
  readonly stateDir: string;
  /** cgroupfs parent of every pod cgroup, e.g. `/berth`. */
  readonly cgroupRoot: string;
  readonly rootfs: RootfsProvider;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly runner?: CommandRunner;
  readonly launcher?: ProcessLauncher;
  /** cgroupfs mount point; default `/sys/fs/cgroup`. */
  readonly cgroupMount?: string;
  /** Rotate a container log past this many bytes; default 10 MiB. */
  readonly logMaxBytes?: number;
  /** Log files kept per container, the live one included; default 2. */
  readonly logMaxFiles?: number;
  /** Directory relative `Localhost/` seccomp profiles resolve against. */
  readonly seccompRoot?: string;
  /** A start that shows neither a pid nor an exit within this is failed; default 60 s. */
  readonly startTimeoutMs?: number;
  /** Network readiness for `status()` (the node's pod network); default ready. */
  readonly networkStatus?: () => { readonly ready: boolean; readonly message?: string };
}

interface LiveContainer {
  rec: ContainerRecord;
  writer?: CriLogWriter | undefined;
  pumps?: readonly FifoPump[] | undefined;
  /** Resolves when both FIFOs reached EOF: the shim has exited. */
  shimGone?: Promise<void> | undefined;
  finalizing?: Promise<void> | undefined;
  starting?: Promise<unknown> | undefined;
  /** `runc delete -f` succeeded after the shim recorded the exit: removal needs no second one. */
  runcDeleted?: boolean | undefined;
}

const version = '0.1.0';
const runtimeApiVersion = 'v1';

/** The default runc binary of this machine, or `runc` (PATH lookup by the runner). */
export function defaultRuncPath(): string {
  for (const p of ['/usr/sbin/runc', '/usr/bin/runc', '/usr/local/sbin/runc', '/usr/local/bin/runc']) {
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // next
    }
  }
  return 'runc';
}

function fail(reason: RuntimeFailure['reason'], message: string): RuntimeFailure {
  return { ok: false, reason, message };
}

function newId(): string {
  return randomBytes(32).toString('hex');
}

async function mtimeMs(path: string): Promise<number | undefined> {
  try {
    return Math.floor((await stat(path)).mtimeMs);
  } catch {
    return undefined;
  }
}

/** The runc runtime; see the file header. */
export class RuncRuntime implements Runtime {
  readonly name = 'runc';
  readonly #runc: RuncCli;
  readonly #records: RecordStore;
  readonly #cgroups: Cgroups;
  readonly #cgroupRoot: string;
  readonly #rootfs: RootfsProvider;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #runner: CommandRunner;
  readonly #launcher: ProcessLauncher;
  readonly #opts: RuncRuntimeOptions;
  readonly #sandboxes = new Map<string, SandboxRecord>();
  readonly #containers = new Map<string, LiveContainer>();
  /** Names being created right now, so two concurrent creates cannot both pass the conflict check. */
  readonly #reserved = new Set<string>();
  readonly #locks = new Map<string, Promise<unknown>>();
  #seq = 0;
  #ready: Promise<void> | undefined;

  constructor(opts: RuncRuntimeOptions) {
    this.#opts = opts;
    this.#runner = opts.runner ?? execCommandRunner;
    this.#runc = new RuncCli({
      path: opts.runcPath ?? defaultRuncPath(),
      root: opts.root,
      runner: this.#runner,
    });
    this.#records = new RecordStore(opts.stateDir);
    this.#cgroups = new Cgroups(opts.cgroupMount);
    this.#cgroupRoot = normalize(`/${opts.cgroupRoot}`).replace(/\/$/, '');
    this.#rootfs = opts.rootfs;
    this.#logger = opts.logger.child({ component: 'runc-runtime' });
    this.#clock = opts.clock;
    this.#launcher = opts.launcher ?? spawnProcessLauncher;
  }

  // -------------------------------------------------------------------------------------------
  // Start-up and adoption

  /** Loads the records and adopts running containers. Every public call waits for it; idempotent. */
  ready(): Promise<void> {
    this.#ready ??= this.#recover().catch((err: unknown) => {
      this.#ready = undefined;
      throw new BerthError(errorCodes.RUNTIME_FAILED, `runc runtime: cannot load ${this.#opts.stateDir}`, {
        cause: err,
      });
    });
    return this.#ready;
  }

  async #recover(): Promise<void> {
    await mkdir(this.#opts.root, { recursive: true, mode: 0o700 });
    await this.#records.init();
    const loaded = await this.#records.load();
    for (const id of loaded.orphanContainerDirs) await this.#removeContainerFiles(id);
    for (const id of loaded.orphanSandboxDirs)
      await rm(this.#records.sandboxDir(id), { recursive: true, force: true });
    for (const s of loaded.sandboxes) {
      this.#sandboxes.set(s.id, s);
      this.#seq = Math.max(this.#seq, s.seq + 1);
    }
    const lives: LiveContainer[] = [];
    for (const rec of loaded.containers.sort((a, b) => a.seq - b.seq)) {
      this.#seq = Math.max(this.#seq, rec.seq + 1);
      const live: LiveContainer = { rec };
      this.#containers.set(rec.id, live);
      lives.push(live);
    }
    // A few at a time: each may ask runc about its container.
    for (let i = 0; i < lives.length; i += 8) {
      await Promise.all(
        lives.slice(i, i + 8).map((live) =>
          this.#adopt(live).catch((err: unknown) => {
            this.#logger.warn({ err, containerId: live.rec.id }, 'could not adopt container');
          }),
        ),
      );
    }
    if (loaded.containers.length > 0) {
      this.#logger.info(
        { sandboxes: loaded.sandboxes.length, containers: loaded.containers.length },
        'runc runtime adopted existing containers',
      );
    }
  }

  async #adopt(live: LiveContainer): Promise<void> {
    const { rec } = live;
    if (rec.state === 'CREATED' || rec.state === 'EXITED') return;
    const dir = this.#records.containerDir(rec.id);
    const [pidAt, exitAt] = await Promise.all([mtimeMs(join(dir, 'pid')), mtimeMs(join(dir, 'exit'))]);
    if (exitAt !== undefined) {
      await this.#finalize(live);
      return;
    }
    const state = await this.#runc.state(rec.id);
    if (state?.status === 'stopped' && (await this.#waitExit(live, 2000, undefined))) {
      // runc had just returned and the shim was about to write the exit file.
      await this.#finalize(live);
      return;
    }
    if (state === undefined || state.status === 'stopped') {
      // No exit file and runc does not know it (or it stopped without the shim writing): the shim is gone.
      const lost =
        rec.state === 'STARTING' && pidAt === undefined
          ? {
              exitCode: 128,
              reason: 'StartError',
              message: 'the agent restarted while starting the container',
            }
          : {
              exitCode: 255,
              reason: 'Error',
              message: 'container lost: no exit status recorded (host restarted or runc state removed)',
            };
      await this.#runc.delete(rec.id, true);
      await this.#cgroups.remove(rec.cgroupsPath);
      Object.assign(rec, { state: 'EXITED', finishedAt: this.#clock.now(), ...lost });
      if (pidAt !== undefined) rec.startedAt ??= Math.max(pidAt, rec.createdAt);
      await this.#records.saveContainer(rec);
      return;
    }
    if (rec.state === 'STARTING' && pidAt !== undefined) {
      rec.state = 'RUNNING';
      rec.startedAt = Math.max(pidAt, rec.createdAt);
    }
    this.#attachLogs(live);
  }

  /**
   * Stops reading container output (flushing the log files) — for agent shutdown and tests. The
   * containers and their shims carry on; a new runtime over the same directories adopts them.
   */
  async close(): Promise<void> {
    await Promise.all(
      [...this.#containers.values()].map(async (live) => {
        for (const p of live.pumps ?? []) p.close();
        await live.writer?.close();
        live.pumps = undefined;
        live.writer = undefined;
        live.shimGone = undefined;
      }),
    );
  }

  // -------------------------------------------------------------------------------------------
  // Version and status

  async version(): Promise<RuntimeVersion> {
    const v = await this.#runc.version();
    if (!v.ok) throw new BerthError(errorCodes.RUNTIME_FAILED, v.message);
    return {
      runtimeName: this.name,
      runtimeVersion: v.version,
      runtimeApiVersion: `${runtimeApiVersion} (berth ${version})`,
    };
  }

  async status(): Promise<readonly RuntimeCondition[]> {
    const v = await this.#runc.version();
    let ready: RuntimeCondition = v.ok
      ? { type: 'RuntimeReady', status: true }
      : { type: 'RuntimeReady', status: false, reason: 'RuncUnavailable', message: v.message };
    if (v.ok) {
      try {
        await this.ready();
      } catch (err) {
        ready = {
          type: 'RuntimeReady',
          status: false,
          reason: 'StateUnreadable',
          message: errorMessage(err),
        };
      }
    }
    const net = this.#opts.networkStatus?.() ?? { ready: true };
    return [
      ready,
      {
        type: 'NetworkReady',
        status: net.ready,
        ...(net.ready
          ? {}
          : { reason: 'NetworkPluginNotReady', message: net.message ?? 'network not ready' }),
      },
    ];
  }

  // -------------------------------------------------------------------------------------------
  // Sandboxes

  async runPodSandbox(config: PodSandboxConfig, opts?: CallOptions): Promise<RunPodSandboxResult> {
    await this.ready();
    opts?.signal?.throwIfAborted();
    const m = config.metadata;
    const key = `sb/${m.namespace}/${m.name}/${m.uid}/${m.attempt}`;
    const taken = [...this.#sandboxes.values()].some(
      (s) =>
        s.config.metadata.namespace === m.namespace &&
        s.config.metadata.name === m.name &&
        s.config.metadata.uid === m.uid &&
        s.config.metadata.attempt === m.attempt,
    );
    if (taken || this.#reserved.has(key)) {
      return fail(
        'NameConflict',
        `sandbox ${m.namespace}/${m.name} (uid ${m.uid}, attempt ${m.attempt}) exists`,
      );
    }
    if (config.linux?.sharePidNamespace === true) {
      return fail(
        'InvalidConfig',
        'shareProcessNamespace is not supported by the runc runtime (it runs no pause process)',
      );
    }
    const cgroupParent = this.#cgroupParentFor(config);
    if (typeof cgroupParent !== 'string') return cgroupParent;
    const netns = config.linux?.networkNamespacePath;
    if (netns !== undefined && config.linux?.hostNetwork !== true) {
      if (!isAbsolute(netns)) return fail('InvalidConfig', `network namespace path ${netns} is not absolute`);
      if ((await mtimeMs(netns)) === undefined)
        return fail('InvalidConfig', `network namespace ${netns} does not exist`);
    }
    this.#reserved.add(key);
    const id = newId();
    const dir = this.#records.sandboxDir(id);
    try {
      await mkdir(dir, { recursive: true, mode: 0o711 });
      const mounts = await writeSandboxFiles(dir, config);
      const rec: SandboxRecord = {
        kind: 'sandbox',
        id,
        seq: this.#seq++,
        config,
        createdAt: this.#clock.now(),
        cgroupParent,
        mounts,
        state: 'READY',
      };
      await this.#records.saveSandbox(rec, false);
      this.#sandboxes.set(id, rec);
      return { ok: true, id };
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw new BerthError(
        errorCodes.RUNTIME_FAILED,
        `run sandbox ${m.namespace}/${m.name}: ${errorMessage(err)}`,
        {
          cause: err,
        },
      );
    } finally {
      this.#reserved.delete(key);
    }
  }

  #cgroupParentFor(config: PodSandboxConfig): string | RuntimeFailure {
    const given = config.linux?.cgroupParent;
    if (given === undefined)
      return `${this.#cgroupRoot}/pod${config.metadata.uid.replace(/[^A-Za-z0-9_.-]/g, '_')}`;
    const p = normalize(given).replace(/\/$/, '');
    if (!p.startsWith(`${this.#cgroupRoot}/`) || given.split('/').includes('..')) {
      return fail(
        'InvalidConfig',
        `cgroup parent ${given} is not under the runtime's cgroup root ${this.#cgroupRoot}`,
      );
    }
    return p;
  }

  async stopPodSandbox(id: string, opts?: CallOptions): Promise<void> {
    await this.ready();
    const sb = this.#sandboxes.get(id);
    if (sb === undefined) return;
    const ids = [...this.#containers.values()].filter((c) => c.rec.sandboxId === id).map((c) => c.rec.id);
    await Promise.all(ids.map((c) => this.stopContainer(c, 0, opts)));
    if (sb.state !== 'NOTREADY') {
      sb.state = 'NOTREADY';
      await this.#records.saveSandbox(sb);
    }
  }

  async removePodSandbox(id: string, opts?: CallOptions): Promise<void> {
    await this.ready();
    const sb = this.#sandboxes.get(id);
    if (sb === undefined) return;
    const ids = [...this.#containers.values()].filter((c) => c.rec.sandboxId === id).map((c) => c.rec.id);
    for (const c of ids) await this.removeContainer(c, opts);
    await this.#withLock(id, async () => {
      if (!this.#sandboxes.has(id)) return;
      const left = await this.#cgroups.remove(sb.cgroupParent);
      if (left.length > 0)
        this.#logger.warn({ sandboxId: id, left }, 'pod cgroups still busy; left in place');
      await this.#records.removeSandbox(id);
      this.#sandboxes.delete(id);
    });
  }

  async podSandboxStatus(id: string): Promise<PodSandboxStatus | undefined> {
    await this.ready();
    const sb = this.#sandboxes.get(id);
    if (sb === undefined) return undefined;
    const netns = sb.config.linux?.hostNetwork === true ? undefined : sb.config.linux?.networkNamespacePath;
    return { ...this.#sandboxView(sb), ...(netns === undefined ? {} : { networkNamespacePath: netns }) };
  }

  async listPodSandboxes(filter?: PodSandboxFilter): Promise<readonly PodSandbox[]> {
    await this.ready();
    return [...this.#sandboxes.values()]
      .filter(
        (s) =>
          (filter?.id === undefined || s.id === filter.id) &&
          (filter?.state === undefined || s.state === filter.state) &&
          matchesLabels(s.config.labels, filter?.labelSelector),
      )
      .sort((a, b) => a.seq - b.seq)
      .map((s) => this.#sandboxView(s));
  }

  #sandboxView(s: SandboxRecord): PodSandbox {
    return {
      id: s.id,
      metadata: s.config.metadata,
      state: s.state,
      createdAt: s.createdAt,
      labels: s.config.labels,
      annotations: s.config.annotations,
    };
  }

  // -------------------------------------------------------------------------------------------
  // Containers

  async createContainer(
    podSandboxId: string,
    config: ContainerConfig,
    sandboxConfig: PodSandboxConfig,
    opts?: CallOptions,
  ): Promise<CreateContainerResult> {
    await this.ready();
    opts?.signal?.throwIfAborted();
    const sb = this.#sandboxes.get(podSandboxId);
    if (sb === undefined) return fail('NotFound', `sandbox ${podSandboxId} not found`);
    if (sb.state !== 'READY') return fail('SandboxNotReady', `sandbox ${podSandboxId} is not ready`);
    const { name, attempt } = config.metadata;
    const key = `c/${podSandboxId}/${name}/${attempt}`;
    const taken = [...this.#containers.values()].some(
      (c) =>
        c.rec.sandboxId === podSandboxId &&
        c.rec.config.metadata.name === name &&
        c.rec.config.metadata.attempt === attempt,
    );
    if (taken || this.#reserved.has(key)) {
      return fail('NameConflict', `container ${name} (attempt ${attempt}) exists in sandbox ${podSandboxId}`);
    }
    const image = config.image.record;
    if (image === undefined) {
      return fail(
        'InvalidConfig',
        `image ${config.image.image} has no image record: the runc runtime needs the pulled image`,
      );
    }
    const logRel = normalize(config.logPath);
    if (config.logPath === '' || isAbsolute(config.logPath) || logRel.startsWith('..')) {
      return fail(
        'InvalidConfig',
        `log path ${JSON.stringify(config.logPath)} must be relative to the sandbox's log directory`,
      );
    }
    this.#reserved.add(key);
    const id = newId();
    const dir = this.#records.containerDir(id);
    const rootfsDir = join(dir, 'bundle', 'rootfs');
    let cleanup = false;
    try {
      await mkdir(rootfsDir, { recursive: true, mode: 0o711 });
      cleanup = true;
      const prepared = await this.#rootfs.prepareRootfs(image.configDigest, id);
      if (!prepared.ok) return fail('InvalidConfig', `image ${config.image.image}: ${prepared.message}`);
      // One program for both (a spawn costs ~10 ms on a busy node): the output FIFOs, then the overlay.
      const mounted = await this.#runner.run('/bin/sh', [
        '-c',
        'mkfifo -m 0600 "$1" "$2" && exec mount -t overlay overlay -o "$3" "$4"',
        'berth-mount',
        join(dir, 'out.fifo'),
        join(dir, 'err.fifo'),
        prepared.rootfs.mount.options.join(','),
        rootfsDir,
      ]);
      if (mounted.code !== 0) {
        throw new BerthError(
          errorCodes.RUNTIME_FAILED,
          `mount the rootfs of ${id}: ${firstLine(mounted.stderr)}`,
        );
      }
      const process = resolveProcessArgs(config);
      const sc = config.linux?.securityContext;
      const user = await resolveImageUser(rootfsDir, {
        ...(process.user === undefined ? {} : { imageUser: process.user }),
        ...(sc?.runAsUser === undefined ? {} : { runAsUser: sc.runAsUser }),
        ...(sc?.runAsGroup === undefined ? {} : { runAsGroup: sc.runAsGroup }),
        ...(sc?.runAsUsername === undefined ? {} : { runAsUsername: sc.runAsUsername }),
        ...(sc?.supplementalGroups === undefined ? {} : { supplementalGroups: sc.supplementalGroups }),
      });
      if (!user.ok) return fail('InvalidConfig', user.message);
      const seccomp = await loadSeccompProfile(
        sc,
        this.#opts.seccompRoot === undefined ? {} : { seccompRoot: this.#opts.seccompRoot },
      );
      if (!seccomp.ok) return fail('InvalidConfig', seccomp.message);
      const hostNetwork = sb.config.linux?.hostNetwork === true;
      const netns = hostNetwork ? undefined : sb.config.linux?.networkNamespacePath;
      const overridden = new Set(config.mounts.map((mt) => normalize(mt.containerPath)));
      const mounts: Mount[] = [
        ...sb.mounts.filter((mt) => !overridden.has(mt.containerPath)),
        ...config.mounts,
      ];
      const cgroupsPath = `${sb.cgroupParent}/${id}`;
      const input: OciSpecInput = {
        containerId: id,
        sandbox: sb.config,
        config,
        process,
        user: user.user,
        rootfsPath: rootfsDir,
        cgroupsPath,
        namespaces: netns === undefined ? {} : { network: netns },
        hostNetwork,
        mounts,
        ...(seccomp.seccomp === undefined ? {} : { seccomp: seccomp.seccomp }),
      };
      const valid = validateOciSpecInput(input);
      if (!valid.ok) return fail('InvalidConfig', valid.message);
      await writeFile(join(dir, 'bundle', 'config.json'), JSON.stringify(buildOciSpec(input)), {
        mode: 0o600,
      });
      const rec: ContainerRecord = {
        kind: 'container',
        id,
        sandboxId: podSandboxId,
        seq: this.#seq++,
        config,
        imageRef: imageRefOf(config.image.image, image),
        logPath: join(sb.config.logDirectory, logRel),
        cgroupsPath,
        createdAt: this.#clock.now(),
        state: 'CREATED',
      };
      await this.#records.saveContainer(rec, false);
      this.#containers.set(id, { rec });
      cleanup = false;
      return { ok: true, id };
    } catch (err) {
      throw err instanceof BerthError
        ? err
        : new BerthError(errorCodes.RUNTIME_FAILED, `create container ${name}: ${errorMessage(err)}`, {
            cause: err,
          });
    } finally {
      this.#reserved.delete(key);
      if (cleanup) await this.#removeContainerFiles(id);
    }
  }

  async startContainer(id: string, opts?: CallOptions): Promise<StartContainerResult> {
    await this.ready();
    const live = this.#containers.get(id);
    if (live === undefined) return fail('NotFound', `container ${id} not found`);
    return this.#withLock(id, async () => {
      await this.#refresh(live);
      if (live.rec.state !== 'CREATED')
        return fail('InvalidState', `container ${id} is ${live.rec.state}, not CREATED`);
      const started = this.#start(live, opts?.signal);
      live.starting = started;
      try {
        return await started;
      } finally {
        live.starting = undefined;
      }
    });
  }

  async #start(live: LiveContainer, signal: AbortSignal | undefined): Promise<StartContainerResult> {
    const { rec } = live;
    const dir = this.#records.containerDir(rec.id);
    signal?.throwIfAborted();
    // On disk before the shim exists: after an agent crash from here on, it is never started again
    // (not fsynced: see RecordStore.saveContainer).
    rec.state = 'STARTING';
    await this.#records.saveContainer(rec, false);
    this.#attachLogs(live);
    this.#launcher.launchShim({
      runcPath: this.#runc.path,
      runcRoot: this.#runc.root,
      bundle: join(dir, 'bundle'),
      containerId: rec.id,
      containerDir: dir,
    });
    const deadline = this.#clock.now() + (this.#opts.startTimeoutMs ?? 60_000);
    for (let i = 0; ; i++) {
      const [pidAt, exitAt] = await Promise.all([mtimeMs(join(dir, 'pid')), mtimeMs(join(dir, 'exit'))]);
      if (pidAt !== undefined) {
        // Not written to disk: the shim's pid file is the durable proof of the start (see #adopt),
        // and an fsync here would sit on every pod's start latency.
        rec.state = 'RUNNING';
        rec.startedAt = Math.max(pidAt, rec.createdAt);
        return { ok: true };
      }
      if (exitAt !== undefined) {
        await this.#finalize(live);
        return fail('Failed', rec.message ?? 'start failed');
      }
      if (this.#clock.now() > deadline) {
        await this.#runc.delete(rec.id, true);
        await this.#finalize(live, {
          exitCode: 128,
          reason: 'StartError',
          message: 'runc did not start the container in time',
        });
        return fail('Failed', rec.message ?? 'start timed out');
      }
      // Poll fast while runc usually finishes (~50 ms), then back off.
      await this.#clock.sleep(i < 40 ? 5 : 50, signal);
    }
  }

  /** Opens the FIFO readers into the log file (start and adoption). */
  #attachLogs(live: LiveContainer): void {
    if (live.pumps !== undefined) return;
    const dir = this.#records.containerDir(live.rec.id);
    const writer = new CriLogWriter({
      path: live.rec.logPath,
      clock: this.#clock,
      logger: this.#logger,
      ...(this.#opts.logMaxBytes === undefined ? {} : { maxBytes: this.#opts.logMaxBytes }),
      ...(this.#opts.logMaxFiles === undefined ? {} : { maxFiles: this.#opts.logMaxFiles }),
    });
    try {
      const pumps = [
        pumpFifo(join(dir, 'out.fifo'), 'stdout', writer),
        pumpFifo(join(dir, 'err.fifo'), 'stderr', writer),
      ];
      live.writer = writer;
      live.pumps = pumps;
      live.shimGone = Promise.all(pumps.map((p) => p.done)).then(() => undefined);
      // The shim has exited: record the exit now rather than at the next read.
      void live.shimGone.then(async () => {
        if (live.rec.state === 'RUNNING' && (await mtimeMs(join(dir, 'exit'))) !== undefined) {
          await this.#finalize(live).catch((err: unknown) => {
            this.#logger.warn({ err, containerId: live.rec.id }, 'recording container exit failed');
          });
        }
      });
    } catch (err) {
      this.#logger.warn(
        { err, containerId: live.rec.id },
        'cannot open container output FIFOs; its logs are lost',
      );
    }
  }

  /**
   * Records an exit: exit code and times from the shim's files, OOM from the cgroup, then deletes the
   * runc container and its cgroup. Shared by concurrent callers; a no-op once EXITED.
   */
  #finalize(
    live: LiveContainer,
    forced?: { exitCode: number; reason: string; message: string },
  ): Promise<void> {
    if (live.rec.state === 'EXITED') return Promise.resolve();
    live.finalizing ??= (async () => {
      const { rec } = live;
      const dir = this.#records.containerDir(rec.id);
      const [pidAt, exitAt] = await Promise.all([mtimeMs(join(dir, 'pid')), mtimeMs(join(dir, 'exit'))]);
      let outcome = forced;
      if (outcome === undefined && pidAt === undefined) {
        const log = await readFile(join(dir, 'runc.log'), 'utf8').catch(() => '');
        outcome = {
          exitCode: 128,
          reason: 'StartError',
          message: lastRuncLogMessage(log) ?? 'runc could not start the container',
        };
      }
      if (outcome === undefined) {
        const text = await readFile(join(dir, 'exit'), 'utf8').catch(() => '');
        const code = Number.parseInt(text.trim(), 10);
        const exitCode = Number.isInteger(code) ? code : 255;
        const oom = await this.#cgroups.oomKills(rec.cgroupsPath);
        outcome = {
          exitCode,
          reason: oom > 0 ? 'OOMKilled' : exitCode === 0 ? 'Completed' : 'Error',
          message: oom > 0 ? `the container's memory cgroup OOM-killed ${oom} process(es)` : '',
        };
      }
      const complaint = await this.#runc.delete(rec.id, true);
      if (complaint !== undefined)
        this.#logger.warn({ containerId: rec.id, complaint }, 'runc delete failed');
      // With the exit file written, `runc run` has returned: nothing can bring the container back.
      else if (exitAt !== undefined) live.runcDeleted = true;
      await this.#cgroups.remove(rec.cgroupsPath);
      if (pidAt !== undefined) rec.startedAt ??= Math.max(pidAt, rec.createdAt);
      const finished = exitAt ?? this.#clock.now();
      Object.assign(rec, {
        state: 'EXITED',
        exitCode: outcome.exitCode,
        reason: outcome.reason,
        finishedAt: Math.max(finished, rec.startedAt ?? rec.createdAt),
      });
      if (outcome.message !== '') rec.message = outcome.message;
      await this.#records.saveContainer(rec);
      await this.#detachLogs(live);
    })().catch((err: unknown) => {
      // Let a later call try again.
      live.finalizing = undefined;
      throw err;
    });
    return live.finalizing;
  }

  /** Lets the readers drain what the container wrote last, then closes them and the log file. */
  async #detachLogs(live: LiveContainer): Promise<void> {
    const pumps = live.pumps;
    if (pumps === undefined) return;
    const gone = live.shimGone ?? Promise.resolve();
    const drained = await Promise.race([gone.then(() => true), this.#clock.sleep(200).then(() => false)]);
    if (!drained) for (const p of pumps) p.close();
    await live.writer?.close();
    live.pumps = undefined;
    live.writer = undefined;
    live.shimGone = undefined;
  }

  /** Brings a record up to date with the shim's files (a start confirmed, an exit recorded). */
  async #refresh(live: LiveContainer): Promise<void> {
    const { rec } = live;
    if (rec.state !== 'RUNNING' && rec.state !== 'STARTING') return;
    const dir = this.#records.containerDir(rec.id);
    if ((await mtimeMs(join(dir, 'exit'))) !== undefined) {
      await this.#finalize(live);
      return;
    }
    if (rec.state === 'STARTING' && live.starting === undefined) {
      const pidAt = await mtimeMs(join(dir, 'pid'));
      if (pidAt !== undefined) {
        rec.state = 'RUNNING';
        rec.startedAt = Math.max(pidAt, rec.createdAt);
      }
    }
  }

  /** Waits up to `ms` for the shim's exit file; true when it is there. */
  async #waitExit(live: LiveContainer, ms: number, signal: AbortSignal | undefined): Promise<boolean> {
    const exitFile = join(this.#records.containerDir(live.rec.id), 'exit');
    const deadline = this.#clock.now() + ms;
    for (;;) {
      if ((await mtimeMs(exitFile)) !== undefined) return true;
      const left = deadline - this.#clock.now();
      if (left <= 0) return false;
      const nap = this.#clock.sleep(Math.min(left, 100), signal);
      await (live.shimGone === undefined ? nap : Promise.race([nap, live.shimGone]));
    }
  }

  async stopContainer(id: string, timeoutSeconds: number, opts?: CallOptions): Promise<void> {
    await this.ready();
    const live = this.#containers.get(id);
    if (live === undefined) return;
    const signal = opts?.signal;
    if (live.starting !== undefined) await live.starting.catch(() => undefined);
    await this.#refresh(live);
    if (live.rec.state !== 'RUNNING' && live.rec.state !== 'STARTING') return;
    signal?.throwIfAborted();
    if (timeoutSeconds > 0) {
      await this.#runc.kill(id, live.rec.config.stopSignal ?? 'SIGTERM');
      if (await this.#waitExit(live, timeoutSeconds * 1000, signal)) {
        await this.#finalize(live);
        return;
      }
    }
    await this.#runc.kill(id, 'KILL');
    if (!(await this.#waitExit(live, 10_000, signal))) {
      // The shim is gone without a word (killed by hand?): force-delete so the container cannot linger.
      await this.#runc.delete(id, true);
      if (!(await this.#waitExit(live, 1000, signal))) {
        await this.#finalize(live, {
          exitCode: 137,
          reason: 'Error',
          message: 'killed; the shim recorded no exit status',
        });
        return;
      }
    }
    await this.#finalize(live);
  }

  async removeContainer(id: string, opts?: CallOptions): Promise<void> {
    await this.ready();
    const live = this.#containers.get(id);
    if (live === undefined) return;
    await this.stopContainer(id, 0, opts);
    await this.#withLock(id, async () => {
      if (!this.#containers.has(id)) return;
      // The delete at the recorded exit is final (see runcDeleted): one process fewer per container.
      if (live.runcDeleted !== true || live.rec.state !== 'EXITED') await this.#runc.delete(id, true);
      await this.#detachLogs(live);
      await this.#cgroups.remove(live.rec.cgroupsPath);
      await this.#removeContainerFiles(id);
      this.#containers.delete(id);
    });
  }

  /** Unmounts the rootfs, releases it, removes the directory. Never deletes through a live mount. */
  async #removeContainerFiles(id: string): Promise<void> {
    const dir = this.#records.containerDir(id);
    const rootfsDir = join(dir, 'bundle', 'rootfs');
    if (await isMountPoint(rootfsDir)) {
      let r = await this.#runner.run('umount', [rootfsDir]);
      if (r.code !== 0) r = await this.#runner.run('umount', ['-l', rootfsDir]);
      if (await isMountPoint(rootfsDir)) {
        throw new BerthError(
          errorCodes.RUNTIME_FAILED,
          `cannot unmount ${rootfsDir}: ${firstLine(r.stderr)}`,
        );
      }
    }
    await this.#rootfs.releaseRootfs(id);
    await this.#records.removeContainer(id);
  }

  async containerStatus(id: string): Promise<ContainerStatus | undefined> {
    await this.ready();
    const live = this.#containers.get(id);
    if (live === undefined) return undefined;
    await this.#refresh(live);
    return this.#statusView(live.rec);
  }

  async listContainers(filter?: ContainerFilter): Promise<readonly Container[]> {
    await this.ready();
    const out: Container[] = [];
    const candidates = [...this.#containers.values()]
      .filter(
        (c) =>
          (filter?.id === undefined || c.rec.id === filter.id) &&
          (filter?.podSandboxId === undefined || c.rec.sandboxId === filter.podSandboxId) &&
          matchesLabels(c.rec.config.labels, filter?.labelSelector),
      )
      .sort((a, b) => a.rec.seq - b.rec.seq);
    await Promise.all(candidates.map((c) => this.#refresh(c)));
    for (const c of candidates) {
      const view = this.#containerView(c.rec);
      if (filter?.state === undefined || view.state === filter.state) out.push(view);
    }
    return out;
  }

  #containerView(rec: ContainerRecord): Container {
    return {
      id: rec.id,
      podSandboxId: rec.sandboxId,
      metadata: rec.config.metadata,
      image: rec.config.image.image,
      imageRef: rec.imageRef,
      // STARTING is a start in flight: CREATED until runc confirms.
      state: rec.state === 'STARTING' ? 'CREATED' : rec.state,
      createdAt: rec.createdAt,
      labels: rec.config.labels,
      annotations: rec.config.annotations,
    };
  }

  #statusView(rec: ContainerRecord): ContainerStatus {
    const resources = rec.config.linux?.resources;
    return {
      ...this.#containerView(rec),
      ...(rec.startedAt === undefined ? {} : { startedAt: rec.startedAt }),
      ...(rec.finishedAt === undefined ? {} : { finishedAt: rec.finishedAt }),
      ...(rec.exitCode === undefined ? {} : { exitCode: rec.exitCode }),
      ...(rec.reason === undefined ? {} : { reason: rec.reason }),
      ...(rec.message === undefined ? {} : { message: rec.message }),
      mounts: rec.config.mounts,
      logPath: rec.logPath,
      ...(resources === undefined ? {} : { resources }),
    };
  }

  // -------------------------------------------------------------------------------------------
  // Exec

  async execSync(id: string, request: ExecSyncRequest, opts?: CallOptions): Promise<ExecSyncResult> {
    await this.ready();
    const live = this.#containers.get(id);
    if (live === undefined) return fail('NotFound', `container ${id} not found`);
    await this.#refresh(live);
    if (live.rec.state !== 'RUNNING') return fail('InvalidState', `container ${id} is not running`);
    if (request.cmd.length === 0) return fail('InvalidConfig', 'exec: no command');
    const pidFile = join(this.#records.containerDir(id), `exec-${randomBytes(6).toString('hex')}.pid`);
    const outcome = { timedOut: false };
    const killExec = async (): Promise<void> => {
      const pid = Number.parseInt(await readFile(pidFile, 'utf8').catch(() => ''), 10);
      if (Number.isInteger(pid) && pid > 1) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    };
    const timeoutMs = (request.timeoutSeconds ?? 0) * 1000;
    const timer =
      timeoutMs > 0
        ? this.#clock.setTimer(timeoutMs, () => {
            outcome.timedOut = true;
            void killExec();
          })
        : undefined;
    const onAbort = (): void => {
      void killExec();
    };
    opts?.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const r = await this.#runc.run(['exec', '--pid-file', pidFile, id, ...request.cmd]);
      opts?.signal?.throwIfAborted();
      const enc = new TextEncoder();
      if (outcome.timedOut)
        return {
          ok: true,
          exitCode: 137,
          stdout: enc.encode(r.stdout),
          stderr: enc.encode(r.stderr),
          timedOut: true,
        };
      if (r.code === null) return fail('Failed', `exec in ${id}: ${firstLine(r.stderr)}`);
      return { ok: true, exitCode: r.code, stdout: enc.encode(r.stdout), stderr: enc.encode(r.stderr) };
    } finally {
      timer?.cancel();
      opts?.signal?.removeEventListener('abort', onAbort);
      await rm(pidFile, { force: true });
    }
  }

  async execStream(
    id: string,
    request: ExecStreamRequest,
    opts?: CallOptions,
  ): Promise<ExecStreamSession | RuntimeFailure> {
    await this.ready();
    const live = this.#containers.get(id);
    if (live === undefined) return fail('NotFound', `container ${id} not found`);
    await this.#refresh(live);
    if (live.rec.state !== 'RUNNING') return fail('InvalidState', `container ${id} is not running`);
    if (request.cmd.length === 0) return fail('InvalidConfig', 'exec: no command');
    opts?.signal?.throwIfAborted();
    let child;
    if (request.tty) {
      if (!['/usr/bin/script', '/bin/script'].some(isExecutable)) {
        return fail(
          'Failed',
          'exec with a tty needs util-linux `script` on the node, which is not installed',
        );
      }
      const argv = [
        this.#runc.path,
        '--root',
        this.#runc.root,
        'exec',
        '-t',
        '--env',
        'TERM=xterm',
        id,
        ...request.cmd,
      ];
      const env: Record<string, string> = { SHELL: '/bin/sh', BERTH_ARGC: String(argv.length) };
      argv.forEach((a, i) => {
        env[`BERTH_ARG_${i}`] = a;
      });
      child = this.#launcher.launchPiped({
        file: 'script',
        args: ['-qfec', argvFromEnvScript, '/dev/null'],
        env,
        stdin: request.stdin,
      });
    } else {
      child = this.#launcher.launchPiped({
        file: this.#runc.path,
        args: ['--root', this.#runc.root, 'exec', id, ...request.cmd],
        stdin: request.stdin,
      });
    }
    const exit = new Promise<number>((resolve) => {
      child.once('error', () => {
        resolve(127);
      });
      child.once('close', (code, sig) => {
        resolve(code ?? (sig === null ? 255 : 128 + (signalNumbers[sig] ?? 9)));
      });
    });
    const onAbort = (): void => {
      child.kill('SIGKILL');
    };
    opts?.signal?.addEventListener('abort', onAbort, { once: true });
    void exit.then(() => opts?.signal?.removeEventListener('abort', onAbort));
    const stdout = child.stdout;
    if (stdout === null) throw new BerthError(errorCodes.RUNTIME_FAILED, 'exec: no stdout pipe');
    const session: ExecStreamSession = {
      stdout,
      exit,
      ...(child.stdin === null ? {} : { stdin: child.stdin }),
      ...(request.tty || child.stderr === null ? {} : { stderr: child.stderr }),
    };
    if (request.tty && child.stderr !== null) child.stderr.resume();
    return session;
  }

  // -------------------------------------------------------------------------------------------
  // Stats

  async containerStats(id: string): Promise<ContainerStats | undefined> {
    await this.ready();
    const live = this.#containers.get(id);
    if (live === undefined || live.rec.state !== 'RUNNING') return undefined;
    const f = await this.#cgroups.figures(live.rec.cgroupsPath);
    if (f === undefined) return undefined;
    return { id, timestamp: this.#clock.now(), ...f };
  }

  async listContainerStats(filter?: ContainerFilter): Promise<readonly ContainerStats[]> {
    const list = await this.listContainers({ ...filter, state: 'RUNNING' });
    const stats = await Promise.all(list.map((c) => this.containerStats(c.id)));
    return stats.filter((s): s is ContainerStats => s !== undefined);
  }

  // -------------------------------------------------------------------------------------------

  /** Serialises mutations of one object; other objects are not held up. */
  async #withLock<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#locks.get(id) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.#locks.set(id, tail);
    try {
      return await run;
    } finally {
      if (this.#locks.get(id) === tail) this.#locks.delete(id);
    }
  }
}

const signalNumbers: Readonly<Record<string, number>> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGKILL: 9,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
};

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** True when `dir` is a mount point (listed in /proc/self/mountinfo). */
async function isMountPoint(dir: string): Promise<boolean> {
  const info = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  const escaped = dir.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
  return info.split('\n').some((line) => line.split(' ')[4] === escaped);
}
