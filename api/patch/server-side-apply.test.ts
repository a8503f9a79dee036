import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { applyServerSide, updateManagedFields } from './server-side-apply.js';
import { lastAppliedAnnotation } from './last-applied.js';
import type { ApplyOptions } from './server-side-apply.js';
import type { JsonObject, JsonValue } from './json-value.js';
import type { PatchFailure, PatchResult } from './result.js';

const t0 = Date.UTC(2026, 10, 27, 19, 14, 6, 500);
const web = 'k:{"name":"web"}';
const sidecar = 'k:{"name":"sidecar"}';

function ok(result: PatchResult<JsonObject>): JsonObject {
  if (!result.ok) assert.fail(`expected success, got ${result.reason}: ${result.message}`);
  return result.value;
}

function failed(result: PatchResult<JsonObject>): PatchFailure {
  if (result.ok) assert.fail('expected a failure');
  return result;
}

function at(obj: JsonValue | undefined, ...path: (string | number)[]): JsonValue | undefined {
  let cur = obj;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = Array.isArray(cur) ? cur[p as number] : cur[p as string];
  }
  return cur;
}

function managers(obj: JsonObject): JsonObject[] {
  return (at(obj, 'metadata', 'managedFields') as JsonObject[] | undefined) ?? [];
}

function entry(obj: JsonObject, manager: string): JsonObject | undefined {
  return managers(obj).find((m) => m['manager'] === manager);
}

function fieldsOf(obj: JsonObject, manager: string): JsonValue | undefined {
  return entry(obj, manager)?.['fieldsV1'];
}

/** deploy.yaml from the transcripts, as kubectl sends it with --server-side. */
function manifest(): JsonObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { labels: { app: 'web' }, name: 'web', namespace: 'default' },
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
}

/** What the API server would add after the apply: defaults (owned by nobody) and identity. */
function withServerDefaults(obj: JsonObject): JsonObject {
  const out = structuredClone(obj);
  const meta = out['metadata'] as JsonObject;
  Object.assign(meta, { uid: 'u-1', resourceVersion: '7', generation: 1 });
  const spec = out['spec'] as JsonObject;
  spec['progressDeadlineSeconds'] = 600;
  const podSpec = at(spec, 'template', 'spec') as JsonObject;
  podSpec['restartPolicy'] = 'Always';
  for (const c of podSpec['containers'] as JsonObject[]) {
    c['imagePullPolicy'] = 'IfNotPresent';
    for (const p of (c['ports'] as JsonObject[] | undefined) ?? []) p['protocol'] = 'TCP';
  }
  return out;
}

const kubectl = (extra: Partial<ApplyOptions> = {}): ApplyOptions => ({
  manager: 'kubectl',
  now: t0,
  ...extra,
});

