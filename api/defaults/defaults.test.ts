/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-explicit-any -- these tests read and mutate arbitrary API JSON */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { carryOverServiceAllocations } from './core.js';
import { applyDefaults } from './defaults.js';
import { imageTag } from './pod.js';

type Json = Record<string, any>;

function d(obj: Json, opts?: Parameters<typeof applyDefaults>[1]): Json {
  return applyDefaults(obj, opts);
}

const defaultedContainer = {
  terminationMessagePath: '/dev/termination-log',
  terminationMessagePolicy: 'File',
  resources: {},
};

describe('applyDefaults: Pod', () => {
  it('defaults a minimal pod the way the API server does', () => {
    const input = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p', namespace: 'default' },
      spec: { containers: [{ name: 'c', image: 'nginx', ports: [{ containerPort: 80 }] }] },
    };
    const out = d(input);
    assert.deepEqual(out['spec'], {
      containers: [
        {
          name: 'c',
          image: 'nginx',
          imagePullPolicy: 'Always',
          ports: [{ containerPort: 80, protocol: 'TCP' }],
          ...defaultedContainer,
        },
      ],
      dnsPolicy: 'ClusterFirst',
      restartPolicy: 'Always',
      securityContext: {},
      terminationGracePeriodSeconds: 30,
      schedulerName: 'default-scheduler',
      enableServiceLinks: true,
      priority: 0,
    });
    // Pure: the input is untouched.
    assert.deepEqual(input.spec.containers[0], { name: 'c', image: 'nginx', ports: [{ containerPort: 80 }] });
  });

  it('keeps explicit values, including zero', () => {
    const out = d({
      apiVersion: 'v1',
      kind: 'Pod',
      spec: {
        restartPolicy: 'Never',
        terminationGracePeriodSeconds: 0,
        enableServiceLinks: false,
        priorityClassName: 'high',
        containers: [{ name: 'c', image: 'nginx', imagePullPolicy: 'Never' }],
      },
    });
    assert.equal(out['spec'].restartPolicy, 'Never');
    assert.equal(out['spec'].terminationGracePeriodSeconds, 0);
    assert.equal(out['spec'].enableServiceLinks, false);
    assert.equal(out['spec'].priority, undefined);
    assert.equal(out['spec'].containers[0].imagePullPolicy, 'Never');
  });

  it('chooses imagePullPolicy from the tag', () => {
    const policy = (image: string): string =>
      d({ apiVersion: 'v1', kind: 'Pod', spec: { containers: [{ name: 'c', image }] } })['spec'].containers[0]
        .imagePullPolicy as string;
    assert.equal(policy('nginx'), 'Always');
    assert.equal(policy('nginx:latest'), 'Always');
    assert.equal(policy('nginx:1.27'), 'IfNotPresent');
    assert.equal(policy('localhost:5000/app'), 'Always');
    assert.equal(policy('localhost:5000/app:v1'), 'IfNotPresent');
    assert.equal(policy('nginx@sha256:' + 'a'.repeat(64)), 'IfNotPresent');
    assert.equal(imageTag('registry.example.com/team/app:latest@sha256:' + 'b'.repeat(64)), 'latest');
    assert.equal(imageTag('Bad Image'), '');
  });

  it('defaults probes, handlers, env field refs and volumes', () => {
    const out = d({
      apiVersion: 'v1',
      kind: 'Pod',
      spec: {
        containers: [
          {
            name: 'c',
            image: 'x:1',
            livenessProbe: { httpGet: { port: 8080 } },
            readinessProbe: { tcpSocket: { port: 80 }, periodSeconds: 5 },
            lifecycle: { preStop: { httpGet: { port: 80, path: '/stop' } } },
            env: [{ name: 'N', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
          },
        ],
        volumes: [
          { name: 'a' },
          { name: 'b', configMap: { name: 'cm' } },
          { name: 'c', hostPath: { path: '/x' } },
        ],
      },
    });
    const c = out['spec'].containers[0];
    assert.deepEqual(c.livenessProbe, {
      httpGet: { port: 8080, path: '/', scheme: 'HTTP' },
      timeoutSeconds: 1,
      periodSeconds: 10,
      successThreshold: 1,
      failureThreshold: 3,
    });
    assert.equal(c.readinessProbe.periodSeconds, 5);
    assert.deepEqual(c.lifecycle.preStop.httpGet, { port: 80, path: '/stop', scheme: 'HTTP' });
    assert.equal(c.env[0].valueFrom.fieldRef.apiVersion, 'v1');
    assert.deepEqual(out['spec'].volumes, [
      { name: 'a', emptyDir: {} },
      { name: 'b', configMap: { name: 'cm', defaultMode: 420 } },
      { name: 'c', hostPath: { path: '/x', type: '' } },
    ]);
  });

  it('defaults requests to limits for pods only', () => {
    const containers = [
      {
        name: 'c',
        image: 'x:1',
        resources: { limits: { cpu: '1', memory: '1Gi' }, requests: { cpu: '500m' } },
      },
    ];
    const pod = d({ apiVersion: 'v1', kind: 'Pod', spec: { containers } });
    assert.deepEqual(pod['spec'].containers[0].resources.requests, { cpu: '500m', memory: '1Gi' });
    const dep = d({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      spec: { template: { spec: { containers } } },
    });
    assert.deepEqual(dep['spec'].template.spec.containers[0].resources.requests, { cpu: '500m' });
    assert.equal(dep['spec'].template.spec.enableServiceLinks, undefined);
  });

  it('copies containerPort to hostPort with hostNetwork', () => {
    const out = d({
      apiVersion: 'v1',
      kind: 'Pod',
      spec: { hostNetwork: true, containers: [{ name: 'c', image: 'x:1', ports: [{ containerPort: 53 }] }] },
    });
    assert.equal(out['spec'].containers[0].ports[0].hostPort, 53);
  });
});

describe('applyDefaults: workloads', () => {
  const template = {
    metadata: { labels: { app: 'web' } },
    spec: { containers: [{ name: 'c', image: 'nginx:1' }] },
  };

  it('Deployment', () => {
    const out = d({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web' },
      spec: { template },
    });
    const { template: t, ...rest } = out['spec'];
    assert.deepEqual(rest, {
      replicas: 1,
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } },
      revisionHistoryLimit: 10,
      progressDeadlineSeconds: 600,
    });
    assert.equal(t.spec.restartPolicy, 'Always');
    assert.equal(t.spec.containers[0].imagePullPolicy, 'IfNotPresent');
    const recreate = d({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      spec: { strategy: { type: 'Recreate' }, template },
    });
    assert.deepEqual(recreate['spec'].strategy, { type: 'Recreate' });
    const zero = d({ apiVersion: 'apps/v1', kind: 'Deployment', spec: { replicas: 0, template } });
    assert.equal(zero['spec'].replicas, 0);
  });

  it('ReplicaSet and DaemonSet', () => {
    assert.equal(d({ apiVersion: 'apps/v1', kind: 'ReplicaSet', spec: { template } })['spec'].replicas, 1);
    const ds = d({ apiVersion: 'apps/v1', kind: 'DaemonSet', spec: { template } });
    assert.deepEqual(ds['spec'].updateStrategy, {
      type: 'RollingUpdate',
      rollingUpdate: { maxUnavailable: 1, maxSurge: 0 },
    });
    assert.equal(ds['spec'].revisionHistoryLimit, 10);
    assert.equal(ds['spec'].template.spec.dnsPolicy, 'ClusterFirst');
  });

  it('Job with a generated selector', () => {
    const out = d(
      {
        apiVersion: 'batch/v1',
        kind: 'Job',
        metadata: { name: 'pi' },
        spec: {
          template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'perl:5' }] } },
        },
      },
      { uid: 'u-1' },
    );
    const { template: t, ...rest } = out['spec'];
    assert.deepEqual(rest, {
      completions: 1,
      parallelism: 1,
      backoffLimit: 6,
      completionMode: 'NonIndexed',
      suspend: false,
      podReplacementPolicy: 'TerminatingOrFailed',
      selector: { matchLabels: { 'batch.kubernetes.io/controller-uid': 'u-1' } },
    });
    const labels = {
      'job-name': 'pi',
      'batch.kubernetes.io/job-name': 'pi',
      'controller-uid': 'u-1',
      'batch.kubernetes.io/controller-uid': 'u-1',
    };
    assert.deepEqual(t.metadata.labels, labels);
    assert.deepEqual(out['metadata'].labels, labels);
    assert.equal(t.spec.restartPolicy, 'Never');
  });

  it('Job: parallelism alone leaves completions unset; manualSelector and update skip generation', () => {
    const par = d({ apiVersion: 'batch/v1', kind: 'Job', spec: { parallelism: 3, template: {} } });
    assert.equal(par['spec'].completions, undefined);
    assert.equal(par['spec'].parallelism, 3);
    const manual = d(
      {
        apiVersion: 'batch/v1',
        kind: 'Job',
        metadata: { name: 'j' },
        spec: {
          manualSelector: true,
          selector: { matchLabels: { a: 'b' } },
          template: { metadata: { labels: { a: 'b' } } },
        },
      },
      { uid: 'u' },
    );
    assert.deepEqual(manual['spec'].selector, { matchLabels: { a: 'b' } });
    assert.deepEqual(manual['spec'].template.metadata.labels, { a: 'b' });
    const upd = d(
      { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'j', uid: 'u' }, spec: { template: {} } },
      { operation: 'update' },
    );
    assert.equal(upd['spec'].selector, undefined);
  });
});

