import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ResourceInfo } from '../resources.js';
import { findResource } from '../resources.js';
import { toTable } from './table.js';

const now = Date.parse('2025-06-01T12:00:00Z');
const ago = (ms: number): string => new Date(now - ms).toISOString();
const s = 1000;
const m = 60 * s;
const h = 60 * m;
const d = 24 * h;

function res(group: string, plural: string): ResourceInfo {
  const r = findResource(group, 'v1', plural);
  assert.ok(r, plural);
  return r;
}

const meta = (name: string, age: number, extra: Record<string, unknown> = {}) => ({
  name,
  namespace: 'default',
  uid: `uid-${name}`,
  resourceVersion: '42',
  creationTimestamp: ago(age),
  labels: { app: 'web' },
  ...extra,
});

/** Header names as kubectl prints them (upper-case), and cells, for one object. */
function render(group: string, plural: string, obj: object, wide = true) {
  const t = toTable(res(group, plural), [obj], { includeObject: 'None', now, listMeta: {}, wide });
  return { headers: t.columnDefinitions.map((c) => c.name.toUpperCase()), cells: t.rows[0]?.cells };
}

describe('toTable', () => {
  const pod = {
    metadata: meta('web-0', 53 * s),
    spec: { nodeName: 'node-1', containers: [{ name: 'web', image: 'nginx' }] },
    status: {
      phase: 'Running',
      podIP: '10.0.0.5',
      podIPs: [{ ip: '10.0.0.5' }],
      containerStatuses: [{ name: 'web', ready: true, restartCount: 0, state: { running: {} } }],
    },
  };

  it('matches the observed pod Table shape', () => {
    const t = toTable(res('', 'pods'), [pod], {
      includeObject: 'Metadata',
      now,
      listMeta: { resourceVersion: '104' },
    });
    assert.equal(t.kind, 'Table');
    assert.equal(t.apiVersion, 'meta.k8s.io/v1');
    assert.deepEqual(t.metadata, { resourceVersion: '104' });
    assert.deepEqual(
      t.columnDefinitions.map((c) => [c.name, c.type, c.format, c.priority]),
      [
        ['Name', 'string', 'name', 0],
        ['Ready', 'string', '', 0],
        ['Status', 'string', '', 0],
        ['Restarts', 'string', '', 0],
        ['Age', 'string', '', 0],
        ['IP', 'string', '', 1],
        ['Node', 'string', '', 1],
        ['Nominated Node', 'string', '', 1],
        ['Readiness Gates', 'string', '', 1],
      ],
    );
    assert.deepEqual(t.rows, [
      {
        cells: ['web-0', '1/1', 'Running', '0', '53s', '10.0.0.5', 'node-1', '<none>', '<none>'],
        object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: pod.metadata },
      },
    ]);
  });

  it('honours includeObject, wide=false, noHeaders and v1beta1', () => {
    const full = toTable(res('', 'pods'), [pod], { includeObject: 'Object', now, listMeta: {} });
    assert.deepEqual(full.rows[0]?.object, { ...pod, apiVersion: 'v1', kind: 'Pod' });
    const none = toTable(res('', 'pods'), [pod], { includeObject: 'None', now, listMeta: {}, wide: false });
    const [row] = none.rows;
    assert.ok(row);
    assert.equal(row.object, null);
    assert.deepEqual(row.cells, ['web-0', '1/1', 'Running', '0', '53s']);
    assert.equal(none.columnDefinitions.length, 5);
    const beta = toTable(res('', 'pods'), [pod], {
      includeObject: 'Metadata',
      now,
      listMeta: { resourceVersion: '7', continue: 'abc' },
      version: 'v1beta1',
      noHeaders: true,
    });
    assert.equal(beta.apiVersion, 'meta.k8s.io/v1beta1');
    assert.deepEqual(beta.columnDefinitions, []);
    assert.deepEqual(beta.metadata, { resourceVersion: '7', continue: 'abc' });
    assert.equal((beta.rows[0]?.object as { apiVersion: string }).apiVersion, 'meta.k8s.io/v1beta1');
    assert.deepEqual(toTable(res('', 'pods'), [], { includeObject: 'Metadata', now, listMeta: {} }).rows, []);
  });

  it('marks finished pods with a Completed row condition', () => {
    const done = { ...pod, status: { phase: 'Succeeded' } };
    const t = toTable(res('', 'pods'), [done], { includeObject: 'None', now, listMeta: {} });
    assert.deepEqual(t.rows[0]?.conditions, [
      {
        type: 'Completed',
        status: 'True',
        reason: 'Succeeded',
        message: 'The pod has completed successfully.',
      },
    ]);
  });

  it('deployments: READY UP-TO-DATE AVAILABLE AGE (+ CONTAINERS IMAGES SELECTOR)', () => {
    const deploy = {
      metadata: meta('web', 2 * s),
      spec: {
        replicas: 3,
        selector: { matchLabels: { app: 'web' } },
        template: {
          spec: {
            containers: [
              { name: 'web', image: 'nginx:1.27' },
              { name: 'log', image: 'busybox' },
            ],
          },
        },
      },
      status: { readyReplicas: 2, updatedReplicas: 3, availableReplicas: 2 },
    };
    assert.deepEqual(render('apps', 'deployments', deploy), {
      headers: ['NAME', 'READY', 'UP-TO-DATE', 'AVAILABLE', 'AGE', 'CONTAINERS', 'IMAGES', 'SELECTOR'],
      cells: ['web', '2/3', 3, 2, '2s', 'web,log', 'nginx:1.27,busybox', 'app=web'],
    });
    // Defaults: replicas 1, empty status.
    assert.deepEqual(render('apps', 'deployments', { metadata: meta('x', 0), spec: {} }).cells, [
      'x',
      '0/1',
      0,
      0,
      '0s',
      '',
      '',
      '',
    ]);
  });

  it('replicasets and daemonsets', () => {
    const rs = {
      metadata: meta('web-5d4f', 3 * h + 5 * m),
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'web', 'pod-template-hash': '5d4f' } },
        template: { spec: { containers: [{ name: 'web', image: 'nginx' }] } },
      },
      status: { replicas: 2, readyReplicas: 1 },
    };
    assert.deepEqual(render('apps', 'replicasets', rs), {
      headers: ['NAME', 'DESIRED', 'CURRENT', 'READY', 'AGE', 'CONTAINERS', 'IMAGES', 'SELECTOR'],
      cells: ['web-5d4f', 2, 2, 1, '3h5m', 'web', 'nginx', 'app=web,pod-template-hash=5d4f'],
    });
    const ds = {
      metadata: meta('agent', 2 * d + 5 * h),
      spec: {
        selector: {},
        template: {
          spec: { nodeSelector: { 'kubernetes.io/os': 'linux' }, containers: [{ name: 'a', image: 'i' }] },
        },
      },
      status: {
        desiredNumberScheduled: 3,
        currentNumberScheduled: 3,
        numberReady: 2,
        updatedNumberScheduled: 3,
        numberAvailable: 2,
      },
    };
    assert.deepEqual(render('apps', 'daemonsets', ds), {
      headers: [
        'NAME',
        'DESIRED',
        'CURRENT',
        'READY',
        'UP-TO-DATE',
        'AVAILABLE',
        'NODE SELECTOR',
        'AGE',
        'CONTAINERS',
        'IMAGES',
        'SELECTOR',
      ],
      cells: ['agent', 3, 3, 2, 3, 2, 'kubernetes.io/os=linux', '2d5h', 'a', 'i', '<none>'],
    });
  });

  it('jobs: STATUS COMPLETIONS DURATION AGE', () => {
    const job = (
      status: Record<string, unknown>,
      spec: Record<string, unknown> = { completions: 1 },
      extra = {},
    ) => ({
      metadata: meta('pi', 10 * m, extra),
      spec: {
        ...spec,
        template: { spec: { containers: [{ name: 'pi', image: 'perl' }] } },
        selector: { matchLabels: { 'batch.kubernetes.io/job-name': 'pi' } },
      },
      status,
    });
    assert.deepEqual(
      render(
        'batch',
        'jobs',
        job({
          succeeded: 1,
          startTime: ago(10 * m),
          completionTime: ago(10 * m - 37 * s),
          conditions: [{ type: 'Complete', status: 'True' }],
        }),
      ),
      {
        headers: ['NAME', 'STATUS', 'COMPLETIONS', 'DURATION', 'AGE', 'CONTAINERS', 'IMAGES', 'SELECTOR'],
        cells: ['pi', 'Complete', '1/1', '37s', '10m', 'pi', 'perl', 'batch.kubernetes.io/job-name=pi'],
      },
    );
    assert.deepEqual(render('batch', 'jobs', job({ active: 1, startTime: ago(3 * m) }), false).cells, [
      'pi',
      'Running',
      '0/1',
      '3m',
      '10m',
    ]);
    assert.deepEqual(render('batch', 'jobs', job({}, { parallelism: 3 }), false).cells, [
      'pi',
      'Running',
      '0/1 of 3',
      '',
      '10m',
    ]);
    assert.equal(
      render('batch', 'jobs', job({ conditions: [{ type: 'Failed', status: 'True' }] })).cells?.[1],
      'Failed',
    );
    assert.equal(
      render('batch', 'jobs', job({ conditions: [{ type: 'Suspended', status: 'True' }] })).cells?.[1],
      'Suspended',
    );
    assert.equal(
      render('batch', 'jobs', job({}, { completions: 1 }, { deletionTimestamp: ago(0) })).cells?.[1],
      'Terminating',
    );
  });

  it('nodes: STATUS ROLES AGE VERSION (+ INTERNAL-IP …)', () => {
    const node = {
      metadata: meta('node-1', 5 * d, {
        namespace: undefined,
        labels: { 'node-role.kubernetes.io/control-plane': '', 'kubernetes.io/role': 'worker' },
      }),
      spec: { unschedulable: true },
      status: {
        conditions: [
          { type: 'MemoryPressure', status: 'False' },
          { type: 'Ready', status: 'True' },
        ],
        addresses: [
          { type: 'Hostname', address: 'node-1' },
          { type: 'InternalIP', address: '192.0.2.10' },
        ],
        nodeInfo: {
          kubeletVersion: 'v1.32.0-berth',
          osImage: 'Debian GNU/Linux 12',
          kernelVersion: '6.1.0',
          containerRuntimeVersion: 'runc://1.2',
        },
      },
    };
    assert.deepEqual(render('', 'nodes', node), {
      headers: [
        'NAME',
        'STATUS',
        'ROLES',
        'AGE',
        'VERSION',
        'INTERNAL-IP',
        'EXTERNAL-IP',
        'OS-IMAGE',
        'KERNEL-VERSION',
        'CONTAINER-RUNTIME',
      ],
      cells: [
        'node-1',
        'Ready,SchedulingDisabled',
        'control-plane,worker',
        '5d',
        'v1.32.0-berth',
        '192.0.2.10',
        '<none>',
        'Debian GNU/Linux 12',
        '6.1.0',
        'runc://1.2',
      ],
    });
    const bare = render('', 'nodes', {
      metadata: meta('n2', 0),
      status: { conditions: [{ type: 'Ready', status: 'Unknown' }] },
    });
    assert.deepEqual(bare.cells, [
      'n2',
      'NotReady',
      '<none>',
      '0s',
      '',
      '<none>',
      '<none>',
      '<unknown>',
      '<unknown>',
      '<unknown>',
    ]);
    assert.equal(render('', 'nodes', { metadata: meta('n3', 0) }).cells?.[1], 'Unknown');
  });

  it('services: TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE', () => {
    const svc = (spec: Record<string, unknown>, status: Record<string, unknown> = {}) => ({
      metadata: meta('web', 20 * m),
      spec,
      status,
    });
    assert.deepEqual(
      render(
        '',
        'services',
        svc({
          clusterIP: '10.96.0.10',
          clusterIPs: ['10.96.0.10'],
          ports: [{ port: 80, targetPort: 8080 }],
          selector: { app: 'web' },
        }),
      ),
      {
        headers: ['NAME', 'TYPE', 'CLUSTER-IP', 'EXTERNAL-IP', 'PORT(S)', 'AGE', 'SELECTOR'],
        cells: ['web', 'ClusterIP', '10.96.0.10', '<none>', '80/TCP', '20m', 'app=web'],
      },
    );
    assert.deepEqual(
      render(
        '',
        'services',
        svc({
          type: 'NodePort',
          clusterIP: '10.96.0.11',
          ports: [
            { port: 80, nodePort: 30080, protocol: 'TCP' },
            { port: 53, protocol: 'UDP' },
          ],
        }),
        false,
      ).cells,
      ['web', 'NodePort', '10.96.0.11', '<none>', '80:30080/TCP,53/UDP', '20m'],
    );
    assert.equal(render('', 'services', svc({ type: 'LoadBalancer', ports: [] })).cells?.[3], '<pending>');
    assert.equal(render('', 'services', svc({ type: 'LoadBalancer' })).cells?.[4], '<none>');
    assert.equal(
      render(
        '',
        'services',
        svc(
          { type: 'LoadBalancer' },
          { loadBalancer: { ingress: [{ ip: '203.0.113.9' }, { hostname: 'lb.example' }] } },
        ),
      ).cells?.[3],
      '203.0.113.9,lb.example',
    );
    assert.equal(render('', 'services', svc({ clusterIP: 'None' })).cells?.[2], 'None');
    assert.equal(
      render('', 'services', svc({ type: 'ExternalName', externalName: 'db.example' })).cells?.[3],
      'db.example',
    );
  });

  it('endpoints, configmaps, secrets, namespaces', () => {
    const ep = {
      metadata: meta('web', 1 * m),
      subsets: [
        {
          addresses: [{ ip: '10.0.0.1' }, { ip: '10.0.0.2' }, { ip: 'fd00::3' }, { ip: '10.0.0.4' }],
          ports: [{ port: 80 }],
        },
      ],
    };
    assert.deepEqual(render('', 'endpoints', ep), {
      headers: ['NAME', 'ENDPOINTS', 'AGE'],
      cells: ['web', '10.0.0.1:80,10.0.0.2:80,[fd00::3]:80 + 1 more...', '60s'],
    });
    assert.deepEqual(render('', 'endpoints', { metadata: meta('none', 0) }).cells, ['none', '<none>', '0s']);
    assert.deepEqual(
      render('', 'configmaps', {
        metadata: meta('cfg', 0),
        data: { a: '1', b: '2' },
        binaryData: { c: 'AA==' },
      }),
      {
        headers: ['NAME', 'DATA', 'AGE'],
        cells: ['cfg', 3, '0s'],
      },
    );
    assert.deepEqual(
      render('', 'secrets', {
        metadata: meta('tls', 0),
        type: 'kubernetes.io/tls',
        data: { 'tls.crt': '', 'tls.key': '' },
      }),
      {
        headers: ['NAME', 'TYPE', 'DATA', 'AGE'],
        cells: ['tls', 'kubernetes.io/tls', 2, '0s'],
      },
    );
    assert.deepEqual(render('', 'secrets', { metadata: meta('s', 0) }).cells, ['s', 'Opaque', 0, '0s']);
    assert.deepEqual(
      render('', 'namespaces', { metadata: meta('default', 3 * d), status: { phase: 'Active' } }),
      {
        headers: ['NAME', 'STATUS', 'AGE'],
        cells: ['default', 'Active', '3d'],
      },
    );
    assert.equal(
      render('', 'namespaces', { metadata: meta('gone', 0, { deletionTimestamp: ago(0) }) }).cells?.[1],
      'Terminating',
    );
  });

  it('events: LAST SEEN TYPE REASON OBJECT MESSAGE (+ wide)', () => {
    const ev = {
      metadata: meta('web-0.17f', 5 * m),
      involvedObject: { kind: 'Pod', name: 'web-0', namespace: 'default', fieldPath: 'spec.containers{web}' },
      reason: 'Pulled',
      message: '  Successfully pulled image "nginx"\n',
      type: 'Normal',
      source: { component: 'kubelet', host: 'node-1' },
      firstTimestamp: ago(5 * m),
      lastTimestamp: ago(30 * s),
      count: 4,
    };
    assert.deepEqual(render('', 'events', ev), {
      headers: [
        'LAST SEEN',
        'TYPE',
        'REASON',
        'OBJECT',
        'SUBOBJECT',
        'SOURCE',
        'MESSAGE',
        'FIRST SEEN',
        'COUNT',
        'NAME',
      ],
      cells: [
        '30s',
        'Normal',
        'Pulled',
        'pod/web-0',
        'spec.containers{web}',
        'kubelet, node-1',
        'Successfully pulled image "nginx"',
        '5m',
        4,
        'web-0.17f',
      ],
    });
    assert.deepEqual(render('', 'events', ev, false), {
      headers: ['LAST SEEN', 'TYPE', 'REASON', 'OBJECT', 'MESSAGE'],
      cells: ['30s', 'Normal', 'Pulled', 'pod/web-0', 'Successfully pulled image "nginx"'],
    });
    const newApi = {
      metadata: meta('e', 0),
      involvedObject: { kind: 'Node' },
      eventTime: ago(2 * m),
      reportingComponent: 'berth-scheduler',
    };
    assert.deepEqual(render('', 'events', newApi).cells, [
      '2m',
      '',
      '',
      'node',
      '',
      'berth-scheduler',
      '',
      '2m',
      1,
      'e',
    ]);
  });

  it('controllerrevisions', () => {
    const cr = {
      metadata: meta('agent-6b7c', 0, {
        ownerReferences: [
          { apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'agent', uid: 'u', controller: true },
        ],
      }),
      revision: 2,
      data: {},
    };
    assert.deepEqual(render('apps', 'controllerrevisions', cr), {
      headers: ['NAME', 'CONTROLLER', 'REVISION', 'AGE'],
      cells: ['agent-6b7c', 'daemonset.apps/agent', 2, '0s'],
    });
  });

  it('falls back to NAME AGE for kinds without a printer', () => {
    const other: ResourceInfo = { ...res('', 'pods'), kind: 'Widget', plural: 'widgets' };
    const t = toTable(other, [{ metadata: meta('w', 90 * s) }], { includeObject: 'None', now, listMeta: {} });
    assert.deepEqual(
      t.columnDefinitions.map((c) => c.name),
      ['Name', 'Age'],
    );
    assert.deepEqual(t.rows[0]?.cells, ['w', '90s']);
  });
});
