import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PodSandboxConfig } from '../runtime.js';
import { resolvConf, writeSandboxFiles } from './sandbox-files.js';

const base: PodSandboxConfig = {
  metadata: { name: 'web-0', namespace: 'default', uid: 'u', attempt: 0 },
  hostname: 'web-0',
  logDirectory: '/var/log/pods/x',
  portMappings: [],
  labels: {},
  annotations: {},
};

describe('sandbox files', () => {
  it('writes resolv.conf from the DNS config', () => {
    assert.equal(
      resolvConf({
        servers: ['10.43.0.10'],
        searches: ['default.svc.cluster.local', 'svc.cluster.local'],
        options: ['ndots:5'],
      }),
      'search default.svc.cluster.local svc.cluster.local\nnameserver 10.43.0.10\noptions ndots:5\n',
    );
  });

  it('writes hosts, resolv.conf and hostname and returns them as read-only mounts in that order', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-sbfiles-'));
    try {
      writeFileSync(join(dir, 'host-resolv'), 'nameserver 192.0.2.53\n');
      writeFileSync(join(dir, 'host-hosts'), '127.0.0.1 localhost node-1\n');
      const hostFiles = { resolvConfPath: join(dir, 'host-resolv'), hostsPath: join(dir, 'host-hosts') };
      const mounts = await writeSandboxFiles(dir, base, hostFiles);
      assert.deepEqual(
        mounts.map((m) => [m.containerPath, m.readonly]),
        [
          ['/etc/hosts', true],
          ['/etc/resolv.conf', true],
          ['/etc/hostname', true],
        ],
      );
      assert.equal(readFileSync(join(dir, 'hostname'), 'utf8'), 'web-0\n');
      assert.equal(
        readFileSync(join(dir, 'resolv.conf'), 'utf8'),
        'nameserver 192.0.2.53\n',
        "the node's file by default",
      );
      assert.match(readFileSync(join(dir, 'hosts'), 'utf8'), /^127\.0\.0\.1\tlocalhost$/m);

      await writeSandboxFiles(dir, { ...base, linux: { hostNetwork: true } }, hostFiles);
      assert.equal(
        readFileSync(join(dir, 'hosts'), 'utf8'),
        '127.0.0.1 localhost node-1\n',
        "hostNetwork: the node's hosts",
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
