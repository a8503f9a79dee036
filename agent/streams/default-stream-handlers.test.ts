import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { realClock } from '../../lib/clock.js';
import type { ExecRequest, LogRequest } from '../../proto/gen/berth/v1/agent.js';
import { fakeImageRecord } from '../runtime/fake/fake-image-service.js';
import { FakeRuntime } from '../runtime/fake/fake-runtime.js';
import { fakeAnnotations } from '../runtime/fake/fake-script.js';
import { runtimeLabels } from '../runtime/labels.js';
import type { ContainerConfig, PodSandboxConfig } from '../runtime/runtime.js';
import { createStreamHandlers } from './default-stream-handlers.js';
import type { StreamFailure, TerminalSize, TunnelIo } from './stream-types.js';

const logs = mkdtempSync(join(tmpdir(), 'berth-streams-'));
after(() => {
  rmSync(logs, { recursive: true, force: true });
});

// Each setUp gets its own pod log directory, as each pod has.
let pods = 0;
function sandboxFor(uid: string): PodSandboxConfig {
  return {
    metadata: { name: 'web', namespace: 'default', uid, attempt: 0 },
    hostname: 'web',
    logDirectory: join(logs, `default_web_${uid}`),
    portMappings: [],
    labels: { [runtimeLabels.podUid]: uid },
    annotations: {},
  };
}

function container(uid: string, attempt: number, log: string): ContainerConfig {
  return {
    metadata: { name: 'app', attempt },
    image: { image: 'busybox:1.36', record: fakeImageRecord('busybox:1.36') },
    command: [],
    args: [],
    envs: [],
    mounts: [],
    labels: { [runtimeLabels.podUid]: uid, [runtimeLabels.containerName]: 'app' },
    annotations: { [fakeAnnotations.log]: log },
    logPath: `app/${attempt}.log`,
  };
}

const logReq = (over: Partial<LogRequest> = {}): LogRequest => ({
  namespace: 'default',
  podName: 'web',
  podUid: 'u1',
  container: 'app',
  follow: false,
  previous: false,
  timestamps: false,
  tailLines: -1,
  sinceSeconds: 0,
  sinceTimeMs: 0,
  limitBytes: 0,
  ...over,
});

const execReq = (command: string[], over: Partial<ExecRequest> = {}): ExecRequest => ({
  namespace: 'default',
  podName: 'web',
  podUid: 'u1',
  container: 'app',
  command,
  stdin: false,
  stdout: true,
  stderr: true,
  tty: false,
  attach: false,
  ...over,
});

/** An in-memory TunnelIo recording what the handler did. */
function recorder(stdinChunks: string[] = []): TunnelIo & {
  out: Record<number, string>;
  rejected: StreamFailure | undefined;
  exitCode: number | undefined;
  accepted: boolean;
  resize(size: TerminalSize): void;
} {
  const listeners: ((s: TerminalSize) => void)[] = [];
  const rec = {
    out: { 1: '', 2: '' } as Record<number, string>,
    accepted: false,
    rejected: undefined as StreamFailure | undefined,
    exitCode: undefined as number | undefined,
    accept() {
      rec.accepted = true;
    },
    reject(f: StreamFailure) {
      rec.rejected = f;
    },
    write(channel: 1 | 2, data: Uint8Array) {
      rec.out[channel] = (rec.out[channel] ?? '') + Buffer.from(data).toString('utf8');
      return Promise.resolve();
    },
    stdin: (async function* () {
      for (const c of stdinChunks) yield await Promise.resolve(Buffer.from(c));
    })(),
    onResize(l: (s: TerminalSize) => void) {
      listeners.push(l);
    },
    resize(s: TerminalSize) {
      for (const l of listeners) l(s);
    },
    exit(code: number) {
      rec.exitCode = code;
    },
  };
  return rec;
}

