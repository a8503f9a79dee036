import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { applyStrategicMergePatch, supportsStrategicMerge } from './strategic-merge-patch.js';
import type { JsonObject, JsonValue } from './json-value.js';
import type { PatchResult } from './result.js';

const deployment = { apiVersion: 'apps/v1', kind: 'Deployment' };
const lastApplied = 'kubectl.kubernetes.io/last-applied-configuration';

function ok(result: PatchResult<JsonObject>): JsonObject {
  if (!result.ok) assert.fail(`expected success, got ${result.reason}: ${result.message}`);
  return result.value;
}

function at(obj: JsonValue | undefined, ...path: (string | number)[]): JsonValue | undefined {
  let cur = obj;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = Array.isArray(cur) ? cur[p as number] : cur[p as string];
  }
  return cur;
}

/** The live Deployment after `kubectl apply -f deploy.yaml` (transcripts), with server defaults. */
function liveDeployment(): JsonObject {
  const manifest = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { annotations: {}, labels: { app: 'web' }, name: 'web', namespace: 'default' },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          containers: [
            {
              env: [{ name: 'A', value: '1' }],
              image: 'nginx:1.27',
              name: 'web',
              ports: [{ containerPort: 80 }],
            },
            { command: ['sleep', '3600'], image: 'busybox', name: 'sidecar' },
          ],
        },
      },
    },
  };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: 'web',
      namespace: 'default',
      uid: '6f1c2d7e-0000-4000-8000-000000000001',
      resourceVersion: '104',
      generation: 1,
      labels: { app: 'web' },
      annotations: {
        'deployment.kubernetes.io/revision': '1',
        [lastApplied]: `${JSON.stringify(manifest)}\n`,
      },
    },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: 'web' } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } },
      revisionHistoryLimit: 10,
      progressDeadlineSeconds: 600,
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          containers: [
            {
              name: 'web',
              image: 'nginx:1.27',
              ports: [{ containerPort: 80, protocol: 'TCP' }],
              env: [{ name: 'A', value: '1' }],
              resources: {},
              terminationMessagePath: '/dev/termination-log',
              imagePullPolicy: 'IfNotPresent',
            },
            { name: 'sidecar', image: 'busybox', command: ['sleep', '3600'], imagePullPolicy: 'Always' },
          ],
          restartPolicy: 'Always',
          dnsPolicy: 'ClusterFirst',
        },
      },
    },
    status: { observedGeneration: 1, replicas: 2, conditions: [{ type: 'Available', status: 'True' }] },
  };
}

