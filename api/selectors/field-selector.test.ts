import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import {
  checkFieldSelector,
  escapeValue,
  fieldsOf,
  fieldsSupportedBy,
  parseFieldSelector,
  parseFieldSelectorFor,
  type FieldSelector,
} from './field-selector.js';

function sel(s: string): FieldSelector {
  const r = parseFieldSelector(s);
  if (!r.ok) throw new Error(r.error);
  return r.selector;
}

const pod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'web-1', namespace: 'default' },
  spec: { nodeName: 'n1', restartPolicy: 'Always', schedulerName: 'default-scheduler' },
  status: { phase: 'Running', podIPs: [{ ip: '10.0.0.5' }] },
};

describe('parseFieldSelector', () => {
  it('parses =, == and != terms and matches them', () => {
    const s = sel('spec.nodeName=n1,status.phase!=Failed,metadata.name==web-1');
    assert.deepEqual(
      s.terms.map((t) => [t.field, t.value, t.negate]),
      [
        ['metadata.name', 'web-1', false],
        ['spec.nodeName', 'n1', false],
        ['status.phase', 'Failed', true],
      ],
    );
    const f = fieldsOf(pod, '', 'Pod');
    assert.ok(s.matches(f));
    assert.equal(sel('spec.nodeName=n2').matches(f), false);
    assert.equal(sel('status.phase!=Running').matches(f), false);
    assert.equal(s.requiresExactMatch('spec.nodeName'), 'n1');
    assert.equal(s.requiresExactMatch('status.phase'), undefined);
  });

  it('treats empty as everything and missing fields as empty strings', () => {
    assert.ok(sel('').isEverything());
    assert.ok(sel('spec.nodeName=').matches({}));
    assert.ok(sel('spec.nodeName!=').matches({ 'spec.nodeName': 'x' }));
  });

  it('handles escapes', () => {
    const s = sel('metadata.name=a\\,b\\=c\\\\d');
    assert.equal(s.terms[0]?.value, 'a,b=c\\d');
    assert.equal(escapeValue('a,b=c\\d'), 'a\\,b\\=c\\\\d');
    assert.equal(s.toString(), 'metadata.name=a\\,b\\=c\\\\d');
  });

  it('returns Kubernetes errors as values', () => {
    assert.deepEqual(parseFieldSelector('foo'), {
      ok: false,
      error: "invalid selector: 'foo'; can't understand 'foo'",
    });
    assert.deepEqual(parseFieldSelector('a=b=c'), {
      ok: false,
      error: 'invalid field selector: unescaped character in value: 61',
    });
    assert.deepEqual(parseFieldSelector('a=b\\x'), {
      ok: false,
      error: 'invalid field selector: invalid escape sequence: \\x',
    });
    assert.deepEqual(parseFieldSelector('a=b\\'), {
      ok: false,
      error: 'invalid field selector: invalid escape sequence: \\',
    });
  });
});

