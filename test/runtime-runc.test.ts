/**
 * The runc runtime for real (root, runc, overlayfs, cgroups): the shared runtime contract, then what
 * only a real runtime shows — a busybox image from a real registry, exit codes, OOMKilled under a
 * 16 MiB limit, CRI-format logs with rotation, the image user and hosts files, adoption by a new
 * runtime over the same directories (running container seen, its later exit recorded), exec with a
 * timeout, stats, and nothing left behind (runc containers, mounts, cgroups). Every test has its own
 * runc root, cgroup root and temp dirs, removed even when it fails.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type {
  ContainerConfig,
  ContainerStatus,
  PodSandboxConfig,
  Runtime,
} from '../agent/runtime/runtime.js';
import { runtimeContractTests, type ContractWorkload } from '../agent/runtime/testing/runtime-contract.js';
import { openRuncTestEnv, runcAvailable, type RuncTestEnv } from './harness/runc.js';

const skip = runcAvailable();
if (skip !== undefined) console.log(`# skipping runc runtime tests: ${skip}`);

function workload(w: ContractWorkload): { command: string[]; args: string[] } {
  switch (w.kind) {
    case 'run':
      // `sleep & wait` so that the TERM trap runs at once instead of after the sleep.
      return {
        command: ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1 & wait $!; done'],
        args: [],
      };
    case 'ignore-sigterm':
      return { command: ['sh', '-c', 'trap "" TERM; while true; do sleep 1; done'], args: [] };
    case 'exit': {
      const pause =
        w.afterMs === undefined || w.afterMs === 0 ? '' : `sleep ${(w.afterMs / 1000).toFixed(3)}; `;
      return { command: ['sh', '-c', `${pause}exit ${w.exitCode}`], args: [] };
    }
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

runtimeContractTests(
  'runc',
  async () => {
    const env = await openRuncTestEnv();
    const runtime = env.runtime();
    return {
      runtime,
      image: env.image,
      workload,
      elapse: sleep,
      sandboxConfig: (base) => ({ ...base, logDirectory: join(env.logDir, base.metadata.uid) }),
      close: async () => {
        await runtime.close();
        const left = env.leftovers();
        await env.close();
        assert.deepEqual(left, [], 'the contract removes everything it makes');
      },
    };
  },
  { ...(skip === undefined ? {} : { skip }), patienceMs: 30_000 },
);

function sandboxConfig(env: RuncTestEnv, extra: Partial<PodSandboxConfig> = {}): PodSandboxConfig {
  const uid = randomUUID();
  return {
    metadata: { name: `p-${uid.slice(0, 8)}`, namespace: 'test', uid, attempt: 0 },
    hostname: `p-${uid.slice(0, 8)}`,
    logDirectory: join(env.logDir, uid),
    portMappings: [],
    labels: {},
    annotations: {},
    ...extra,
  };
}

function containerConfig(
  env: RuncTestEnv,
  name: string,
  script: string,
  extra: Partial<ContainerConfig> = {},
): ContainerConfig {
  return {
    metadata: { name, attempt: 0 },
    image: env.image,
    command: ['sh', '-c', script],
    args: [],
    envs: [{ key: 'GREETING', value: 'hello from berth' }],
    mounts: [],
    labels: {},
    annotations: {},
    logPath: `${name}/0.log`,
    ...extra,
  };
}

async function sandboxOf(
  rt: Runtime,
  config: PodSandboxConfig,
): Promise<{ id: string; config: PodSandboxConfig }> {
  const r = await rt.runPodSandbox(config);
  assert.ok(r.ok, r.ok ? '' : r.message);
  return { id: r.id, config };
}

async function waitExited(rt: Runtime, id: string, ms = 30_000): Promise<ContainerStatus> {
  const until = Date.now() + ms;
  for (;;) {
    const st = await rt.containerStatus(id);
    if (st?.state === 'EXITED') return st;
    if (Date.now() > until) assert.fail(`container ${id} did not exit: ${JSON.stringify(st)}`);
    await sleep(50);
  }
}

async function run(
  rt: Runtime,
  env: RuncTestEnv,
  script: string,
  extra: Partial<ContainerConfig> = {},
  sb?: { id: string; config: PodSandboxConfig },
): Promise<{ id: string; sandbox: string; config: ContainerConfig }> {
  let sandbox = sb;
  if (sandbox === undefined) {
    const config = sandboxConfig(env);
    const r = await rt.runPodSandbox(config);
    assert.ok(r.ok, r.ok ? '' : r.message);
    sandbox = { id: r.id, config };
  }
  const config = containerConfig(env, extra.metadata?.name ?? 'app', script, extra);
  const c = await rt.createContainer(sandbox.id, config, sandbox.config);
  assert.ok(c.ok, c.ok ? '' : c.message);
  const s = await rt.startContainer(c.id);
  assert.ok(s.ok, s.ok ? '' : s.message);
  return { id: c.id, sandbox: sandbox.id, config };
}

describe('runc runtime on this machine', { ...(skip === undefined ? {} : { skip }) }, () => {
  let env: RuncTestEnv;
  before(async () => {
    env = await openRuncTestEnv();
  });
  after(async () => {
    await env.close();
  });

  it('runs busybox with the pod env, hostname, hosts files, and logs in CRI format', async () => {
    const rt = env.runtime();
    const { id, sandbox } = await run(
      rt,
      env,
      'echo "$GREETING"; echo to-stderr >&2; printf "no newline"; hostname; cat /etc/hostname >&2; id -u; exit 0',
    );
    const st = await waitExited(rt, id);
    assert.equal(st.exitCode, 0);
    assert.equal(st.reason, 'Completed');
    const log = readFileSync(st.logPath, 'utf8');
    const lines = log.trimEnd().split('\n');
    for (const l of lines)
      assert.match(l, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr) [FP] /, l);
    const body = (stream: string): string[] =>
      lines.filter((l) => l.split(' ')[1] === stream).map((l) => l.split(' ').slice(3).join(' '));
    assert.ok(body('stdout').includes('hello from berth'), log);
    assert.ok(body('stderr').includes('to-stderr'), log);
    // printf without a newline, then `hostname` output: one line "no newline<hostname>".
    assert.ok(
      body('stdout').some((l) => l.startsWith('no newlinep-')),
      log,
    );
    assert.ok(body('stdout').includes('0'), 'runs as root (the image has no USER)');
    assert.ok(
      body('stderr').some((l) => l.startsWith('p-')),
      'the /etc/hostname file is mounted',
    );
    await rt.removePodSandbox(sandbox);
    assert.deepEqual(env.leftovers(), []);
  });

  it('reports exit codes, StartError for a missing binary, and OOMKilled under a 16 MiB limit', async () => {
    const rt = env.runtime();
    const seven = await run(rt, env, 'exit 7');
    assert.equal((await waitExited(rt, seven.id)).exitCode, 7);

    const sb = sandboxConfig(env);
    const r = await rt.runPodSandbox(sb);
    assert.ok(r.ok);
    const bad = await rt.createContainer(
      r.id,
      { ...containerConfig(env, 'bad', ''), command: ['/no/such/binary'] },
      sb,
    );
    assert.ok(bad.ok, bad.ok ? '' : bad.message);
    const started = await rt.startContainer(bad.id);
    assert.equal(started.ok, false);
    const badSt = await rt.containerStatus(bad.id);
    assert.equal(badSt?.state, 'EXITED');
    assert.equal(badSt.reason, 'StartError');
    assert.equal(badSt.exitCode, 128);
    assert.match(badSt.message ?? '', /no such file/);

    const hog = await run(
      rt,
      env,
      'dd if=/dev/zero of=/dev/null bs=64M count=1',
      {
        metadata: { name: 'hog', attempt: 0 },
        linux: { resources: { memoryLimitInBytes: 16 * 1024 * 1024 } },
      },
      { id: r.id, config: sb },
    );
    const hogSt = await waitExited(rt, hog.id);
    assert.equal(hogSt.reason, 'OOMKilled', JSON.stringify(hogSt));
    assert.equal(hogSt.exitCode, 137);

    await rt.removePodSandbox(seven.sandbox);
    await rt.removePodSandbox(r.id);
    assert.deepEqual(env.leftovers(), []);
  });

  it('a new runtime over the same directories adopts a running container and records its exit', async () => {
    const first = env.runtime();
    const { id, sandbox } = await run(first, env, 'echo before; sleep 2; echo after; exit 4');
    // The first runtime is dropped as if the agent died; the shim and container carry on.
    const second = env.runtime();
    const st = await second.containerStatus(id);
    assert.equal(st?.state, 'RUNNING');
    assert.equal((await second.listPodSandboxes({ id: sandbox })).length, 1);
    const startAgain = await second.startContainer(id);
    assert.equal(startAgain.ok ? '' : startAgain.reason, 'InvalidState', 'never started twice');
    const done = await waitExited(second, id);
    assert.equal(done.exitCode, 4);
    assert.equal(done.reason, 'Error');
    await sleep(100);
    const log = readFileSync(done.logPath, 'utf8');
    assert.match(log, /stdout F before\n/);
    assert.match(log, /stdout F after\n/);

    // A third runtime, after the exit: the record survives.
    const third = env.runtime();
    const again = await third.containerStatus(id);
    assert.equal(again?.exitCode, 4);
    assert.equal(again.finishedAt, done.finishedAt);
    await third.removePodSandbox(sandbox);
    assert.deepEqual(env.leftovers(), []);
  });

  it('records an exit that happened while no runtime was watching', async () => {
    const first = env.runtime();
    const { id, sandbox } = await run(first, env, 'sleep 0.3; exit 9');
    await sleep(1500);
    const second = env.runtime();
    const st = await second.containerStatus(id);
    assert.equal(st?.state, 'EXITED');
    assert.equal(st.exitCode, 9);
    await second.removePodSandbox(sandbox);
    assert.deepEqual(env.leftovers(), []);
  });

  it('exec times out with 137, streams with and without a tty, and stats come from the cgroup', async () => {
    const rt = env.runtime();
    const { id, sandbox } = await run(rt, env, 'trap "exit 0" TERM; while true; do sleep 1 & wait $!; done');
    const t0 = Date.now();
    const slow = await rt.execSync(id, { cmd: ['sleep', '30'], timeoutSeconds: 1 });
    assert.ok(slow.ok);
    assert.equal(slow.exitCode, 137);
    assert.equal(slow.timedOut, true);
    assert.ok(Date.now() - t0 < 10_000);

    const session = await rt.execStream(id, {
      cmd: ['sh', '-c', 'read x; echo "got $x"; echo err >&2; exit 2'],
      tty: false,
      stdin: true,
    });
    assert.ok(!('ok' in session));
    let out = '';
    let err = '';
    session.stdout.on('data', (c: Buffer) => (out += c.toString()));
    session.stderr?.on('data', (c: Buffer) => (err += c.toString()));
    session.stdin?.end('ping\n');
    assert.equal(await session.exit, 2);
    assert.equal(out, 'got ping\n');
    assert.equal(err, 'err\n');

    if (existsSync('/usr/bin/script')) {
      const tty = await rt.execStream(id, {
        cmd: ['sh', '-c', '[ -t 1 ] && echo is-a-tty; exit 5'],
        tty: true,
        stdin: true,
      });
      assert.ok(!('ok' in tty));
      let ttyOut = '';
      tty.stdout.on('data', (c: Buffer) => (ttyOut += c.toString()));
      assert.equal(await tty.exit, 5);
      tty.stdin?.end();
      assert.match(ttyOut, /is-a-tty/);
    }

    const stats = await rt.containerStats(id);
    assert.ok(stats !== undefined && stats.cpuUsageCoreNanoSeconds > 0, JSON.stringify(stats));
    assert.ok(stats.memoryWorkingSetBytes > 0);
    await rt.removePodSandbox(sandbox);
    assert.deepEqual(env.leftovers(), []);
  });

  it("joins the sandbox's network namespace, or the host's with hostNetwork", async () => {
    const rt = env.runtime();
    const netns = `berth-rt-${randomUUID().slice(0, 8)}`;
    assert.equal(spawnSync('ip', ['netns', 'add', netns]).status, 0);
    try {
      const nsPath = `/var/run/netns/${netns}`;
      const inode = statSync(nsPath).ino;
      const sb = sandboxConfig(env, { linux: { networkNamespacePath: nsPath } });
      const joined = await run(rt, env, 'readlink /proc/self/ns/net', {}, await sandboxOf(rt, sb));
      const hostSb = sandboxConfig(env, { linux: { hostNetwork: true } });
      const host = await run(rt, env, 'readlink /proc/self/ns/net', {}, await sandboxOf(rt, hostSb));
      const own = await run(rt, env, 'readlink /proc/self/ns/net');
      const nsOf = async (id: string): Promise<string> => {
        const st = await waitExited(rt, id);
        await sleep(50);
        return /net:\[(\d+)\]/.exec(readFileSync(st.logPath, 'utf8'))?.[1] ?? 'none';
      };
      assert.equal(await nsOf(joined.id), String(inode));
      assert.equal(await nsOf(host.id), String(statSync('/proc/self/ns/net').ino));
      const ownNs = await nsOf(own.id);
      assert.notEqual(ownNs, String(inode));
      assert.notEqual(ownNs, String(statSync('/proc/self/ns/net').ino));
      assert.equal((await rt.podSandboxStatus(joined.sandbox))?.networkNamespacePath, nsPath);
      for (const s of [joined.sandbox, host.sandbox, own.sandbox]) await rt.removePodSandbox(s);
      assert.deepEqual(env.leftovers(), []);
    } finally {
      spawnSync('ip', ['netns', 'del', netns]);
    }
  });

  it('rotates the log by size, keeping one rotated file', async () => {
    const rt = env.runtime({ logMaxBytes: 4096, logMaxFiles: 2 });
    const { id, sandbox } = await run(
      rt,
      env,
      'i=0; while [ $i -lt 400 ]; do echo "line $i with some padding text"; i=$((i+1)); done',
    );
    const st = await waitExited(rt, id);
    await sleep(100);
    const dir = join(st.logPath, '..');
    const files = readdirSync(dir).sort();
    assert.equal(files.length, 2, files.join(','));
    assert.match(files[1] ?? '', /^0\.log\.\d{8}-\d{6}/);
    const live = readFileSync(st.logPath, 'utf8');
    assert.match(live, /line 399 with/);
    assert.ok(live.length <= 4096 + 200);
    await rt.removePodSandbox(sandbox);
  });
});