describe('applyServerSide: one manager', () => {
  it('first apply creates the object and records exactly the applied fields', () => {
    const out = ok(applyServerSide(undefined, manifest(), kubectl()));
    const { metadata: _m, ...rest } = out;
    const { metadata: _n, ...expected } = manifest();
    assert.deepEqual(rest, expected);
    assert.deepEqual(
      managers(out).map((m) => [m['manager'], m['operation'], m['apiVersion'], m['time'], m['fieldsType']]),
      [['kubectl', 'Apply', 'apps/v1', '2026-11-27T19:14:06Z', 'FieldsV1']],
    );
    assert.deepEqual(fieldsOf(out, 'kubectl'), {
      'f:metadata': { 'f:labels': { 'f:app': {} } },
      'f:spec': {
        'f:replicas': {},
        'f:selector': {},
        'f:template': {
          'f:metadata': { 'f:labels': { 'f:app': {} } },
          'f:spec': {
            'f:containers': {
              [sidecar]: { '.': {}, 'f:command': {}, 'f:image': {}, 'f:name': {} },
              [web]: {
                '.': {},
                'f:env': { 'k:{"name":"A"}': { '.': {}, 'f:name': {}, 'f:value': {} } },
                'f:image': {},
                'f:name': {},
                'f:ports': { 'k:{"containerPort":80,"protocol":"TCP"}': { '.': {}, 'f:containerPort': {} } },
              },
            },
          },
        },
      },
    });
  });

  it('re-applying the same configuration changes nothing, not even the timestamp', () => {
    const live = withServerDefaults(ok(applyServerSide(undefined, manifest(), kubectl())));
    const again = ok(applyServerSide(live, manifest(), kubectl({ now: t0 + 3_600_000 })));
    assert.deepEqual(again, live);
  });

  it('re-applying without a container, an env var and ports removes them, keeping defaults', () => {
    const live = withServerDefaults(ok(applyServerSide(undefined, manifest(), kubectl())));
    const v2 = manifest();
    const podSpec = at(v2, 'spec', 'template', 'spec') as JsonObject;
    podSpec['containers'] = [{ env: [{ name: 'B', value: '2' }], image: 'nginx:1.28', name: 'web' }];
    (v2['spec'] as JsonObject)['replicas'] = 3;
    const out = ok(applyServerSide(live, v2, kubectl({ now: t0 + 60_000 })));
    assert.deepEqual(at(out, 'spec', 'template', 'spec', 'containers'), [
      { env: [{ name: 'B', value: '2' }], image: 'nginx:1.28', name: 'web', imagePullPolicy: 'IfNotPresent' },
    ]);
    assert.equal(at(out, 'spec', 'replicas'), 3);
    assert.equal(at(out, 'spec', 'progressDeadlineSeconds'), 600);
    assert.equal(at(out, 'spec', 'template', 'spec', 'restartPolicy'), 'Always');
    assert.equal(at(out, 'metadata', 'uid'), 'u-1');
    assert.equal(entry(out, 'kubectl')?.['time'], '2026-11-27T19:15:06Z');
    assert.deepEqual(at(fieldsOf(out, 'kubectl'), 'f:spec', 'f:template', 'f:spec', 'f:containers'), {
      [web]: {
        '.': {},
        'f:env': { 'k:{"name":"B"}': { '.': {}, 'f:name': {}, 'f:value': {} } },
        'f:image': {},
        'f:name': {},
      },
    });
  });

  it('removes a label the manager stopped applying, and the labels map once empty', () => {
    const first = manifest();
    (first['metadata'] as JsonObject)['labels'] = { app: 'web', tier: 'fe' };
    const live = ok(applyServerSide(undefined, first, kubectl()));
    const out = ok(applyServerSide(live, manifest(), kubectl()));
    assert.deepEqual(at(out, 'metadata', 'labels'), { app: 'web' });
    const bare = manifest();
    delete (bare['metadata'] as JsonObject)['labels'];
    const none = ok(applyServerSide(out, bare, kubectl()));
    assert.equal(at(none, 'metadata', 'labels'), undefined);
  });

  it('does not remove a field the manager stopped applying when another manager owns it', () => {
    const live = ok(applyServerSide(undefined, manifest(), kubectl()));
    const scaled = ok(
      applyServerSide(
        live,
        { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' }, spec: { replicas: 2 } },
        { manager: 'hpa', now: t0 },
      ),
    );
    const v2 = manifest();
    delete (v2['spec'] as JsonObject)['replicas'];
    const out = ok(applyServerSide(scaled, v2, kubectl()));
    assert.equal(at(out, 'spec', 'replicas'), 2);
    assert.deepEqual(at(fieldsOf(out, 'hpa'), 'f:spec'), { 'f:replicas': {} });
    assert.equal(at(fieldsOf(out, 'kubectl'), 'f:spec', 'f:replicas'), undefined);
  });
});

describe('applyServerSide: conflicts', () => {
  const scale = (replicas: number): JsonObject => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'default' },
    spec: { replicas },
  });

  it('a second applier changing an owned field gets 409 naming the field and the manager', () => {
    const live = ok(applyServerSide(undefined, manifest(), kubectl()));
    const f = failed(applyServerSide(live, scale(5), { manager: 'hpa', now: t0 }));
    assert.equal(f.reason, 'Conflict');
    assert.equal(f.message, 'Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas');
    assert.deepEqual(f.causes, [
      { reason: 'FieldManagerConflict', message: 'conflict with "kubectl"', field: '.spec.replicas' },
    ]);
  });

  it('the same value is no conflict: both managers then own the field', () => {
    const live = ok(applyServerSide(undefined, manifest(), kubectl()));
    const out = ok(applyServerSide(live, scale(2), { manager: 'hpa', now: t0 }));
    assert.deepEqual(at(fieldsOf(out, 'hpa'), 'f:spec'), { 'f:replicas': {} });
    assert.deepEqual(at(fieldsOf(out, 'kubectl'), 'f:spec', 'f:replicas'), {});
  });

  it('force takes ownership away from the other manager', () => {
    const live = ok(applyServerSide(undefined, manifest(), kubectl()));
    const out = ok(applyServerSide(live, scale(5), { manager: 'hpa', now: t0, force: true }));
    assert.equal(at(out, 'spec', 'replicas'), 5);
    assert.deepEqual(at(fieldsOf(out, 'hpa'), 'f:spec'), { 'f:replicas': {} });
    assert.equal(at(fieldsOf(out, 'kubectl'), 'f:spec', 'f:replicas'), undefined);
    assert.deepEqual(at(fieldsOf(out, 'kubectl'), 'f:spec', 'f:selector'), {});
    // kubectl no longer owns replicas, so re-applying its (unchanged) manifest now conflicts.
    const f = failed(applyServerSide(out, manifest(), kubectl()));
    assert.equal(f.message, 'Apply failed with 1 conflict: conflict with "hpa": .spec.replicas');
  });

  it('lists several conflicts grouped by manager', () => {
    const live = ok(applyServerSide(undefined, manifest(), kubectl()));
    const config = manifest();
    (config['spec'] as JsonObject)['replicas'] = 9;
    (at(config, 'spec', 'template', 'spec', 'containers', 0) as JsonObject)['image'] = 'nginx:2';
    const f = failed(applyServerSide(live, config, { manager: 'other', now: t0 }));
    assert.equal(
      f.message,
      'Apply failed with 2 conflicts: conflicts with "kubectl":\n- .spec.replicas\n- .spec.template.spec.containers[name="web"].image',
    );
    assert.equal(f.causes?.length, 2);
  });

  it('conflicts with an Update manager name its apiVersion (client-side apply, then another applier)', () => {
    const created = updateManagedFields(undefined, manifest(), {
      manager: 'kubectl-client-side-apply',
      now: t0,
    });
    const f = failed(applyServerSide(created, scale(5), { manager: 'my-mgr', now: t0 }));
    assert.equal(
      f.message,
      'Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas',
    );
    assert.deepEqual(f.causes, [
      {
        reason: 'FieldManagerConflict',
        message: 'conflict with "kubectl-client-side-apply" using apps/v1',
        field: '.spec.replicas',
      },
    ]);
  });

  it('conflicts with a status writer name its subresource', () => {
    const live = ok(applyServerSide(undefined, manifest(), kubectl()));
    const withStatus = updateManagedFields(
      live,
      { ...live, status: { replicas: 2 } },
      { manager: 'berth-controller', now: t0, subresource: 'status' },
    );
    const f = failed(
      applyServerSide(withStatus, { ...scale(2), status: { replicas: 3 } }, { manager: 'x', now: t0 }),
    );
    assert.equal(
      f.message,
      'Apply failed with 1 conflict: conflict with "berth-controller" with subresource "status" using apps/v1: .status.replicas',
    );
  });
});