describe('applyDefaults: core kinds', () => {
  it('Service', () => {
    const out = d({
      apiVersion: 'v1',
      kind: 'Service',
      spec: { selector: { app: 'web' }, ports: [{ port: 80 }] },
    });
    assert.deepEqual(out['spec'], {
      selector: { app: 'web' },
      ports: [{ port: 80, protocol: 'TCP', targetPort: 80 }],
      sessionAffinity: 'None',
      type: 'ClusterIP',
      internalTrafficPolicy: 'Cluster',
      ipFamilyPolicy: 'SingleStack',
      ipFamilies: ['IPv4'],
    });
    const np = d({
      apiVersion: 'v1',
      kind: 'Service',
      spec: { type: 'NodePort', ports: [{ port: 80, targetPort: 'http' }] },
    });
    assert.equal(np['spec'].externalTrafficPolicy, 'Cluster');
    assert.equal(np['spec'].ports[0].targetPort, 'http');
    const lb = d({ apiVersion: 'v1', kind: 'Service', spec: { type: 'LoadBalancer', ports: [] } });
    assert.equal(lb['spec'].allocateLoadBalancerNodePorts, true);
    const ext = d({
      apiVersion: 'v1',
      kind: 'Service',
      spec: { type: 'ExternalName', externalName: 'x.example.com' },
    });
    assert.equal(ext['spec'].ipFamilyPolicy, undefined);
    assert.equal(ext['spec'].internalTrafficPolicy, undefined);
    const v6 = d({ apiVersion: 'v1', kind: 'Service', spec: { clusterIP: 'fd00::1', ports: [{ port: 1 }] } });
    assert.deepEqual([v6['spec'].ipFamilies, v6['spec'].clusterIPs], [['IPv6'], ['fd00::1']]);
    const ca = d({ apiVersion: 'v1', kind: 'Service', spec: { sessionAffinity: 'ClientIP', ports: [] } });
    assert.deepEqual(ca['spec'].sessionAffinityConfig, { clientIP: { timeoutSeconds: 10800 } });
  });

  it('carries service allocations over on update', () => {
    const old = {
      spec: {
        type: 'NodePort',
        clusterIP: '10.0.0.9',
        clusterIPs: ['10.0.0.9'],
        ports: [{ port: 80, protocol: 'TCP', nodePort: 30080 }],
      },
    };
    const next: Json = { spec: { type: 'NodePort', ports: [{ port: 80, protocol: 'TCP' }] } };
    carryOverServiceAllocations(next, old);
    assert.deepEqual(next['spec'], {
      type: 'NodePort',
      clusterIP: '10.0.0.9',
      clusterIPs: ['10.0.0.9'],
      ports: [{ port: 80, protocol: 'TCP', nodePort: 30080 }],
    });
  });

  it('Secret: type Opaque and stringData folded into data', () => {
    const out = d({
      apiVersion: 'v1',
      kind: 'Secret',
      data: { a: 'eA==' },
      stringData: { b: 'hello', a: 'y' },
    });
    assert.deepEqual(out, {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'Opaque',
      data: { a: 'eQ==', b: 'aGVsbG8=' },
    });
  });

  it('Namespace: label always; finalizer and phase on create', () => {
    const created = d({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team' } });
    assert.deepEqual(created, {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'team', labels: { 'kubernetes.io/metadata.name': 'team' } },
      status: { phase: 'Active' },
      spec: { finalizers: ['kubernetes'] },
    });
    const updated = d(
      {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: 'team' },
        spec: { finalizers: [] },
        status: { phase: 'Terminating' },
      },
      { operation: 'update' },
    );
    assert.deepEqual(updated['spec'], { finalizers: [] });
    assert.equal(updated['status'].phase, 'Terminating');
  });

  it('Node, Endpoints, ConfigMap, Event and unknown kinds', () => {
    const node = d({ apiVersion: 'v1', kind: 'Node', status: { capacity: { cpu: '4' } } });
    assert.deepEqual(node['status'].allocatable, { cpu: '4' });
    const ep = d({
      apiVersion: 'v1',
      kind: 'Endpoints',
      subsets: [{ addresses: [{ ip: '10.0.0.1' }], ports: [{ port: 80 }] }],
    });
    assert.equal(ep['subsets'][0].ports[0].protocol, 'TCP');
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', data: { a: 'b' } };
    assert.deepEqual(d(cm), cm);
    const ev = { apiVersion: 'v1', kind: 'Event', reason: 'x' };
    assert.deepEqual(d(ev), ev);
    assert.deepEqual(d({ apiVersion: 'example.com/v1', kind: 'Thing' }), {
      apiVersion: 'example.com/v1',
      kind: 'Thing',
    });
  });
});
