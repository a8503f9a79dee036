/**
 * The one behaviour suite every `Runtime` must pass (containerd's `core/{content,snapshots}/testsuite`, Nomad's
 * `DriverHarness`): sandbox lifecycle, container lifecycle and exit codes, idempotent stop/remove,
 * list filters and order, stop-timeout semantics, status after exit, exec exit codes, cancellation.
 * `fake` runs it always; `runc` and `cri` run it when root and their binaries are present.
 *
 * A runtime plugs in through a `RuntimeContractFixture`: how to make a container that runs, exits
 * with a code, or ignores SIGTERM (a shell script for runc/cri, annotations for the fake), and how to
 * let time pass (advance a FakeClock, or really wait).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type {
  ContainerConfig,
  ContainerImage,
  ContainerStatus,
  PodSandboxConfig,
  Runtime,
} from '../runtime.js';

/** A behaviour the suite needs a container to have. */
export type ContractWorkload =
  /** Runs until stopped, and exits promptly (not by SIGKILL) on SIGTERM. */
  | { readonly kind: 'run' }
  /** Runs until stopped, ignoring SIGTERM: only the stop timeout's SIGKILL ends it. */
  | { readonly kind: 'ignore-sigterm' }
  /** Exits by itself with `exitCode`, about `afterMs` after starting (default at once). */
  | { readonly kind: 'exit'; readonly exitCode: number; readonly afterMs?: number };

