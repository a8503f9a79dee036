/**
 * RuncRuntime's bookkeeping without root or runc: a scripted command runner stands in for runc,
 * mount and mkfifo, and a scripted launcher plays the shim by writing its pid and exit files; the
 * cgroup mount is a temp directory. The real thing runs in test/runtime-runc.test.ts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { realClock } from '../../../lib/clock.js';
import type { CommandResult, CommandRunner } from '../../../lib/command-runner.js';
import { silentLogger } from '../../../lib/logger.js';
import type { RootfsProvider } from '../../images/image-service.js';
import { fakeImageRecord } from '../fake/fake-image-service.js';
import type { ContainerConfig, PodSandboxConfig } from '../runtime.js';
import type { ProcessLauncher, ShimSpec } from './process-launcher.js';
import { RuncRuntime } from './runc-runtime.js';

type ShimScript = (s: ShimSpec) => void;

function world() {
  const base = mkdtempSync(join(tmpdir(), 'berth-runc-unit-'));
  const calls: string[] = [];
  const known = new Set<string>();
  let deleteFails = 0;
  const runner: CommandRunner = {
    run: (file, args): Promise<CommandResult> => {
      calls.push([file, ...args].join(' '));
      const ok = (stdout = ''): Promise<CommandResult> => Promise.resolve({ code: 0, stdout, stderr: '' });
      if (file === '/bin/sh' && args[2] === 'berth-mount') {
        execFileSync('mkfifo', [args[3] ?? '', args[4] ?? '']);
        return ok();
      }
      if (file === 'mount' || file === 'umount') return ok();
      const cmd = args[2];
      const id = args[3] ?? '';
      if (args[0] === '--version') return ok('runc version 9.9.9\n');
      if (cmd === 'state') {
        return known.has(id)
          ? ok(JSON.stringify({ id, pid: 42, status: 'running' }))
          : Promise.resolve({ code: 1, stdout: '', stderr: 'container does not exist' });
      }
      if (cmd === 'delete') {
        if (deleteFails > 0) {
          deleteFails--;
          return Promise.resolve({ code: 1, stdout: '', stderr: 'cannot delete: device busy' });
        }
        known.delete(args[args.length - 1] ?? '');
        return ok();
      }
      return ok();
    },
  };
  let shim: ShimScript = () => undefined;
  const launcher: ProcessLauncher = {
    launchShim: (s) => {
      known.add(s.containerId);
      shim(s);
    },
    launchPiped: () => {
      throw new Error('not in this test');
    },
  };
  const rootfs: RootfsProvider = {
    prepareRootfs: (_image, containerId) =>
      Promise.resolve({
        ok: true,
        rootfs: {
          lowerDirs: ['/l'],
          upperDir: `/u/${containerId}`,
          workDir: `/w/${containerId}`,
          mount: { type: 'overlay', source: 'overlay', options: ['lowerdir=/l'] },
        },
      }),
    releaseRootfs: () => Promise.resolve(true),
  };
  const cgroupMount = join(base, 'cgroup');
  mkdirSync(join(cgroupMount, 'memory'), { recursive: true });
  const runtime = (): RuncRuntime =>
    new RuncRuntime({
      runcPath: '/fake/runc',
      root: join(base, 'runc-root'),
      stateDir: join(base, 'state'),
      cgroupRoot: '/berth-unit',
      rootfs,
      logger: silentLogger(),
      clock: realClock,
      runner,
      launcher,
      cgroupMount,
      startTimeoutMs: 2000,
    });
  const sandbox: PodSandboxConfig = {
    metadata: { name: 'p', namespace: 'ns', uid: 'uid-1', attempt: 0 },
    hostname: 'p',
    logDirectory: join(base, 'logs'),
    portMappings: [],
    labels: {},
    annotations: {},
  };
  const container = (name: string, extra: Partial<ContainerConfig> = {}): ContainerConfig => ({
    metadata: { name, attempt: 0 },
    image: { image: 'busybox', record: fakeImageRecord('busybox') },
    command: ['sh', '-c', 'true'],
    args: [],
    envs: [],
    mounts: [],
    labels: {},
    annotations: {},
    logPath: `${name}/0.log`,
    ...extra,
  });
  return {
    base,
    calls,
    known,
    cgroupMount,
    runtime,
    sandbox,
    container,
    setShim: (f: ShimScript) => {
      shim = f;
    },
    /** The next `n` runc deletes fail. */
    failDeletes: (n: number) => {
      deleteFails = n;
    },
    close: () => {
      rmSync(base, { recursive: true, force: true });
    },
  };
}

