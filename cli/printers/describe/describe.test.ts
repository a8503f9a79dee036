import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { JsonObject } from '../../../api/patch/json-value.js';
import { describeEvents } from './describe-events.js';
import { describeGeneric, smartLabel } from './describe-generic.js';
import { describePod, qosClass } from './describe-pod.js';
import { describeDeployment } from './describe-workloads.js';
import { PrefixWriter, rfc1123z, type DescribeContext } from './prefix-writer.js';

const now = Date.parse('2026-11-27T21:00:00Z');
const ctx: DescribeContext = { now, utcOffsetMinutes: 0 };

const deployment: JsonObject = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: {
    name: 'web',
    namespace: 'default',
    uid: 'd-1',
    creationTimestamp: '2026-11-27T20:45:40Z',
    labels: { app: 'web' },
    annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}' },
  },
  spec: {
    replicas: 2,
    selector: { matchLabels: { app: 'web' } },
    strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } },
    template: {
      metadata: { labels: { app: 'web' } },
      spec: {
        containers: [
          {
            name: 'web',
            image: 'nginx:1.27',
            ports: [{ containerPort: 80, protocol: 'TCP' }],
            env: [{ name: 'A', value: '1' }],
          },
          { name: 'sidecar', image: 'busybox', command: ['sleep', '3600'] },
        ],
      },
    },
  },
};