/** What the fixture contributes to a container config for a workload. */
export interface ContractWorkloadConfig {
  readonly command: readonly string[];
  readonly args: readonly string[];
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface RuntimeContractFixture {
  readonly runtime: Runtime;
  /** An image present on the node, with its record for runtimes that need it. Must have `sh`. */
  readonly image: ContainerImage;
  workload(w: ContractWorkload): ContractWorkloadConfig;
  /** Lets `ms` of the runtime's time pass: advance the fake clock, or really wait. */
  elapse(ms: number): Promise<void>;
  /** Adds what the runtime needs to a sandbox config (log directory, cgroup parent, network). */
  sandboxConfig?(base: PodSandboxConfig): PodSandboxConfig;
  /** Removes everything the fixture created (called even when a test fails). */
  close(): Promise<void>;
}

export interface RuntimeContractOptions {
  /** A reason to skip the whole suite (missing binary, not root); printed by node:test. */
  readonly skip?: string;
  /** Upper bound for "soon" waits in ms of runtime time (default 10 000). */
  readonly patienceMs?: number;
}

/** Registers the contract suite as `describe(\`runtime contract: ${name}\`)`. */
export function runtimeContractTests(
  name: string,
  factory: () => Promise<RuntimeContractFixture>,
  options: RuntimeContractOptions = {},
): void {
  const patience = options.patienceMs ?? 10_000;
  const step = 50;

  async function withFixture(fn: (f: Harness) => Promise<void>): Promise<void> {
    const fixture = await factory();
    const harness = new Harness(fixture, patience, step);
    try {
      await fn(harness);
    } finally {
      await harness.cleanup();
      await fixture.close();
    }
  }

  const skip = options.skip !== undefined ? { skip: options.skip } : {};

  void describe(`runtime contract: ${name}`, skip, () => {
    void it('reports a version and ready conditions', () =>
      withFixture(async ({ rt }) => {
        const v = await rt.version();
        assert.ok(v.runtimeName.length > 0);
        assert.ok(v.runtimeApiVersion.length > 0);
        const conditions = await rt.status();
        assert.equal(conditions.find((c) => c.type === 'RuntimeReady')?.status, true);
      }));

    void it('runs, stops and removes a sandbox; stop and remove are idempotent', () =>
      withFixture(async (h) => {
        const { rt } = h;
        const cfg = h.sandbox({ labels: { app: 'web' }, annotations: { note: 'x' } });
        const res = await rt.runPodSandbox(cfg);
        assert.ok(res.ok, res.ok ? '' : res.message);
        h.sandboxes.push(res.id);
        const st = await rt.podSandboxStatus(res.id);
        assert.equal(st?.state, 'READY');
        assert.deepEqual(st.metadata, cfg.metadata);
        assert.equal(st.labels['app'], 'web');
        assert.equal(st.annotations['note'], 'x');
        assert.ok((await rt.listPodSandboxes()).some((s) => s.id === res.id));

        await rt.stopPodSandbox(res.id);
        assert.equal((await rt.podSandboxStatus(res.id))?.state, 'NOTREADY');
        await rt.stopPodSandbox(res.id);
        await rt.removePodSandbox(res.id);
        assert.equal(await rt.podSandboxStatus(res.id), undefined);
        await rt.removePodSandbox(res.id);
        await rt.stopPodSandbox(res.id);
        assert.ok(!(await rt.listPodSandboxes()).some((s) => s.id === res.id));
      }));

    void it('refuses a second sandbox with the same metadata, allows the next attempt', () =>
      withFixture(async (h) => {
        const cfg = h.sandbox();
        const first = await h.runSandbox(cfg);
        const again = await h.rt.runPodSandbox(cfg);
        assert.equal(again.ok ? '' : again.reason, 'NameConflict');
        await h.rt.stopPodSandbox(first);
        const next = await h.runSandbox({ ...cfg, metadata: { ...cfg.metadata, attempt: 1 } });
        assert.notEqual(next, first);
      }));

    void it('filters sandboxes by id, state and labels', () =>
      withFixture(async (h) => {
        const tag = randomUUID();
        const a = await h.runSandbox(h.sandbox({ labels: { t: tag, which: 'a' } }));
        const b = await h.runSandbox(h.sandbox({ labels: { t: tag, which: 'b' } }));
        await h.rt.stopPodSandbox(b);
        const mine = await h.rt.listPodSandboxes({ labelSelector: { t: tag } });
        assert.deepEqual(
          mine.map((s) => s.id),
          [a, b],
        );
        assert.deepEqual(
          (await h.rt.listPodSandboxes({ labelSelector: { t: tag, which: 'b' } })).map((s) => s.id),
          [b],
        );
        assert.deepEqual(
          (await h.rt.listPodSandboxes({ labelSelector: { t: tag }, state: 'READY' })).map((s) => s.id),
          [a],
        );
        assert.deepEqual(
          (await h.rt.listPodSandboxes({ id: b })).map((s) => s.id),
          [b],
        );
      }));

    void it('creates, starts, stops and removes a container with the status it was given', () =>
      withFixture(async (h) => {
        const { rt } = h;
        const sbCfg = h.sandbox();
        const sb = await h.runSandbox(sbCfg);
        const cfg = h.container('app', { kind: 'run' }, { labels: { role: 'main' } });
        const created = await rt.createContainer(sb, cfg, sbCfg);
        assert.ok(created.ok, created.ok ? '' : created.message);
        let st = await rt.containerStatus(created.id);
        assert.equal(st?.state, 'CREATED');
        assert.equal(st.podSandboxId, sb);
        assert.deepEqual(st.metadata, { name: 'app', attempt: 0 });
        assert.equal(st.image, cfg.image.image);
        assert.ok(st.imageRef.length > 0);
        assert.equal(st.labels['role'], 'main');
        assert.ok(st.logPath.endsWith(cfg.logPath), `${st.logPath} ends with ${cfg.logPath}`);
        assert.equal(st.startedAt, undefined);

        const started = await rt.startContainer(created.id);
        assert.ok(started.ok, started.ok ? '' : started.message);
        st = await rt.containerStatus(created.id);
        assert.equal(st?.state, 'RUNNING');
        assert.ok(st.startedAt !== undefined && st.startedAt >= st.createdAt);

        await rt.stopContainer(created.id, 10);
        st = await rt.containerStatus(created.id);
        assert.equal(st?.state, 'EXITED');
        assert.ok(st.finishedAt !== undefined && st.finishedAt >= (st.startedAt ?? 0));
        assert.equal(typeof st.exitCode, 'number');

        await rt.removeContainer(created.id);
        assert.equal(await rt.containerStatus(created.id), undefined);
      }));

    void it('reports exit codes and reasons of containers that exit by themselves', () =>
      withFixture(async (h) => {
        const sb = h.sandbox();
        const id = await h.runSandbox(sb);
        const ok = await h.startContainer(id, sb, h.container('ok', { kind: 'exit', exitCode: 0 }));
        const bad = await h.startContainer(
          id,
          sb,
          h.container('bad', { kind: 'exit', exitCode: 3, afterMs: 200 }),
        );
        const okSt = await h.waitExited(ok);
        assert.equal(okSt.exitCode, 0);
        assert.equal(okSt.reason, 'Completed');
        const badSt = await h.waitExited(bad);
        assert.equal(badSt.exitCode, 3);
        assert.equal(badSt.reason, 'Error');
        assert.ok(badSt.finishedAt !== undefined && badSt.startedAt !== undefined);
        assert.ok(badSt.finishedAt >= badSt.startedAt);

        // Status after exit is stable: the same on every read, stopping it changes nothing.
        await h.elapse(500);
        await h.rt.stopContainer(bad, 1);
        await h.rt.stopContainer(bad, 1);
        const later = await h.rt.containerStatus(bad);
        assert.equal(later?.state, 'EXITED');
        assert.equal(later.exitCode, 3);
        assert.equal(later.finishedAt, badSt.finishedAt);
        assert.equal(later.startedAt, badSt.startedAt);
      }));

    void it('returns not-found and state errors as values', () =>
      withFixture(async (h) => {
        const { rt } = h;
        const missing = 'f'.repeat(64);
        assert.equal(await rt.containerStatus(missing), undefined);
        assert.equal(await rt.podSandboxStatus(missing), undefined);
        const start = await rt.startContainer(missing);
        assert.equal(start.ok ? '' : start.reason, 'NotFound');
        await rt.stopContainer(missing, 0);
        await rt.removeContainer(missing);
        const exec = await rt.execSync(missing, { cmd: ['true'] });
        assert.equal(exec.ok ? '' : exec.reason, 'NotFound');
        assert.equal(await rt.containerStats(missing), undefined);

        const sbCfg = h.sandbox();
        const noSb = await rt.createContainer(missing, h.container('x', { kind: 'run' }), sbCfg);
        assert.equal(noSb.ok ? '' : noSb.reason, 'NotFound');

        const sb = await h.runSandbox(sbCfg);
        const cfg = h.container('app', { kind: 'run' });
        const c = await rt.createContainer(sb, cfg, sbCfg);
        assert.ok(c.ok);
        const dup = await rt.createContainer(sb, cfg, sbCfg);
        assert.equal(dup.ok ? '' : dup.reason, 'NameConflict');
        const next = await rt.createContainer(sb, { ...cfg, metadata: { name: 'app', attempt: 1 } }, sbCfg);
        assert.ok(next.ok, 'the next attempt has a free name');
        assert.ok((await rt.startContainer(c.id)).ok);
        const twice = await rt.startContainer(c.id);
        assert.equal(twice.ok ? '' : twice.reason, 'InvalidState');

        await rt.stopPodSandbox(sb);
        const inStopped = await rt.createContainer(
          sb,
          { ...cfg, metadata: { name: 'late', attempt: 0 } },
          sbCfg,
        );
        assert.equal(inStopped.ok ? '' : inStopped.reason, 'SandboxNotReady');
      }));

    void it('filters containers by sandbox, state, id and labels, oldest first', () =>
      withFixture(async (h) => {
        const { rt } = h;
        const tag = randomUUID();
        const sbA = h.sandbox();
        const sbB = h.sandbox();
        const a = await h.runSandbox(sbA);
        const b = await h.runSandbox(sbB);
        const a1 = await h.startContainer(
          a,
          sbA,
          h.container('one', { kind: 'run' }, { labels: { t: tag } }),
        );
        await h.elapse(10);
        const a2 = await h.create(
          a,
          sbA,
          h.container('two', { kind: 'run' }, { labels: { t: tag, n: '2' } }),
        );
        const b1 = await h.startContainer(
          b,
          sbB,
          h.container('one', { kind: 'exit', exitCode: 0 }, { labels: { t: tag } }),
        );
        await h.waitExited(b1);

        assert.deepEqual(
          (await rt.listContainers({ podSandboxId: a })).map((c) => c.id),
          [a1, a2],
        );
        assert.deepEqual(
          (await rt.listContainers({ labelSelector: { t: tag }, state: 'RUNNING' })).map((c) => c.id),
          [a1],
        );
        assert.deepEqual(
          (await rt.listContainers({ labelSelector: { t: tag }, state: 'CREATED' })).map((c) => c.id),
          [a2],
        );
        assert.deepEqual(
          (await rt.listContainers({ labelSelector: { t: tag }, state: 'EXITED' })).map((c) => c.id),
          [b1],
        );
        assert.deepEqual(
          (await rt.listContainers({ labelSelector: { t: tag, n: '2' } })).map((c) => c.id),
          [a2],
        );
        assert.deepEqual(
          (await rt.listContainers({ id: b1 })).map((c) => c.podSandboxId),
          [b],
        );
        const listed = (await rt.listContainers({ labelSelector: { t: tag } })).find((c) => c.id === a1);
        assert.equal(listed?.state, 'RUNNING');
        assert.equal(listed.metadata.name, 'one');
      }));

    void it('stop waits for the timeout before killing a container that ignores SIGTERM', () =>
      withFixture(async (h) => {
        const sb = h.sandbox();
        const id = await h.runSandbox(sb);
        const stubborn = await h.startContainer(id, sb, h.container('stubborn', { kind: 'ignore-sigterm' }));
        let done = false;
        const stopping = h.rt.stopContainer(stubborn, 2).then(() => {
          done = true;
        });
        await h.elapse(1000);
        assert.equal(done, false, 'stop returned before its timeout');
        assert.equal((await h.rt.containerStatus(stubborn))?.state, 'RUNNING');
        await h.elapse(1500);
        await h.within(stopping);
        const st = await h.rt.containerStatus(stubborn);
        assert.equal(st?.state, 'EXITED');
        assert.equal(st.exitCode, 137);
      }));

    void it('stop with timeout 0 kills at once; a graceful container exits before the timeout', () =>
      withFixture(async (h) => {
        const sb = h.sandbox();
        const id = await h.runSandbox(sb);
        const stubborn = await h.startContainer(id, sb, h.container('stubborn', { kind: 'ignore-sigterm' }));
        await h.within(h.rt.stopContainer(stubborn, 0));
        assert.equal((await h.rt.containerStatus(stubborn))?.exitCode, 137);

        const polite = await h.startContainer(id, sb, h.container('polite', { kind: 'run' }));
        await h.within(h.rt.stopContainer(polite, 30), 'a graceful stop is not held for the whole timeout');
        const st = await h.rt.containerStatus(polite);
        assert.equal(st?.state, 'EXITED');
        assert.notEqual(st.exitCode, 137);
      }));

    void it('stop honours an abort signal and can be finished later', () =>
      withFixture(async (h) => {
        const sb = h.sandbox();
        const id = await h.runSandbox(sb);
        const stubborn = await h.startContainer(id, sb, h.container('stubborn', { kind: 'ignore-sigterm' }));
        const ac = new AbortController();
        const stopping = h.rt.stopContainer(stubborn, 30, { signal: ac.signal });
        await h.elapse(200);
        ac.abort();
        await assert.rejects(h.within(stopping));
        await h.rt.stopContainer(stubborn, 0);
        assert.equal((await h.rt.containerStatus(stubborn))?.state, 'EXITED');
      }));

    void it('stopping a sandbox stops its containers; removing it removes them', () =>
      withFixture(async (h) => {
        const sb = h.sandbox();
        const id = await h.runSandbox(sb);
        const c1 = await h.startContainer(id, sb, h.container('one', { kind: 'ignore-sigterm' }));
        const c2 = await h.startContainer(id, sb, h.container('two', { kind: 'run' }));
        await h.within(h.rt.stopPodSandbox(id));
        for (const c of [c1, c2]) assert.equal((await h.rt.containerStatus(c))?.state, 'EXITED');
        await h.rt.removePodSandbox(id);
        for (const c of [c1, c2]) assert.equal(await h.rt.containerStatus(c), undefined);
        assert.deepEqual(await h.rt.listContainers({ podSandboxId: id }), []);
      }));

    void it('removing a running container kills it first', () =>
      withFixture(async (h) => {
        const sb = h.sandbox();
        const id = await h.runSandbox(sb);
        const c = await h.startContainer(id, sb, h.container('app', { kind: 'ignore-sigterm' }));
        await h.within(h.rt.removeContainer(c));
        assert.equal(await h.rt.containerStatus(c), undefined);
        await h.rt.removeContainer(c);
      }));

    void it('execs a command and returns its exit code and output', () =>
      withFixture(async (h) => {
        const sb = h.sandbox();
        const id = await h.runSandbox(sb);
        const c = await h.startContainer(id, sb, h.container('app', { kind: 'run' }));
        const r = await h.rt.execSync(c, {
          cmd: ['sh', '-c', 'echo hello; echo oops >&2; exit 3'],
          timeoutSeconds: 10,
        });
        assert.ok(r.ok, r.ok ? '' : r.message);
        assert.equal(r.exitCode, 3);
        assert.equal(new TextDecoder().decode(r.stdout), 'hello\n');
        assert.equal(new TextDecoder().decode(r.stderr), 'oops\n');
        const t = await h.rt.execSync(c, { cmd: ['true'] });
        assert.equal(t.ok && t.exitCode, 0);

        await h.rt.stopContainer(c, 0);
        const dead = await h.rt.execSync(c, { cmd: ['true'] });
        assert.equal(dead.ok ? '' : dead.reason, 'InvalidState');
      }));

    void it('reports stats for a running container', () =>
      withFixture(async (h) => {
        const sb = h.sandbox();
        const id = await h.runSandbox(sb);
        const c = await h.startContainer(id, sb, h.container('app', { kind: 'run' }));
        await h.elapse(200);
        const s = await h.rt.containerStats(c);
        assert.equal(s?.id, c);
        assert.ok(s.cpuUsageCoreNanoSeconds >= 0);
        assert.ok(s.memoryWorkingSetBytes >= 0);
        const all = await h.rt.listContainerStats({ podSandboxId: id });
        assert.ok(all.some((x) => x.id === c));
      }));
  });
}

/** Per-test helpers; tracks sandboxes so they are removed even when the test fails. */
class Harness {
  readonly rt: Runtime;
  readonly sandboxes: string[] = [];
  readonly #f: RuntimeContractFixture;
  readonly #patience: number;
  readonly #step: number;

