import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { JsonObject } from '../../api/patch/json-value.js';
import { fakeDiscovery, on } from '../client/fake-transport.js';
import { fakeVerbDeps } from './fake-verb-deps.js';
import { deploymentRolloutStatus, watchRolloutStatus } from './rollout-status.js';

function deployment(status: JsonObject, generation = 2, replicas = 3): JsonObject {
  return { metadata: { name: 'web', generation }, spec: { replicas }, status };
}

describe('deploymentRolloutStatus', () => {
  it("words each stage as kubectl's DeploymentStatusViewer does", () => {
    const cases: [JsonObject, string][] = [
      [deployment({ observedGeneration: 1 }), 'Waiting for deployment spec update to be observed...\n'],
      [
        deployment({ observedGeneration: 2, updatedReplicas: 1 }),
        'Waiting for deployment "web" rollout to finish: 1 out of 3 new replicas have been updated...\n',
      ],
      [
        deployment({ observedGeneration: 2, replicas: 4, updatedReplicas: 3 }),
        'Waiting for deployment "web" rollout to finish: 1 old replicas are pending termination...\n',
      ],
      [
        deployment({ observedGeneration: 2, replicas: 3, updatedReplicas: 3, availableReplicas: 1 }),
        'Waiting for deployment "web" rollout to finish: 1 of 3 updated replicas are available...\n',
      ],
      [
        deployment({
          observedGeneration: 2,
          replicas: 3,
          updatedReplicas: 3,
          readyReplicas: 3,
          availableReplicas: 3,
        }),
        'deployment "web" successfully rolled out\n',
      ],
    ];
    for (const [d, message] of cases) {
      const s = deploymentRolloutStatus(d);
      assert.ok(!('error' in s));
      assert.equal(s.message, message);
      assert.equal(s.done, message.includes('successfully'));
    }
    const stuck = deploymentRolloutStatus(
      deployment({
        observedGeneration: 2,
        conditions: [{ type: 'Progressing', reason: 'ProgressDeadlineExceeded' }],
      }),
    );
    assert.deepEqual(stuck, { error: 'deployment "web" exceeded its progress deadline' });
  });
});

describe('watchRolloutStatus', () => {
  const waiting = deployment({
    observedGeneration: 2,
    replicas: 3,
    updatedReplicas: 3,
    availableReplicas: 1,
  });
  const done = deployment({ observedGeneration: 2, replicas: 3, updatedReplicas: 3, availableReplicas: 3 });
  const list = on('GET', /deployments\?fieldSelector=metadata.name%3Dweb&resourceVersion=0$/, {
    body: { kind: 'DeploymentList', metadata: { resourceVersion: '7' }, items: [waiting] },
  });

  it('prints every observed state until the rollout completes', async () => {
    const deps = fakeVerbDeps([
      ...fakeDiscovery(),
      list,
      on('GET', /watch=true/, { lines: [{ type: 'MODIFIED', object: done }] }),
    ]);
    const r = (await deps.connect({})).client;
    const resource = (await r.discovery()).byName('deploy');
    assert.ok(resource !== undefined);
    const code = await watchRolloutStatus({
      client: r,
      resource,
      namespace: 'default',
      name: 'web',
      timeoutMs: 0,
      watch: true,
      clock: deps.clock,
      stdout: deps.io.stdout,
      stderr: deps.io.stderr,
    });
    assert.equal(code, 0);
    assert.equal(
      deps.stdout(),
      'Waiting for deployment "web" rollout to finish: 1 of 3 updated replicas are available...\ndeployment "web" successfully rolled out\n',
    );
    assert.match(deps.transport.requests.at(-1)?.path ?? '', /resourceVersion=7&watch=true$/);
  });

  it("gives up with kubectl's timeout error when the clock passes --timeout", async () => {
    const deps = fakeVerbDeps([...fakeDiscovery(), list, on('GET', /watch=true/, { lines: [], hang: true })]);
    const client = (await deps.connect({})).client;
    const resource = (await client.discovery()).byName('deploy');
    assert.ok(resource !== undefined);
    const running = watchRolloutStatus({
      client,
      resource,
      namespace: 'default',
      name: 'web',
      timeoutMs: 5000,
      watch: true,
      clock: deps.clock,
      stdout: deps.io.stdout,
      stderr: deps.io.stderr,
    });
    while (
      deps.clock.pendingTimers === 0 ||
      !deps.transport.requests.some((q) => q.path.includes('watch=true'))
    ) {
      await new Promise((r) => setImmediate(r));
    }
    await deps.clock.advance(5000);
    assert.equal(await running, 1);
    assert.equal(deps.stderr(), 'error: timed out waiting for the condition\n');
  });
});
