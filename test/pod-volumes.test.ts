/**
 * ConfigMaps and Secrets reaching pods, end to end over real mTLS: a real `berth server`, one agent
 * in this process (the real agent composition — join, stream, pod workers over the fake runtime —
 * with the gateway-backed ObjectSource and a volume directory) and one real `berth agent --runtime
 * fake` process as a second node whose credentials we borrow from its data dir.
 *
 * Checked: a pod whose env names a missing ConfigMap shows CreateContainerConfigError with the
 * kubelet's message in its API status, while its secret volume is published from the controller;
 * and the controller's node authorizer answers GetObject only for objects the caller's own pods
 * reference (another node's pod's secret and unreferenced secrets are PERMISSION_DENIED, a
 * referenced-but-missing object is "not found", a caller without a node certificate is refused).
 *
 * Needs kubectl to create the objects; skips with a reason without it. `berth agent` itself cannot
 * take an ObjectSource yet (cli/agent-command.ts and agent/agent.ts are not wired), hence the agent
 * in this process for node-a.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials as grpcCredentials } from '@grpc/grpc-js';
import { startAgent, type RunningAgent } from '../agent/agent.js';
import { GatewayObjectSource, nodeObjectSource } from '../agent/object-source.js';
import { FakePodNetwork } from '../agent/pods/fake-pod-network.js';
import { createPodManager } from '../agent/pods/pod-workers.js';
import { VolumeManager } from '../agent/pods/volumes/volume-manager.js';
import { FakeImageService } from '../agent/runtime/fake/fake-image-service.js';
import { FakeRuntime } from '../agent/runtime/fake/fake-runtime.js';
import { realClock } from '../lib/clock.js';
import { errorMessage } from '../lib/errors.js';
import { silentLogger } from '../lib/logger.js';
import { findKubectl, kubectl, startBerthServer, type BerthServerHandle } from './harness/berth-server.js';
import { startBerthAgent, type BerthProcess } from './harness/agent.js';

const found = findKubectl();
if (found.skip !== undefined) console.log(`# skipping pod volume tests: ${found.skip}`);

const manifests = `
apiVersion: v1
kind: ConfigMap
metadata: { name: present, namespace: default }
data: { k: v }
---
apiVersion: v1
kind: Secret
metadata: { name: sec-a, namespace: default }
data: { password: aHVudGVyMg== }
---
apiVersion: v1
kind: Secret
metadata: { name: sec-b, namespace: default }
data: { token: Yg== }
---
apiVersion: v1
kind: Secret
metadata: { name: sec-unreferenced, namespace: default }
data: { x: eA== }
---
apiVersion: v1
kind: Pod
metadata: { name: pa, namespace: default }
spec:
  nodeName: node-a
  containers:
    - name: app
      image: busybox
      env:
        - name: FROM_MISSING
          valueFrom: { configMapKeyRef: { name: nope, key: k } }
      volumeMounts: [{ name: creds, mountPath: /creds }]
  volumes:
    - name: creds
      secret: { secretName: sec-a }
---
apiVersion: v1
kind: Pod
metadata: { name: pb, namespace: default }
spec:
  nodeName: node-b
  containers:
    - name: app
      image: busybox
      envFrom: [{ secretRef: { name: sec-b } }]
`;

async function eventually<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last === undefined ? '' : `: ${errorMessage(last)}`}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('pod volumes and env objects through the controller', { skip: found.skip }, () => {
  const kubectlPath = found.path ?? '';
  let server: BerthServerHandle | undefined;
  let agentA: RunningAgent | undefined;
  let agentB: BerthProcess | undefined;
  const dirs: string[] = [];
  const sources: GatewayObjectSource[] = [];
  let dataDirA = '';
  let volumesDir = '';

  const sourceFor = (dataDir: string, nodeName: string): GatewayObjectSource => {
    const s = server;
    assert.ok(s);
    const src = nodeObjectSource({
      dataDir,
      nodeName,
      token: readFileSync(join(s.dataDir, 'node-token'), 'utf8').trim(),
      gateway: { host: '127.0.0.1', port: s.agentPort },
      clock: realClock,
      logger: silentLogger(),
    });
    sources.push(src);
    return src;
  };

  before(async () => {
    server = await startBerthServer();
    dataDirA = mkdtempSync(join(tmpdir(), 'berth-vol-agent-a-'));
    volumesDir = mkdtempSync(join(tmpdir(), 'berth-vol-pods-'));
    dirs.push(dataDirA, volumesDir);
    const s = server;
    agentA = await startAgent({
      server: s.url,
      gateway: { host: '127.0.0.1', port: s.agentPort },
      token: readFileSync(join(s.dataDir, 'node-token'), 'utf8').trim(),
      dataDir: dataDirA,
      nodeName: 'node-a',
      nodeIp: '127.0.0.1',
      runtime: { name: 'fake', version: '0' },
      logger: silentLogger(),
      heartbeatIntervalMs: 1000,
      // What `berth agent` would do once wired: a second NodeIdentity over the same data dir loads
      // the identity the agent just joined with.
      podManagerFactory: (reporter) =>
        createPodManager({
          runtime: new FakeRuntime({ clock: realClock, name: 'fake' }),
          images: new FakeImageService({ clock: realClock }),
          network: new FakePodNetwork({ cidr: '10.250.1.0/24' }),
          reporter,
          clock: realClock,
          logger: silentLogger(),
          nodeName: 'node-a',
          nodeIP: '127.0.0.1',
          objects: sourceFor(dataDirA, 'node-a'),
          volumesDir,
          errorRetryMs: 1000,
          podLogsDir: join(dataDirA, 'pods'),
        }),
    });
    agentB = await startBerthAgent({ server: s, nodeName: 'node-b' });
    const applied = await kubectl(s, ['apply', '-f', '-'], { input: manifests, kubectlPath });
    assert.equal(applied.code, 0, applied.stderr);
  });

  after(async () => {
    for (const src of sources) src.close();
    await agentA?.close();
    await agentB?.destroy();
    await server?.destroy();
    // Pods outlive their agent (as containers do), so their volumes — tmpfs mounts when root — are
    // torn down here, before the directories go.
    if (volumesDir !== '') {
      const volumes = new VolumeManager({ rootDir: volumesDir, clock: realClock, logger: silentLogger() });
      for (const uid of await readdir(volumesDir).catch(() => [])) await volumes.tearDown(uid);
    }
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it("shows CreateContainerConfigError with the kubelet's message for a missing ConfigMap", async () => {
    const s = server;
    assert.ok(s);
    const waiting = await eventually('pa to report CreateContainerConfigError', async () => {
      const res = await kubectl(s, ['get', 'pod', 'pa', '-o', 'json'], { kubectlPath });
      if (res.code !== 0) return undefined;
      const pod = JSON.parse(res.stdout) as {
        status?: { containerStatuses?: { state?: { waiting?: { reason?: string; message?: string } } }[] };
      };
      const w = pod.status?.containerStatuses?.[0]?.state?.waiting;
      return w?.reason === 'CreateContainerConfigError' ? w : undefined;
    });
    assert.equal(waiting.message, 'configmap "nope" not found');
    // The secret volume was set up first, from the controller, before the env failed.
    const uid = (await kubectl(s, ['get', 'pod', 'pa', '-o', 'jsonpath={.metadata.uid}'], { kubectlPath }))
      .stdout;
    const file = join(volumesDir, uid, 'volumes', 'kubernetes.io~secret', 'creds', 'password');
    assert.equal(await readFile(file, 'utf8'), 'hunter2');
    const events = await kubectl(
      s,
      ['get', 'events', '--field-selector', 'involvedObject.name=pa', '-o', 'json'],
      {
        kubectlPath,
      },
    );
    assert.match(events.stdout, /Error: configmap \\"nope\\" not found/);
  });

  it("authorizes GetObject by the caller's own pods over mTLS", async () => {
    const a = sourceFor(dataDirA, 'node-a');
    const b = sourceFor(agentB?.dataDir ?? '', 'node-b');
    const secret = await a.get('Secret', 'default', 'sec-a');
    assert.equal((secret?.['metadata'] as { name?: string } | undefined)?.name, 'sec-a');
    assert.equal(await a.get('ConfigMap', 'default', 'nope'), undefined, 'referenced but missing: not found');
    await assert.rejects(
      a.get('Secret', 'default', 'sec-b'),
      /PERMISSION_DENIED: secrets "sec-b" is forbidden: User "system:node:node-a"/,
    );
    await assert.rejects(a.get('Secret', 'default', 'sec-unreferenced'), /PERMISSION_DENIED/);
    await assert.rejects(
      a.get('ConfigMap', 'default', 'present'),
      /PERMISSION_DENIED/,
      'exists, but no pod of node-a names it',
    );
    await assert.rejects(b.get('Secret', 'default', 'sec-a'), /PERMISSION_DENIED/);
    const own = await b.get('Secret', 'default', 'sec-b');
    assert.equal((own?.['data'] as { token?: string } | undefined)?.token, 'Yg==');
  });

  it('refuses a caller without a node certificate', async () => {
    const s = server;
    assert.ok(s);
    const src = new GatewayObjectSource({
      target: `127.0.0.1:${s.agentPort}`,
      credentials: {
        current: () => Promise.resolve({ nodeName: 'x', caPem: s.caPem, certPem: '', keyPem: '' }),
        invalidate: () => undefined,
      },
      clock: realClock,
      channelCredentials: (c) => grpcCredentials.createSsl(Buffer.from(c.caPem)),
    });
    sources.push(src);
    await assert.rejects(src.get('Secret', 'default', 'sec-a'), /UNAUTHENTICATED/);
  });
});
