/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-explicit-any -- these tests read and mutate arbitrary API JSON */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { applyDefaults } from '../defaults/defaults.js';
import { causeString, invalid, type StatusCause } from '../status.js';
import { validateCreate, validateUpdate } from './validate.js';

type Json = Record<string, any>;

const lines = (causes: StatusCause[]): string[] => causes.map(causeString);

const template = (labels: Json = { app: 'web' }, spec: Json = {}): Json => ({
  metadata: { labels },
  spec: { containers: [{ name: 'c', image: 'nginx:1' }], ...spec },
});

function deployment(spec: Json): Json {
  return applyDefaults({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'default', uid: 'u', resourceVersion: '1' },
    spec: { selector: { matchLabels: { app: 'web' } }, template: template(), ...spec },
  });
}

describe('Deployment', () => {
  it('accepts a typical deployment', () => {
    assert.deepEqual(validateCreate(deployment({ replicas: 3 })), []);
  });

  it('reports a selector that does not match the template, as kubectl shows it', () => {
    const causes = validateCreate(deployment({ template: template({ app: 'other' }) }));
    assert.deepEqual(lines(causes), [
      'spec.template.metadata.labels: Invalid value: map[string]string{"app":"other"}: `selector` does not match template `labels`',
    ]);
    assert.equal(
      invalid({ group: 'apps', kind: 'Deployment' }, 'web', causes).message,
      'Deployment.apps "web" is invalid: spec.template.metadata.labels: Invalid value: map[string]string{"app":"other"}: `selector` does not match template `labels`',
    );
  });

  it('reports replicas, selector and strategy errors', () => {
    assert.deepEqual(lines(validateCreate(deployment({ replicas: -1 }))), [
      'spec.replicas: Invalid value: -1: must be greater than or equal to 0',
    ]);
    assert.deepEqual(lines(validateCreate(deployment({ selector: undefined }))), [
      'spec.selector: Required value',
    ]);
    assert.deepEqual(lines(validateCreate(deployment({ selector: {} }))), [
      'spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment',
    ]);
    assert.deepEqual(
      lines(
        validateCreate(
          deployment({
            strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 0 } },
          }),
        ),
      ),
      ['spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0'],
    );
    assert.deepEqual(
      lines(
        validateCreate(
          deployment({
            strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '150%', maxSurge: 'x' } },
          }),
        ),
      ),
      [
        "spec.strategy.rollingUpdate.maxSurge: Invalid value: x: a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
        'spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 150%: must not be greater than 100%',
      ],
    );
    assert.deepEqual(
      lines(validateCreate(deployment({ strategy: { type: 'Recreate', rollingUpdate: { maxSurge: 1 } } }))),
      ["spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'"],
    );
    assert.deepEqual(lines(validateCreate(deployment({ strategy: { type: 'BlueGreen' } }))), [
      'spec.strategy: Unsupported value: apps.DeploymentStrategy{Type:"BlueGreen", RollingUpdate:(*apps.RollingUpdateDeployment)(nil)}: supported values: "Recreate", "RollingUpdate"',
    ]);
    assert.deepEqual(
      lines(validateCreate(deployment({ template: template({ app: 'web' }, { restartPolicy: 'Never' }) }))),
      ['spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"'],
    );
    assert.deepEqual(lines(validateCreate(deployment({ progressDeadlineSeconds: 5, minReadySeconds: 10 }))), [
      'spec.progressDeadlineSeconds: Invalid value: 5: must be greater than minReadySeconds',
    ]);
  });

  it('validates the pod template with template paths', () => {
    assert.deepEqual(
      lines(validateCreate(deployment({ template: template({ app: 'web', 'bad key': 'x' }) }))),
      [
        `spec.template.labels: Invalid value: "bad key": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`,
      ],
    );
  });

  it('keeps spec.selector immutable on update', () => {
    const old = deployment({});
    const next = deployment({
      selector: { matchLabels: { app: 'web', tier: 'x' } },
      template: template({ app: 'web', tier: 'x' }),
    });
    assert.deepEqual(lines(validateUpdate(next, old)), [
      'spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"web", "tier":"x"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable',
    ]);
    assert.deepEqual(validateUpdate(deployment({ replicas: 5 }), old), []);
  });
});

