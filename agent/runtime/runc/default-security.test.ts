import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  ALL_CAPABILITIES,
  capabilitiesFromMask,
  DEFAULT_CAPABILITIES,
  defaultDeviceRules,
  defaultMounts,
  effectiveCapabilities,
  hostCapabilities,
  loadSeccompProfile,
  normalizeCapability,
  parseSeccompJson,
  parseSeccompProfile,
  unknownCapabilities,
} from './default-security.js';

describe('capabilities', () => {
  it('normalizes NET_ADMIN, cap_net_admin and CAP_NET_ADMIN alike; ALL stays; unknown is undefined', () => {
    assert.equal(normalizeCapability('NET_ADMIN'), 'CAP_NET_ADMIN');
    assert.equal(normalizeCapability('cap_net_admin'), 'CAP_NET_ADMIN');
    assert.equal(normalizeCapability('CAP_NET_ADMIN'), 'CAP_NET_ADMIN');
    assert.equal(normalizeCapability('all'), 'ALL');
    assert.equal(normalizeCapability('FLY'), undefined);
    assert.deepEqual(unknownCapabilities({ capabilities: { add: ['FLY', 'CHOWN'], drop: ['CAP_SWIM'] } }), [
      'FLY',
      'CAP_SWIM',
    ]);
  });

  it('defaults to the 14 Docker capabilities, in bit order', () => {
    const caps = effectiveCapabilities(undefined);
    assert.equal(caps.length, 14);
    assert.deepEqual(new Set(caps), new Set(DEFAULT_CAPABILITIES));
    assert.equal(caps[0], 'CAP_CHOWN');
    assert.ok(!caps.includes('CAP_SYS_ADMIN') && !caps.includes('CAP_NET_ADMIN'));
  });

  it('adds and drops by either spelling', () => {
    const caps = effectiveCapabilities({
      capabilities: { add: ['NET_ADMIN', 'CAP_SYS_TIME'], drop: ['net_raw', 'KILL'] },
    });
    assert.ok(caps.includes('CAP_NET_ADMIN') && caps.includes('CAP_SYS_TIME'));
    assert.ok(!caps.includes('CAP_NET_RAW') && !caps.includes('CAP_KILL'));
  });

  it('drop ALL then add one leaves just that one; add ALL then drop one leaves all but it', () => {
    assert.deepEqual(effectiveCapabilities({ capabilities: { add: ['NET_BIND_SERVICE'], drop: ['ALL'] } }), [
      'CAP_NET_BIND_SERVICE',
    ]);
    const all = effectiveCapabilities({ capabilities: { add: ['ALL'], drop: ['CHOWN'] } }, ALL_CAPABILITIES);
    assert.equal(all.length, ALL_CAPABILITIES.length - 1);
    assert.ok(!all.includes('CAP_CHOWN'));
  });

  it('privileged gets every available capability whatever add/drop say', () => {
    assert.deepEqual(
      effectiveCapabilities({ privileged: true, capabilities: { add: [], drop: ['ALL'] } }, ALL_CAPABILITIES),
      [...ALL_CAPABILITIES],
    );
    assert.deepEqual(effectiveCapabilities({ privileged: true }, ['CAP_CHOWN']), ['CAP_CHOWN']);
    // Default: the agent's own bounding set (root here may lack some, e.g. CAP_SYS_RESOURCE).
    assert.deepEqual(effectiveCapabilities({ privileged: true }), [...hostCapabilities()]);
  });

  it('reads capability masks; the host set is a non-empty subset of all', () => {
    const noSysResource = capabilitiesFromMask(0x1fffeffffffn);
    assert.equal(noSysResource.length, ALL_CAPABILITIES.length - 1);
    assert.ok(!noSysResource.includes('CAP_SYS_RESOURCE'));
    assert.deepEqual(capabilitiesFromMask(0b101n), ['CAP_CHOWN', 'CAP_DAC_READ_SEARCH']);
    const host = hostCapabilities();
    assert.ok(host.length > 0 && host.every((c) => ALL_CAPABILITIES.includes(c)));
  });
});

describe('default mounts and devices', () => {
  it('mounts /sys and cgroupfs read-only and /dev as tmpfs unless privileged', () => {
    const m = defaultMounts(false);
    assert.deepEqual(
      m.map((x) => x.destination),
      ['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys', '/sys/fs/cgroup'],
    );
    assert.ok(m.find((x) => x.destination === '/sys')?.options?.includes('ro'));
    assert.equal(m.find((x) => x.destination === '/dev')?.type, 'tmpfs');
    const p = defaultMounts(true);
    assert.ok(p.find((x) => x.destination === '/sys')?.options?.includes('rw'));
    assert.deepEqual(p.find((x) => x.destination === '/dev')?.source, '/dev');
  });

  it('denies all devices then allows the standard ones; privileged allows all', () => {
    const rules = defaultDeviceRules(false);
    assert.deepEqual(rules[0], { allow: false, access: 'rwm' });
    assert.ok(rules.some((r) => r.allow && r.major === 1 && r.minor === 3));
    assert.ok(!rules.some((r) => r.allow && r.major === 8), 'no block disks');
    assert.deepEqual(defaultDeviceRules(true), [{ allow: true, access: 'rwm' }]);
  });
});

