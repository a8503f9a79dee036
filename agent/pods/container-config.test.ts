import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { StoredObject } from '../../api/object.js';
import type { Mount } from '../runtime/runtime.js';
import {
  containerConfigFor,
  envObjectRefs,
  expandVars,
  objectKey,
  resolveEnv,
  sandboxConfigFor,
  type FetchedObject,
  type FetchedObjects,
} from './container-config.js';
import { parsePod, type PodView } from './pod-spec.js';

function view(spec: Record<string, unknown>, meta: Record<string, unknown> = {}): PodView {
  const obj: StoredObject = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web-1', namespace: 'shop', uid: 'u-1', labels: { app: 'web' }, ...meta },
    spec,
  };
  const v = parsePod(obj);
  assert.ok(v);
  return v;
}

const ctx = {
  nodeName: 'node-1',
  nodeIP: '192.168.0.10',
  podLogsDir: '/var/log/pods/',
  cgroupRoot: '/berth',
};

describe('container configs', () => {
  it('expands $(VAR) the Kubernetes way', () => {
    const vars = new Map([['A', 'x']]);
    assert.equal(expandVars('$(A)-$(B)-$$(A)', vars), 'x-$(B)-$(A)');
    assert.equal(expandVars('plain', vars), 'plain');
  });

  it('builds the sandbox config with identifying labels, log dir, ports and cgroup parent', () => {
    const pod = view({
      containers: [
        {
          name: 'app',
          image: 'nginx',
          ports: [
            { containerPort: 80, hostPort: 8080 },
            { containerPort: 9090, protocol: 'UDP' },
          ],
        },
      ],
      terminationGracePeriodSeconds: 12,
    });
    const sb = sandboxConfigFor(pod, ctx, 2, '/var/run/netns/berth-u-1');
    assert.deepEqual(sb.metadata, { name: 'web-1', namespace: 'shop', uid: 'u-1', attempt: 2 });
    assert.equal(sb.logDirectory, '/var/log/pods/shop_web-1_u-1');
    assert.equal(sb.labels['io.kubernetes.pod.uid'], 'u-1');
    assert.equal(sb.labels['app'], 'web');
    assert.equal(sb.labels['berth.dev/node'], 'node-1');
    assert.equal(sb.annotations['io.kubernetes.pod.terminationGracePeriod'], '12');
    assert.deepEqual(sb.portMappings, [
      { protocol: 'TCP', containerPort: 80, hostPort: 8080 },
      { protocol: 'UDP', containerPort: 9090 },
    ]);
    assert.deepEqual(sb.linux, {
      cgroupParent: '/berth/podu-1',
      networkNamespacePath: '/var/run/netns/berth-u-1',
    });
  });

  it('resolves env (downward API, expansion), resources, security context and hostPath mounts', () => {
    const pod = view({
      securityContext: { runAsUser: 1000, supplementalGroups: [5] },
      volumes: [
        { name: 'data', hostPath: { path: '/srv/data/' } },
        { name: 'tmp', emptyDir: {} },
      ],
      containers: [
        {
          name: 'app',
          image: 'busybox',
          command: ['sh', '-c', 'echo $(GREETING) from $(POD)'],
          env: [
            { name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
            { name: 'IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
            { name: 'TEAM', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
            { name: 'GREETING', value: 'hi $(POD)' },
            { name: 'OPT', valueFrom: { configMapKeyRef: { name: 'cm', key: 'k', optional: true } } },
          ],
          resources: { requests: { cpu: '250m' }, limits: { cpu: '1', memory: '128Mi' } },
          securityContext: {
            runAsUser: 2000,
            allowPrivilegeEscalation: false,
            capabilities: { drop: ['ALL'] },
          },
          volumeMounts: [
            { name: 'data', mountPath: '/data', subPath: 'app', readOnly: true },
            { name: 'tmp', mountPath: '/tmp' },
          ],
        },
      ],
    });
    const c = pod.containers[0];
    assert.ok(c);
    const res = containerConfigFor({
      pod,
      container: c,
      type: 'app',
      restartCount: 3,
      image: { image: 'busybox' },
      podIPs: ['10.0.0.7'],
      ctx,
      objects: new Map([[objectKey('ConfigMap', 'cm'), { ok: true, object: undefined }]]),
    });
    assert.ok(res.ok);
    const cfg = res.config;
    assert.deepEqual(cfg.metadata, { name: 'app', attempt: 3 });
    assert.equal(cfg.logPath, 'app/3.log');
    assert.deepEqual(cfg.envs, [
      { key: 'POD', value: 'web-1' },
      { key: 'IP', value: '10.0.0.7' },
      { key: 'TEAM', value: 'web' },
      { key: 'GREETING', value: 'hi web-1' },
    ]);
    assert.deepEqual(cfg.command, ['sh', '-c', 'echo hi web-1 from web-1']);
    assert.deepEqual(cfg.linux?.resources, {
      cpuShares: 256,
      cpuPeriod: 100000,
      cpuQuota: 100000,
      memoryLimitInBytes: 134217728,
    });
    assert.deepEqual(cfg.linux.securityContext, {
      runAsUser: 2000,
      supplementalGroups: [5],
      noNewPrivs: true,
      capabilities: { add: [], drop: ['ALL'] },
    });
    assert.deepEqual(cfg.mounts, [{ containerPath: '/data', hostPath: '/srv/data/app', readonly: true }]);
    assert.equal(cfg.annotations['io.kubernetes.container.restartCount'], '3');
    assert.equal(cfg.labels['berth.dev/container-type'], 'app');
  });

  it('fails with CreateContainerConfigError material when objects cannot be read at all', () => {
    const pod = view({
      containers: [
        {
          name: 'app',
          image: 'busybox',
          env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }],
        },
      ],
    });
    const c = pod.containers[0];
    assert.ok(c);
    const res = containerConfigFor({
      pod,
      container: c,
      type: 'app',
      restartCount: 0,
      image: { image: 'busybox' },
      podIPs: [],
      ctx,
    });
    assert.match(res.ok ? 'ok' : res.message, /cannot read secret "s": this node has no object source/);
  });

  describe('env from ConfigMaps and Secrets', () => {
    const cm = {
      kind: 'ConfigMap',
      metadata: { name: 'cfg', namespace: 'shop' },
      data: { MODE: 'fast', 'bad=name': 'x', LEVEL: '3' },
    };
    const secret = {
      kind: 'Secret',
      metadata: { name: 'creds', namespace: 'shop' },
      data: { password: Buffer.from('hunter2').toString('base64') },
    };
    const fetched: FetchedObjects = new Map<string, FetchedObject>([
      [objectKey('ConfigMap', 'cfg'), { ok: true, object: cm }],
      [objectKey('Secret', 'creds'), { ok: true, object: secret }],
      [objectKey('ConfigMap', 'gone'), { ok: true, object: undefined }],
      [objectKey('Secret', 'gone'), { ok: true, object: undefined }],
      [objectKey('Secret', 'broken'), { ok: false, message: 'cannot read secret shop/broken: UNAVAILABLE' }],
    ]);
    const resolve = (container: Record<string, unknown>): string | { key: string; value: string }[] => {
      const pod = view({ containers: [{ name: 'app', image: 'busybox', ...container }] });
      const c = pod.containers[0];
      assert.ok(c);
      const res = resolveEnv(pod, c, ['10.0.0.7'], ctx, fetched);
      return res.ok ? res.envs : res.message;
    };

    it('lists the objects a container needs', () => {
      const pod = view({
        containers: [
          {
            name: 'app',
            image: 'x',
            envFrom: [{ configMapRef: { name: 'cfg' } }, { secretRef: { name: 'creds' } }],
            env: [
              { name: 'A', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'MODE' } } },
              { name: 'B', valueFrom: { secretKeyRef: { name: 'other', key: 'k' } } },
            ],
          },
        ],
      });
      const c = pod.containers[0];
      assert.ok(c);
      assert.deepEqual(envObjectRefs(pod, c), [
        { kind: 'ConfigMap', name: 'cfg' },
        { kind: 'Secret', name: 'creds' },
        { kind: 'Secret', name: 'other' },
      ]);
    });

    it('puts envFrom first (prefixed, bad names skipped), env overriding and expanding it', () => {
      assert.deepEqual(
        resolve({
          envFrom: [{ configMapRef: { name: 'cfg' }, prefix: 'CFG_' }, { secretRef: { name: 'creds' } }],
          env: [
            { name: 'CFG_MODE', value: 'slow-$(CFG_LEVEL)' },
            { name: 'PW', valueFrom: { secretKeyRef: { name: 'creds', key: 'password' } } },
            { name: 'M', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'MODE' } } },
          ],
        }),
        [
          { key: 'CFG_MODE', value: 'slow-3' },
          { key: 'CFG_LEVEL', value: '3' },
          { key: 'password', value: 'hunter2' },
          { key: 'PW', value: 'hunter2' },
          { key: 'M', value: 'fast' },
        ],
      );
    });

    it("fails a missing object or key with the kubelet's messages unless optional", () => {
      assert.equal(
        resolve({ env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'gone', key: 'k' } } }] }),
        'configmap "gone" not found',
      );
      assert.equal(
        resolve({ env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'gone', key: 'k' } } }] }),
        'secret "gone" not found',
      );
      assert.equal(
        resolve({ env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'k' } } }] }),
        "couldn't find key k in ConfigMap shop/cfg",
      );
      assert.equal(
        resolve({ env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'creds', key: 'k' } } }] }),
        "couldn't find key k in Secret shop/creds",
      );
      assert.equal(resolve({ envFrom: [{ configMapRef: { name: 'gone' } }] }), 'configmap "gone" not found');
      assert.deepEqual(
        resolve({
          envFrom: [{ secretRef: { name: 'gone', optional: true } }],
          env: [
            { name: 'X', valueFrom: { configMapKeyRef: { name: 'gone', key: 'k', optional: true } } },
            { name: 'Y', valueFrom: { secretKeyRef: { name: 'creds', key: 'k', optional: true } } },
            { name: 'Z', value: 'z' },
          ],
        }),
        [{ key: 'Z', value: 'z' }],
      );
      // An object that could not be read is not "missing": optional does not excuse it.
      assert.equal(
        resolve({
          env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'broken', key: 'k', optional: true } } }],
        }),
        'cannot read secret shop/broken: UNAVAILABLE',
      );
    });

    it('resolves the downward API and resource fields', () => {
      assert.deepEqual(
        resolve({
          resources: { limits: { cpu: '1500m', memory: '256Mi' }, requests: { cpu: '250m' } },
          env: [
            { name: 'NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
            { name: 'NS', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
            { name: 'UID', valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } },
            { name: 'IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
            { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
            { name: 'HOST', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } },
            { name: 'CPU', valueFrom: { resourceFieldRef: { resource: 'limits.cpu' } } },
            { name: 'CPU_M', valueFrom: { resourceFieldRef: { resource: 'requests.cpu', divisor: '1m' } } },
            { name: 'MEM', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } },
          ],
        }),
        [
          { key: 'NAME', value: 'web-1' },
          { key: 'NS', value: 'shop' },
          { key: 'UID', value: 'u-1' },
          { key: 'IP', value: '10.0.0.7' },
          { key: 'NODE', value: 'node-1' },
          { key: 'HOST', value: '192.168.0.10' },
          { key: 'CPU', value: '2' },
          { key: 'CPU_M', value: '250' },
          { key: 'MEM', value: '256' },
        ],
      );
    });
  });

  describe('volume mounts', () => {
    const pod = view({
      containers: [
        {
          name: 'app',
          image: 'x',
          volumeMounts: [
            { name: 'cfg', mountPath: '/etc/app' },
            { name: 'cfg', mountPath: '/etc/app.conf', subPath: 'app.conf' },
            { name: 'data', mountPath: '/data', readOnly: true },
            { name: 'host', mountPath: '/host', subPath: 'a/./b' },
          ],
        },
      ],
      volumes: [
        { name: 'cfg', configMap: { name: 'cfg' } },
        { name: 'data', emptyDir: {} },
        { name: 'host', hostPath: { path: '/srv' } },
      ],
    });
    const volumes = new Map([
      ['cfg', { hostPath: '/v/cfg', readOnly: true }],
      ['data', { hostPath: '/v/data', readOnly: false }],
      ['host', { hostPath: '/srv', readOnly: false }],
    ]);
    const build = (p: PodView, vols: typeof volumes | undefined): string | readonly Mount[] => {
      const c = p.containers[0];
      assert.ok(c);
      const res = containerConfigFor({
        pod: p,
        container: c,
        type: 'app',
        restartCount: 0,
        image: { image: 'x' },
        podIPs: [],
        ctx,
        ...(vols !== undefined ? { volumes: vols } : {}),
      });
      return res.ok ? res.config.mounts : res.message;
    };

    it('bind-mounts where the volume manager put each volume, read-only as Kubernetes says', () => {
      assert.deepEqual(build(pod, volumes), [
        { containerPath: '/etc/app', hostPath: '/v/cfg', readonly: true },
        { containerPath: '/etc/app.conf', hostPath: '/v/cfg/app.conf', readonly: true },
        { containerPath: '/data', hostPath: '/v/data', readonly: true },
        { containerPath: '/host', hostPath: '/srv/a/b' },
      ]);
    });

    it('mounts only hostPath volumes without a volume manager (simulated nodes)', () => {
      assert.deepEqual(build(pod, undefined), [{ containerPath: '/host', hostPath: '/srv/a/b' }]);
    });

    it('refuses escaping subPaths and mounts of volumes the pod lacks', () => {
      const escape = view({
        containers: [
          { name: 'app', image: 'x', volumeMounts: [{ name: 'host', mountPath: '/h', subPath: '../etc' }] },
        ],
        volumes: [{ name: 'host', hostPath: { path: '/srv' } }],
      });
      const escaped = build(escape, volumes);
      assert.match(typeof escaped === 'string' ? escaped : 'mounted', /invalid subPath "..\/etc"/);
      const lacking = view({
        containers: [{ name: 'app', image: 'x', volumeMounts: [{ name: 'nope', mountPath: '/n' }] }],
      });
      assert.equal(build(lacking, volumes), 'cannot find volume "nope" to mount into container "app"');
    });
  });

  it('classifies QoS and defaults pull policy like the kubelet', () => {
    assert.equal(view({ containers: [{ name: 'a', image: 'x' }] }).qosClass, 'BestEffort');
    assert.equal(
      view({ containers: [{ name: 'a', image: 'x', resources: { requests: { cpu: '1' } } }] }).qosClass,
      'Burstable',
    );
    assert.equal(
      view({ containers: [{ name: 'a', image: 'x', resources: { limits: { cpu: '1', memory: '1Gi' } } }] })
        .qosClass,
      'Guaranteed',
    );
    const p = view({
      containers: [
        { name: 'a', image: 'x' },
        { name: 'b', image: 'x:1' },
        { name: 'c', image: 'x@sha256:00' },
      ],
    });
    assert.deepEqual(
      p.containers.map((c) => c.imagePullPolicy),
      ['Always', 'IfNotPresent', 'IfNotPresent'],
    );
  });
});
