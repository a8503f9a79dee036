import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as macrotask } from 'node:timers/promises';
import { FakeClock } from '../../../lib/clock.js';
import type { ContainerConfig, PodSandboxConfig } from '../runtime.js';
import { runtimeContractTests } from '../testing/runtime-contract.js';
import { FakeRuntime } from './fake-runtime.js';
import { fakeAnnotations } from './fake-script.js';
import { fakeImageRecord } from './fake-image-service.js';

async function advance(clock: FakeClock, ms: number): Promise<void> {
  await clock.advance(ms);
  await macrotask();
}

runtimeContractTests('fake', () => {
  const clock = new FakeClock();
  const runtime = new FakeRuntime({ clock });
  return Promise.resolve({
    runtime,
    image: { image: 'busybox:1.36', record: fakeImageRecord('busybox:1.36') },
    workload: (w) => {
      switch (w.kind) {
        case 'run':
          return { command: ['sleep', '3600'], args: [] };
        case 'ignore-sigterm':
          return {
            command: ['sleep', '3600'],
            args: [],
            annotations: { [fakeAnnotations.ignoreSigterm]: 'true' },
          };
        case 'exit':
          return {
            command: ['sh', '-c', `exit ${w.exitCode}`],
            args: [],
            annotations: {
              [fakeAnnotations.exitCode]: String(w.exitCode),
              [fakeAnnotations.runForMs]: String(w.afterMs ?? 0),
            },
          };
      }
    },
    elapse: (ms) => advance(clock, ms),
    close: () => {
      assert.equal(runtime.size.containers, 0, 'the contract removes every container it makes');
      return Promise.resolve();
    },
  });
});

function sandboxConfig(annotations: Record<string, string> = {}): PodSandboxConfig {
  return {
    metadata: { name: 'web-1', namespace: 'default', uid: 'u1', attempt: 0 },
    hostname: 'web-1',
    logDirectory: '/var/log/pods/default_web-1_u1',
    portMappings: [],
    labels: {},
    annotations,
  };
}

function containerConfig(name: string, extra: Partial<ContainerConfig> = {}): ContainerConfig {
  return {
    metadata: { name, attempt: 0 },
    image: { image: 'busybox' },
    command: [],
    args: [],
    envs: [],
    mounts: [],
    labels: {},
    annotations: {},
    logPath: `${name}/0.log`,
    ...extra,
  };
}

async function setup(podAnnotations: Record<string, string> = {}) {
  const clock = new FakeClock();
  const rt = new FakeRuntime({ clock });
  const sbCfg = sandboxConfig(podAnnotations);
  const sb = await rt.runPodSandbox(sbCfg);
  assert.ok(sb.ok);
  const start = async (cfg: ContainerConfig): Promise<string> => {
    const c = await rt.createContainer(sb.id, cfg, sbCfg);
    assert.ok(c.ok, c.ok ? '' : c.message);
    const p = rt.startContainer(c.id);
    const r = await p;
    assert.ok(r.ok, r.ok ? '' : r.message);
    return c.id;
  };
  return { clock, rt, sb: sb.id, sbCfg, start };
}

