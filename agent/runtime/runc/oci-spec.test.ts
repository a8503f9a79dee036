import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isBerthError } from '../../../lib/errors.js';
import type {
  ContainerConfig,
  ContainerSecurityContext,
  LinuxContainerResources,
  PodSandboxConfig,
} from '../runtime.js';
import { resolveProcessArgs } from '../runtime.js';
import {
  ALL_CAPABILITIES,
  DEFAULT_MASKED_PATHS,
  DEFAULT_PATH,
  DEFAULT_READONLY_PATHS,
} from './default-security.js';
import type { OciSpecInput } from './oci-spec.js';
import { buildOciSpec, validateOciSpecInput } from './oci-spec.js';

const sandbox: PodSandboxConfig = {
  metadata: { name: 'web', namespace: 'default', uid: 'u1', attempt: 0 },
  hostname: 'web',
  logDirectory: '/var/log/pods/default_web_u1',
  portMappings: [],
  labels: {},
  annotations: {},
  linux: { cgroupParent: '/berth/podu1', sysctls: { 'net.ipv4.ip_unprivileged_port_start': '0' } },
};

function config(over: Partial<ContainerConfig> = {}): ContainerConfig {
  return {
    metadata: { name: 'app', attempt: 0 },
    image: {
      image: 'busybox',
      record: {
        references: ['docker.io/library/busybox:latest'],
        digest: 'sha256:aa',
        configDigest: 'sha256:bb',
        size: 1,
        config: { cmd: ['sh'], env: ['FOO=image', 'BAR=1'], workingDir: '/srv' },
      },
    },
    command: [],
    args: [],
    envs: [{ key: 'FOO', value: 'pod' }],
    mounts: [],
    labels: {},
    annotations: {},
    logPath: 'app/0.log',
    ...over,
  };
}

function input(
  over: Partial<OciSpecInput> = {},
  sc?: ContainerSecurityContext,
  resources?: LinuxContainerResources,
): OciSpecInput {
  const linux = {
    ...(sc !== undefined ? { securityContext: sc } : {}),
    ...(resources !== undefined ? { resources } : {}),
  };
  const cfg = config(Object.keys(linux).length > 0 ? { linux } : {});
  return {
    containerId: 'c0ffee',
    sandbox,
    config: cfg,
    process: resolveProcessArgs(cfg),
    user: { uid: 0, gid: 0, additionalGids: [0], home: '/root' },
    rootfsPath: '/var/lib/berth/containers/c0ffee/rootfs',
    cgroupsPath: '/berth/podu1/c0ffee',
    namespaces: { network: '/var/run/netns/berth-u1' },
    hostNetwork: false,
    mounts: [],
    ...over,
  };
}

