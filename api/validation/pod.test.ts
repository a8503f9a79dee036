/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-explicit-any -- these tests read and mutate arbitrary API JSON */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { applyDefaults } from '../defaults/defaults.js';
import { causeString, invalid, type StatusCause } from '../status.js';
import { podUpdateForbiddenMsg, specDiff } from './pod.js';
import { validateCreate, validateUpdate } from './validate.js';

type Json = Record<string, any>;

const lines = (causes: StatusCause[]): string[] => causes.map(causeString);

function pod(spec: Json, meta: Json = {}): Json {
  return applyDefaults({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'default', ...meta },
    spec,
  });
}

function check(spec: Json): string[] {
  return lines(validateCreate(pod(spec)));
}

const c = (extra: Json = {}): Json => ({ name: 'c', image: 'nginx:1', ...extra });

describe('pod create validation', () => {
  it('accepts a typical pod', () => {
    assert.deepEqual(
      check({
        containers: [
          c({
            ports: [{ name: 'http', containerPort: 80 }],
            env: [
              { name: 'A', value: '1' },
              { name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
            ],
            resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { cpu: '1', memory: '128Mi' } },
            volumeMounts: [{ name: 'data', mountPath: '/data' }],
            readinessProbe: { httpGet: { port: 'http' } },
            livenessProbe: { exec: { command: ['true'] } },
          }),
        ],
        volumes: [{ name: 'data', emptyDir: {} }],
        tolerations: [{ key: 'k', operator: 'Exists', effect: 'NoSchedule' }],
        nodeSelector: { 'kubernetes.io/os': 'linux' },
      }),
      [],
    );
  });

  it('requires containers', () => {
    assert.deepEqual(check({}), ['spec.containers: Required value']);
    assert.equal(
      invalid({ group: '', kind: 'Pod' }, 'p', validateCreate(pod({}))).message,
      'Pod "p" is invalid: spec.containers: Required value',
    );
  });

  it('checks container names and images', () => {
    assert.deepEqual(check({ containers: [{ name: 'Web', image: '' }, c(), c()] }), [
      `spec.containers[0].name: Invalid value: "Web": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`,
      'spec.containers[0].image: Required value',
      'spec.containers[2].name: Duplicate value: "c"',
    ]);
    assert.deepEqual(check({ containers: [c()], initContainers: [c()] }), [
      'spec.initContainers[0].name: Duplicate value: "c"',
    ]);
  });

  it('checks ports', () => {
    assert.deepEqual(
      check({
        containers: [
          c({
            ports: [
              { containerPort: 0 },
              { containerPort: 70000, hostPort: -1, protocol: 'HTTP' },
              { name: 'http', containerPort: 1 },
              { name: 'http', containerPort: 2 },
            ],
          }),
        ],
      }),
      [
        'spec.containers[0].ports[0].containerPort: Required value',
        'spec.containers[0].ports[1].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive',
        'spec.containers[0].ports[1].hostPort: Invalid value: -1: must be between 1 and 65535, inclusive',
        'spec.containers[0].ports[1].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"',
        'spec.containers[0].ports[3].name: Duplicate value: "http"',
      ],
    );
    assert.deepEqual(
      check({
        containers: [
          c({ ports: [{ containerPort: 80, hostPort: 8080 }] }),
          c({ name: 'd', ports: [{ containerPort: 81, hostPort: 8080 }] }),
        ],
      }),
      ['spec.containers[1].ports[0].hostPort: Duplicate value: "/TCP/8080"'],
    );
  });

  it('checks env', () => {
    assert.deepEqual(
      check({
        containers: [
          c({
            env: [
              { name: '' },
              { name: 'A=B' },
              { name: 'X', valueFrom: {} },
              { name: 'Y', value: 'v', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } },
              { name: 'Z', valueFrom: { fieldRef: { fieldPath: 'spec.foo' } } },
              { name: 'W', valueFrom: { fieldRef: { fieldPath: 'status.phase' } } },
              { name: 'V', valueFrom: { configMapKeyRef: { name: 'cm', key: 'a/b' } } },
            ],
          }),
        ],
      }),
      [
        'spec.containers[0].env[0].name: Required value',
        'spec.containers[0].env[0].name: Invalid value: "": environment variable name must be non-empty',
        `spec.containers[0].env[1].name: Invalid value: "A=B": a valid environment variable name must consist only of printable ASCII characters other than '='`,
        'spec.containers[0].env[2].valueFrom: Invalid value: "": must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`',
        'spec.containers[0].env[3].valueFrom: Invalid value: "": may not be specified when `value` is not empty',
        'spec.containers[0].env[4].valueFrom.fieldRef.fieldPath: Invalid value: "spec.foo": error converting fieldPath: field label not supported: spec.foo',
        'spec.containers[0].env[5].valueFrom.fieldRef.fieldPath: Unsupported value: "status.phase": supported values: "metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", "spec.serviceAccountName", "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs"',
        `spec.containers[0].env[6].valueFrom.configMapKeyRef.key: Invalid value: "a/b": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')`,
      ],
    );
  });

  it('checks resources', () => {
    assert.deepEqual(
      check({
        containers: [
          c({ resources: { requests: { cpu: '2', memory: '1Gi' }, limits: { cpu: '1', memory: '2Gi' } } }),
        ],
      }),
      [
        'spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 1',
      ],
    );
    assert.deepEqual(check({ containers: [c({ resources: { limits: { cpu: 'lots' } } })] }), [
      'spec.containers[0].resources.limits[cpu]: Invalid value: "lots": quantities must match the regular expression \'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$\'',
      'spec.containers[0].resources.requests[cpu]: Invalid value: "lots": quantities must match the regular expression \'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$\'',
    ]);
    assert.deepEqual(
      check({
        containers: [c({ resources: { requests: { cpu: '-1', pods: '1', 'example.com/gpu': '1' } } })],
      }),
      [
        'spec.containers[0].resources.requests[cpu]: Invalid value: "-1": must be greater than or equal to 0',
        'spec.containers[0].resources.requests[pods]: Invalid value: "pods": must be a standard resource for containers',
        'spec.containers[0].resources.limits: Required value: Limit must be set for non overcommitable resources',
      ],
    );
    assert.deepEqual(
      check({
        containers: [
          c({
            resources: { requests: { 'example.com/gpu': '500m' }, limits: { 'example.com/gpu': '500m' } },
          }),
        ],
      }),
      [
        'spec.containers[0].resources.limits[example.com/gpu]: Invalid value: 500m: must be an integer',
        'spec.containers[0].resources.requests[example.com/gpu]: Invalid value: 500m: must be an integer',
      ],
    );
  });

  it('checks volumes and mounts', () => {
    assert.deepEqual(
      check({
        containers: [
          c({
            volumeMounts: [
              { name: 'missing', mountPath: '/a' },
              { name: 'v', mountPath: '/a' },
              { name: 'v', mountPath: '/b', subPath: '../x' },
            ],
          }),
        ],
        volumes: [
          { name: 'v', emptyDir: {} },
          { name: 'v', emptyDir: {} },
          { name: 'h', hostPath: { path: '' } },
          { name: 'two', emptyDir: {}, configMap: { name: 'x' } },
          { name: 's', secret: {} },
          { name: 'm', configMap: { name: 'x', defaultMode: 1000 } },
        ],
      }),
      [
        'spec.volumes[1].name: Duplicate value: "v"',
        'spec.volumes[2].hostPath.path: Required value',
        'spec.volumes[3].configMap: Forbidden: may not specify more than 1 volume type',
        'spec.volumes[4].secret.secretName: Required value',
        'spec.volumes[5].configMap.defaultMode: Invalid value: 1000: must be a number between 0 and 0777 (octal), both inclusive',
        'spec.containers[0].volumeMounts[0].name: Not found: "missing"',
        'spec.containers[0].volumeMounts[1].mountPath: Invalid value: "/a": must be unique',
        `spec.containers[0].volumeMounts.subPath: Invalid value: "../x": must not contain '..'`,
      ],
    );
  });

  it('checks probes', () => {
    assert.deepEqual(
      check({
        containers: [
          c({
            livenessProbe: { successThreshold: 2, exec: { command: ['x'] } },
            readinessProbe: { periodSeconds: -1 },
            startupProbe: { httpGet: { port: 0 }, tcpSocket: { port: 80 } },
          }),
        ],
      }),
      [
        'spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1',
        'spec.containers[0].readinessProbe: Required value: must specify a handler type',
        'spec.containers[0].readinessProbe.periodSeconds: Invalid value: -1: must be greater than or equal to 0',
        'spec.containers[0].startupProbe.httpGet.port: Invalid value: 0: must be between 1 and 65535, inclusive',
        'spec.containers[0].startupProbe.tcpSocket: Forbidden: may not specify more than 1 handler type',
      ],
    );
    assert.deepEqual(
      check({
        containers: [c()],
        initContainers: [c({ name: 'i', readinessProbe: { exec: { command: ['x'] } } })],
      }),
      ['spec.initContainers[0].readinessProbe: Forbidden: may not be set for init containers'],
    );
  });

  it('checks pod-level enums and names', () => {
    assert.deepEqual(
      check({
        containers: [c({ imagePullPolicy: 'Sometimes' })],
        restartPolicy: 'Sometimes',
        dnsPolicy: 'Cluster',
        nodeName: 'Node_1',
        activeDeadlineSeconds: 0,
        tolerations: [
          { operator: 'Equal', value: 'x' },
          { key: 'k', operator: 'Exists', value: 'v' },
          { key: 'k', effect: 'Never' },
        ],
      }),
      [
        'spec.containers[0].imagePullPolicy: Unsupported value: "Sometimes": supported values: "Always", "IfNotPresent", "Never"',
        'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"',
        'spec.dnsPolicy: Unsupported value: "Cluster": supported values: "ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"',
        `spec.nodeName: Invalid value: "Node_1": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
        'spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive',
        'spec.tolerations[0].operator: Invalid value: "Equal": operator must be Exists when `key` is empty, which means "match all values and all keys"',
        `spec.tolerations[1].operator: Invalid value: core.Toleration{Key:"k", Operator:"Exists", Value:"v", Effect:"", TolerationSeconds:(*int64)(nil)}: value must be empty when \`operator\` is 'Exists'`,
        'spec.tolerations[2].effect: Unsupported value: "Never": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"',
      ],
    );
  });
});

