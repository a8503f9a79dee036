/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-explicit-any -- these tests read and mutate arbitrary API JSON */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { applyDefaults } from '../defaults/defaults.js';
import { causeString, type StatusCause } from '../status.js';
import { validateCreate, validateUpdate } from './validate.js';

type Json = Record<string, any>;

const lines = (causes: StatusCause[]): string[] => causes.map(causeString);
const meta = (name: string, extra: Json = {}): Json => ({
  name,
  namespace: 'default',
  uid: 'u',
  resourceVersion: '1',
  ...extra,
});
const b64 = (s: string): string => Buffer.from(s).toString('base64');

describe('ConfigMap', () => {
  const cm = (body: Json): Json => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: meta('cm'), ...body });

  it('checks keys and size', () => {
    assert.deepEqual(validateCreate(cm({ data: { 'app.properties': 'x', 'a-b_c.d': 'y' } })), []);
    assert.deepEqual(
      lines(validateCreate(cm({ data: { 'a/b': 'x', k: '1' }, binaryData: { k: b64('2') } }))),
      [
        `data[a/b]: Invalid value: "a/b": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')`,
        'data[k]: Invalid value: "k": duplicate of key present in binaryData',
      ],
    );
    assert.deepEqual(lines(validateCreate(cm({ data: { a: 'x'.repeat(1024 * 1024), b: 'y' } }))), [
      ': Too long: may not be more than 1048576 bytes',
    ]);
  });

  it('freezes data once immutable', () => {
    const old = cm({ data: { a: '1' }, immutable: true });
    assert.deepEqual(lines(validateUpdate(cm({ data: { a: '2' } }), old)), [
      'immutable: Forbidden: field is immutable when `immutable` is set',
      'data: Forbidden: field is immutable when `immutable` is set',
    ]);
    assert.deepEqual(
      validateUpdate(
        cm({ data: { a: '1' }, immutable: true, metadata: meta('cm', { labels: { x: 'y' } }) }),
        old,
      ),
      [],
    );
    assert.deepEqual(validateUpdate(cm({ data: { a: '2' } }), cm({ data: { a: '1' } })), []);
  });
});

describe('Secret', () => {
  const secret = (body: Json): Json =>
    applyDefaults({ apiVersion: 'v1', kind: 'Secret', metadata: meta('s'), ...body });

  it('checks keys, size, base64 and typed keys', () => {
    assert.deepEqual(validateCreate(secret({ data: { password: b64('hunter2') } })), []);
    assert.deepEqual(validateCreate(secret({ stringData: { password: 'hunter2' } })), []);
    assert.deepEqual(lines(validateCreate(secret({ data: { 'bad key': b64('x'), ok: 'not base64!' } }))), [
      `data[bad key]: Invalid value: "bad key": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')`,
      'data[ok]: Invalid value: "<value omitted>": illegal base64 data',
    ]);
    assert.deepEqual(lines(validateCreate(secret({ type: 'kubernetes.io/tls', data: {} }))), [
      'data[tls.crt]: Required value',
      'data[tls.key]: Required value',
    ]);
    assert.deepEqual(
      lines(
        validateCreate(
          secret({ type: 'kubernetes.io/dockerconfigjson', data: { '.dockerconfigjson': b64('{') } }),
        ),
      )[0]?.startsWith('data[.dockerconfigjson]: Invalid value: "<secret contents redacted>": '),
      true,
    );
    assert.deepEqual(lines(validateCreate(secret({ data: { big: b64('x'.repeat(1024 * 1024 + 1)) } }))), [
      'data: Too long: may not be more than 1048576 bytes',
    ]);
  });

  it('type is immutable and data freezes once immutable', () => {
    const old = secret({ data: { a: b64('1') }, immutable: true });
    assert.deepEqual(
      lines(
        validateUpdate(secret({ type: 'example.com/custom', data: { a: b64('2') }, immutable: true }), old),
      ),
      [
        'type: Invalid value: "example.com/custom": field is immutable',
        'data: Forbidden: field is immutable when `immutable` is set',
      ],
    );
  });
});

