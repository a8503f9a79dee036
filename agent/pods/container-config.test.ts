import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { StoredObject } from '../../api/object.js';
import { containerConfigFor, expandVars, sandboxConfigFor } from './container-config.js';
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

  it('fails with CreateContainerConfigError material for a required ConfigMap key', () => {
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
    assert.match(res.ok ? 'ok' : res.message, /secret "s" not found/);
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
