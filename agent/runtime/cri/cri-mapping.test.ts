import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as cri from '../../../proto/gen/runtime/v1/api.js';
import { BerthError, errorCodes } from '../../../lib/errors.js';
import type { ContainerConfig, PodSandboxConfig } from '../runtime.js';
import {
  byCreation,
  criAnnotations,
  fromCriContainerStatus,
  fromCriSandboxStatus,
  nsToMs,
  toCriContainerConfig,
  toCriSandboxConfig,
  toCriSeccomp,
  toCriSignal,
} from './cri-mapping.js';
import { classifyPullError, imageRecordOf } from './cri-image-service.js';
import { exitCodeOfStatus } from './cri-exec-stream.js';
import { CriRuntime } from './cri-runtime.js';

const sandbox: PodSandboxConfig = {
  metadata: { name: 'web', namespace: 'default', uid: 'u1', attempt: 2 },
  hostname: 'web',
  logDirectory: '/var/log/pods/default_web_u1',
  portMappings: [{ protocol: 'UDP', containerPort: 53, hostPort: 5353 }],
  labels: { app: 'web' },
  annotations: {},
  linux: { cgroupParent: '/berth/podu1' },
};

const container: ContainerConfig = {
  metadata: { name: 'app', attempt: 1 },
  image: {
    image: 'busybox:1.36',
    record: {
      references: ['docker.io/library/busybox:1.36'],
      digest: 'sha256:' + 'a'.repeat(64),
      configDigest: 'sha256:' + 'c'.repeat(64),
      size: 1,
      config: {},
    },
  },
  command: ['sh'],
  args: ['-c', 'true'],
  envs: [{ key: 'A', value: 'b' }],
  mounts: [{ containerPath: '/data', hostPath: '/srv', readonly: true, propagation: 'host-to-container' }],
  labels: {},
  annotations: { mine: 'x' },
  logPath: 'app/1.log',
  linux: {
    resources: { cpuShares: 512, memoryLimitInBytes: 64 << 20 },
    securityContext: {
      runAsUser: 1000,
      seccompProfile: 'Localhost/prof.json',
      capabilities: { add: ['NET_ADMIN'], drop: [] },
    },
  },
  stopSignal: 'SIGINT',
};

