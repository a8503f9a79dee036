import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CommanderError } from 'commander';
import type { JsonObject } from '../../api/patch/json-value.js';
import { fakeDiscovery } from '../client/fake-transport.js';
import { KubeClient } from '../client/kube-client.js';
import { FakeTransport } from '../client/fake-transport.js';
import { deploymentReplicaSets, revisionOf, templateWithoutHash } from './deployment-revisions.js';
import { fakeVerbDeps } from './fake-verb-deps.js';
import { parseDuration, parseResourceArgs, runVerb } from './verb-support.js';

describe('verb support', () => {
  it('parses kubectl durations', () => {
    assert.equal(parseDuration('0'), 0);
    assert.equal(parseDuration('30'), 30_000);
    assert.equal(parseDuration('1h30m'), 5_400_000);
    assert.equal(parseDuration('500ms'), 500);
    assert.throws(() => parseDuration('soon'), /invalid duration/);
  });

  it('parses TYPE[,TYPE] [NAME…] and TYPE/NAME arguments, expanding categories', async () => {
    const mapper = await new KubeClient(new FakeTransport(fakeDiscovery())).discovery();
    const names = parseResourceArgs(mapper, ['deploy/web', 'po/x']);
    assert.deepEqual(names.kind === 'names' ? names.items.map((i) => `${i.resource.plural}/${i.name}`) : [], [
      'deployments/web',
      'pods/x',
    ]);
    const all = parseResourceArgs(mapper, ['all']);
    assert.deepEqual(all.kind === 'collections' ? all.resources.map((r) => r.plural) : [], [
      'pods',
      'deployments',
    ]);
    assert.throws(
      () => parseResourceArgs(mapper, ['cm,deploy', 'x']),
      /cannot be retrieved by name across multiple types/,
    );
    assert.throws(
      () => parseResourceArgs(mapper, ['nope']),
      /the server doesn't have a resource type "nope"/,
    );
  });

  it('prints errors as kubectl does and carries the exit code to main', async () => {
    const deps = fakeVerbDeps([]);
    await assert.rejects(
      runVerb(deps, () => Promise.reject(new Error('boom'))),
      (err: unknown) => err instanceof CommanderError && err.exitCode === 1,
    );
    assert.equal(deps.stderr(), 'error: boom\n');
    await assert.rejects(
      runVerb(deps, () => Promise.resolve(3)),
      (err: unknown) => err instanceof CommanderError && err.exitCode === 3,
    );
    await runVerb(deps, () => Promise.resolve(0));
  });
});

describe('deployment revisions', () => {
  const deployment: JsonObject = {
    metadata: { uid: 'd' },
    spec: {
      template: { metadata: { labels: { app: 'w' } }, spec: { containers: [{ name: 'a', image: 'v2' }] } },
    },
  };
  const rs = (name: string, image: string, revision: string, uid = 'd'): JsonObject => ({
    metadata: {
      name,
      creationTimestamp: `2026-01-0${revision}T00:00:00Z`,
      annotations: { 'deployment.kubernetes.io/revision': revision },
      ownerReferences: [{ uid, controller: true }],
    },
    spec: {
      template: {
        metadata: { labels: { app: 'w', 'pod-template-hash': name } },
        spec: { containers: [{ name: 'a', image }] },
      },
    },
  });

  it('finds the new ReplicaSet by template (ignoring pod-template-hash) and the old ones by owner', () => {
    const split = deploymentReplicaSets(deployment, [
      rs('r2', 'v2', '2'),
      rs('r1', 'v1', '1'),
      rs('x', 'v2', '3', 'other'),
    ]);
    assert.equal((split.newRS?.['metadata'] as JsonObject | undefined)?.['name'], 'r2');
    assert.deepEqual(
      split.oldRSs.map((r) => (r['metadata'] as JsonObject)['name']),
      ['r1'],
    );
    assert.equal(revisionOf(rs('r9', 'v', '9')), 9);
    assert.deepEqual(templateWithoutHash({ metadata: { labels: { app: 'w', 'pod-template-hash': 'h' } } }), {
      metadata: { labels: { app: 'w' } },
    });
  });
});