const writeExit = (s: ShimSpec, code: number): void => {
  writeFileSync(join(s.containerDir, 'exit'), `${code}\n`);
};

describe('RuncRuntime (scripted runc)', () => {
  it('starts once the shim writes its pid file and records exit code and reason from the exit file', async () => {
    const w = world();
    try {
      const rt = w.runtime();
      let shim: ShimSpec | undefined;
      w.setShim((s) => {
        shim = s;
        setTimeout(() => {
          writeFileSync(join(s.containerDir, 'pid'), '42');
        }, 20);
      });
      const sb = await rt.runPodSandbox(w.sandbox);
      assert.ok(sb.ok);
      const hosts = readFileSync(join(w.base, 'state', 'sandboxes', sb.id, 'hostname'), 'utf8');
      assert.equal(hosts, 'p\n');
      const c = await rt.createContainer(sb.id, w.container('app'), w.sandbox);
      assert.ok(c.ok, c.ok ? '' : c.message);
      const spec = JSON.parse(
        readFileSync(join(w.base, 'state', 'containers', c.id, 'bundle', 'config.json'), 'utf8'),
      ) as { linux: { cgroupsPath: string } };
      assert.equal(spec.linux.cgroupsPath, `/berth-unit/poduid-1/${c.id}`);
      assert.ok((await rt.startContainer(c.id)).ok);
      assert.equal((await rt.containerStatus(c.id))?.state, 'RUNNING');
      assert.ok(w.calls.some((l) => l.includes('berth-mount') && l.includes(' lowerdir=/l ')));

      // The kernel OOM-killed something in its memory cgroup, then the shim recorded 137.
      const memDir = join(w.cgroupMount, 'memory', 'berth-unit', 'poduid-1', c.id);
      mkdirSync(memDir, { recursive: true });
      writeFileSync(join(memDir, 'memory.oom_control'), 'oom_kill_disable 0\nunder_oom 0\noom_kill 1\n');
      assert.ok(shim !== undefined);
      writeExit(shim, 137);
      const st = await rt.containerStatus(c.id);
      assert.equal(st?.state, 'EXITED');
      assert.equal(st.exitCode, 137);
      assert.equal(st.reason, 'OOMKilled');
      assert.ok(w.calls.some((l) => l.endsWith(`delete -f ${c.id}`)));

      // A second start of the same container is refused.
      const again = await rt.startContainer(c.id);
      assert.equal(again.ok ? '' : again.reason, 'InvalidState');
      await rt.removePodSandbox(sb.id);
      assert.deepEqual(await rt.listContainers(), []);
      assert.equal(
        w.calls.filter((l) => l.endsWith(`delete -f ${c.id}`)).length,
        1,
        'deleted once, at the exit; not again at removal',
      );
    } finally {
      w.close();
    }
  });

  it('deletes the runc container again at removal when the delete at its exit failed', async () => {
    const w = world();
    try {
      const rt = w.runtime();
      w.setShim((s) => {
        writeFileSync(join(s.containerDir, 'pid'), '42');
      });
      const sb = await rt.runPodSandbox(w.sandbox);
      assert.ok(sb.ok);
      const c = await rt.createContainer(sb.id, w.container('app'), w.sandbox);
      assert.ok(c.ok);
      const started = await rt.startContainer(c.id);
      assert.ok(started.ok);
      w.failDeletes(1);
      writeExit(
        {
          runcPath: '',
          runcRoot: '',
          bundle: '',
          containerId: c.id,
          containerDir: join(w.base, 'state', 'containers', c.id),
        },
        0,
      );
      assert.equal((await rt.containerStatus(c.id))?.state, 'EXITED');
      await rt.removeContainer(c.id);
      assert.equal(w.calls.filter((l) => l.endsWith(`delete -f ${c.id}`)).length, 2);
      assert.ok(!w.known.has(c.id), 'runc no longer knows it');
      await rt.removePodSandbox(sb.id);
    } finally {
      w.close();
    }
  });

  it('reports StartError with runc’s message when the shim exits without a pid file', async () => {
    const w = world();
    try {
      const rt = w.runtime();
      w.setShim((s) => {
        writeFileSync(
          join(s.containerDir, 'runc.log'),
          '{"level":"error","msg":"exec: \\"/nope\\": no such file or directory"}\n',
        );
        writeExit(s, 1);
      });
      const sb = await rt.runPodSandbox(w.sandbox);
      assert.ok(sb.ok);
      const c = await rt.createContainer(sb.id, w.container('bad'), w.sandbox);
      assert.ok(c.ok);
      const r = await rt.startContainer(c.id);
      assert.equal(r.ok, false);
      const st = await rt.containerStatus(c.id);
      assert.equal(st?.reason, 'StartError');
      assert.equal(st.exitCode, 128);
      assert.match(st.message ?? '', /no such file/);
      await rt.removePodSandbox(sb.id);
    } finally {
      w.close();
    }
  });

  it('after a restart, never starts again a container whose start was asked but not confirmed', async () => {
    const w = world();
    try {
      const first = w.runtime();
      // The shim never gets going (the agent died right after asking): runc never hears of it.
      w.setShim((s) => w.known.delete(s.containerId));
      const sb = await first.runPodSandbox(w.sandbox);
      assert.ok(sb.ok);
      const c = await first.createContainer(sb.id, w.container('app'), w.sandbox);
      assert.ok(c.ok);
      const ac = new AbortController();
      const starting = first.startContainer(c.id, { signal: ac.signal });
      await new Promise((r) => setTimeout(r, 50));
      ac.abort();
      await assert.rejects(starting);

      const second = w.runtime();
      const st = await second.containerStatus(c.id);
      assert.equal(st?.state, 'EXITED');
      assert.equal(st.reason, 'StartError');
      const shimsBefore = w.calls.length;
      const r = await second.startContainer(c.id);
      assert.equal(r.ok ? '' : r.reason, 'InvalidState');
      assert.equal(w.calls.length, shimsBefore, 'no runc call: nothing was started');
      // Sandbox and container records came back in order.
      assert.deepEqual(
        (await second.listPodSandboxes()).map((s) => s.id),
        [sb.id],
      );
      await second.removePodSandbox(sb.id);
      await first.close();
      await second.close();
    } finally {
      w.close();
    }
  });

  it('refuses sharePidNamespace and cgroup parents outside its root', async () => {
    const w = world();
    try {
      const rt = w.runtime();
      const shared = await rt.runPodSandbox({ ...w.sandbox, linux: { sharePidNamespace: true } });
      assert.equal(shared.ok ? '' : shared.reason, 'InvalidConfig');
      const outside = await rt.runPodSandbox({ ...w.sandbox, linux: { cgroupParent: '/elsewhere/pod1' } });
      assert.equal(outside.ok ? '' : outside.reason, 'InvalidConfig');
      const inside = await rt.runPodSandbox({ ...w.sandbox, linux: { cgroupParent: '/berth-unit/podx' } });
      assert.ok(inside.ok);
      const badLog = await rt.createContainer(
        inside.id,
        w.container('x', { logPath: '../../etc/x' }),
        w.sandbox,
      );
      assert.equal(badLog.ok ? '' : badLog.reason, 'InvalidConfig');
      await rt.removePodSandbox(inside.id);
    } finally {
      w.close();
    }
  });
});