describe('applyServerSide: after client-side apply', () => {
  /** `kubectl apply` (client-side) creating the object: POST with the annotation, manager kubectl-client-side-apply. */
  function createdClientSide(): JsonObject {
    const body = manifest();
    const lastApplied = structuredClone(body);
    (lastApplied['metadata'] as JsonObject)['annotations'] = {};
    (body['metadata'] as JsonObject)['annotations'] = {
      [lastAppliedAnnotation]: `${JSON.stringify(lastApplied)}\n`,
    };
    return withServerDefaults(
      updateManagedFields(undefined, body, { manager: 'kubectl-client-side-apply', now: t0 }),
    );
  }

  it('kubectl --server-side takes over fields it applied client-side without conflicts', () => {
    const live = createdClientSide();
    const v2 = manifest();
    (at(v2, 'spec', 'template', 'spec', 'containers', 0) as JsonObject)['image'] = 'nginx:1.28';
    const out = ok(applyServerSide(live, v2, kubectl({ now: t0 + 1000 })));
    assert.equal(at(out, 'spec', 'template', 'spec', 'containers', 0, 'image'), 'nginx:1.28');
    const csa = fieldsOf(out, 'kubectl-client-side-apply');
    assert.equal(at(csa, 'f:spec', 'f:template', 'f:spec', 'f:containers', web, 'f:image'), undefined);
    assert.deepEqual(
      at(fieldsOf(out, 'kubectl'), 'f:spec', 'f:template', 'f:spec', 'f:containers', web, 'f:image'),
      {},
    );
    // The last-applied annotation follows what kubectl applied, for a later client-side apply.
    const annotation = at(out, 'metadata', 'annotations', lastAppliedAnnotation);
    assert.equal(typeof annotation, 'string');
    assert.equal(
      at(
        JSON.parse(annotation as string) as JsonObject,
        'spec',
        'template',
        'spec',
        'containers',
        0,
        'image',
      ),
      'nginx:1.28',
    );
    // Only the Apply entry and the Update entry remain, Apply first.
    assert.deepEqual(
      managers(out).map((m) => m['operation']),
      ['Apply', 'Update'],
    );
  });

  it('still conflicts on fields someone else changed since the client-side apply', () => {
    const live = createdClientSide();
    const scaled = updateManagedFields(
      live,
      { ...live, spec: { ...(live['spec'] as JsonObject), replicas: 4 } },
      { manager: 'hpa-controller', now: t0 },
    );
    const v2 = manifest();
    (v2['spec'] as JsonObject)['replicas'] = 3;
    const f = failed(applyServerSide(scaled, v2, kubectl()));
    assert.equal(
      f.message,
      'Apply failed with 1 conflict: conflict with "hpa-controller" using apps/v1: .spec.replicas',
    );
  });

  it('other field managers get no such allowance', () => {
    const v2 = manifest();
    (at(v2, 'spec', 'template', 'spec', 'containers', 0) as JsonObject)['image'] = 'nginx:1.28';
    const f = failed(applyServerSide(createdClientSide(), v2, { manager: 'not-kubectl', now: t0 }));
    assert.equal(f.reason, 'Conflict');
  });

  it('accepts kubectl-last-applied re-applying the live annotation (saveLastApplyAnnotationIfNecessary)', () => {
    const live = createdClientSide();
    const value = at(live, 'metadata', 'annotations', lastAppliedAnnotation) as string;
    const config = (annotation: string): JsonObject => ({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: 'default', annotations: { [lastAppliedAnnotation]: annotation } },
    });
    const out = ok(applyServerSide(live, config(value), { manager: 'kubectl-last-applied', now: t0 }));
    assert.equal(at(out, 'metadata', 'annotations', lastAppliedAnnotation), value);
    assert.deepEqual(fieldsOf(out, 'kubectl-last-applied'), {
      'f:metadata': { 'f:annotations': { [`f:${lastAppliedAnnotation}`]: {} } },
    });
    // A different value would take the annotation from client-side apply: that is a conflict.
    const f = failed(applyServerSide(live, config('{}'), { manager: 'kubectl-last-applied', now: t0 }));
    assert.equal(
      f.message,
      `Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .metadata.annotations.${lastAppliedAnnotation}`,
    );
  });

  it('gives a live object without managed fields to before-first-apply', () => {
    const live = withServerDefaults(manifest());
    const f = failed(applyServerSide(live, scale(5), { manager: 'x', now: t0 }));
    assert.equal(
      f.message,
      'Apply failed with 1 conflict: conflict with "before-first-apply" using apps/v1: .spec.replicas',
    );
    const out = ok(applyServerSide(live, scale(5), { manager: 'x', now: t0, force: true }));
    assert.deepEqual(
      managers(out).map((m) => m['manager']),
      ['x', 'before-first-apply'],
    );
  });

  function scale(replicas: number): JsonObject {
    return { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' }, spec: { replicas } };
  }
});