void describe('cri mapping', () => {
  void it('converts nanoseconds to milliseconds without losing order', () => {
    assert.equal(nsToMs(1_764_288_000_123_456_789n), 1_764_288_000_123);
    const items = byCreation([
      { id: 'b', createdAt: 2n },
      { id: 'a', createdAt: 2n },
      { id: 'c', createdAt: 1n },
    ]);
    assert.deepEqual(
      items.map((i) => i.id),
      ['c', 'a', 'b'],
    );
  });

  void it('builds a sandbox config with pod namespaces and CRI enums', () => {
    const c = cri.PodSandboxConfig.fromPartial(toCriSandboxConfig(sandbox));
    const linux = c.linux ?? assert.fail('no linux');
    assert.equal(c.metadata?.attempt, 2);
    assert.equal(c.portMappings[0]?.protocol, cri.Protocol.UDP);
    assert.equal(linux.cgroupParent, '/berth/podu1');
    assert.deepEqual(linux.securityContext?.namespaceOptions, {
      network: cri.NamespaceMode.POD,
      pid: cri.NamespaceMode.CONTAINER,
      ipc: cri.NamespaceMode.POD,
      targetId: '',
      usernsOptions: undefined,
    });
    const host = cri.PodSandboxConfig.fromPartial(
      toCriSandboxConfig({ ...sandbox, linux: { hostNetwork: true, sharePidNamespace: true } }),
    );
    const hostNs = host.linux?.securityContext?.namespaceOptions;
    assert.deepEqual([hostNs?.network, hostNs?.pid], [cri.NamespaceMode.NODE, cri.NamespaceMode.POD]);
  });

  void it('builds a container config pinned to the resolved image, PID namespace per container', () => {
    const c = cri.ContainerConfig.fromPartial(toCriContainerConfig('sb1', container, sandbox));
    const sc = c.linux?.securityContext ?? assert.fail('no security context');
    const resources = c.linux?.resources ?? assert.fail('no resources');
    assert.deepEqual(c.image, {
      image: 'sha256:' + 'c'.repeat(64),
      annotations: {},
      userSpecifiedImage: 'busybox:1.36',
      runtimeHandler: '',
      imageRef: '',
    });
    assert.equal(c.annotations[criAnnotations.image], 'busybox:1.36');
    assert.equal(c.annotations[criAnnotations.sandboxId], 'sb1');
    assert.equal(c.annotations['mine'], 'x');
    assert.equal(sc.namespaceOptions?.pid, cri.NamespaceMode.CONTAINER);
    assert.equal(sc.runAsUser?.value, 1000n);
    assert.equal(sc.runAsGroup, undefined);
    assert.deepEqual(sc.capabilities?.addCapabilities, ['NET_ADMIN']);
    assert.deepEqual(sc.seccomp, {
      profileType: cri.SecurityProfile_ProfileType.Localhost,
      localhostRef: 'prof.json',
    });
    assert.equal(resources.cpuShares, 512n);
    assert.equal(resources.memoryLimitInBytes, 64n << 20n);
    assert.equal(c.mounts[0]?.propagation, cri.MountPropagation.PROPAGATION_HOST_TO_CONTAINER);
    assert.equal(c.stopSignal, cri.Signal.SIGNAL_SIGINT);
    // The encoded message decodes to the same thing (bigint int64s survive the wire).
    assert.deepEqual(cri.ContainerConfig.decode(cri.ContainerConfig.encode(c).finish()), c);
  });

  void it('maps signal names and seccomp profiles', () => {
    assert.equal(toCriSignal('TERM'), cri.Signal.SIGNAL_SIGTERM);
    assert.equal(toCriSignal('SIGKILL'), cri.Signal.SIGNAL_SIGKILL);
    assert.equal(toCriSignal('NOPE'), cri.Signal.SIGNAL_RUNTIME_DEFAULT);
    assert.equal(toCriSignal(undefined), cri.Signal.SIGNAL_RUNTIME_DEFAULT);
    assert.equal(toCriSeccomp('RuntimeDefault')?.profileType, cri.SecurityProfile_ProfileType.RuntimeDefault);
    assert.equal(toCriSeccomp('Unconfined')?.profileType, cri.SecurityProfile_ProfileType.Unconfined);
    assert.equal(toCriSeccomp(undefined), undefined);
  });

  void it('reads a container status back: zero values absent, our annotations stripped', () => {
    const ns = 1_764_288_000_000_000_000n;
    const created = fromCriContainerStatus(
      cri.ContainerStatus.fromPartial({
        id: 'c1',
        metadata: { name: 'app', attempt: 1 },
        state: cri.ContainerState.CONTAINER_CREATED,
        createdAt: ns,
        image: { image: 'docker.io/library/busybox:1.36' },
        imageRef: 'docker.io/library/busybox@sha256:' + 'a'.repeat(64),
        annotations: { [criAnnotations.image]: 'busybox:1.36', [criAnnotations.sandboxId]: 'sb1', mine: 'x' },
        logPath: '/var/log/pods/x/app/1.log',
      }),
    );
    assert.equal(created.state, 'CREATED');
    assert.equal(created.podSandboxId, 'sb1');
    assert.equal(created.image, 'busybox:1.36');
    assert.deepEqual(created.annotations, { mine: 'x' });
    assert.equal(created.startedAt, undefined);
    assert.equal(created.exitCode, undefined);
    assert.equal(created.reason, undefined);
    assert.equal(created.createdAt, 1_764_288_000_000);

    const exited = fromCriContainerStatus(
      cri.ContainerStatus.fromPartial({
        id: 'c1',
        state: cri.ContainerState.CONTAINER_EXITED,
        createdAt: ns,
        startedAt: ns + 1_000_000n,
        finishedAt: ns + 2_000_000n,
        exitCode: 0,
        reason: 'Completed',
      }),
    );
    assert.equal(exited.exitCode, 0);
    assert.equal(exited.finishedAt, 1_764_288_000_002);
    assert.equal(exited.reason, 'Completed');
  });

  void it('reads the sandbox IP only when containerd wired one', () => {
    const none = fromCriSandboxStatus(cri.PodSandboxStatus.fromPartial({ id: 's', network: { ip: '' } }));
    assert.equal(none.network, undefined);
    const wired = fromCriSandboxStatus(
      cri.PodSandboxStatus.fromPartial({
        id: 's',
        network: { ip: '10.1.0.5', additionalIps: [{ ip: 'fd00::5' }] },
      }),
    );
    assert.deepEqual(wired.network, { ip: '10.1.0.5', additionalIps: ['fd00::5'] });
  });

  void it('builds image records from CRI images and their verbose info', () => {
    const r = imageRecordOf(
      cri.Image.fromPartial({
        id: 'sha256:' + 'c'.repeat(64),
        repoTags: ['127.0.0.1:5000/berth/busybox:latest'],
        repoDigests: ['127.0.0.1:5000/berth/busybox@sha256:' + 'd'.repeat(64)],
        size: 1234n,
      }),
      {
        info: JSON.stringify({
          imageSpec: { config: { Cmd: ['/bin/sh'], Env: ['PATH=/bin'], Entrypoint: null } },
        }),
      },
    );
    assert.equal(r.digest, 'sha256:' + 'd'.repeat(64));
    assert.equal(r.configDigest, 'sha256:' + 'c'.repeat(64));
    assert.equal(r.size, 1234);
    assert.deepEqual(r.config, { cmd: ['/bin/sh'], env: ['PATH=/bin'] });
  });

  void it('classifies containerd pull errors and exec statuses', () => {
    assert.equal(
      classifyPullError(
        'failed to resolve reference "x": pulling from host x failed with status code [manifests v1]: 401 Unauthorized',
      ),
      'Unauthorized',
    );
    assert.equal(classifyPullError('failed to resolve reference "x": x: not found'), 'NotFound');
    assert.equal(
      classifyPullError('failed to copy: httpReadSeeker: failed open: unexpected status code 500'),
      'Failed',
    );
    assert.equal(exitCodeOfStatus({ status: 'Success' }), 0);
    assert.equal(
      exitCodeOfStatus({
        status: 'Failure',
        reason: 'NonZeroExitCode',
        details: { causes: [{ reason: 'ExitCode', message: '42' }] },
      }),
      42,
    );
    assert.equal(exitCodeOfStatus({ status: 'Failure', message: 'executable file not found' }), undefined);
  });

  void it('throws RUNTIME_FAILED when the daemon is not there', async () => {
    const rt = new CriRuntime({ endpoint: '/nonexistent/berth-cri-test.sock' });
    try {
      await assert.rejects(
        rt.version(),
        (err: unknown) => err instanceof BerthError && err.code === errorCodes.RUNTIME_FAILED,
      );
      await assert.rejects(rt.containerStatus('x'), (err: unknown) => err instanceof BerthError);
    } finally {
      rt.close();
    }
  });
});