describe('Namespace and Node', () => {
  it('Namespace names are DNS labels and may not be namespaced', () => {
    const ns = (name: string, extra: Json = {}): Json =>
      applyDefaults({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, ...extra } });
    assert.deepEqual(validateCreate(ns('team-a')), []);
    assert.deepEqual(lines(validateCreate(ns('team.a'))), [
      'metadata.name: Invalid value: "team.a": must not contain dots',
    ]);
    assert.deepEqual(lines(validateCreate(ns('a', { namespace: 'x' }))), [
      'metadata.namespace: Forbidden: not allowed on this type',
    ]);
    const bad = ns('a');
    bad['spec'].finalizers.push('custom');
    assert.deepEqual(lines(validateCreate(bad)), [
      'spec.finalizers: Invalid value: "custom": name is neither a standard finalizer name nor is it fully qualified',
    ]);
  });

  it('Node taints, quantities and immutable pod CIDRs', () => {
    const node = (spec: Json, status: Json = {}): Json =>
      applyDefaults({
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name: 'n1', uid: 'u', resourceVersion: '1' },
        spec,
        status,
      });
    assert.deepEqual(
      validateCreate(
        node(
          { podCIDR: '10.244.1.0/24', podCIDRs: ['10.244.1.0/24'] },
          { capacity: { cpu: '4', memory: '8Gi' } },
        ),
      ),
      [],
    );
    assert.deepEqual(
      lines(
        validateCreate(
          node(
            {
              taints: [
                { key: 'k', effect: 'NoSchedule' },
                { key: 'k', value: 'v', effect: 'NoSchedule' },
                { key: 'j', effect: 'Sometimes' },
              ],
            },
            { capacity: { cpu: '-1' } },
          ),
        ),
      ),
      [
        'spec.taints[1]: Duplicate value: core.Taint{Key:"k", Value:"v", Effect:"NoSchedule", TimeAdded:<nil>}: taints must be unique by key and effect pair',
        'spec.taints[2].effect: Unsupported value: "Sometimes": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"',
        'status.capacity.cpu: Invalid value: "-1": must be greater than or equal to 0',
        'status.allocatable.cpu: Invalid value: "-1": must be greater than or equal to 0',
      ],
    );
    const old = node({ podCIDRs: ['10.244.1.0/24'] });
    assert.deepEqual(lines(validateUpdate(node({ podCIDRs: ['10.244.2.0/24'] }), old)), [
      'spec.podCIDRs: Forbidden: node updates may not change podCIDR except from "" to valid',
    ]);
    assert.deepEqual(validateUpdate(node({ podCIDRs: ['10.244.1.0/24'], unschedulable: true }), old), []);
    assert.deepEqual(validateUpdate(node({ podCIDRs: ['10.244.9.0/24'] }), node({})), []);
  });
});

describe('Event and Endpoints', () => {
  it('Event namespaces must agree', () => {
    const ev = (ns: string, involvedNs: string): Json => ({
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: 'p.1', namespace: ns },
      involvedObject: { kind: 'Pod', name: 'p', namespace: involvedNs },
      reason: 'Started',
      type: 'Normal',
    });
    assert.deepEqual(validateCreate(ev('default', 'default')), []);
    assert.deepEqual(lines(validateCreate(ev('default', 'other'))), [
      'involvedObject.namespace: Invalid value: "other": does not match event.namespace',
    ]);
  });

  it('Endpoints addresses and ports', () => {
    const ep = (subsets: Json[]): Json =>
      applyDefaults({ apiVersion: 'v1', kind: 'Endpoints', metadata: meta('web'), subsets });
    assert.deepEqual(validateCreate(ep([{ addresses: [{ ip: '10.244.1.5' }], ports: [{ port: 80 }] }])), []);
    assert.deepEqual(
      lines(
        validateCreate(
          ep([
            { ports: [{ port: 80 }, { port: 0, name: 'x' }] },
            { addresses: [{ ip: '127.0.0.1' }, { ip: 'x' }] },
          ]),
        ),
      ),
      [
        'subsets[0]: Required value: must specify `addresses` or `notReadyAddresses`',
        'subsets[0].ports[0].name: Required value',
        'subsets[0].ports[1].port: Invalid value: 0: must be between 1 and 65535, inclusive',
        'subsets[1].addresses[0].ip: Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)',
        'subsets[1].addresses[1].ip: Invalid value: "x": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)',
      ],
    );
  });
});
