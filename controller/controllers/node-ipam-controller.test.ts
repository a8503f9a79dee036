import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { StoredObject } from '../../api/object.js';
import type { ResourceStorage } from '../apiserver/resource-storage.js';
import { isBerthError } from '../../lib/errors.js';
import { requireResource } from './informer-factory.js';
import { nodeIpamController, planRanges, type NodeIpamOptions } from './node-ipam-controller.js';
import { eventually, startControllerFixture, type ControllerFixture } from './testing/controller-fixture.js';

const nodes = requireResource('', 'v1', 'nodes');
const events = requireResource('', 'v1', 'events');

function node(name: string, podCIDR?: string): StoredObject {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name },
    spec: podCIDR === undefined ? {} : { podCIDR, podCIDRs: [podCIDR] },
  };
}

async function withIpam(
  opts: NodeIpamOptions,
  fn: (f: ControllerFixture) => Promise<void>,
  before?: (storage: ResourceStorage) => Promise<void>,
): Promise<void> {
  const f = await startControllerFixture({
    controllers: [nodeIpamController(opts)],
    ...(before === undefined ? {} : { before }),
  });
  try {
    await fn(f);
  } finally {
    await f.close();
  }
}

async function podCidr(f: ControllerFixture, name: string): Promise<string | undefined> {
  const n = await f.find(nodes, undefined, name);
  const spec = n?.spec as { podCIDR?: string; podCIDRs?: string[] } | undefined;
  if (spec?.podCIDR !== undefined)
    assert.deepEqual(spec.podCIDRs, [spec.podCIDR], 'podCIDRs matches podCIDR');
  return spec?.podCIDR;
}

async function cidrOf(f: ControllerFixture, name: string): Promise<string> {
  let cidr: string | undefined;
  await eventually(`a pod CIDR for ${name}`, async () => {
    cidr = await podCidr(f, name);
    return cidr !== undefined;
  });
  return cidr ?? '';
}

describe('node IPAM controller', () => {
  it('gives each node its own /24 of 10.42.0.0/16 by default', () =>
    withIpam({}, async (f) => {
      for (const n of ['n1', 'n2', 'n3']) await f.storage.create(nodes, undefined, node(n));
      const cidrs = await Promise.all(['n1', 'n2', 'n3'].map((n) => cidrOf(f, n)));
      assert.deepEqual(cidrs.sort(), ['10.42.0.0/24', '10.42.1.0/24', '10.42.2.0/24']);
    }));

  it('keeps existing assignments across a restart and never hands a taken range out again', async () => {
    // Nodes made before the controller starts: two hold ranges (one outside the cluster CIDR).
    await withIpam(
      { clusterCidr: '10.50.0.0/22', nodeCidrMaskSize: 24 },
      async (f) => {
        const fresh = await cidrOf(f, 'fresh');
        assert.ok(['10.50.1.0/24', '10.50.2.0/24', '10.50.3.0/24'].includes(fresh), fresh);
        assert.notEqual(fresh, '10.50.0.0/24');
        assert.equal(await podCidr(f, 'old'), '10.50.0.0/24');
        assert.equal(await podCidr(f, 'elsewhere'), '192.168.7.0/24', 'a range outside ours is left alone');
      },
      async (storage) => {
        await storage.create(nodes, undefined, node('old', '10.50.0.0/24'));
        await storage.create(nodes, undefined, node('elsewhere', '192.168.7.0/24'));
        await storage.create(nodes, undefined, node('fresh'));
      },
    );
  });

  it('records CIDRNotAvailable when the ranges run out, and reuses a deleted node’s range', () =>
    withIpam({ clusterCidr: '10.60.0.0/23', nodeCidrMaskSize: 24 }, async (f) => {
      await f.storage.create(nodes, undefined, node('a'));
      await f.storage.create(nodes, undefined, node('b'));
      const [a, b] = [await cidrOf(f, 'a'), await cidrOf(f, 'b')];
      assert.notEqual(a, b);
      await f.storage.create(nodes, undefined, node('c'));
      await eventually('a CIDRNotAvailable event for c', async () => {
        const list = await f.storage.list(events, 'default');
        return list.items.some((e) => {
          const ev = e as StoredObject & {
            reason?: string;
            involvedObject?: { name?: string };
            message?: string;
          };
          return (
            ev.reason === 'CIDRNotAvailable' &&
            ev.involvedObject?.name === 'c' &&
            ev.message?.includes('all 2 /24 ranges of 10.60.0.0/23 are in use') === true
          );
        });
      });
      assert.equal(await podCidr(f, 'c'), undefined);
      await f.storage.delete(nodes, undefined, 'a', {});
      assert.equal(await cidrOf(f, 'c'), a, 'c gets the range a held');
    }));

  it('does not touch a node that already has a pod CIDR', () =>
    withIpam({}, async (f) => {
      await f.storage.create(nodes, undefined, node('manual', '10.42.9.0/24'));
      await f.storage.create(nodes, undefined, node('next'));
      const next = await cidrOf(f, 'next');
      assert.notEqual(next, '10.42.9.0/24');
      assert.equal(await podCidr(f, 'manual'), '10.42.9.0/24');
    }));

  it('refuses unusable options with a clear message', () => {
    const refused = (cidr: string, mask: number, pattern: RegExp): void => {
      assert.throws(
        () => planRanges(cidr, mask),
        (err: unknown) => isBerthError(err, 'BERTH_ERR_CONFIG_INVALID') && pattern.test(err.message),
      );
    };
    refused('10.42.0.0', 24, /not an IPv4 CIDR/);
    refused('fd00::/48', 64, /not an IPv4 CIDR/);
    refused('10.42.0.0/16', 12, /mask size 12/);
    refused('10.42.0.0/16', 31, /to \/30/);
    refused('10.0.0.0/8', 30, /more than 65536/);
    assert.deepEqual(planRanges('10.42.7.9/16', 24), {
      clusterCidr: '10.42.0.0/16',
      maskSize: 24,
      base: 10 * 2 ** 24 + 42 * 2 ** 16,
      size: 256,
      count: 256,
    });
  });
});
