import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FakePodNetwork } from './fake-pod-network.js';

const req = (uid: string) => ({ uid, namespace: 'default', name: uid, portMappings: [] });

describe('FakePodNetwork', () => {
  it('hands out addresses from the CIDR, idempotently per pod, and reuses freed ones', async () => {
    const net = new FakePodNetwork({ cidr: '10.244.3.0/30' });
    assert.deepEqual(await net.setUp(req('a')), { ok: true, ips: ['10.244.3.2'] });
    assert.deepEqual(await net.setUp(req('a')), { ok: true, ips: ['10.244.3.2'] });
    const full = await net.setUp(req('b'));
    assert.equal(full.ok, false, 'a /30 has one pod address after the gateway');
    await net.tearDown('a');
    await net.tearDown('a');
    assert.deepEqual(await net.setUp(req('b')), { ok: true, ips: ['10.244.3.2'] });
    assert.equal(net.allocated, 1);
  });

  it('rejects a bad CIDR', () => {
    assert.throws(() => new FakePodNetwork({ cidr: '10.0.0.0' }), RangeError);
  });
});