  constructor(f: RuntimeContractFixture, patience: number, step: number) {
    this.#f = f;
    this.rt = f.runtime;
    this.#patience = patience;
    this.#step = step;
  }

  elapse(ms: number): Promise<void> {
    return this.#f.elapse(ms);
  }

  sandbox(
    extra: { labels?: Record<string, string>; annotations?: Record<string, string> } = {},
  ): PodSandboxConfig {
    const uid = randomUUID();
    const base: PodSandboxConfig = {
      metadata: { name: `contract-${uid.slice(0, 8)}`, namespace: 'contract', uid, attempt: 0 },
      hostname: `contract-${uid.slice(0, 8)}`,
      logDirectory: `/tmp/berth-contract-logs/${uid}`,
      portMappings: [],
      labels: { 'io.kubernetes.pod.uid': uid, ...extra.labels },
      annotations: { ...extra.annotations },
    };
    return this.#f.sandboxConfig?.(base) ?? base;
  }

  container(
    name: string,
    workload: ContractWorkload,
    extra: { labels?: Record<string, string> } = {},
  ): ContainerConfig {
    const w = this.#f.workload(workload);
    return {
      metadata: { name, attempt: 0 },
      image: this.#f.image,
      command: w.command,
      args: w.args,
      envs: [{ key: 'CONTRACT', value: 'yes' }],
      mounts: [],
      labels: { 'io.kubernetes.container.name': name, ...extra.labels },
      annotations: { ...w.annotations },
      logPath: `${name}/0.log`,
    };
  }

