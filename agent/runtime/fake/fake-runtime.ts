/**
 * FAKE runtime: an in-memory simulator of a CRI runtime for unit tests and hollow agents (kubemark's
 * fake runtime service, Nomad's mock driver). It never runs a process. It implements the `Runtime`
 * contract (the same suite as runc and containerd pass) and reads each container's behaviour from
 * annotations (`fake-script.ts` documents them).
 *
 * Time comes only from the injected Clock, and exits are computed lazily: a container scripted to
 * exit after N ms is seen EXITED (with `finishedAt` = start + N) by the first read at or after that
 * time. So thousands of fake containers cost no timers; only calls that must wait (a start delay, a
 * graceful stop, an exec `sleep`) sleep on the clock while they wait.
 *
 * Log files are written only when a container is scripted to log (`berth.dev/fake-log`,
 * `berth.dev/fake-log-every-ms`): then its output goes to its `logPath` in the CRI format, so `kubectl
 * logs` works against fake nodes; unscripted containers (hollow nodes by the thousand) touch no disk.
 */
import { randomBytes } from 'node:crypto';
import { appendFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Clock, Timer } from '../../../lib/clock.js';
import type {
  CallOptions,
  Container,
  ContainerConfig,
  ContainerFilter,
  ContainerState,
  ContainerStats,
  ContainerStatus,
  CreateContainerResult,
  ExecStreamRequest,
  ExecStreamSession,
  ExecSyncRequest,
  ExecSyncResult,
  PodSandbox,
  PodSandboxConfig,
  PodSandboxFilter,
  PodSandboxStatus,
  RunPodSandboxResult,
  Runtime,
  RuntimeCondition,
  RuntimeFailure,
  RuntimeVersion,
  SandboxState,
  StartContainerResult,
} from '../runtime.js';
import { matchesLabels } from '../runtime.js';
import { imageRefOf } from '../image-ref.js';
import { startFakeExec } from './fake-exec-stream.js';
import { formatCriEntries } from '../../streams/cri-log.js';
import { resolveFakeScript, type FakeScript } from './fake-script.js';
import { runFakeShell } from './fake-shell.js';

interface FakeSandbox {
  readonly id: string;
  readonly config: PodSandboxConfig;
  readonly createdAt: number;
  state: SandboxState;
}

interface FakeContainer {
  readonly id: string;
  readonly sandboxId: string;
  readonly config: ContainerConfig;
  readonly logPath: string;
  readonly imageRef: string;
  readonly createdAt: number;
  readonly script: FakeScript;
  readonly files: Map<string, string>;
  state: ContainerState;
  /** A start call is waiting out its scripted delay. */
  starting: boolean;
  startedAt?: number;
  finishedAt?: number;
  exitCode?: number;
  reason?: string;
  message?: string;
  /** When a RUNNING container exits by itself (lazy). */
  exitAt?: number;
  stopping?: Promise<void>;
  removed: boolean;
  /** The periodic log writer (`fake-log-every-ms`), while running. */
  logTimer?: Timer;
  /** Serialises appends to the log file. */
  logWrites?: Promise<void>;
  logTicks: number;
}

export interface FakeRuntimeOptions {
  readonly clock: Clock;
  /** Runtime name (scheme of container ids); default `fake`. */
  readonly name?: string;
}

/** Counters for tests and benchmarks: how often each mutating call did something. */
export interface FakeRuntimeCounters {
  sandboxesRun: number;
  containersCreated: number;
  containersStarted: number;
  containersStopped: number;
  containersRemoved: number;
}

/** The in-memory runtime. Safe for many instances in one process (hollow agents). */
export class FakeRuntime implements Runtime {
  readonly name: string;
  readonly counters: FakeRuntimeCounters = {
    sandboxesRun: 0,
    containersCreated: 0,
    containersStarted: 0,
    containersStopped: 0,
    containersRemoved: 0,
  };
  readonly #clock: Clock;
  readonly #sandboxes = new Map<string, FakeSandbox>();
  readonly #containers = new Map<string, FakeContainer>();

  constructor(opts: FakeRuntimeOptions) {
    this.#clock = opts.clock;
    this.name = opts.name ?? 'fake';
  }

  version(): Promise<RuntimeVersion> {
    return Promise.resolve({ runtimeName: this.name, runtimeVersion: '0.1.0', runtimeApiVersion: 'v1' });
  }

  status(): Promise<readonly RuntimeCondition[]> {
    return Promise.resolve([
      { type: 'RuntimeReady', status: true },
      { type: 'NetworkReady', status: true },
    ]);
  }

