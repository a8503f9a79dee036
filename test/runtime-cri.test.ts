/**
 * The `cri` runtime against a real containerd 1.6 (test/harness/containerd.ts): the shared runtime
 * contract suite, then what only CRI does — pulls through containerd with basic auth, the log file
 * containerd writes in CRI format, the pod IP containerd's CNI gives the sandbox (reachable from the
 * host), and streaming exec over containerd's streaming server. Images are built offline from the
 * host's static busybox and pushed to private test registries. Skips unless root with containerd,
 * runc, the CNI plugins, docker-registry and htpasswd installed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { CriImageService } from '../agent/runtime/cri/cri-image-service.js';
import { createCriNode } from '../agent/runtime/cri/cri-node.js';
import type { ContainerConfig, ContainerImage, PodSandboxConfig } from '../agent/runtime/runtime.js';
import { createPodManager } from '../agent/pods/pod-workers.js';
import { RecordingReporter } from '../agent/pods/testing/recording-reporter.js';
import { realClock } from '../lib/clock.js';
import { silentLogger } from '../lib/logger.js';
import {
  runtimeContractTests,
  type RuntimeContractFixture,
} from '../agent/runtime/testing/runtime-contract.js';
import { containerdAvailable, startContainerd, type ContainerdHandle } from './harness/containerd.js';
import {
  busyboxAvailable,
  busyboxEntries,
  makeImage,
  makeLayer,
  makeTar,
  pushImage,
  type TarEntry,
} from './harness/images.js';
import {
  htpasswdAvailable,
  registryAvailable,
  startRegistry,
  type RegistryHandle,
} from './harness/registry.js';

const skip = containerdAvailable() ?? registryAvailable() ?? htpasswdAvailable() ?? busyboxAvailable();
if (skip !== undefined) console.log(`# runtime-cri: skipped: ${skip}`);

interface Env {
  readonly containerd: ContainerdHandle;
  readonly plain: RegistryHandle;
  readonly auth: RegistryHandle;
  readonly busybox: string;
  readonly privateImage: string;
  readonly logsDir: string;
}

let envP: Promise<Env> | undefined;
const started: {
  plain?: RegistryHandle;
  auth?: RegistryHandle;
  containerd?: ContainerdHandle;
  logsDir?: string;
} = {};

/** Registries, images and containerd, started once for the file and stopped in `after`. */
function env(): Promise<Env> {
  envP ??= (async () => {
    const logsDir = mkdtempSync(join(tmpdir(), 'berth-cri-logs-'));
    started.logsDir = logsDir;
    const plain = await startRegistry({ mode: 'plain' });
    started.plain = plain;
    const auth = await startRegistry({ mode: 'htpasswd', users: { berth: 's3cret' } });
    started.auth = auth;
    const extra: TarEntry[] = ['head', 'hostname', 'id', 'env', 'true', 'wc'].map((a) => ({
      name: `bin/${a}`,
      type: 'symlink',
      linkname: 'busybox',
    }));
    const rootfs = await makeTar([
      ...busyboxEntries(),
      ...extra,
      { name: 'www/', type: 'directory' },
      { name: 'www/index.html', content: 'hello from berth cri\n' },
    ]);
    const layer = makeLayer(rootfs);
    const busyboxImage = makeImage([layer], {
      config: { Cmd: ['/bin/sh'], Env: ['PATH=/bin'], WorkingDir: '/' },
    });
    const pauseImage = makeImage([layer], {
      config: {
        Entrypoint: ['/bin/sh', '-c', 'trap "exit 0" TERM INT; while :; do sleep 3600 & wait $!; done'],
        Cmd: [],
      },
    });
    await pushImage(plain, 'berth/busybox', 'latest', busyboxImage);
    await pushImage(plain, 'berth/pause', 'latest', pauseImage);
    await pushImage(auth, 'berth/private', 'v1', busyboxImage, { username: 'berth', password: 's3cret' });
    const containerd = await startContainerd({
      sandboxImage: `${plain.host}/berth/pause:latest`,
      registries: [{ host: plain.host }, { host: auth.host }],
    });
    started.containerd = containerd;
    return {
      containerd,
      plain,
      auth,
      busybox: `${plain.host}/berth/busybox:latest`,
      privateImage: `${auth.host}/berth/private:v1`,
      logsDir,
    };
  })();
  return envP;
}