describe('ReplicaSet and DaemonSet', () => {
  it('ReplicaSet uses the same rules', () => {
    const rs = applyDefaults({
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: { name: 'rs', namespace: 'd' },
      spec: { selector: { matchLabels: { app: 'x' } }, template: template() },
    });
    assert.deepEqual(lines(validateCreate(rs)), [
      'spec.template.metadata.labels: Invalid value: map[string]string{"app":"web"}: `selector` does not match template `labels`',
    ]);
  });

  it('DaemonSet strategy and selector', () => {
    const ds = (spec: Json): Json =>
      applyDefaults({
        apiVersion: 'apps/v1',
        kind: 'DaemonSet',
        metadata: { name: 'ds', namespace: 'd' },
        spec: { selector: { matchLabels: { app: 'web' } }, template: template(), ...spec },
      });
    assert.deepEqual(validateCreate(ds({})), []);
    assert.deepEqual(
      lines(
        validateCreate(
          ds({
            updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 0 } },
          }),
        ),
      ),
      ['spec.updateStrategy.rollingUpdate.maxUnavailable: Required value: cannot be 0 when maxSurge is 0'],
    );
    assert.deepEqual(
      lines(
        validateCreate(
          ds({
            updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 1 } },
          }),
        ),
      ),
      [
        'spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: 1: may not be set when maxUnavailable is non-zero',
      ],
    );
    assert.deepEqual(lines(validateCreate(ds({ selector: { matchLabels: { app: 'x' } } }))), [
      'spec.template.metadata.labels: Invalid value: map[string]string{"app":"web"}: `selector` does not match template `labels`',
    ]);
    assert.deepEqual(lines(validateCreate(ds({ updateStrategy: { type: 'OnDelete' } }))), []);
  });
});

describe('Job', () => {
  const job = (spec: Json, opts: { manual?: boolean } = {}): Json =>
    applyDefaults(
      {
        apiVersion: 'batch/v1',
        kind: 'Job',
        metadata: { name: 'pi', namespace: 'default', uid: 'u-1', resourceVersion: '1' },
        spec: {
          template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'perl:5' }] } },
          ...(opts.manual ? { manualSelector: true } : {}),
          ...spec,
        },
      },
      { uid: 'u-1' },
    );

  it('accepts a generated-selector job', () => {
    assert.deepEqual(validateCreate(job({})), []);
  });

  it('requires restartPolicy OnFailure or Never', () => {
    const j = job({});
    j['spec'].template.spec.restartPolicy = 'Always';
    assert.deepEqual(lines(validateCreate(j)), [
      'spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"',
    ]);
    j['spec'].template.spec.restartPolicy = 'Sometimes';
    assert.deepEqual(lines(validateCreate(j)), [
      'spec.template.spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"',
      'spec.template.spec.restartPolicy: Unsupported value: "Sometimes": supported values: "OnFailure", "Never"',
    ]);
  });

  it('rejects negative counts', () => {
    assert.deepEqual(lines(validateCreate(job({ parallelism: -1, completions: -1, backoffLimit: -1 }))), [
      'spec.parallelism: Invalid value: -1: must be greater than or equal to 0',
      'spec.completions: Invalid value: -1: must be greater than or equal to 0',
      'spec.backoffLimit: Invalid value: -1: must be greater than or equal to 0',
    ]);
  });

  it('rejects a hand-written selector without manualSelector', () => {
    const j = job({
      selector: { matchLabels: { app: 'pi' } },
      template: {
        metadata: { labels: { app: 'pi' } },
        spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'perl:5' }] },
      },
    });
    assert.deepEqual(lines(validateCreate(j)), [
      'spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"pi", "batch.kubernetes.io/controller-uid":"u-1"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: `selector` not auto-generated',
    ]);
  });

  it('accepts a manual selector that matches', () => {
    const j = job(
      {
        selector: { matchLabels: { app: 'pi' } },
        template: {
          metadata: { labels: { app: 'pi' } },
          spec: { restartPolicy: 'OnFailure', containers: [{ name: 'c', image: 'perl:5' }] },
        },
      },
      { manual: true },
    );
    assert.deepEqual(validateCreate(j), []);
  });

  it('keeps template and selector immutable on update', () => {
    const old = job({});
    const next = structuredClone(old);
    next['spec'].template.spec.containers[0].image = 'perl:6';
    next['spec'].parallelism = 3;
    const out = lines(validateUpdate(next, old));
    assert.equal(out.length, 1);
    assert.match(out[0] ?? '', /^spec\.template: Invalid value: \{.*\}: field is immutable$/);
    const sel = structuredClone(old);
    sel['spec'].completions = 5;
    assert.deepEqual(lines(validateUpdate(sel, old)), [
      'spec.completions: Invalid value: 5: field is immutable',
    ]);
  });
});