  // ---- sandboxes ----------------------------------------------------------------------------

  runPodSandbox(config: PodSandboxConfig, opts?: CallOptions): Promise<RunPodSandboxResult> {
    opts?.signal?.throwIfAborted();
    const m = config.metadata;
    for (const sb of this.#sandboxes.values()) {
      const o = sb.config.metadata;
      if (o.name === m.name && o.namespace === m.namespace && o.uid === m.uid && o.attempt === m.attempt) {
        return Promise.resolve(
          failure(
            'NameConflict',
            `sandbox name ${m.name}_${m.namespace}_${m.uid}_${m.attempt} is reserved for ${sb.id}`,
          ),
        );
      }
    }
    const sb: FakeSandbox = { id: newId(), config, createdAt: this.#clock.now(), state: 'READY' };
    this.#sandboxes.set(sb.id, sb);
    this.counters.sandboxesRun++;
    return Promise.resolve({ ok: true, id: sb.id });
  }

  stopPodSandbox(id: string): Promise<void> {
    const sb = this.#sandboxes.get(id);
    if (sb === undefined) return Promise.resolve();
    for (const c of this.#containers.values()) {
      if (c.sandboxId === id) this.#kill(c);
    }
    sb.state = 'NOTREADY';
    return Promise.resolve();
  }

  removePodSandbox(id: string): Promise<void> {
    if (!this.#sandboxes.has(id)) return Promise.resolve();
    for (const c of [...this.#containers.values()]) {
      if (c.sandboxId === id) this.#remove(c);
    }
    this.#sandboxes.delete(id);
    return Promise.resolve();
  }

  podSandboxStatus(id: string): Promise<PodSandboxStatus | undefined> {
    const sb = this.#sandboxes.get(id);
    if (sb === undefined) return Promise.resolve(undefined);
    const netns = sb.config.linux?.networkNamespacePath;
    return Promise.resolve({
      ...sandboxView(sb),
      ...(netns !== undefined ? { networkNamespacePath: netns } : {}),
    });
  }

  listPodSandboxes(filter?: PodSandboxFilter): Promise<readonly PodSandbox[]> {
    const out: PodSandbox[] = [];
    // Map iteration is insertion order, which is creation order: already sorted.
    for (const sb of this.#sandboxes.values()) {
      if (filter?.id !== undefined && sb.id !== filter.id) continue;
      if (filter?.state !== undefined && sb.state !== filter.state) continue;
      if (!matchesLabels(sb.config.labels, filter?.labelSelector)) continue;
      out.push(sandboxView(sb));
    }
    return Promise.resolve(out);
  }

  // ---- containers ---------------------------------------------------------------------------

  createContainer(
    podSandboxId: string,
    config: ContainerConfig,
    sandboxConfig: PodSandboxConfig,
    opts?: CallOptions,
  ): Promise<CreateContainerResult> {
    opts?.signal?.throwIfAborted();
    const sb = this.#sandboxes.get(podSandboxId);
    if (sb === undefined) return Promise.resolve(failure('NotFound', `sandbox ${podSandboxId} not found`));
    if (sb.state !== 'READY')
      return Promise.resolve(failure('SandboxNotReady', `sandbox ${podSandboxId} is not ready`));
    for (const c of this.#containers.values()) {
      if (
        c.sandboxId === podSandboxId &&
        c.config.metadata.name === config.metadata.name &&
        c.config.metadata.attempt === config.metadata.attempt
      ) {
        return Promise.resolve(
          failure(
            'NameConflict',
            `container name ${config.metadata.name}_${config.metadata.attempt} is reserved for ${c.id}`,
          ),
        );
      }
    }
    // Scripting reads the pod's annotations as the runtime holds them (sandbox), not as passed again.
    const script = resolveFakeScript(config.metadata.name, config.labels, config.annotations, {
      ...sandboxConfig.annotations,
      ...sb.config.annotations,
    });
    if (script.createError !== undefined) return Promise.resolve(failure('Failed', script.createError));
    if (config.image.image === '') return Promise.resolve(failure('InvalidConfig', 'container has no image'));
    const c: FakeContainer = {
      id: newId(),
      sandboxId: podSandboxId,
      config,
      logPath: `${sb.config.logDirectory}/${config.logPath}`,
      imageRef: imageRefOf(config.image.image, config.image.record),
      createdAt: this.#clock.now(),
      script,
      files: new Map(),
      state: 'CREATED',
      starting: false,
      removed: false,
      logTicks: 0,
    };
    this.#containers.set(c.id, c);
    this.counters.containersCreated++;
    return Promise.resolve({ ok: true, id: c.id });
  }

  async startContainer(id: string, opts?: CallOptions): Promise<StartContainerResult> {
    opts?.signal?.throwIfAborted();
    const c = this.#containers.get(id);
    if (c === undefined) return failure('NotFound', `container ${id} not found`);
    if (c.state !== 'CREATED' || c.starting) {
      return failure('InvalidState', `container ${id} is ${c.state.toLowerCase()}, not created`);
    }
    c.starting = true;
    try {
      if (c.script.startDelayMs > 0) await this.#clock.sleep(c.script.startDelayMs, opts?.signal);
    } finally {
      c.starting = false;
    }
    if (c.removed) return failure('NotFound', `container ${id} was removed while starting`);
    if (stateOf(c) !== 'CREATED')
      return failure('InvalidState', `container ${id} was stopped while starting`);
    const now = this.#clock.now();
    if (c.script.startError !== undefined) {
      Object.assign(c, {
        state: 'EXITED',
        finishedAt: now,
        exitCode: 128,
        reason: 'StartError',
        message: c.script.startError,
      });
      return failure('Failed', c.script.startError);
    }
    c.state = 'RUNNING';
    c.startedAt = now;
    if (c.script.exitAfterMs !== undefined) c.exitAt = now + c.script.exitAfterMs;
    this.counters.containersStarted++;
    this.#startLogging(c);
    return { ok: true };
  }

  async stopContainer(id: string, timeoutSeconds: number, opts?: CallOptions): Promise<void> {
    const c = this.#containers.get(id);
    if (c === undefined) return;
    this.#observe(c);
    if (c.state === 'CREATED') {
      this.#finish(c, this.#clock.now(), 137, 'Error');
      return;
    }
    if (c.state !== 'RUNNING') return;
    if (c.stopping === undefined) {
      const stopping = this.#stop(c, Math.max(0, timeoutSeconds) * 1000, opts?.signal);
      c.stopping = stopping;
      try {
        await stopping;
      } finally {
        if (c.stopping === stopping) delete c.stopping;
      }
      return;
    }
    // Another stop is in flight: wait for it, but give up when this caller is aborted; if that
    // other caller gave up, carry on with this caller's own stop.
    try {
      await raceAbort(c.stopping, opts?.signal);
    } catch (err) {
      if (opts?.signal?.aborted === true) throw err;
      await this.stopContainer(id, timeoutSeconds, opts);
    }
  }

  async #stop(c: FakeContainer, timeoutMs: number, signal: AbortSignal | undefined): Promise<void> {
    const start = this.#clock.now();
    const selfExit = c.exitAt !== undefined ? c.exitAt - start : Infinity;
    const wait = Math.min(timeoutMs, c.script.stopDelayMs, selfExit);
    if (wait > 0) await this.#clock.sleep(wait, signal);
    if (c.removed) return;
    this.#observe(c);
    if (c.state !== 'RUNNING') return;
    const now = this.#clock.now();
    if (c.script.stopDelayMs <= timeoutMs && now - start >= c.script.stopDelayMs) {
      this.#finish(c, now, c.script.sigtermExitCode, c.script.sigtermExitCode === 0 ? 'Completed' : 'Error');
    } else {
      this.#finish(c, now, 137, 'Error');
    }
    this.counters.containersStopped++;
  }

  removeContainer(id: string): Promise<void> {
    const c = this.#containers.get(id);
    if (c !== undefined) this.#remove(c);
    return Promise.resolve();
  }

  containerStatus(id: string): Promise<ContainerStatus | undefined> {
    const c = this.#containers.get(id);
    if (c === undefined) return Promise.resolve(undefined);
    this.#observe(c);
    return Promise.resolve(this.#statusView(c));
  }

  listContainers(filter?: ContainerFilter): Promise<readonly Container[]> {
    const out: Container[] = [];
    // Map iteration is insertion order, which is creation order: already sorted.
    for (const c of this.#containers.values()) {
      if (!this.#matches(c, filter)) continue;
      out.push(this.#containerView(c));
    }
    return Promise.resolve(out);
  }

  async execSync(id: string, request: ExecSyncRequest, opts?: CallOptions): Promise<ExecSyncResult> {
    opts?.signal?.throwIfAborted();
    const c = this.#containers.get(id);
    if (c === undefined) return failure('NotFound', `container ${id} not found`);
    this.#observe(c);
    if (c.state !== 'RUNNING') return failure('InvalidState', `container ${id} is not running`);
    const result = runFakeShell(request.cmd, c.files, c.script.execExitCode);
    const timeoutMs = (request.timeoutSeconds ?? 0) * 1000;
    const sleepMs = result.sleepSeconds * 1000;
    const enc = new TextEncoder();
    if (sleepMs > 0) {
      const wait = timeoutMs > 0 ? Math.min(timeoutMs, sleepMs) : sleepMs;
      await this.#clock.sleep(wait, opts?.signal);
      if (timeoutMs > 0 && sleepMs > timeoutMs) {
        return {
          ok: true,
          exitCode: 137,
          stdout: new Uint8Array(),
          stderr: new Uint8Array(),
          timedOut: true,
        };
      }
    }
    return {
      ok: true,
      exitCode: result.exitCode,
      stdout: enc.encode(result.stdout),
      stderr: enc.encode(result.stderr),
    };
  }

  /** Interactive exec on the fake shell (fake-exec-stream.ts). */
  execStream(
    id: string,
    request: ExecStreamRequest,
    opts?: CallOptions,
  ): Promise<ExecStreamSession | RuntimeFailure> {
    opts?.signal?.throwIfAborted();
    const c = this.#containers.get(id);
    if (c === undefined) return Promise.resolve(failure('NotFound', `container ${id} not found`));
    this.#observe(c);
    if (c.state !== 'RUNNING')
      return Promise.resolve(failure('InvalidState', `container ${id} is not running`));
    return Promise.resolve(
      startFakeExec(request, {
        files: c.files,
        unknownExitCode: c.script.execExitCode,
        clock: this.#clock,
        ...(opts?.signal === undefined ? {} : { signal: opts.signal }),
      }),
    );
  }

  /** Resolves when every log line written so far is on disk (tests). */
  async flushLogs(): Promise<void> {
    await Promise.all([...this.#containers.values()].map((c) => c.logWrites ?? Promise.resolve()));
  }

  containerStats(id: string): Promise<ContainerStats | undefined> {
    const c = this.#containers.get(id);
    if (c === undefined) return Promise.resolve(undefined);
    this.#observe(c);
    return Promise.resolve(this.#stats(c));
  }

  listContainerStats(filter?: ContainerFilter): Promise<readonly ContainerStats[]> {
    const out: ContainerStats[] = [];
    for (const c of this.#containers.values()) {
      if (!this.#matches(c, filter)) continue;
      const s = this.#stats(c);
      if (s !== undefined) out.push(s);
    }
    return Promise.resolve(out);
  }

  // ---- test and simulation hooks (not part of Runtime) ---------------------------------------

  /**
   * Makes a RUNNING container exit now, as if its process died (`reason` e.g. `OOMKilled`).
   * Returns false when it is not running.
   */
  crash(id: string, exitCode: number, reason?: string): boolean {
    const c = this.#containers.get(id);
    if (c === undefined) return false;
    this.#observe(c);
    if (c.state !== 'RUNNING') return false;
    this.#finish(c, this.#clock.now(), exitCode, reason ?? (exitCode === 0 ? 'Completed' : 'Error'));
    return true;
  }

  /** Puts a file into a container's fake filesystem (seen by exec `cat`/`test -f`); undefined deletes it. */
  writeFile(id: string, path: string, content: string | undefined): void {
    const c = this.#containers.get(id);
    if (c === undefined) return;
    if (content === undefined) c.files.delete(path);
    else c.files.set(path, content);
  }

  /** Number of sandboxes and containers held (for leak checks). */
  get size(): { readonly sandboxes: number; readonly containers: number } {
    return { sandboxes: this.#sandboxes.size, containers: this.#containers.size };
  }

  // ---- internals ----------------------------------------------------------------------------

  #matches(c: FakeContainer, filter: ContainerFilter | undefined): boolean {
    if (filter?.id !== undefined && c.id !== filter.id) return false;
    if (filter?.podSandboxId !== undefined && c.sandboxId !== filter.podSandboxId) return false;
    if (!matchesLabels(c.config.labels, filter?.labelSelector)) return false;
    this.#observe(c);
    return filter?.state === undefined || c.state === filter.state;
  }

  /** Applies a scripted exit that has fallen due. */
  #observe(c: FakeContainer): void {
    if (c.state === 'RUNNING' && c.exitAt !== undefined && this.#clock.now() >= c.exitAt) {
      const code = c.script.exitCode;
      this.#finish(c, c.exitAt, code, c.script.oom ? 'OOMKilled' : code === 0 ? 'Completed' : 'Error');
    }
  }

  /** Writes the scripted start output and starts the periodic writer, if scripted. */
  #startLogging(c: FakeContainer): void {
    const { logText, logEveryMs } = c.script;
    if (logText === undefined && logEveryMs === undefined) return;
    if (logText !== undefined) this.#appendLog(c, logText);
    if (logEveryMs !== undefined && logEveryMs > 0) {
      c.logTimer = this.#clock.setTimer(
        logEveryMs,
        () => {
          this.#observe(c);
          if (c.state !== 'RUNNING' || c.removed) {
            c.logTimer?.cancel();
            delete c.logTimer;
            return;
          }
          c.logTicks++;
          this.#appendLog(c, `${c.script.logLine} ${c.logTicks}\n`);
        },
        { repeat: true },
      );
    }
  }

  #appendLog(c: FakeContainer, text: string): void {
    const at = this.#clock.now();
    const previous = c.logWrites ?? Promise.resolve();
    c.logWrites = previous.then(async () => {
      try {
        await mkdir(dirname(c.logPath), { recursive: true });
        await appendFile(c.logPath, formatCriEntries(at, 'stdout', text));
      } catch {
        // A fake's log is best effort: a missing log directory must not fail the simulation.
      }
    });
  }

  #finish(c: FakeContainer, at: number, exitCode: number, reason: string): void {
    c.logTimer?.cancel();
    delete c.logTimer;
    c.state = 'EXITED';
    c.finishedAt = at;
    c.exitCode = exitCode;
    c.reason = reason;
    delete c.exitAt;
  }

  /** SIGKILL, as a sandbox stop or a remove does it. */
  #kill(c: FakeContainer): void {
    this.#observe(c);
    if (c.state === 'RUNNING' || c.state === 'CREATED') this.#finish(c, this.#clock.now(), 137, 'Error');
  }

  #remove(c: FakeContainer): void {
    this.#kill(c);
    c.removed = true;
    this.#containers.delete(c.id);
    this.counters.containersRemoved++;
  }

  #containerView(c: FakeContainer): Container {
    return {
      id: c.id,
      podSandboxId: c.sandboxId,
      metadata: c.config.metadata,
      image: c.config.image.image,
      imageRef: c.imageRef,
      state: c.state,
      createdAt: c.createdAt,
      labels: c.config.labels,
      annotations: c.config.annotations,
    };
  }

  #statusView(c: FakeContainer): ContainerStatus {
    const resources = c.config.linux?.resources;
    return {
      ...this.#containerView(c),
      ...(c.startedAt !== undefined ? { startedAt: c.startedAt } : {}),
      ...(c.finishedAt !== undefined ? { finishedAt: c.finishedAt } : {}),
      ...(c.exitCode !== undefined ? { exitCode: c.exitCode } : {}),
      ...(c.reason !== undefined ? { reason: c.reason } : {}),
      ...(c.message !== undefined ? { message: c.message } : {}),
      mounts: c.config.mounts,
      logPath: c.logPath,
      ...(resources !== undefined ? { resources } : {}),
    };
  }

