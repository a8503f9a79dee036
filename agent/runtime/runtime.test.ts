import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { matchesLabels, resolveProcessArgs, type ContainerConfig } from './runtime.js';
import { imageRefOf, repositoryOf } from './image-ref.js';
import { fakeImageRecord } from './fake/fake-image-service.js';

function cfg(extra: Partial<ContainerConfig>): ContainerConfig {
  return {
    metadata: { name: 'app', attempt: 0 },
    image: {
      image: 'nginx',
      record: {
        ...fakeImageRecord('nginx'),
        config: {
          entrypoint: ['/docker-entrypoint.sh'],
          cmd: ['nginx', '-g', 'daemon off;'],
          env: ['PATH=/bin', 'A=image'],
          workingDir: '/srv',
          user: '101',
        },
      },
    },
    command: [],
    args: [],
    envs: [],
    mounts: [],
    labels: {},
    annotations: {},
    logPath: 'app/0.log',
    ...extra,
  };
}

describe('resolveProcessArgs', () => {
  it('merges pod spec and image config the Kubernetes way', () => {
    assert.deepEqual(resolveProcessArgs(cfg({})).argv, [
      '/docker-entrypoint.sh',
      'nginx',
      '-g',
      'daemon off;',
    ]);
    assert.deepEqual(resolveProcessArgs(cfg({ args: ['-v'] })).argv, ['/docker-entrypoint.sh', '-v']);
    assert.deepEqual(
      resolveProcessArgs(cfg({ command: ['sh'] })).argv,
      ['sh'],
      'command drops the image cmd',
    );
    assert.deepEqual(resolveProcessArgs(cfg({ command: ['sh'], args: ['-c', 'x'] })).argv, ['sh', '-c', 'x']);
    const p = resolveProcessArgs(
      cfg({
        envs: [
          { key: 'A', value: 'pod' },
          { key: 'B', value: 'b' },
        ],
        workingDir: '/w',
      }),
    );
    assert.deepEqual(p.env, [
      { key: 'PATH', value: '/bin' },
      { key: 'A', value: 'pod' },
      { key: 'B', value: 'b' },
    ]);
    assert.equal(p.workingDir, '/w');
    assert.equal(p.user, '101');
    assert.equal(resolveProcessArgs(cfg({ image: { image: 'x' } })).workingDir, '/');
  });

  it('matches label selectors exactly', () => {
    assert.equal(matchesLabels({ a: '1', b: '2' }, { a: '1' }), true);
    assert.equal(matchesLabels({ a: '1' }, { a: '2' }), false);
    assert.equal(matchesLabels({}, undefined), true);
  });

  it('names images repository@digest', () => {
    assert.equal(repositoryOf('localhost:5000/a/b:1@sha256:x'), 'localhost:5000/a/b');
    assert.equal(repositoryOf('busybox'), 'busybox');
    const rec = fakeImageRecord('busybox:1.36');
    assert.equal(imageRefOf('busybox:1.36', rec), `docker.io/library/busybox@${rec.digest}`);
    assert.equal(imageRefOf('busybox:1.36', undefined), 'busybox:1.36');
  });
});