describe('applyStrategicMergePatch: kubectl apply of a changed Deployment', () => {
  // Body observed from kubectl 1.32 applying deploy-v2.yaml (kubectl-transcripts/oav3.log), with the
  // annotation value shortened.
  const v2Patch = {
    metadata: { annotations: { [lastApplied]: '{"v":2}\n' } },
    spec: {
      replicas: 3,
      strategy: { $retainKeys: ['type'], type: 'Recreate' },
      template: {
        spec: {
          '$setElementOrder/containers': [{ name: 'web' }],
          containers: [
            {
              '$setElementOrder/env': [{ name: 'B' }],
              env: [
                { name: 'B', value: '2' },
                { $patch: 'delete', name: 'A' },
              ],
              image: 'nginx:1.28',
              name: 'web',
              ports: null,
              volumeMounts: [{ mountPath: '/data', name: 'data' }],
            },
            { $patch: 'delete', name: 'sidecar' },
          ],
          volumes: [{ emptyDir: {}, name: 'data' }],
        },
      },
    },
  };

  it('removes the sidecar, swaps env, drops ports, adds the volume and clears rollingUpdate', () => {
    const live = liveDeployment();
    const out = ok(applyStrategicMergePatch(live, v2Patch, deployment));
    assert.deepEqual(at(out, 'spec', 'template', 'spec', 'containers'), [
      {
        name: 'web',
        image: 'nginx:1.28',
        env: [{ name: 'B', value: '2' }],
        resources: {},
        terminationMessagePath: '/dev/termination-log',
        imagePullPolicy: 'IfNotPresent',
        volumeMounts: [{ mountPath: '/data', name: 'data' }],
      },
    ]);
    assert.deepEqual(at(out, 'spec', 'template', 'spec', 'volumes'), [{ emptyDir: {}, name: 'data' }]);
    assert.deepEqual(at(out, 'spec', 'strategy'), { type: 'Recreate' });
    assert.equal(at(out, 'spec', 'replicas'), 3);
    assert.equal(at(out, 'metadata', 'annotations', lastApplied), '{"v":2}\n');
    assert.equal(at(out, 'metadata', 'annotations', 'deployment.kubernetes.io/revision'), '1');
    assert.deepEqual(at(out, 'status'), at(live, 'status'));
    assert.ok(!JSON.stringify(out).includes('$'), 'no directive may be stored');
  });

  it('keeps a stale rollingUpdate when the patch has no $retainKeys (why the directive matters)', () => {
    const patch = structuredClone(v2Patch) as JsonObject;
    (patch['spec'] as JsonObject)['strategy'] = { type: 'Recreate' };
    const out = ok(applyStrategicMergePatch(liveDeployment(), patch, deployment));
    assert.deepEqual(at(out, 'spec', 'strategy'), {
      type: 'Recreate',
      rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' },
    });
  });

  it('changes one image and keeps container order (first transcript patch)', () => {
    const patch = {
      metadata: { annotations: { [lastApplied]: 'x' } },
      spec: {
        template: {
          spec: {
            '$setElementOrder/containers': [{ name: 'web' }, { name: 'sidecar' }],
            containers: [{ image: 'nginx:1.28', name: 'web' }],
          },
        },
      },
    };
    const out = ok(applyStrategicMergePatch(liveDeployment(), patch, deployment));
    const containers = at(out, 'spec', 'template', 'spec', 'containers') as JsonObject[];
    assert.deepEqual(
      containers.map((c) => [c['name'], c['image']]),
      [
        ['web', 'nginx:1.28'],
        ['sidecar', 'busybox'],
      ],
    );
    assert.deepEqual(containers[0]?.['ports'], [{ containerPort: 80, protocol: 'TCP' }]);
  });

  it('does not modify its inputs', () => {
    const live = liveDeployment();
    const patch = structuredClone(v2Patch);
    ok(applyStrategicMergePatch(live, patch, deployment));
    assert.deepEqual(live, liveDeployment());
    assert.deepEqual(patch, v2Patch);
  });
});

describe('applyStrategicMergePatch: other kubectl verbs', () => {
  it('kubectl set image: $setElementOrder plus the changed container', () => {
    const patch = {
      spec: {
        template: {
          spec: {
            '$setElementOrder/containers': [{ name: 'web' }, { name: 'sidecar' }],
            containers: [{ image: 'busybox:1.36', name: 'sidecar' }],
          },
        },
      },
    };
    const out = ok(applyStrategicMergePatch(liveDeployment(), patch, deployment));
    const containers = at(out, 'spec', 'template', 'spec', 'containers') as JsonObject[];
    assert.deepEqual(
      containers.map((c) => c['image']),
      ['nginx:1.27', 'busybox:1.36'],
    );
    assert.deepEqual(containers[1]?.['command'], ['sleep', '3600']);
  });

  it('kubectl rollout restart: adds the restartedAt template annotation, keeps the rest', () => {
    const live = liveDeployment();
    ((live['spec'] as JsonObject)['template'] as JsonObject)['metadata'] = {
      labels: { app: 'web' },
      annotations: { 'prometheus.io/scrape': 'true' },
    };
    const patch = {
      spec: {
        template: {
          metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': '2026-11-27T19:14:06Z' } },
        },
      },
    };
    const out = ok(applyStrategicMergePatch(live, patch, deployment));
    assert.deepEqual(at(out, 'spec', 'template', 'metadata'), {
      labels: { app: 'web' },
      annotations: {
        'prometheus.io/scrape': 'true',
        'kubectl.kubernetes.io/restartedAt': '2026-11-27T19:14:06Z',
      },
    });
  });

  it('kubectl cordon / uncordon: spec.unschedulable true, then null deletes it', () => {
    const node = {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: 'node-1', labels: { 'kubernetes.io/hostname': 'node-1' } },
      spec: { podCIDR: '10.244.1.0/24', taints: [{ key: 'a', effect: 'NoSchedule' }] },
    };
    const target = { apiVersion: 'v1', kind: 'Node' };
    const cordoned = ok(applyStrategicMergePatch(node, { spec: { unschedulable: true } }, target));
    assert.deepEqual(cordoned['spec'], { ...node.spec, unschedulable: true });
    const uncordoned = ok(applyStrategicMergePatch(cordoned, { spec: { unschedulable: null } }, target));
    assert.deepEqual(uncordoned['spec'], node.spec);
  });

  it('kubectl label/annotate payloads work as strategic patches too (null removes a label)', () => {
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p', labels: { app: 'web', tier: 'fe' } },
    };
    const out = ok(
      applyStrategicMergePatch(
        pod,
        { metadata: { labels: { tier: null, env: 'prod' }, annotations: { a: 'b' } } },
        { apiVersion: 'v1', kind: 'Pod' },
      ),
    );
    assert.deepEqual(out['metadata'], {
      name: 'p',
      labels: { app: 'web', env: 'prod' },
      annotations: { a: 'b' },
    });
  });

  it('updates the last-applied annotation without touching other annotations', () => {
    const live = liveDeployment();
    const value = '{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{},"name":"web"}}\n';
    const out = ok(
      applyStrategicMergePatch(live, { metadata: { annotations: { [lastApplied]: value } } }, deployment),
    );
    assert.deepEqual(at(out, 'metadata', 'annotations'), {
      'deployment.kubernetes.io/revision': '1',
      [lastApplied]: value,
    });
  });
});