  #stats(c: FakeContainer): ContainerStats | undefined {
    if (c.startedAt === undefined) return undefined;
    const now = this.#clock.now();
    const ranMs = (c.finishedAt ?? now) - c.startedAt;
    return {
      id: c.id,
      timestamp: now,
      cpuUsageCoreNanoSeconds: Math.round(ranMs * 1e6 * (c.script.cpuMillicores / 1000)),
      memoryWorkingSetBytes: c.state === 'RUNNING' ? c.script.memoryBytes : 0,
      memoryUsageBytes: c.state === 'RUNNING' ? c.script.memoryBytes : 0,
    };
  }
}

/** Reads the state afresh (not narrowed by checks made before an await). */
function stateOf(c: FakeContainer): ContainerState {
  return c.state;
}

function sandboxView(sb: FakeSandbox): PodSandbox {
  return {
    id: sb.id,
    metadata: sb.config.metadata,
    state: sb.state,
    createdAt: sb.createdAt,
    labels: sb.config.labels,
    annotations: sb.config.annotations,
  };
}

function failure(reason: RuntimeFailure['reason'], message: string): RuntimeFailure {
  return { ok: false, reason, message };
}

function newId(): string {
  return randomBytes(32).toString('hex');
}

function raceAbort(p: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (signal === undefined) return p;
  signal.throwIfAborted();
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      reject(signal.reason as Error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}