describe('pod update validation', () => {
  const base = pod(
    {
      containers: [c()],
      activeDeadlineSeconds: 100,
      tolerations: [{ key: 'k', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 10 }],
    },
    { uid: 'u', resourceVersion: '1' },
  );

  function update(mutate: (p: Json) => void): string[] {
    const next = structuredClone(base);
    mutate(next);
    return lines(validateUpdate(next, base));
  }

  it('allows image, activeDeadlineSeconds (down), toleration additions and label changes', () => {
    assert.deepEqual(
      update((p) => {
        p['spec'].containers[0].image = 'nginx:2';
        p['spec'].activeDeadlineSeconds = 50;
        p['spec'].tolerations.push({ key: 'x', operator: 'Exists' });
        p['spec'].tolerations[0].tolerationSeconds = 20;
        p['metadata'].labels = { a: 'b' };
      }),
      [],
    );
  });

  it('forbids other spec changes with the Kubernetes message and a diff', () => {
    const out = update((p) => {
      p['spec'].restartPolicy = 'Never';
    });
    assert.equal(out.length, 1);
    assert.equal(
      out[0],
      `spec: Forbidden: ${podUpdateForbiddenMsg}\n  core.PodSpec{\n- \trestartPolicy: "Always",\n+ \trestartPolicy: "Never",\n  }`,
    );
    assert.ok(
      podUpdateForbiddenMsg.startsWith(
        'pod updates may not change fields other than `spec.containers[*].image`,',
      ),
    );
  });

  it('reports the specific rules', () => {
    assert.deepEqual(
      update((p) => {
        p['spec'].containers.push({ ...p['spec'].containers[0], name: 'd' });
      }),
      ['spec.containers: Forbidden: pod updates may not add or remove containers'],
    );
    assert.deepEqual(
      update((p) => {
        p['spec'].activeDeadlineSeconds = 200;
      }),
      ['spec.activeDeadlineSeconds: Invalid value: 200: must be less than or equal to previous value'],
    );
    assert.deepEqual(
      update((p) => {
        delete p['spec'].activeDeadlineSeconds;
      }),
      [
        'spec.activeDeadlineSeconds: Invalid value: "null": must not update from a positive integer to nil value',
      ],
    );
    assert.deepEqual(
      update((p) => {
        p['spec'].tolerations = [];
      }),
      ['spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds'],
    );
    assert.deepEqual(
      update((p) => {
        p['spec'].containers[0].image = ' nginx';
      }),
      ['spec.containers[0].image: Invalid value: " nginx": must not have leading or trailing whitespace'],
    );
  });

  it('specDiff lists changed leaves', () => {
    assert.equal(
      specDiff({ a: 1, b: { c: 'x' } }, { a: 1, b: { c: 'y' }, d: true }),
      '  core.PodSpec{\n- \tb.c: "x",\n+ \tb.c: "y",\n+ \td: true,\n  }',
    );
  });
});
