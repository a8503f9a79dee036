import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  formatCidr,
  formatIpv4,
  gatewayOf,
  isPodAddress,
  parseIpv4,
  parsePodCidr,
  podAddressCount,
} from './ipv4-cidr.js';

describe('ipv4-cidr', () => {
  it('parses and formats addresses', () => {
    assert.equal(parseIpv4('10.42.3.7'), 10 * 2 ** 24 + 42 * 2 ** 16 + 3 * 256 + 7);
    assert.equal(formatIpv4(parseIpv4('255.0.128.1') ?? 0), '255.0.128.1');
    for (const bad of ['10.42.3', '10.42.3.256', '10.42.3.-1', '1.2.3.4.5', 'a.b.c.d', '01234.1.1.1', '']) {
      assert.equal(parseIpv4(bad), undefined, bad);
    }
  });

  it('parses pod CIDRs, clearing host bits, within /8../30', () => {
    const r = parsePodCidr('10.42.3.7/24');
    assert.ok(r.ok);
    assert.equal(formatCidr(r.cidr), '10.42.3.0/24');
    assert.equal(formatIpv4(gatewayOf(r.cidr)), '10.42.3.1');
    assert.equal(podAddressCount(r.cidr), 253);
    assert.ok(isPodAddress(r.cidr, parseIpv4('10.42.3.2') ?? 0));
    assert.ok(isPodAddress(r.cidr, parseIpv4('10.42.3.254') ?? 0));
    for (const edge of ['10.42.3.0', '10.42.3.1', '10.42.3.255', '10.42.4.2']) {
      assert.ok(!isPodAddress(r.cidr, parseIpv4(edge) ?? 0), edge);
    }
    assert.match(parsePodCidr('10.42.0.0/31').ok ? '' : 'refused', /refused/);
    const v6 = parsePodCidr('fd00::/64');
    assert.ok(!v6.ok);
    assert.match(v6.message, /not an IPv4 CIDR/);
    const wide = parsePodCidr('10.0.0.0/7');
    assert.match(wide.ok ? '' : wide.message, /prefix length from \/8 to \/30/);
  });
});
