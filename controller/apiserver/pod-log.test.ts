import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { StoredObject } from '../../api/object.js';
import { isApiError } from '../../api/status.js';
import { containerLogProblem, logRequestOf, resolveContainer } from './pod-log.js';

function pod(spec: Record<string, unknown>, status: Record<string, unknown> = {}): StoredObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web-0', namespace: 'default', uid: 'u1' },
    spec,
    status,
  };
}

const two = pod({ initContainers: [{ name: 'init' }], containers: [{ name: 'a' }, { name: 'b' }] });

describe('resolveContainer', () => {
  it('defaults to the only container and accepts init containers by name', () => {
    assert.deepEqual(resolveContainer(pod({ containers: [{ name: 'app' }] }), '', 'log'), {
      ok: true,
      container: 'app',
    });
    assert.deepEqual(resolveContainer(two, 'init', 'exec'), { ok: true, container: 'init' });
  });

  it('words the multi-container refusal as kube-apiserver does for logs and for exec', () => {
    const log = resolveContainer(two, '', 'log');
    assert.equal(
      !log.ok && log.status.message,
      'a container name must be specified for pod web-0, choose one of: [init a b]',
    );
    const exec = resolveContainer(two, '', 'exec');
    assert.equal(
      !exec.ok && exec.status.message,
      'a container name must be specified for pod web-0, choose one of: [a b] or one of the init containers: [init]',
    );
    const unknown = resolveContainer(two, 'zz', 'log');
    assert.equal(!unknown.ok && unknown.status.code, 400);
    assert.equal(!unknown.ok && unknown.status.message, 'container zz is not valid for pod web-0');
  });
});

describe('containerLogProblem (the kubelet’s validateContainerLogStatus)', () => {
  const withStatus = (cs: Record<string, unknown>): StoredObject =>
    pod({ containers: [{ name: 'app' }] }, { containerStatuses: [{ name: 'app', ...cs }] });

  it('allows running and terminated containers', () => {
    assert.equal(
      containerLogProblem(withStatus({ state: { running: {} }, containerID: 'fake://1' }), 'app', false),
      undefined,
    );
    assert.equal(
      containerLogProblem(
        withStatus({ state: { terminated: { containerID: 'fake://1', exitCode: 0 } } }),
        'app',
        false,
      ),
      undefined,
    );
  });

  it('explains waiting containers and missing previous instances', () => {
    assert.equal(
      containerLogProblem(withStatus({ state: { waiting: { reason: 'ContainerCreating' } } }), 'app', false),
      'container "app" in pod "web-0" is waiting to start: ContainerCreating',
    );
    assert.equal(
      containerLogProblem(withStatus({ state: { waiting: { reason: 'ImagePullBackOff' } } }), 'app', false),
      'container "app" in pod "web-0" is waiting to start: trying and failing to pull image',
    );
    assert.equal(
      containerLogProblem(withStatus({ state: { running: {} } }), 'app', true),
      'previous terminated container "app" in pod "web-0" not found',
    );
    assert.equal(
      containerLogProblem(
        withStatus({ state: { running: {} }, lastState: { terminated: { containerID: 'fake://0' } } }),
        'app',
        true,
      ),
      undefined,
    );
    assert.equal(
      containerLogProblem(pod({ containers: [{ name: 'app' }] }), 'app', false),
      'container "app" in pod "web-0" is not available',
    );
  });
});

describe('logRequestOf', () => {
  const p = pod({ containers: [{ name: 'app' }] });

  it('maps PodLogOptions to the agent request', () => {
    const q = new URLSearchParams(
      'follow=true&tailLines=10&timestamps=true&sinceTime=2026-11-27T10:00:00Z&limitBytes=100',
    );
    assert.deepEqual(logRequestOf(q, p, 'app'), {
      namespace: 'default',
      podName: 'web-0',
      podUid: 'u1',
      container: 'app',
      follow: true,
      previous: false,
      timestamps: true,
      tailLines: 10,
      sinceSeconds: 0,
      sinceTimeMs: Date.parse('2026-11-27T10:00:00Z'),
      limitBytes: 100,
    });
    assert.equal(logRequestOf(new URLSearchParams(), p, 'app').tailLines, -1);
  });

  it('refuses bad values with 400', () => {
    for (const q of [
      'tailLines=-1',
      'sinceSeconds=0',
      'limitBytes=0',
      'tailLines=x',
      'sinceSeconds=5&sinceTime=2026-11-27T10:00:00Z',
    ]) {
      assert.throws(
        () => logRequestOf(new URLSearchParams(q), p, 'app'),
        (err: unknown) => isApiError(err) && err.status.code === 400,
        q,
      );
    }
  });
});
