import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import { affinityTermMatches, normalizeImage, podInfoOf } from './pod-info.js';
import { makePod } from './testing/fixtures.js';
import type { NodeLike, PodLike } from './types.js';

describe('podInfoOf', () => {
  it('accepts client-node models as they are (compile-time check)', () => {
    const pod: V1Pod = {
      metadata: { name: 'x', creationTimestamp: new Date() },
      spec: { containers: [{ name: 'c' }] },
    };
    const node: V1Node = {
      metadata: { name: 'n' },
      spec: { taints: [{ key: 'k', effect: 'NoSchedule', timeAdded: new Date() }] },
    };
    const asPod: PodLike = pod;
    const asNode: NodeLike = node;
    assert.equal(podInfoOf(asPod).name, 'x');
    assert.equal(asNode.metadata?.name, 'n');
  });

  it('defaults what Kubernetes defaults', () => {
    const p = podInfoOf(makePod('x'));
    assert.equal(p.schedulerName, 'default-scheduler');
    assert.equal(p.priority, 0);
    assert.equal(p.key, 'uid-default-x');
    assert.equal(p.requestsNothing, true);
    const noUid = podInfoOf({ metadata: { name: 'y', namespace: 'ns' }, spec: { containers: [] } });
    assert.equal(noUid.key, 'ns/y');
  });

  it('collects host ports with default IP and protocol', () => {
    const p = podInfoOf(makePod('x', { hostPort: 8080 }));
    assert.deepEqual(p.hostPorts, [{ ip: '0.0.0.0', protocol: 'TCP', port: 8080 }]);
  });

  it('affinity terms default to the pod namespace; `{}` namespaceSelector means all namespaces', () => {
    const withTerm = (extra: object) =>
      podInfoOf(
        makePod('x', {
          namespace: 'team',
          affinity: {
            podAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: [
                {
                  labelSelector: { matchLabels: { app: 'db' } },
                  topologyKey: 'kubernetes.io/hostname',
                  ...extra,
                },
              ],
            },
          },
        }),
      ).requiredAffinity[0]!;
    const db = (ns: string) => podInfoOf(makePod('db', { namespace: ns, labels: { app: 'db' } }));
    assert.equal(affinityTermMatches(withTerm({}), db('team')), true);
    assert.equal(affinityTermMatches(withTerm({}), db('other')), false);
    assert.equal(affinityTermMatches(withTerm({ namespaces: ['other'] }), db('other')), true);
    assert.equal(affinityTermMatches(withTerm({ namespaceSelector: {} }), db('anything')), true);
  });

  it('a term without labelSelector selects nothing', () => {
    const p = podInfoOf(
      makePod('x', {
        affinity: {
          podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: 'k' }] },
        },
      }),
    );
    assert.equal(affinityTermMatches(p.requiredAntiAffinity[0]!, podInfoOf(makePod('y'))), false);
  });

  it('spread constraints merge matchLabelKeys into the selector', () => {
    const p = podInfoOf(
      makePod('x', {
        labels: { app: 'web', 'pod-template-hash': 'abc' },
        topologySpreadConstraints: [
          {
            maxSkew: 1,
            topologyKey: 'zone',
            whenUnsatisfiable: 'DoNotSchedule',
            labelSelector: { matchLabels: { app: 'web' } },
            matchLabelKeys: ['pod-template-hash'],
          },
        ],
      }),
    );
    const sel = p.spreadConstraints[0]!.selector;
    assert.equal(sel.matches({ app: 'web', 'pod-template-hash': 'abc' }), true);
    assert.equal(sel.matches({ app: 'web', 'pod-template-hash': 'old' }), false);
  });
});

describe('normalizeImage', () => {
  it('expands short names and adds :latest like node status reports them', () => {
    assert.equal(normalizeImage('nginx'), 'docker.io/library/nginx:latest');
    assert.equal(normalizeImage('nginx:1.25'), 'docker.io/library/nginx:1.25');
    assert.equal(normalizeImage('bitnami/redis'), 'docker.io/bitnami/redis:latest');
    assert.equal(normalizeImage('localhost:5000/app'), 'localhost:5000/app:latest');
    assert.equal(normalizeImage('ghcr.io/a/b:v1'), 'ghcr.io/a/b:v1');
    assert.equal(normalizeImage('ghcr.io/a/b@sha256:00'), 'ghcr.io/a/b@sha256:00');
  });
});