after(async () => {
  await started.containerd?.stop();
  await started.plain?.stop();
  await started.auth?.stop();
  if (started.logsDir !== undefined) rmSync(started.logsDir, { recursive: true, force: true });
});

async function pulledImage(images: CriImageService, ref: string): Promise<ContainerImage> {
  const res = await images.pull(ref);
  if (!res.ok) assert.fail(`pull ${ref}: ${res.reason}: ${res.message}`);
  return { image: ref, record: res.image };
}

function sandboxFor(e: Env, base: PodSandboxConfig): PodSandboxConfig {
  return {
    ...base,
    logDirectory: join(e.logsDir, `${base.metadata.namespace}_${base.metadata.name}_${base.metadata.uid}`),
    linux: { ...base.linux, cgroupParent: `${e.containerd.cgroupRoot}/pod${base.metadata.uid}` },
  };
}

runtimeContractTests(
  'cri (containerd)',
  async (): Promise<RuntimeContractFixture> => {
    const e = await env();
    const node = createCriNode({ endpoint: e.containerd.endpoint });
    const image = await pulledImage(node.images, e.busybox);
    return {
      runtime: node.runtime,
      image,
      workload(w) {
        switch (w.kind) {
          case 'run':
            return {
              command: ['/bin/sh', '-c', 'trap "exit 0" TERM; while :; do sleep 1 & wait $!; done'],
              args: [],
            };
          case 'ignore-sigterm':
            return { command: ['/bin/sh', '-c', 'trap "" TERM; while :; do sleep 1; done'], args: [] };
          case 'exit': {
            const delay = w.afterMs === undefined ? '' : `sleep ${(w.afterMs / 1000).toFixed(3)}; `;
            return { command: ['/bin/sh', '-c', `${delay}exit ${w.exitCode}`], args: [] };
          }
        }
      },
      elapse: (ms) => new Promise((r) => setTimeout(r, ms)),
      sandboxConfig: (base) => sandboxFor(e, base),
      close: () => {
        node.close();
        return Promise.resolve();
      },
    };
  },
  skip === undefined ? { patienceMs: 20_000 } : { skip },
);

function sandboxConfig(e: Env, name: string): PodSandboxConfig {
  const uid = randomUUID();
  return sandboxFor(e, {
    metadata: { name, namespace: 'cri-test', uid, attempt: 0 },
    hostname: name,
    logDirectory: '',
    portMappings: [],
    labels: { 'io.kubernetes.pod.uid': uid },
    annotations: {},
  });
}

function containerConfig(image: ContainerImage, name: string, script: string): ContainerConfig {
  return {
    metadata: { name, attempt: 0 },
    image,
    command: ['/bin/sh', '-c', script],
    args: [],
    envs: [{ key: 'GREETING', value: 'hello cri' }],
    mounts: [],
    labels: {},
    annotations: {},
    logPath: `${name}/0.log`,
  };
}

function readAll(stream: Readable | NodeJS.ReadableStream | undefined): Promise<string> {
  if (stream === undefined) return Promise.resolve('');
  return new Promise((resolve, reject) => {
    let text = '';
    stream.on('data', (d: Buffer) => {
      text += d.toString('utf8');
    });
    stream.on('end', () => {
      resolve(text);
    });
    stream.on('error', reject);
  });
}

function httpGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => {
        body += d.toString();
      });
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) return assert.fail(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

void describe('cri runtime: what only containerd does', skip === undefined ? {} : { skip }, () => {
  let e: Env;
  let node: ReturnType<typeof createCriNode>;
  const sandboxes: string[] = [];

  before(async () => {
    e = await env();
    node = createCriNode({ endpoint: e.containerd.endpoint });
  });
  after(async () => {
    for (const id of sandboxes) await node.runtime.removePodSandbox(id).catch(() => undefined);
    node.close();
  });

  async function runSandbox(name: string): Promise<{ id: string; cfg: PodSandboxConfig }> {
    const cfg = sandboxConfig(e, name);
    const res = await node.runtime.runPodSandbox(cfg);
    if (!res.ok) assert.fail(`runPodSandbox: ${res.reason}: ${res.message}`);
    sandboxes.push(res.id);
    return { id: res.id, cfg };
  }

  void it('reports itself as containerd over CRI v1', async () => {
    const v = await node.runtime.version();
    assert.equal(v.runtimeName, 'containerd');
    assert.equal(v.runtimeApiVersion, 'v1');
    assert.equal(node.runtime.name, 'containerd');
    const conditions = await node.runtime.status();
    assert.equal(conditions.find((c) => c.type === 'NetworkReady')?.status, true);
  });

  void it('pulls through containerd with basic auth, lists, inspects and removes', async () => {
    const images = new CriImageService({ endpoint: e.containerd.endpoint });
    try {
      const anonymous = await images.pull(e.privateImage);
      assert.equal(
        anonymous.ok ? '' : anonymous.reason,
        'Unauthorized',
        anonymous.ok ? '' : anonymous.message,
      );
      const wrong = await images.pull(e.privateImage, {
        credentials: new Map([[e.auth.host, { username: 'berth', password: 'nope' }]]),
      });
      assert.equal(wrong.ok ? '' : wrong.reason, 'Unauthorized', wrong.ok ? '' : wrong.message);

      const progress: string[] = [];
      const ok = await images.pull(e.privateImage, {
        credentials: new Map([[e.auth.host, { username: 'berth', password: 's3cret' }]]),
        onProgress: (p) => progress.push(p.phase ?? ''),
      });
      assert.ok(ok.ok, ok.ok ? '' : ok.message);
      assert.deepEqual(progress, ['done']);
      assert.ok(ok.image.references.includes(e.privateImage), ok.image.references.join(','));
      assert.match(ok.image.configDigest, /^sha256:[0-9a-f]{64}$/);
      assert.match(ok.image.digest, /^sha256:[0-9a-f]{64}$/);
      assert.notEqual(ok.image.digest, ok.image.configDigest, 'digest is the manifest digest');
      assert.deepEqual(ok.image.config.cmd, ['/bin/sh']);
      assert.deepEqual(ok.image.config.env, ['PATH=/bin']);
      assert.ok(ok.image.size > 0);

      assert.equal((await images.status(e.privateImage))?.configDigest, ok.image.configDigest);
      assert.ok((await images.list()).some((i) => i.references.includes(e.privateImage)));

      const missing = await images.pull(`${e.plain.host}/berth/nothing-here:v1`);
      assert.equal(missing.ok ? '' : missing.reason, 'NotFound', missing.ok ? '' : missing.message);
      const invalid = await images.pull('busybox@sha256:not-hex');
      assert.equal(invalid.ok ? '' : invalid.reason, 'InvalidReference');

      assert.equal(await images.remove(e.privateImage), true);
      assert.equal(await images.status(e.privateImage), undefined);
      assert.equal(await images.remove(e.privateImage), false);
    } finally {
      images.close();
    }
  });

  void it('has containerd write the container log in CRI format where the config says', async () => {
    const image = await pulledImage(node.images, e.busybox);
    const { id, cfg } = await runSandbox('logs');
    const c = await node.runtime.createContainer(
      id,
      containerConfig(image, 'talker', 'echo "$GREETING"; echo to-stderr >&2; echo partial-free'),
      cfg,
    );
    assert.ok(c.ok, c.ok ? '' : c.message);
    assert.ok((await node.runtime.startContainer(c.id)).ok);
    const st = await waitFor('exit', async () => {
      const s = await node.runtime.containerStatus(c.id);
      return s?.state === 'EXITED' ? s : undefined;
    });
    assert.equal(st.exitCode, 0);
    assert.equal(st.reason, 'Completed');
    assert.equal(st.podSandboxId, id);
    assert.equal(st.image, e.busybox);
    assert.match(st.imageRef, /@sha256:[0-9a-f]{64}$/);
    assert.equal(st.logPath, join(cfg.logDirectory, 'talker/0.log'));
    const lines = readFileSync(st.logPath, 'utf8').trimEnd().split('\n');
    assert.equal(lines.length, 3, lines.join('\n'));
    const parsed = lines.map((l) =>
      /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+(?:Z|[+-]\d\d:\d\d)) (stdout|stderr) ([FP]) (.*)$/.exec(l),
    );
    const matched = parsed.filter((m): m is RegExpExecArray => m !== null);
    assert.equal(matched.length, lines.length, lines.join('\n'));
    const byStream = matched.map((m) => `${m[2] ?? ''} ${m[3] ?? ''} ${m[4] ?? ''}`).sort();
    assert.deepEqual(byStream, ['stderr F to-stderr', 'stdout F hello cri', 'stdout F partial-free']);
  });

  void it('takes the pod IP from the sandbox status; the pod answers on it from the host', async () => {
    const image = await pulledImage(node.images, e.busybox);
    const { id, cfg } = await runSandbox('web');
    const st = await node.runtime.podSandboxStatus(id);
    const ip = st?.network?.ip ?? '';
    const prefix = e.containerd.subnet.slice(0, e.containerd.subnet.lastIndexOf('.') + 1);
    assert.ok(ip.startsWith(prefix), `pod IP ${ip} in ${e.containerd.subnet}`);
    // criPodNetwork hands out nothing: the pod workers fall back to this status IP.
    const net = await node.network.setUp({
      uid: cfg.metadata.uid,
      namespace: 'cri-test',
      name: 'web',
      portMappings: [],
    });
    assert.deepEqual(net, { ok: true, ips: [] });

    const c = await node.runtime.createContainer(
      id,
      containerConfig(image, 'httpd', 'exec httpd -f -p 80 -h /www'),
      cfg,
    );
    assert.ok(c.ok, c.ok ? '' : c.message);
    assert.ok((await node.runtime.startContainer(c.id)).ok);
    const res = await waitFor('http answer', () => httpGet(`http://${ip}/index.html`).catch(() => undefined));
    assert.equal(res.status, 200);
    assert.equal(res.body, 'hello from berth cri\n');

    const hostname = await node.runtime.execSync(c.id, { cmd: ['hostname'], timeoutSeconds: 10 });
    assert.ok(hostname.ok);
    assert.equal(new TextDecoder().decode(hostname.stdout), 'web\n');
    const timedOut = await node.runtime.execSync(c.id, { cmd: ['sleep', '30'], timeoutSeconds: 1 });
    assert.ok(timedOut.ok && timedOut.timedOut === true, JSON.stringify(timedOut));
  });

  void it('streams an exec through containerd’s streaming server, with stdin and exit codes', async () => {
    const image = await pulledImage(node.images, e.busybox);
    const { id, cfg } = await runSandbox('exec');
    const c = await node.runtime.createContainer(
      id,
      containerConfig(image, 'app', 'trap "exit 0" TERM; while :; do sleep 1 & wait $!; done'),
      cfg,
    );
    assert.ok(c.ok);
    assert.ok((await node.runtime.startContainer(c.id)).ok);
    const rt = node.runtime;

    const s = await rt.execStream(c.id, {
      cmd: ['sh', '-c', 'echo out; echo err >&2; exit 5'],
      tty: false,
      stdin: false,
    });
    assert.ok(!('ok' in s), 'a session');
    const [out, err, code] = await Promise.all([readAll(s.stdout), readAll(s.stderr), s.exit]);
    assert.equal(out, 'out\n');
    assert.equal(err, 'err\n');
    assert.equal(code, 5);

    // v4.channel.k8s.io cannot half-close stdin: read a fixed number of bytes instead of waiting for EOF.
    const i = await rt.execStream(c.id, { cmd: ['head', '-c', '6'], tty: false, stdin: true });
    assert.ok(!('ok' in i));
    const echoed = readAll(i.stdout);
    i.stdin?.write('hello\n');
    assert.equal(await echoed, 'hello\n');
    assert.equal(await i.exit, 0);

    // With a tty, stderr is merged into stdout (which the tty turns into CRLF) and resize is accepted.
    const t = await rt.execStream(c.id, {
      cmd: ['sh', '-c', 'echo tty-out; echo tty-err >&2'],
      tty: true,
      stdin: false,
    });
    assert.ok(!('ok' in t));
    assert.equal(t.stderr, undefined);
    t.resize?.({ width: 100, height: 40 });
    const [ttyOut, ttyCode] = await Promise.all([readAll(t.stdout), t.exit]);
    assert.equal(ttyOut, 'tty-out\r\ntty-err\r\n');
    assert.equal(ttyCode, 0);

    const missing = await rt.execStream('f'.repeat(64), { cmd: ['true'], tty: false, stdin: false });
    assert.equal('ok' in missing ? missing.reason : '', 'NotFound');
  });

  void it('runs a pod through the pod workers on containerd, and deleting it leaves nothing', async () => {
    const reporter = new RecordingReporter();
    const mgr = createPodManager({
      runtime: node.runtime,
      images: node.images,
      network: node.network,
      reporter,
      clock: realClock,
      logger: silentLogger(),
      nodeName: 'cri-node',
      nodeIP: '127.0.0.1',
      podLogsDir: e.logsDir,
      cgroupRoot: e.containerd.cgroupRoot,
      relistIntervalMs: 200,
    });
    const uid = randomUUID();
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web-cri', namespace: 'default', uid },
      spec: {
        nodeName: 'cri-node',
        restartPolicy: 'Always',
        terminationGracePeriodSeconds: 5,
        containers: [
          {
            name: 'web',
            image: e.busybox,
            imagePullPolicy: 'IfNotPresent',
            command: ['httpd', '-f', '-p', '80', '-h', '/www'],
          },
        ],
      },
    };
    try {
      mgr.sync([pod]);
      const running = await waitFor(
        'pod Running with an IP',
        () => {
          const st = reporter.latest(uid);
          return Promise.resolve(
            st?.['phase'] === 'Running' && typeof st['podIP'] === 'string' ? st : undefined,
          );
        },
        30_000,
      );
      const podIP = running['podIP'] as string;
      const prefix = e.containerd.subnet.slice(0, e.containerd.subnet.lastIndexOf('.') + 1);
      assert.ok(podIP.startsWith(prefix), `podIP ${podIP} in ${e.containerd.subnet}`);
      const statuses = running['containerStatuses'] as Record<string, unknown>[];
      assert.match(String(statuses[0]?.['containerID']), /^containerd:\/\/[0-9a-f]{64}$/);
      const res = await waitFor('http answer', () =>
        httpGet(`http://${podIP}/index.html`).catch(() => undefined),
      );
      assert.equal(res.body, 'hello from berth cri\n');

      mgr.update({
        ...pod,
        metadata: {
          ...pod.metadata,
          deletionTimestamp: new Date().toISOString(),
          deletionGracePeriodSeconds: 5,
        },
      });
      await waitFor(
        'terminated',
        () => Promise.resolve(reporter.terminatedUids.includes(uid) ? true : undefined),
        30_000,
      );
      const left = await node.runtime.listPodSandboxes({ labelSelector: { 'io.kubernetes.pod.uid': uid } });
      assert.deepEqual(
        left.filter((s) => s.state === 'READY'),
        [],
        'no ready sandbox after deletion',
      );
    } finally {
      await mgr.close();
    }
  });

  void it('refuses a sandbox config that names a network namespace', async () => {
    const cfg = sandboxConfig(e, 'netns');
    const res = await node.runtime.runPodSandbox({
      ...cfg,
      linux: { ...cfg.linux, networkNamespacePath: '/var/run/netns/whatever' },
    });
    assert.equal(res.ok ? '' : res.reason, 'InvalidConfig');
  });
});