describe('applyServerSide: semantics and errors', () => {
  it('merges set lists by value and map lists by key, keeping live-only elements in place', () => {
    const live = ok(
      applyServerSide(
        undefined,
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', finalizers: ['a'] }, data: { k: 'v' } },
        { manager: 'one', now: t0 },
      ),
    );
    const out = ok(
      applyServerSide(
        live,
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', finalizers: ['b'] } },
        { manager: 'two', now: t0 },
      ),
    );
    assert.deepEqual(at(out, 'metadata', 'finalizers'), ['a', 'b']);
    assert.deepEqual(at(fieldsOf(out, 'two'), 'f:metadata'), { 'f:finalizers': { 'v:"b"': {} } });
    assert.deepEqual(at(out, 'data'), { k: 'v' });

    const pod = (containers: JsonValue[]): JsonObject => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p' },
      spec: { containers },
    });
    const p1 = ok(
      applyServerSide(
        undefined,
        pod([
          { name: 'a', image: '1' },
          { name: 'b', image: '1' },
        ]),
        { manager: 'one', now: t0 },
      ),
    );
    const p2 = ok(
      applyServerSide(
        p1,
        pod([
          { name: 'c', image: '1' },
          { name: 'b', image: '2' },
        ]),
        { manager: 'two', now: t0, force: true },
      ),
    );
    assert.deepEqual(
      (at(p2, 'spec', 'containers') as JsonObject[]).map((c) => [c['name'], c['image']]),
      [
        ['a', '1'],
        ['c', '1'],
        ['b', '2'],
      ],
    );
  });

  it('replaces atomic lists and atomic structs (tolerations, selector) as a whole', () => {
    const live = ok(
      applyServerSide(
        undefined,
        {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'p' },
          spec: { tolerations: [{ key: 'a' }], nodeSelector: { x: '1', y: '2' } },
        },
        { manager: 'one', now: t0 },
      ),
    );
    assert.deepEqual(at(fieldsOf(live, 'one'), 'f:spec'), { 'f:nodeSelector': {}, 'f:tolerations': {} });
    const out = ok(
      applyServerSide(
        live,
        {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'p' },
          spec: { tolerations: [{ key: 'b' }], nodeSelector: { z: '3' } },
        },
        { manager: 'one', now: t0 },
      ),
    );
    assert.deepEqual(at(out, 'spec'), { tolerations: [{ key: 'b' }], nodeSelector: { z: '3' } });
  });

  it('works for kinds without a schema (custom resources): maps merge, lists are atomic', () => {
    const cr = (spec: JsonObject): JsonObject => ({
      apiVersion: 'example.com/v1',
      kind: 'Widget',
      metadata: { name: 'w' },
      spec,
    });
    const live = ok(applyServerSide(undefined, cr({ size: 1, tags: ['a'] }), { manager: 'one', now: t0 }));
    const out = ok(applyServerSide(live, cr({ tags: ['b'] }), { manager: 'one', now: t0 }));
    assert.deepEqual(out['spec'], { tags: ['b'] });
  });

  it('ignores reset fields: the live status stays and nobody owns what was sent for it', () => {
    const live = { ...manifest(), status: { replicas: 1 } };
    const out = ok(
      applyServerSide(
        live,
        { ...manifest(), status: { replicas: 7 } },
        kubectl({ resetFields: [['status']], force: true }),
      ),
    );
    assert.deepEqual(out['status'], { replicas: 1 });
    assert.equal(at(fieldsOf(out, 'kubectl'), 'f:status'), undefined);
  });

  it('clears a field the configuration sets to null and owns it', () => {
    const live = ok(applyServerSide(undefined, manifest(), kubectl()));
    const config = manifest();
    (config['spec'] as JsonObject)['paused'] = null;
    const out = ok(
      applyServerSide(
        { ...live, spec: { ...(live['spec'] as JsonObject), paused: true } },
        config,
        kubectl(),
      ),
    );
    assert.equal(at(out, 'spec', 'paused'), undefined);
    assert.deepEqual(at(fieldsOf(out, 'kubectl'), 'f:spec', 'f:paused'), {});
  });

  it('rejects malformed apply requests with 400', () => {
    const withMf = manifest();
    (withMf['metadata'] as JsonObject)['managedFields'] = [];
    const dup = manifest();
    (at(dup, 'spec', 'template', 'spec') as JsonObject)['containers'] = [{ name: 'a' }, { name: 'a' }];
    const keyless = manifest();
    (at(keyless, 'spec', 'template', 'spec') as JsonObject)['containers'] = [{ image: 'x' }];
    const cases: [unknown, ApplyOptions, RegExp][] = [
      [manifest(), { manager: '', now: t0 }, /fieldManager/],
      [manifest(), { manager: 'm'.repeat(129), now: t0 }, /fieldManager/],
      [[manifest()], kubectl(), /single object/],
      [{ metadata: { name: 'x' } }, kubectl(), /apiVersion and kind/],
      [withMf, kubectl(), /managedFields must be nil/],
      [dup, kubectl(), /duplicate entries for key \[name="a"\]/],
      [keyless, kubectl(), /key fields/],
    ];
    for (const [config, options, pattern] of cases) {
      const f = failed(applyServerSide(undefined, config, options));
      assert.equal(f.reason, options.manager.length > 128 ? 'Invalid' : 'BadRequest');
      assert.match(f.message, pattern);
    }
  });

  it('does not modify its inputs', () => {
    const live = withServerDefaults(ok(applyServerSide(undefined, manifest(), kubectl())));
    const copy = structuredClone(live);
    const config = manifest();
    ok(applyServerSide(live, config, { manager: 'other', now: t0, force: true }));
    assert.deepEqual(live, copy);
    assert.deepEqual(config, manifest());
  });
});