describe('seccomp', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'berth-seccomp-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('parses profile references', () => {
    assert.deepEqual(parseSeccompProfile(undefined), { kind: 'none' });
    assert.deepEqual(parseSeccompProfile('RuntimeDefault'), { kind: 'none' });
    assert.deepEqual(parseSeccompProfile('Unconfined'), { kind: 'none' });
    assert.deepEqual(parseSeccompProfile('Localhost//etc/p.json'), {
      kind: 'localhost',
      path: '/etc/p.json',
    });
    assert.deepEqual(parseSeccompProfile('localhost/profiles/a.json', '/var/lib/berth/seccomp'), {
      kind: 'localhost',
      path: '/var/lib/berth/seccomp/profiles/a.json',
    });
    assert.equal(parseSeccompProfile('Localhost/../../etc/shadow', '/var/lib/berth/seccomp').kind, 'invalid');
    assert.equal(parseSeccompProfile('Localhost/a.json').kind, 'invalid');
    assert.equal(parseSeccompProfile('Bogus').kind, 'invalid');
  });

  it('converts OCI and Docker (archMap) profiles, and refuses bad ones', () => {
    const oci = parseSeccompJson({
      defaultAction: 'SCMP_ACT_ERRNO',
      architectures: ['SCMP_ARCH_X86_64'],
      syscalls: [
        { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' },
        {
          names: ['personality'],
          action: 'SCMP_ACT_ALLOW',
          args: [{ index: 0, value: 8, op: 'SCMP_CMP_EQ' }],
        },
      ],
    });
    assert.ok(oci.ok);
    assert.deepEqual(oci.seccomp.syscalls?.[1]?.args, [{ index: 0, value: 8, op: 'SCMP_CMP_EQ' }]);
    const docker = parseSeccompJson({
      defaultAction: 'SCMP_ACT_ALLOW',
      archMap: [{ architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] }],
      syscalls: [{ name: 'mkdir', action: 'SCMP_ACT_ERRNO', errnoRet: 1 }],
    });
    assert.ok(docker.ok);
    assert.deepEqual(docker.seccomp.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    assert.deepEqual(docker.seccomp.syscalls, [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }]);
    assert.equal(parseSeccompJson({ defaultAction: 'ALLOW' }).ok, false);
    assert.equal(parseSeccompJson([]).ok, false);
    assert.equal(
      parseSeccompJson({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['x'], action: 'nope' }] }).ok,
      false,
    );
    assert.equal(
      parseSeccompJson({
        defaultAction: 'SCMP_ACT_ALLOW',
        syscalls: [{ names: ['x'], action: 'SCMP_ACT_ERRNO', includes: { caps: ['CAP_SYS_ADMIN'] } }],
      }).ok,
      false,
    );
  });

  it('loads a Localhost profile; none for RuntimeDefault, Unconfined and privileged', async () => {
    const file = path.join(dir, 'p.json');
    await writeFile(file, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [] }));
    const r = await loadSeccompProfile({ seccompProfile: `Localhost/${file}` });
    assert.deepEqual(r, { ok: true, seccomp: { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [] } });
    const rel = await loadSeccompProfile({ seccompProfile: 'localhost/p.json' }, { seccompRoot: dir });
    assert.ok(rel.ok && rel.seccomp !== undefined);
    assert.deepEqual(await loadSeccompProfile({ seccompProfile: 'RuntimeDefault' }), { ok: true });
    assert.deepEqual(await loadSeccompProfile(undefined), { ok: true });
    assert.deepEqual(await loadSeccompProfile({ privileged: true, seccompProfile: `Localhost/${file}` }), {
      ok: true,
    });
  });

  it('reports a missing, non-JSON, FIFO or too-large profile as a value', async () => {
    const missing = await loadSeccompProfile({ seccompProfile: `Localhost/${dir}/none.json` });
    assert.equal(missing.ok, false);
    await writeFile(path.join(dir, 'bad.json'), '{nope');
    assert.match(
      JSON.stringify(await loadSeccompProfile({ seccompProfile: `Localhost/${dir}/bad.json` })),
      /not JSON/,
    );
    execFileSync('mkfifo', [path.join(dir, 'fifo')]);
    assert.match(
      JSON.stringify(await loadSeccompProfile({ seccompProfile: `Localhost/${dir}/fifo` })),
      /not a regular file/,
    );
    await writeFile(path.join(dir, 'big.json'), Buffer.alloc((1 << 20) + 1, 32));
    assert.match(
      JSON.stringify(await loadSeccompProfile({ seccompProfile: `Localhost/${dir}/big.json` })),
      /too large/,
    );
  });
});