describe('applyStrategicMergePatch: list merging', () => {
  it('adds a container in the position $setElementOrder gives, keeping a server-only one in place', () => {
    const live = liveDeployment();
    const spec = at(live, 'spec', 'template', 'spec') as JsonObject;
    (spec['containers'] as JsonValue[]).push({ name: 'injected', image: 'proxy' });
    const patch = {
      spec: {
        template: {
          spec: {
            '$setElementOrder/containers': [{ name: 'web' }, { name: 'new' }, { name: 'sidecar' }],
            containers: [{ name: 'new', image: 'redis' }],
          },
        },
      },
    };
    const out = ok(applyStrategicMergePatch(live, patch, deployment));
    const names = (at(out, 'spec', 'template', 'spec', 'containers') as JsonObject[]).map((c) => c['name']);
    assert.deepEqual(names, ['web', 'new', 'sidecar', 'injected']);
  });

  it('merges env by name, ports by containerPort and volumeMounts by mountPath', () => {
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p' },
      spec: {
        containers: [
          {
            name: 'c',
            env: [
              { name: 'A', value: '1' },
              { name: 'B', value: '2' },
            ],
            ports: [{ containerPort: 80, name: 'http' }],
            volumeMounts: [{ mountPath: '/a', name: 'a' }],
          },
        ],
      },
    };
    const patch = {
      spec: {
        containers: [
          {
            name: 'c',
            env: [{ name: 'B', value: '3' }],
            ports: [{ containerPort: 443, name: 'https' }],
            volumeMounts: [{ mountPath: '/a', readOnly: true }],
          },
        ],
      },
    };
    const out = ok(applyStrategicMergePatch(pod, patch, { apiVersion: 'v1', kind: 'Pod' }));
    const c = at(out, 'spec', 'containers', 0) as JsonObject;
    assert.deepEqual(c['env'], [
      { name: 'A', value: '1' },
      { name: 'B', value: '3' },
    ]);
    // Without $setElementOrder a new element goes before the server-only ones (Kubernetes' order).
    assert.deepEqual(c['ports'], [
      { containerPort: 443, name: 'https' },
      { containerPort: 80, name: 'http' },
    ]);
    assert.deepEqual(c['volumeMounts'], [{ mountPath: '/a', name: 'a', readOnly: true }]);
  });

  it('replaces lists without a patch strategy (tolerations, command, envFrom)', () => {
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p' },
      spec: {
        tolerations: [{ key: 'a', operator: 'Exists' }],
        containers: [{ name: 'c', command: ['a', 'b'], envFrom: [{ configMapRef: { name: 'x' } }] }],
      },
    };
    const patch = {
      spec: {
        tolerations: [{ key: 'b', operator: 'Exists' }],
        containers: [{ name: 'c', command: ['z'], envFrom: [{ secretRef: { name: 's' } }] }],
      },
    };
    const out = ok(applyStrategicMergePatch(pod, patch, { apiVersion: 'v1', kind: 'Pod' }));
    assert.deepEqual(at(out, 'spec', 'tolerations'), [{ key: 'b', operator: 'Exists' }]);
    assert.deepEqual(at(out, 'spec', 'containers', 0, 'command'), ['z']);
    assert.deepEqual(at(out, 'spec', 'containers', 0, 'envFrom'), [{ secretRef: { name: 's' } }]);
  });

  it('merges service ports by port, ownerReferences by uid and status conditions by type', () => {
    const svc = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 's', ownerReferences: [{ uid: 'u1', name: 'a', kind: 'X', apiVersion: 'v1' }] },
      spec: { ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }], selector: { app: 'web' } },
    };
    const patch = {
      metadata: { ownerReferences: [{ uid: 'u2', name: 'b', kind: 'X', apiVersion: 'v1' }] },
      spec: { ports: [{ port: 80, targetPort: 9090 }] },
    };
    const out = ok(applyStrategicMergePatch(svc, patch, { apiVersion: 'v1', kind: 'Service' }));
    assert.deepEqual(at(out, 'spec', 'ports'), [{ port: 80, targetPort: 9090, protocol: 'TCP' }]);
    assert.deepEqual(
      (at(out, 'metadata', 'ownerReferences') as JsonObject[]).map((o) => o['uid']),
      ['u2', 'u1'],
    );

    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p' },
      status: {
        conditions: [
          { type: 'Ready', status: 'False' },
          { type: 'PodScheduled', status: 'True' },
        ],
      },
    };
    const ready = ok(
      applyStrategicMergePatch(
        pod,
        {
          status: {
            '$setElementOrder/conditions': [{ type: 'Ready' }, { type: 'PodScheduled' }],
            conditions: [{ type: 'Ready', status: 'True' }],
          },
        },
        { apiVersion: 'v1', kind: 'Pod' },
      ),
    );
    assert.deepEqual(at(ready, 'status', 'conditions'), [
      { type: 'Ready', status: 'True' },
      { type: 'PodScheduled', status: 'True' },
    ]);
  });

  it('unions primitive merge lists and applies $deleteFromPrimitiveList / $setElementOrder', () => {
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', finalizers: ['a', 'b'] } };
    const target = { apiVersion: 'v1', kind: 'ConfigMap' };
    const added = ok(applyStrategicMergePatch(cm, { metadata: { finalizers: ['c', 'a'] } }, target));
    assert.deepEqual(at(added, 'metadata', 'finalizers'), ['c', 'a', 'b']);
    const ordered = ok(
      applyStrategicMergePatch(
        cm,
        {
          metadata: {
            '$setElementOrder/finalizers': ['a', 'c'],
            '$deleteFromPrimitiveList/finalizers': ['b'],
            finalizers: ['c'],
          },
        },
        target,
      ),
    );
    assert.deepEqual(at(ordered, 'metadata', 'finalizers'), ['a', 'c']);
    const none = ok(
      applyStrategicMergePatch(
        { ...cm, metadata: { name: 'c' } },
        { metadata: { '$deleteFromPrimitiveList/finalizers': ['a'] } },
        target,
      ),
    );
    assert.deepEqual(none['metadata'], { name: 'c' });
  });

  it('honours $retainKeys on a volume whose source changes', () => {
    const live = liveDeployment();
    (at(live, 'spec', 'template', 'spec') as JsonObject)['volumes'] = [
      { name: 'data', emptyDir: { medium: 'Memory' } },
      { name: 'other', emptyDir: {} },
    ];
    const patch = {
      spec: {
        template: {
          spec: {
            '$setElementOrder/volumes': [{ name: 'data' }, { name: 'other' }],
            volumes: [{ $retainKeys: ['configMap', 'name'], configMap: { name: 'cfg' }, name: 'data' }],
          },
        },
      },
    };
    const out = ok(applyStrategicMergePatch(live, patch, deployment));
    assert.deepEqual(at(out, 'spec', 'template', 'spec', 'volumes'), [
      { name: 'data', configMap: { name: 'cfg' } },
      { name: 'other', emptyDir: {} },
    ]);
  });

  it('$patch: replace on a list element and on a map; $patch: delete on a map; $patch: merge', () => {
    const live = liveDeployment();
    const replaced = ok(
      applyStrategicMergePatch(
        live,
        {
          spec: { template: { spec: { containers: [{ name: 'only', image: 'x' }, { $patch: 'replace' }] } } },
        },
        deployment,
      ),
    );
    assert.deepEqual(at(replaced, 'spec', 'template', 'spec', 'containers'), [{ name: 'only', image: 'x' }]);

    const mapReplaced = ok(
      applyStrategicMergePatch(
        live,
        { spec: { strategy: { $patch: 'replace', type: 'Recreate' } } },
        deployment,
      ),
    );
    assert.deepEqual(at(mapReplaced, 'spec', 'strategy'), { type: 'Recreate' });

    const mapDeleted = ok(
      applyStrategicMergePatch(live, { spec: { selector: { $patch: 'delete' } } }, deployment),
    );
    assert.deepEqual(at(mapDeleted, 'spec', 'selector'), {});

    const merged = ok(
      applyStrategicMergePatch(
        live,
        {
          metadata: { labels: { $patch: 'merge', b: '2' } },
          spec: { template: { spec: { containers: [{ $patch: 'merge', name: 'web', image: 'y' }] } } },
        },
        deployment,
      ),
    );
    assert.deepEqual(at(merged, 'metadata', 'labels'), { app: 'web', b: '2' });
    assert.equal(at(merged, 'spec', 'template', 'spec', 'containers', 0, 'image'), 'y');
  });

  it('strips directives from a list that does not exist yet', () => {
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p' },
      spec: { containers: [{ name: 'c' }] },
    };
    const out = ok(
      applyStrategicMergePatch(
        pod,
        {
          spec: {
            containers: [
              {
                name: 'c',
                env: [
                  { name: 'X', value: '1' },
                  { $patch: 'delete', name: 'Y' },
                ],
              },
            ],
          },
        },
        { apiVersion: 'v1', kind: 'Pod' },
      ),
    );
    assert.deepEqual(at(out, 'spec', 'containers', 0, 'env'), [{ name: 'X', value: '1' }]);
  });
});