describe('updateManagedFields', () => {
  it('gives the writer what it added or changed and takes it from others', () => {
    const live = ok(applyServerSide(undefined, manifest(), kubectl()));
    const next = structuredClone(live);
    (next['spec'] as JsonObject)['replicas'] = 5;
    (next['spec'] as JsonObject)['paused'] = true;
    const out = updateManagedFields(live, next, { manager: 'kubectl-edit', now: t0 + 5000 });
    assert.deepEqual(entry(out, 'kubectl-edit'), {
      manager: 'kubectl-edit',
      operation: 'Update',
      apiVersion: 'apps/v1',
      time: '2026-11-27T19:14:11Z',
      fieldsType: 'FieldsV1',
      fieldsV1: { 'f:spec': { 'f:paused': {}, 'f:replicas': {} } },
    });
    assert.equal(at(fieldsOf(out, 'kubectl'), 'f:spec', 'f:replicas'), undefined);
    assert.equal(entry(out, 'kubectl')?.['time'], '2026-11-27T19:14:06Z');
  });

  it('drops removed fields from every manager, and managers left with nothing', () => {
    const cm = (data: JsonObject): JsonObject => ({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'c' },
      data,
    });
    const live = ok(applyServerSide(undefined, cm({ a: '1', b: '2' }), { manager: 'one', now: t0 }));
    const partly = updateManagedFields(live, cm({ b: '2', c: '3' }), { manager: 'two', now: t0 });
    assert.deepEqual(fieldsOf(partly, 'one'), { 'f:data': { 'f:b': {} } });
    assert.deepEqual(fieldsOf(partly, 'two'), { 'f:data': { 'f:c': {} } });
    // Removing keys gains the writer nothing; whoever owned them loses them, and an empty entry goes.
    const emptied = updateManagedFields(partly, cm({ c: '3' }), { manager: 'three', now: t0 });
    assert.deepEqual(
      managers(emptied).map((m) => m['manager']),
      ['two'],
    );
    const none = updateManagedFields(emptied, cm({}), { manager: 'three', now: t0 });
    assert.equal(at(none, 'metadata', 'managedFields'), undefined);
    assert.deepEqual(none['metadata'], { name: 'c' });
  });

  it('leaves entries alone (no new time) when the write changed nothing', () => {
    const live = ok(applyServerSide(undefined, manifest(), kubectl()));
    const out = updateManagedFields(live, structuredClone(live), { manager: 'noop', now: t0 + 99_000 });
    assert.deepEqual(out, live);
  });

  it('honours managed fields sent by the client, and ignores them on a subresource', () => {
    const live = ok(applyServerSide(undefined, manifest(), kubectl()));
    const edited = structuredClone(live);
    const mf = managers(edited)[0] as JsonObject;
    mf['manager'] = 'renamed';
    const out = updateManagedFields(live, edited, { manager: 'x', now: t0 });
    assert.deepEqual(
      managers(out).map((m) => m['manager']),
      ['renamed'],
    );
    const status = updateManagedFields(
      live,
      { ...edited, status: { replicas: 1 } },
      { manager: 'ctrl', now: t0, subresource: 'status' },
    );
    assert.deepEqual(
      managers(status).map((m) => [m['manager'], m['subresource'] ?? '']),
      [
        ['kubectl', ''],
        ['ctrl', 'status'],
      ],
    );
  });

  it('never records identity fields or reset fields', () => {
    const created = updateManagedFields(
      undefined,
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'p', namespace: 'd', uid: 'u', resourceVersion: '1' },
        spec: { nodeName: 'n' },
        status: { phase: 'Pending' },
      },
      { manager: 'creator', now: t0, resetFields: [['status']] },
    );
    assert.deepEqual(fieldsOf(created, 'creator'), { 'f:spec': { 'f:nodeName': {} } });
  });
});