  async runSandbox(cfg: PodSandboxConfig): Promise<string> {
    const res = await this.rt.runPodSandbox(cfg);
    if (!res.ok) assert.fail(`runPodSandbox: ${res.reason}: ${res.message}`);
    this.sandboxes.push(res.id);
    return res.id;
  }

  async create(sandboxId: string, sb: PodSandboxConfig, cfg: ContainerConfig): Promise<string> {
    const res = await this.rt.createContainer(sandboxId, cfg, sb);
    if (!res.ok) assert.fail(`createContainer: ${res.reason}: ${res.message}`);
    return res.id;
  }

  async startContainer(sandboxId: string, sb: PodSandboxConfig, cfg: ContainerConfig): Promise<string> {
    const id = await this.create(sandboxId, sb, cfg);
    const res = await this.within(this.rt.startContainer(id));
    if (!res.ok) assert.fail(`startContainer: ${res.reason}: ${res.message}`);
    return id;
  }

  /** Lets time pass in steps until the container is EXITED. */
  async waitExited(id: string): Promise<ContainerStatus> {
    for (let waited = 0; waited <= this.#patience; waited += this.#step) {
      const st = await this.rt.containerStatus(id);
      if (st?.state === 'EXITED') return st;
      await this.elapse(this.#step);
    }
    return assert.fail(`container ${id} did not exit within ${this.#patience} ms`);
  }

  /** Awaits `p`, letting time pass in steps meanwhile; fails after the patience. */
  async within<T>(p: Promise<T>, what = 'call'): Promise<T> {
    const progress = { settled: false };
    const tracked = p.finally(() => {
      progress.settled = true;
    });
    tracked.catch(() => undefined);
    for (let waited = 0; !progress.settled && waited <= this.#patience; waited += this.#step) {
      await this.elapse(this.#step);
    }
    if (!progress.settled) assert.fail(`${what} did not finish within ${this.#patience} ms`);
    return tracked;
  }

  async cleanup(): Promise<void> {
    for (const id of this.sandboxes) {
      try {
        await this.rt.removePodSandbox(id);
      } catch {
        // best effort: the fixture's close() removes the rest
      }
    }
  }
}
