import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cgroups, parseKeyed } from './cgroups.js';

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'berth-cgroups-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

describe('Cgroups', () => {
  it('reads cgroup v1 figures from the cpuacct and memory hierarchies, and the OOM kill counter', async () => {
    const root = tree({
      'cpuacct/berth/p/c/cpuacct.usage': '29320313\n',
      'memory/berth/p/c/memory.usage_in_bytes': '1000000\n',
      'memory/berth/p/c/memory.stat': 'cache 10\nrss 5\ntotal_rss 400000\ntotal_inactive_file 300000\n',
      'memory/berth/p/c/memory.oom_control': 'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n',
    });
    try {
      const cg = new Cgroups(root);
      assert.equal(cg.v2, false);
      assert.deepEqual(await cg.figures('/berth/p/c'), {
        cpuUsageCoreNanoSeconds: 29320313,
        memoryUsageBytes: 1000000,
        memoryWorkingSetBytes: 700000,
        memoryRssBytes: 400000,
      });
      assert.equal(await cg.oomKills('/berth/p/c'), 2);
      assert.equal(await cg.figures('/berth/p/gone'), undefined);
      assert.equal(await cg.oomKills('/berth/p/gone'), 0);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('reads cgroup v2 figures from the unified hierarchy', async () => {
    const root = tree({
      'cgroup.controllers': 'cpu memory pids\n',
      'berth/p/c/cpu.stat': 'usage_usec 1500\nuser_usec 1000\n',
      'berth/p/c/memory.current': '2000000\n',
      'berth/p/c/memory.stat': 'anon 800000\ninactive_file 500000\n',
      'berth/p/c/memory.events': 'low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n',
    });
    try {
      const cg = new Cgroups(root);
      assert.equal(cg.v2, true);
      assert.deepEqual(await cg.figures('/berth/p/c'), {
        cpuUsageCoreNanoSeconds: 1_500_000,
        memoryUsageBytes: 2000000,
        memoryWorkingSetBytes: 1500000,
        memoryRssBytes: 800000,
      });
      assert.equal(await cg.oomKills('/berth/p/c'), 1);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('removes a cgroup and its children in every v1 hierarchy', async () => {
    const root = mkdtempSync(join(tmpdir(), 'berth-cgroups-'));
    try {
      for (const h of ['memory', 'cpu', 'pids'])
        mkdirSync(join(root, h, 'berth', 'p', 'c1'), { recursive: true });
      mkdirSync(join(root, 'memory', 'berth', 'other'), { recursive: true });
      const left = await new Cgroups(root).remove('/berth/p');
      assert.deepEqual(left, []);
      for (const h of ['memory', 'cpu', 'pids']) assert.equal(existsSync(join(root, h, 'berth', 'p')), false);
      assert.equal(existsSync(join(root, 'memory', 'berth', 'other')), true);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('parses key/value files, skipping malformed lines', () => {
    assert.deepEqual(
      [...parseKeyed('a 1\n\nb x\nc 3 extra\n')],
      [
        ['a', 1],
        ['c', 3],
      ],
    );
  });
});