describe('applyStrategicMergePatch: errors', () => {
  it('refuses kinds without strategic merge support (custom resources) with 415', () => {
    const target = { apiVersion: 'example.com/v1', kind: 'Widget' };
    assert.equal(supportsStrategicMerge(target), false);
    assert.equal(supportsStrategicMerge(deployment), true);
    const result = applyStrategicMergePatch({ metadata: { name: 'w' } }, { spec: { a: 1 } }, target);
    assert.equal(result.ok, false);
    assert.equal(result.reason, 'UnsupportedMediaType');
    assert.match(result.message, /Widget/);
  });

  const cases: [string, unknown, string][] = [
    ['a non-object patch', [{ op: 'add' }], 'BadRequest'],
    [
      'an element without its merge key',
      { spec: { template: { spec: { containers: [{ image: 'x' }] } } } },
      'BadRequest',
    ],
    [
      'a delete without its merge key',
      { spec: { template: { spec: { containers: [{ $patch: 'delete' }] } } } },
      'BadRequest',
    ],
    ['an unknown $patch in a map', { spec: { $patch: 'explode' } }, 'BadRequest'],
    [
      'an unknown $patch in a list',
      { spec: { template: { spec: { containers: [{ $patch: 'x', name: 'web' }] } } } },
      'BadRequest',
    ],
    ['$retainKeys that is not a list', { spec: { strategy: { $retainKeys: 'type' } } }, 'BadRequest'],
    [
      'a field outside $retainKeys',
      { spec: { strategy: { $retainKeys: ['type'], rollingUpdate: {} } } },
      'BadRequest',
    ],
    [
      '$setElementOrder that is not a list',
      { spec: { template: { spec: { '$setElementOrder/containers': {} } } } },
      'BadRequest',
    ],
    [
      '$setElementOrder without merge keys',
      { spec: { template: { spec: { '$setElementOrder/containers': [{ image: 'x' }] } } } },
      'BadRequest',
    ],
    ['an unknown directive', { spec: { $bogus: 1 } }, 'BadRequest'],
    ['a list of lists in a merge list', { metadata: { finalizers: [['a']] } }, 'Invalid'],
    ['mixed element types in a merge list', { metadata: { finalizers: ['a', { b: 1 }] } }, 'BadRequest'],
  ];
  for (const [name, patch, reason] of cases) {
    it(`rejects ${name} (${reason})`, () => {
      const result = applyStrategicMergePatch(liveDeployment(), patch, deployment);
      assert.equal(result.ok, false, 'expected a failure');
      assert.equal(result.reason, reason);
      assert.ok(result.message.length > 0);
    });
  }
});