describe('buildOciSpec', () => {
  it('builds the process from the resolved args, env in order with PATH and HOSTNAME defaulted', () => {
    const spec = buildOciSpec(input());
    assert.equal(spec.ociVersion, '1.0.2');
    assert.deepEqual(spec.process.args, ['sh']);
    assert.deepEqual(spec.process.env, [
      `PATH=${DEFAULT_PATH}`,
      'HOSTNAME=web',
      'FOO=pod',
      'BAR=1',
      'HOME=/root',
    ]);
    assert.equal(spec.process.cwd, '/srv');
    assert.equal(spec.process.terminal, false);
    assert.deepEqual(spec.process.rlimits, [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }]);
    assert.equal(spec.hostname, 'web');
    assert.deepEqual(spec.root, { path: '/var/lib/berth/containers/c0ffee/rootfs', readonly: false });
    assert.equal(spec.linux.cgroupsPath, '/berth/podu1/c0ffee');
    assert.deepEqual(spec.linux.sysctl, { 'net.ipv4.ip_unprivileged_port_start': '0' });
    assert.equal(spec.linux.seccomp, undefined);
  });

  it('keeps the image PATH and adds TERM with a tty', () => {
    const cfg = config({ tty: true, envs: [{ key: 'PATH', value: '/bin' }] });
    const spec = buildOciSpec(input({ config: cfg, process: resolveProcessArgs(cfg) }));
    assert.equal(spec.process.terminal, true);
    assert.deepEqual(
      spec.process.env.filter((e) => e.startsWith('PATH=') || e.startsWith('TERM=')),
      ['PATH=/bin', 'TERM=xterm'],
    );
  });

  it('sets the user with additional gids', () => {
    const spec = buildOciSpec(input({ user: { uid: 1000, gid: 1000, additionalGids: [1000, 10] } }));
    assert.deepEqual(spec.process.user, { uid: 1000, gid: 1000, additionalGids: [1000, 10] });
    assert.ok(!spec.process.env.some((e) => e.startsWith('HOME=')), 'no home known: runc fills it in');
  });

  it('creates pid, ipc, uts, mount namespaces and joins the given network namespace', () => {
    const spec = buildOciSpec(input());
    assert.deepEqual(spec.linux.namespaces, [
      { type: 'pid' },
      { type: 'ipc' },
      { type: 'uts' },
      { type: 'mount' },
      { type: 'network', path: '/var/run/netns/berth-u1' },
    ]);
  });

  it('joins given pid/ipc/uts namespaces; no network entry for hostNetwork; a new one without a path', () => {
    const joined = buildOciSpec(
      input({
        sandbox: { ...sandbox, linux: {} },
        namespaces: { pid: '/proc/1/ns/pid', ipc: '/proc/1/ns/ipc', uts: '/proc/1/ns/uts' },
        hostNetwork: true,
      }),
    );
    assert.deepEqual(joined.linux.namespaces, [
      { type: 'pid', path: '/proc/1/ns/pid' },
      { type: 'ipc', path: '/proc/1/ns/ipc' },
      { type: 'uts', path: '/proc/1/ns/uts' },
      { type: 'mount' },
    ]);
    const isolated = buildOciSpec(input({ namespaces: {} }));
    assert.deepEqual(isolated.linux.namespaces.at(-1), { type: 'network' });
  });

  it('applies the Docker defaults when unprivileged', () => {
    const spec = buildOciSpec(input());
    assert.equal(spec.process.capabilities.bounding.length, 14);
    assert.deepEqual(spec.process.capabilities.inheritable, []);
    assert.deepEqual(spec.process.capabilities.ambient, []);
    assert.equal(spec.process.noNewPrivileges, false);
    assert.deepEqual(spec.linux.maskedPaths, DEFAULT_MASKED_PATHS);
    assert.ok(
      spec.linux.maskedPaths.includes('/proc/kcore') && spec.linux.maskedPaths.includes('/sys/firmware'),
    );
    assert.deepEqual(spec.linux.readonlyPaths, DEFAULT_READONLY_PATHS);
    assert.ok(
      spec.linux.readonlyPaths.includes('/proc/sys') &&
        spec.linux.readonlyPaths.includes('/proc/sysrq-trigger'),
    );
    assert.deepEqual(spec.linux.resources.devices[0], { allow: false, access: 'rwm' });
    const dests = spec.mounts.map((m) => m.destination);
    for (const d of ['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys'])
      assert.ok(dests.includes(d), d);
  });

  it('securityContext: readOnlyRootFilesystem, allowPrivilegeEscalation=false, capabilities', () => {
    const spec = buildOciSpec(
      input(
        {},
        {
          readonlyRootfs: true,
          noNewPrivs: true,
          capabilities: { add: ['NET_ADMIN'], drop: ['CAP_NET_RAW'] },
        },
      ),
    );
    assert.equal(spec.root.readonly, true);
    assert.equal(spec.process.noNewPrivileges, true);
    assert.ok(spec.process.capabilities.effective.includes('CAP_NET_ADMIN'));
    assert.ok(!spec.process.capabilities.permitted.includes('CAP_NET_RAW'));
  });

  it('privileged: all caps, nothing masked, writable /sys, host /dev, all devices, no seccomp', () => {
    const spec = buildOciSpec(
      input(
        { seccomp: { defaultAction: 'SCMP_ACT_ERRNO' }, availableCapabilities: ALL_CAPABILITIES },
        { privileged: true, noNewPrivs: true, seccompProfile: 'Localhost//p.json' },
      ),
    );
    assert.deepEqual(spec.process.capabilities.bounding, ALL_CAPABILITIES);
    assert.deepEqual(spec.linux.maskedPaths, []);
    assert.deepEqual(spec.linux.readonlyPaths, []);
    assert.equal(spec.process.noNewPrivileges, false);
    assert.deepEqual(spec.linux.resources.devices, [{ allow: true, access: 'rwm' }]);
    assert.ok(spec.mounts.find((m) => m.destination === '/sys')?.options?.includes('rw'));
    assert.equal(spec.mounts.find((m) => m.destination === '/dev')?.source, '/dev');
    assert.equal(spec.linux.seccomp, undefined);
  });

  it('uses the security context own masked/readonly lists when given', () => {
    const spec = buildOciSpec(input({}, { maskedPaths: ['/proc/x'], readonlyPaths: [] }));
    assert.deepEqual(spec.linux.maskedPaths, ['/proc/x']);
    assert.deepEqual(spec.linux.readonlyPaths, []);
  });

  it('seccomp: only with a loaded Localhost profile', () => {
    const seccomp = {
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }],
    };
    assert.deepEqual(
      buildOciSpec(input({ seccomp }, { seccompProfile: 'Localhost//p.json' })).linux.seccomp,
      seccomp,
    );
    assert.equal(buildOciSpec(input({}, { seccompProfile: 'RuntimeDefault' })).linux.seccomp, undefined);
    const v = validateOciSpecInput(input({}, { seccompProfile: 'Localhost//p.json' }));
    assert.equal(v.ok, false);
    assert.throws(
      () => buildOciSpec(input({}, { seccompProfile: 'Localhost//p.json' })),
      (err: unknown) => isBerthError(err, 'BERTH_ERR_CONTAINER_CONFIG_INVALID'),
    );
  });

  it('cgroup resources from LinuxContainerResources', () => {
    const spec = buildOciSpec(
      input({}, undefined, {
        memoryLimitInBytes: 64 << 20,
        cpuShares: 512,
        cpuQuota: 50_000,
        cpuPeriod: 100_000,
        pidsLimit: 64,
        cpusetCpus: '0',
        cpusetMems: '0',
      }),
    );
    assert.deepEqual(spec.linux.resources.memory, { limit: 64 << 20 });
    assert.deepEqual(spec.linux.resources.cpu, {
      shares: 512,
      quota: 50_000,
      period: 100_000,
      cpus: '0',
      mems: '0',
    });
    assert.deepEqual(spec.linux.resources.pids, { limit: 64 });
    const none = buildOciSpec(input());
    assert.equal(none.linux.resources.memory, undefined);
    assert.equal(none.linux.resources.cpu, undefined);
    assert.equal(none.linux.resources.pids, undefined);
    assert.equal(validateOciSpecInput(input({}, undefined, { memoryLimitInBytes: -1 })).ok, false);
  });

  it('appends bind mounts in order, replaces a default with the same destination, sets propagation', () => {
    const spec = buildOciSpec(
      input({
        mounts: [
          { containerPath: '/etc/hosts', hostPath: '/pods/u1/hosts' },
          { containerPath: '/dev/shm', hostPath: '/pods/u1/shm' },
          {
            containerPath: '/data/',
            hostPath: '/srv/data',
            readonly: true,
            propagation: 'host-to-container',
          },
        ],
      }),
    );
    const tail = spec.mounts.slice(-3);
    assert.deepEqual(tail, [
      {
        destination: '/etc/hosts',
        type: 'bind',
        source: '/pods/u1/hosts',
        options: ['rbind', 'rprivate', 'rw'],
      },
      { destination: '/dev/shm', type: 'bind', source: '/pods/u1/shm', options: ['rbind', 'rprivate', 'rw'] },
      { destination: '/data', type: 'bind', source: '/srv/data', options: ['rbind', 'rslave', 'ro'] },
    ]);
    assert.equal(spec.mounts.filter((m) => m.destination === '/dev/shm').length, 1);
    assert.equal(spec.linux.rootfsPropagation, 'rslave');
  });

  it('refuses unsafe or unrunnable inputs with a message', () => {
    const cases: [OciSpecInput, RegExp][] = [
      [input({ mounts: [{ containerPath: '/x', hostPath: '/proc/self/exe' }] }), /per-process \/proc/],
      [input({ mounts: [{ containerPath: '/x', hostPath: '/proc/1/root' }] }), /per-process/],
      [input({ mounts: [{ containerPath: '/proc/sys', hostPath: '/tmp' }] }), /inside \/proc/],
      [input({ mounts: [{ containerPath: '/a/../proc', hostPath: '/tmp' }] }), /inside \/proc/],
      [input({ mounts: [{ containerPath: 'rel', hostPath: '/tmp' }] }), /not absolute/],
      [input({ mounts: [{ containerPath: '/', hostPath: '/tmp' }] }), /container root/],
      [input({ process: { argv: [], env: [], workingDir: '/' } }), /no command/],
      [input({ process: { argv: ['sh'], env: [], workingDir: '/proc/self/fd/7' } }), /inside \/proc/],
      [input({ process: { argv: ['sh'], env: [], workingDir: 'srv' } }), /not absolute/],
      [
        input({ process: { argv: ['sh'], env: [{ key: 'A=B', value: '' }], workingDir: '/' } }),
        /environment/,
      ],
      [input({}, { capabilities: { add: ['FLY'], drop: [] } }), /unknown capabilities: FLY/],
      [input({ containerId: '../x' }), /container id/],
      [input({ cgroupsPath: 'berth/x' }), /cgroups path/],
      [input({ namespaces: { network: 'netns' } }), /namespace path/],
      [input({ namespaces: {}, hostNetwork: true }), /not allowed with hostNetwork/],
    ];
    for (const [i, re] of cases) {
      const v = validateOciSpecInput(i);
      assert.ok(!v.ok, re.source);
      assert.match(v.message, re);
      assert.throws(
        () => buildOciSpec(i),
        (err: unknown) => isBerthError(err, 'BERTH_ERR_CONTAINER_CONFIG_INVALID'),
      );
    }
    assert.deepEqual(
      validateOciSpecInput(input({ mounts: [{ containerPath: '/host/proc', hostPath: '/proc' }] })),
      {
        ok: true,
      },
    );
  });

  it('is JSON-serialisable and does not share arrays with its input', () => {
    const i = input({ user: { uid: 1, gid: 1, additionalGids: [1] } });
    const spec = buildOciSpec(i);
    assert.deepEqual(JSON.parse(JSON.stringify(spec)), spec);
    assert.notEqual(spec.process.args, i.process.argv);
    assert.notEqual(spec.process.user.additionalGids, i.user.additionalGids);
  });
});