async function setUp(): Promise<{ runtime: FakeRuntime; uid: string; first: string; second: string }> {
  const uid = `u${++pods}`;
  const sandbox = sandboxFor(uid);
  const runtime = new FakeRuntime({ clock: realClock });
  const sb = await runtime.runPodSandbox(sandbox);
  assert.ok(sb.ok);
  const c0 = await runtime.createContainer(sb.id, container(uid, 0, 'first run\n'), sandbox);
  assert.ok(c0.ok);
  await runtime.startContainer(c0.id);
  runtime.crash(c0.id, 1);
  const c1 = await runtime.createContainer(sb.id, container(uid, 1, 'second run\nline two\n'), sandbox);
  assert.ok(c1.ok);
  await runtime.startContainer(c1.id);
  await runtime.flushLogs();
  return { runtime, uid, first: c0.id, second: c1.id };
}

describe('default stream handlers on the fake runtime', () => {
  it('reads the current container’s log, and the one before it with previous', async () => {
    const { runtime, uid } = await setUp();
    const h = createStreamHandlers({ runtime, podLogsDir: logs, clock: realClock });
    const cur = recorder();
    await h.logs(logReq({ podUid: uid }), cur, new AbortController().signal);
    assert.equal(cur.out[1], 'second run\nline two\n');
    const tail = recorder();
    await h.logs(logReq({ podUid: uid, tailLines: 1 }), tail, new AbortController().signal);
    assert.equal(tail.out[1], 'line two\n');
    const prev = recorder();
    await h.logs(logReq({ podUid: uid, previous: true }), prev, new AbortController().signal);
    assert.equal(prev.out[1], 'first run\n');
  });

  it('refuses with the kubelet’s messages', async () => {
    const runtime = new FakeRuntime({ clock: realClock });
    const h = createStreamHandlers({ runtime, podLogsDir: logs, clock: realClock });
    const none = recorder();
    await h.logs(logReq({ previous: true }), none, new AbortController().signal);
    assert.deepEqual(none.rejected, {
      code: 400,
      message: 'previous terminated container "app" in pod "web" not found',
    });
    const exec = recorder();
    await h.exec(execReq(['true']), exec, new AbortController().signal);
    assert.deepEqual(exec.rejected, { code: 400, message: 'container not found ("app")' });
  });

  it('follows until the container stops', async () => {
    const { runtime, uid, second } = await setUp();
    const h = createStreamHandlers({ runtime, podLogsDir: logs, clock: realClock, pollIntervalMs: 5 });
    const rec = recorder();
    const done = h.logs(logReq({ podUid: uid, follow: true }), rec, new AbortController().signal);
    while (!rec.out[1]?.includes('line two')) await new Promise((r) => setTimeout(r, 5));
    runtime.crash(second, 0);
    await done;
    assert.equal(rec.out[1], 'second run\nline two\n');
  });

  it('execs with exit codes, stdout/stderr, and stdin', async () => {
    const { runtime, uid } = await setUp();
    const h = createStreamHandlers({ runtime, podLogsDir: logs, clock: realClock });
    const three = recorder();
    await h.exec(
      execReq(['sh', '-c', 'echo out; echo err >&2; exit 3'], { podUid: uid }),
      three,
      new AbortController().signal,
    );
    assert.equal(three.exitCode, 3);
    assert.equal(three.out[1], 'out\n');
    assert.equal(three.out[2], 'err\n');
    const cat = recorder(['hello ', 'world\n']);
    await h.exec(execReq(['cat'], { podUid: uid, stdin: true }), cat, new AbortController().signal);
    assert.equal(cat.exitCode, 0);
    assert.equal(cat.out[1], 'hello world\n');
    const shell = recorder(['echo hi\r', 'exit 5\r']);
    await h.exec(
      execReq(['sh'], { podUid: uid, stdin: true, tty: true, stderr: false }),
      shell,
      new AbortController().signal,
    );
    assert.equal(shell.exitCode, 5);
    assert.match(shell.out[1] ?? '', /\/ # echo hi\r\nhi\r\n\/ # exit 5\r\n/);
  });
});