describe('per-kind fields', () => {
  it('rejects unsupported fields with the Kubernetes message', () => {
    assert.deepEqual(parseFieldSelectorFor('spec.foo=x', '', 'Pod'), {
      ok: false,
      error: 'field label not supported: spec.foo',
    });
    assert.deepEqual(parseFieldSelectorFor('spec.replicas=1', 'apps', 'Deployment'), {
      ok: false,
      error: 'field label not supported: spec.replicas',
    });
    assert.equal(parseFieldSelectorFor('metadata.namespace=x', '', 'Node').ok, false);
    assert.ok(parseFieldSelectorFor('metadata.name=x,metadata.namespace=y', 'apps', 'Deployment').ok);
    assert.ok(parseFieldSelectorFor('type=Opaque', '', 'Secret').ok);
    assert.ok(parseFieldSelectorFor('involvedObject.name=x,reason=Started', '', 'Event').ok);
    assert.ok(parseFieldSelectorFor('status.replicas=0', 'apps', 'ReplicaSet').ok);
    assert.ok(parseFieldSelectorFor('status.successful=1', 'batch', 'Job').ok);
    assert.ok(parseFieldSelectorFor('spec.unschedulable=true', '', 'Node').ok);
    assert.ok(parseFieldSelectorFor('status.phase=Active', '', 'Namespace').ok);
    assert.deepEqual(fieldsSupportedBy('', 'ConfigMap'), ['metadata.name', 'metadata.namespace']);
  });

  it('rewrites the legacy spec.host alias for pods', () => {
    const r = checkFieldSelector(sel('spec.host=n1'), '', 'Pod');
    assert.ok(r.ok);
    assert.equal(r.selector.terms[0]?.field, 'spec.nodeName');
    assert.ok(r.selector.matches(fieldsOf(pod, '', 'Pod')));
  });

  it('extracts field values like the registries do', () => {
    const f = fieldsOf(pod, '', 'Pod');
    assert.equal(f['status.podIP'], '10.0.0.5');
    assert.equal(f['spec.hostNetwork'], 'false');
    assert.equal(
      fieldsOf({ metadata: { name: 'n' }, spec: { unschedulable: true } }, '', 'Node')['spec.unschedulable'],
      'true',
    );
    assert.equal(fieldsOf({ metadata: { name: 'n' } }, '', 'Node')['spec.unschedulable'], 'false');
    const ev = fieldsOf(
      {
        metadata: { name: 'e' },
        involvedObject: { kind: 'Pod', name: 'p' },
        source: { component: 'kubelet' },
        type: 'Normal',
      },
      '',
      'Event',
    );
    assert.deepEqual(
      [ev['involvedObject.kind'], ev['involvedObject.name'], ev['source'], ev['type']],
      ['Pod', 'p', 'kubelet', 'Normal'],
    );
    assert.equal(fieldsOf({ status: { replicas: 3 } }, 'apps', 'ReplicaSet')['status.replicas'], '3');
    assert.equal(fieldsOf({ source: {} }, '', 'Event')['source'], '');
  });

  it('selects events the way kubectl describe asks for them', () => {
    const event = {
      metadata: { name: 'web-0.1', namespace: 'default' },
      involvedObject: { kind: 'Pod', namespace: 'default', name: 'web-0', uid: 'u1', apiVersion: 'v1' },
      reason: 'Scheduled',
      type: 'Normal',
      reportingComponent: 'berth-scheduler',
    };
    const describePod =
      'involvedObject.name=web-0,involvedObject.namespace=default,involvedObject.kind=Pod,involvedObject.uid=u1';
    const match = (selector: string, obj: unknown = event): boolean => {
      const r = parseFieldSelectorFor(selector, '', 'Event');
      assert.ok(r.ok, selector);
      return r.selector.matches(fieldsOf(obj, '', 'Event'));
    };
    assert.ok(match(describePod));
    assert.ok(!match(describePod.replace('uid=u1', 'uid=u2')), 'a recreated object with the same name');
    assert.ok(!match(describePod.replace('kind=Pod', 'kind=Deployment')));
    assert.ok(match('reason=Scheduled,type=Normal,involvedObject.apiVersion=v1'));
    assert.ok(!match('type=Warning'));
    // Without source.component the reporting controller stands in, as in Kubernetes.
    assert.ok(match('source=berth-scheduler,reportingComponent=berth-scheduler'));
    assert.ok(!match('source=berth-scheduler', { ...event, source: { component: 'kubelet' } }));
    assert.ok(match('source=kubelet', { ...event, source: { component: 'kubelet' } }));
    assert.ok(match('metadata.name=web-0.1,metadata.namespace=default'));
    assert.ok(!match('involvedObject.fieldPath!='), 'a missing fieldPath is the empty string');
    assert.equal(fieldsOf({}, 'apps', 'ReplicaSet')['status.replicas'], '0');
    assert.equal(fieldsOf({ status: { succeeded: 2 } }, 'batch', 'Job')['status.successful'], '2');
    assert.equal(fieldsOf({ type: 'Opaque' }, '', 'Secret')['type'], 'Opaque');
    assert.equal(fieldsOf({ status: { phase: 'Active' } }, '', 'Namespace')['status.phase'], 'Active');
  });
});
