import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  computePodTemplateHash,
  fnv32a,
  safeEncodeString,
  templatesEqualIgnoringHash,
} from './pod-template-hash.js';

const bytes = (s: string) => new TextEncoder().encode(s);

const template = {
  metadata: { labels: { app: 'web' } },
  spec: {
    containers: [
      {
        name: 'app',
        image: 'nginx:1.27',
        imagePullPolicy: 'IfNotPresent',
        terminationMessagePath: '/dev/termination-log',
      },
    ],
    restartPolicy: 'Always',
    securityContext: {},
    terminationGracePeriodSeconds: 30,
  },
};

describe('pod-template-hash', () => {
  it('FNV-1a 32 matches the reference vectors', () => {
    assert.equal(fnv32a(bytes('')), 0x811c9dc5);
    assert.equal(fnv32a(bytes('a')), 0xe40c292c);
    assert.equal(fnv32a(bytes('foobar')), 0xbf9cf968);
  });

  it('encodes like rand.SafeEncodeString: decimal digits map to 4-9, b, c, d, f', () => {
    assert.equal(safeEncodeString('0123456789'), '456789bcdf');
    // Kubernetes' own example hash 5d8f9c7b6 is the encoding of 184957362.
    assert.equal(safeEncodeString('184957362'), '5d8f9c7b6');
  });

  it('is stable, shaped like Kubernetes hashes, and changes with the template and collisionCount', () => {
    const h = computePodTemplateHash(template);
    assert.match(h, /^[456789bcdf]{1,10}$/);
    assert.equal(computePodTemplateHash(structuredClone(template)), h);
    const other = structuredClone(template);
    other.spec.containers[0]!.image = 'nginx:1.28';
    assert.notEqual(computePodTemplateHash(other), h);
    assert.notEqual(computePodTemplateHash(template, 1), h);
    assert.notEqual(computePodTemplateHash(template, 1), computePodTemplateHash(template, 2));
    // Key order does not matter.
    const reordered = { spec: template.spec, metadata: template.metadata };
    assert.equal(computePodTemplateHash(reordered), h);
  });

  it('compares templates ignoring the hash label and what a Go round trip adds or drops', () => {
    const withHash = structuredClone(template) as typeof template & {
      metadata: { labels: Record<string, string> };
    };
    withHash.metadata.labels['pod-template-hash'] = '5d8f9c7b6';
    assert.ok(templatesEqualIgnoringHash(template, withHash));
    // What kubectl rollout undo sends back: creationTimestamp null, resources {}, zero values dropped.
    const roundTripped = {
      metadata: { creationTimestamp: null, labels: { app: 'web' } },
      spec: {
        containers: [{ ...template.spec.containers[0], resources: {} }],
        restartPolicy: 'Always',
        securityContext: {},
        terminationGracePeriodSeconds: 30,
        hostNetwork: false,
      },
    };
    assert.ok(templatesEqualIgnoringHash(template, roundTripped));
    const changed = structuredClone(roundTripped);
    changed.spec.terminationGracePeriodSeconds = 0;
    assert.ok(!templatesEqualIgnoringHash(template, changed));
    const relabelled = structuredClone(template);
    relabelled.metadata.labels = { app: 'api' };
    assert.ok(!templatesEqualIgnoringHash(template, relabelled));
  });
});
