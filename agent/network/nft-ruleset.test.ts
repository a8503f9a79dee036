import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parsePodCidr } from './ipv4-cidr.js';
import { elementsScript, tableScript } from './nft-ruleset.js';

describe('nft ruleset', () => {
  const cidr = parsePodCidr('10.42.7.0/24');
  if (!cidr.ok) throw new Error(cidr.message);

  it('replaces the whole table in one transaction, with the elements of every pod', () => {
    const script = tableScript({
      table: 'berth',
      bridge: 'berth0',
      cidr: cidr.cidr,
      elements: [
        { protocol: 'tcp', hostPort: 8080, containerPort: 80, podIp: '10.42.7.2' },
        { protocol: 'udp', hostPort: 53, containerPort: 5353, podIp: '10.42.7.3', hostIP: '127.0.0.1' },
      ],
    });
    const lines = script.split('\n').map((l) => l.trim());
    assert.deepEqual(lines.slice(0, 3), ['table ip berth {}', 'delete table ip berth', 'table ip berth {']);
    assert.ok(lines.includes('elements = { tcp . 8080 : 10.42.7.2 . 80 }'));
    assert.ok(lines.includes('elements = { 127.0.0.1 . udp . 53 : 10.42.7.3 . 5353 }'));
    assert.ok(
      lines.includes('ip saddr 10.42.7.0/24 ip daddr != 10.42.7.0/24 oifname != "berth0" masquerade'),
    );
    assert.ok(lines.includes('oifname "berth0" fib saddr type local masquerade'));
    assert.equal(lines.filter((l) => l.includes('dnat ip to')).length, 4, 'two maps × prerouting and output');
  });

  it('adds with values and deletes by key; nothing for no elements', () => {
    const e = [{ protocol: 'tcp', hostPort: 8080, containerPort: 80, podIp: '10.42.7.2' }] as const;
    assert.equal(
      elementsScript('add', 't', e),
      'add element ip t hostports { tcp . 8080 : 10.42.7.2 . 80 }\n',
    );
    assert.equal(elementsScript('delete', 't', e), 'delete element ip t hostports { tcp . 8080 }\n');
    assert.equal(elementsScript('add', 't', []), '');
  });
});
