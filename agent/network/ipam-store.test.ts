import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isBerthError } from '../../lib/errors.js';
import { IpamStore, type PodAllocation } from './ipam-store.js';
import { parsePodCidr, type Ipv4Cidr } from './ipv4-cidr.js';

function cidr(text: string): Ipv4Cidr {
  const r = parsePodCidr(text);
  if (!r.ok) throw new Error(r.message);
  return r.cidr;
}

function alloc(uid: string, ip: string): PodAllocation {
  return {
    uid,
    namespace: 'default',
    name: uid,
    ip,
    netns: `ns-${uid}`,
    veth: `v-${uid}`,
    hostPorts: [],
    ready: true,
  };
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-ipam-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('IpamStore', () => {
  it('hands out addresses after the last one, wrapping, skipping taken ones', () =>
    withDir(async (dir) => {
      const store = await IpamStore.open(dir);
      const c = cidr('10.9.0.0/29');
      assert.equal(store.pickAddress(c), '10.9.0.2');
      store.put(alloc('a', '10.9.0.2'), '10.9.0.0/29');
      store.put(alloc('b', '10.9.0.3'), '10.9.0.0/29');
      store.remove('a');
      assert.equal(store.pickAddress(c), '10.9.0.4', 'a freed address rests');
      for (const [uid, ip] of [
        ['c', '10.9.0.4'],
        ['d', '10.9.0.5'],
        ['e', '10.9.0.6'],
      ] as const)
        store.put(alloc(uid, ip), '10.9.0.0/29');
      assert.equal(store.pickAddress(c), '10.9.0.2', 'wraps to the freed one');
      store.put(alloc('f', '10.9.0.2'), '10.9.0.0/29');
      assert.equal(store.pickAddress(c), undefined, 'full');
    }));

  it('survives a reopen, and refuses a CIDR change while addresses are held', () =>
    withDir(async (dir) => {
      const store = await IpamStore.open(dir);
      store.put(alloc('a', '10.9.1.2'), '10.9.1.0/24');
      await store.save();
      const again = await IpamStore.open(dir);
      assert.deepEqual(again.get('a'), alloc('a', '10.9.1.2'));
      assert.equal(again.cidr, '10.9.1.0/24');
      assert.equal(again.pickAddress(cidr('10.9.1.0/24')), '10.9.1.3');
      assert.throws(
        () => {
          again.setCidr('10.9.2.0/24');
        },
        (err: unknown) => isBerthError(err),
      );
      again.remove('a');
      again.setCidr('10.9.2.0/24');
      await again.save();
      const text = await readFile(join(dir, 'ipam.json'), 'utf8');
      assert.deepEqual(JSON.parse(text), { version: 1, cidr: '10.9.2.0/24', pods: {} });
    }));

  it('refuses a corrupt record instead of guessing', () =>
    withDir(async (dir) => {
      await writeFile(join(dir, 'ipam.json'), '{"version":1,"pods":');
      await assert.rejects(IpamStore.open(dir), (err: unknown) =>
        isBerthError(err, 'BERTH_ERR_NETWORK_FAILED'),
      );
    }));
});