describe('describe printers', () => {
  it('lays out a deployment exactly as kubectl 1.32 did for the same object', () => {
    // Captured from `kubectl describe deploy web` against berth server.
    const expected = [
      'Name:                   web',
      'Namespace:              default',
      'CreationTimestamp:      Fri, 27 Nov 2026 20:45:40 +0000',
      'Labels:                 app=web',
      'Annotations:            <none>',
      'Selector:               app=web',
      'Replicas:               2 desired | 0 updated | 0 total | 0 available | 0 unavailable',
      'StrategyType:           RollingUpdate',
      'MinReadySeconds:        0',
      'RollingUpdateStrategy:  25% max unavailable, 25% max surge',
      'Pod Template:',
      '  Labels:  app=web',
      '  Containers:',
      '   web:',
      '    Image:      nginx:1.27',
      '    Port:       80/TCP',
      '    Host Port:  0/TCP',
      '    Environment:',
      '      A:     1',
      '    Mounts:  <none>',
      '   sidecar:',
      '    Image:      busybox',
      '    Port:       <none>',
      '    Host Port:  <none>',
      '    Command:',
      '      sleep',
      '      3600',
      '    Environment:   <none>',
      '    Mounts:        <none>',
      '  Volumes:         <none>',
      '  Node-Selectors:  <none>',
      '  Tolerations:     <none>',
      'Events:            <none>',
      '',
    ].join('\n');
    assert.equal(describeDeployment(deployment, { replicaSets: [], events: [] }, ctx), expected);
  });

  it('names the new and old ReplicaSets the deployment controls', () => {
    const depTemplate = (deployment['spec'] as JsonObject)['template'] as JsonObject;
    const rs = (name: string, template: JsonObject, created: string, ownerUid = 'd-1'): JsonObject => ({
      metadata: { name, creationTimestamp: created, ownerReferences: [{ uid: ownerUid, controller: true }] },
      spec: {
        replicas: 1,
        template: { ...template, metadata: { labels: { app: 'web', 'pod-template-hash': name } } },
      },
      status: { replicas: 1 },
    });
    const current = rs('web-new', depTemplate, '2026-11-27T20:50:00Z');
    const old = rs(
      'web-old',
      { spec: { containers: [{ name: 'web', image: 'nginx:1.26' }] } },
      '2026-11-27T20:40:00Z',
    );
    const foreign = rs('web-foreign', depTemplate, '2026-11-27T20:00:00Z', 'other');
    const text = describeDeployment(
      deployment,
      { replicaSets: [current, old, foreign], events: undefined },
      ctx,
    );
    assert.match(
      text,
      /\nOldReplicaSets: +web-old \(1\/1 replicas created\)\nNewReplicaSet: +web-new \(1\/1 replicas created\)\n$/,
    );
    assert.doesNotMatch(text, /Events:/, 'no events section when events were not fetched');
  });

  it('prints events sorted by last timestamp with repeat counts', () => {
    const w = new PrefixWriter();
    describeEvents(
      w,
      [
        {
          type: 'Warning',
          reason: 'BackOff',
          message: ' Back-off \n',
          source: { component: 'kubelet' },
          count: 5,
          firstTimestamp: '2026-11-27T20:00:00Z',
          lastTimestamp: '2026-11-27T20:50:00Z',
        },
        {
          type: 'Normal',
          reason: 'Scheduled',
          message: 'assigned',
          reportingComponent: 'default-scheduler',
          firstTimestamp: '2026-11-27T19:00:00Z',
          lastTimestamp: '2026-11-27T19:00:00Z',
        },
      ],
      ctx,
    );
    assert.equal(
      w.text(),
      'Events:\n' +
        '  Type     Reason     Age                From               Message\n' +
        '  ----     ------     ----               ----               -------\n' +
        '  Normal   Scheduled  120m               default-scheduler  assigned\n' +
        '  Warning  BackOff    10m (x5 over 60m)  kubelet            Back-off\n',
    );
  });

  it('describes a pod with its container state, QoS class and events', () => {
    const pod: JsonObject = {
      metadata: {
        name: 'web-0',
        namespace: 'default',
        uid: 'p',
        ownerReferences: [{ kind: 'ReplicaSet', name: 'web-abc', controller: true }],
      },
      spec: {
        nodeName: 'node-1',
        containers: [
          {
            name: 'app',
            image: 'busybox',
            resources: { limits: { cpu: '1', memory: '1Gi' } },
            env: [{ name: 'POD', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } }],
          },
        ],
      },
      status: {
        phase: 'Running',
        hostIP: '192.168.1.10',
        podIP: '10.0.0.5',
        podIPs: [{ ip: '10.0.0.5' }],
        conditions: [{ type: 'Ready', status: 'True' }],
        containerStatuses: [
          {
            name: 'app',
            ready: true,
            restartCount: 2,
            containerID: 'runc://1',
            imageID: 'sha256:abc',
            state: { running: { startedAt: '2026-11-27T20:59:00Z' } },
          },
        ],
      },
    };
    const text = describePod(pod, [], ctx);
    assert.match(text, /^Name: +web-0\nNamespace: +default\nNode: +node-1\/192\.168\.1\.10\n/);
    assert.match(text, /\nControlled By: +ReplicaSet\/web-abc\n/);
    assert.match(
      text,
      /\n {4}State: +Running\n {6}Started: +Fri, 27 Nov 2026 20:59:00 \+0000\n {4}Ready: +True\n {4}Restart Count: +2\n/,
    );
    assert.match(text, /\n {6}POD: +web-0 \(v1:metadata\.name\)\n/);
    assert.match(text, /\nConditions:\n {2}Type +Status\n {2}Ready +True \n/);
    assert.match(text, /\nQoS Class: +Guaranteed\n/);
    assert.match(text, /\nEvents: +<none>\n$/);
  });

  it('computes QoS classes like kubelet', () => {
    const pod = (resources: JsonObject): JsonObject => ({ spec: { containers: [{ name: 'a', resources }] } });
    assert.equal(qosClass(pod({})), 'BestEffort');
    assert.equal(qosClass(pod({ requests: { cpu: '100m' } })), 'Burstable');
    assert.equal(
      qosClass(pod({ limits: { cpu: '1', memory: '1Gi' }, requests: { cpu: '1', memory: '1Gi' } })),
      'Guaranteed',
    );
    assert.equal(qosClass({ status: { qosClass: 'Burstable' } }), 'Burstable');
  });

  it('falls back to the generic layout with smart labels', () => {
    const text = describeGeneric(
      {
        apiVersion: 'v1',
        kind: 'Thing',
        metadata: { name: 'x', uid: 'u' },
        spec: { podIP: '1.2.3.4', items: ['a', 'b'] },
      },
      undefined,
      ctx,
    );
    assert.equal(
      text,
      'Name:         x\nNamespace:    \nLabels:       <none>\nAnnotations:  <none>\nAPI Version:  v1\nKind:         Thing\nMetadata:\n  UID:  u\nSpec:\n  Items:\n    a\n    b\n  Pod IP:  1.2.3.4\n',
    );
    assert.equal(smartLabel('apiVersion'), 'API Version');
    assert.equal(smartLabel('creationTimestamp'), 'Creation Timestamp');
    assert.equal(smartLabel('dns-policy'), 'Dns - Policy', 'fatih/camelcase splits at the dash too');
    assert.equal(smartLabel('a.b'), 'a.b');
  });

  it('formats timestamps as RFC 1123 with a numeric zone', () => {
    assert.equal(
      rfc1123z('2026-01-02T03:04:05Z', { now, utcOffsetMinutes: 90 }),
      'Fri, 02 Jan 2026 04:34:05 +0130',
    );
    assert.equal(rfc1123z(undefined, ctx), 'Mon, 01 Jan 0001 00:00:00 +0000');
  });
});