describe('FakeRuntime scripting', () => {
  it('exits after fake-run-for-ms with fake-exit-code, noticed lazily with the exact finish time', async () => {
    const { clock, rt, start } = await setup({
      [fakeAnnotations.runForMs]: '5000',
      [fakeAnnotations.exitCode]: '2',
    });
    const t0 = clock.now();
    const id = await start(containerConfig('app'));
    assert.equal(clock.pendingTimers, 0, 'no timer per container');
    await advance(clock, 4999);
    assert.equal((await rt.containerStatus(id))?.state, 'RUNNING');
    await advance(clock, 60_000);
    const st = await rt.containerStatus(id);
    assert.equal(st?.state, 'EXITED');
    assert.equal(st.exitCode, 2);
    assert.equal(st.reason, 'Error');
    assert.equal(st.finishedAt, t0 + 5000);
  });

  it('per-container keys win over pod-wide keys; pod-wide keys skip init containers', async () => {
    const { clock, rt, start } = await setup({
      [fakeAnnotations.exitCode]: '1',
      [`${fakeAnnotations.exitCode}.sidecar`]: '0',
      [`${fakeAnnotations.runForMs}.sidecar`]: '100',
    });
    const app = await start(containerConfig('app'));
    const sidecar = await start(containerConfig('sidecar'));
    const init = await start(containerConfig('init', { labels: { 'berth.dev/container-type': 'init' } }));
    const forever = await start(
      containerConfig('forever', {
        annotations: { [fakeAnnotations.exitCode]: '7', [fakeAnnotations.runForMs]: '999999' },
      }),
    );
    await advance(clock, 1000);
    assert.equal((await rt.containerStatus(app))?.exitCode, 1);
    assert.equal((await rt.containerStatus(sidecar))?.exitCode, 0);
    assert.equal((await rt.containerStatus(sidecar))?.reason, 'Completed');
    const initSt = await rt.containerStatus(init);
    assert.equal(initSt?.state, 'EXITED', 'init containers exit 0 by default');
    assert.equal(initSt.exitCode, 0);
    assert.equal((await rt.containerStatus(forever))?.state, 'RUNNING');
  });

  it('start delay keeps the container CREATED until the clock has moved', async () => {
    const { clock, rt, sb, sbCfg } = await setup({ [fakeAnnotations.startDelayMs]: '3000' });
    const c = await rt.createContainer(sb, containerConfig('app'), sbCfg);
    assert.ok(c.ok);
    let started = false;
    const p = rt.startContainer(c.id).then((r) => {
      started = r.ok;
    });
    await advance(clock, 2000);
    assert.equal(started, false);
    assert.equal((await rt.containerStatus(c.id))?.state, 'CREATED');
    await advance(clock, 1000);
    await p;
    assert.equal(started, true);
    assert.equal((await rt.containerStatus(c.id))?.state, 'RUNNING');
  });

  it('OOM kill after fake-oom-after-ms reports 137 OOMKilled', async () => {
    const { clock, rt, start } = await setup({ [fakeAnnotations.oomAfterMs]: '100' });
    const id = await start(containerConfig('hog'));
    await advance(clock, 200);
    const st = await rt.containerStatus(id);
    assert.equal(st?.exitCode, 137);
    assert.equal(st.reason, 'OOMKilled');
  });

  it('create and start errors are values; a failed start leaves the container EXITED 128', async () => {
    const { rt, sb, sbCfg } = await setup({
      [`${fakeAnnotations.createError}.bad`]: 'no such user "nobody2"',
    });
    const bad = await rt.createContainer(sb, containerConfig('bad'), sbCfg);
    assert.deepEqual(bad, { ok: false, reason: 'Failed', message: 'no such user "nobody2"' });
    const c = await rt.createContainer(
      sb,
      containerConfig('app', { annotations: { [fakeAnnotations.startError]: 'exec: "nope": not found' } }),
      sbCfg,
    );
    assert.ok(c.ok);
    const r = await rt.startContainer(c.id);
    assert.equal(r.ok, false);
    const st = await rt.containerStatus(c.id);
    assert.equal(st?.state, 'EXITED');
    assert.equal(st.exitCode, 128);
    assert.equal(st.reason, 'StartError');
    assert.equal(st.message, 'exec: "nope": not found');
  });

  it('a graceful stop takes fake-stop-delay-ms and exits with the SIGTERM code', async () => {
    const { clock, rt, start } = await setup({
      [fakeAnnotations.stopDelayMs]: '1500',
      [fakeAnnotations.sigtermExitCode]: '0',
    });
    const id = await start(containerConfig('app'));
    let done = false;
    const p = rt.stopContainer(id, 10).then(() => {
      done = true;
    });
    await advance(clock, 1000);
    assert.equal(done, false);
    await advance(clock, 600);
    await p;
    const st = await rt.containerStatus(id);
    assert.equal(st?.exitCode, 0);
    assert.equal(st.reason, 'Completed');
  });

  it('a stop that takes longer than the timeout ends in SIGKILL', async () => {
    const { clock, rt, start } = await setup({ [fakeAnnotations.stopDelayMs]: '5000' });
    const id = await start(containerConfig('app'));
    const p = rt.stopContainer(id, 2);
    await advance(clock, 2000);
    await p;
    assert.equal((await rt.containerStatus(id))?.exitCode, 137);
  });

  it('exec reads files written by the test, and times out a long sleep', async () => {
    const { clock, rt, start } = await setup();
    const id = await start(containerConfig('app'));
    const probe = ['cat', '/tmp/healthy'];
    const before = await rt.execSync(id, { cmd: probe });
    assert.equal(before.ok && before.exitCode, 1);
    rt.writeFile(id, '/tmp/healthy', 'ok\n');
    const after = await rt.execSync(id, { cmd: probe });
    assert.equal(after.ok && new TextDecoder().decode(after.stdout), 'ok\n');
    const slow = rt.execSync(id, { cmd: ['sh', '-c', 'sleep 10'], timeoutSeconds: 1 });
    await advance(clock, 1000);
    const r = await slow;
    assert.ok(r.ok);
    assert.equal(r.timedOut, true);
  });

  it('crash() ends a running container as a test hook', async () => {
    const { rt, start } = await setup();
    const id = await start(containerConfig('app'));
    assert.equal(rt.crash(id, 137, 'OOMKilled'), true);
    assert.equal((await rt.containerStatus(id))?.reason, 'OOMKilled');
    assert.equal(rt.crash(id, 1), false);
  });
});
