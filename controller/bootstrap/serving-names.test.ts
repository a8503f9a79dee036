import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { NetworkInterfaceInfo } from 'node:os';
import { canonicalIp, isWildcardHost, namesCovered, serverUrl, servingNames } from './serving-names.js';

const iface = (address: string, family: 'IPv4' | 'IPv6', internal = false): NetworkInterfaceInfo =>
  family === 'IPv4'
    ? { address, family, internal, netmask: '255.255.255.0', mac: '00:00:00:00:00:00', cidr: null }
    : { address, family, internal, netmask: 'ffff::', mac: '00:00:00:00:00:00', cidr: null, scopeid: 0 };

const interfaces = {
  lo: [iface('127.0.0.1', 'IPv4', true), iface('::1', 'IPv6', true)],
  eth0: [iface('192.0.2.10', 'IPv4'), iface('2001:db8::10', 'IPv6'), iface('fe80::1', 'IPv6')],
};

describe('servingNames', () => {
  it('covers a specific listen address, loopback, localhost and the host name', () => {
    assert.deepEqual(servingNames({ listenHost: '10.1.2.3', hostname: 'Node-A', interfaces }), {
      dnsNames: ['localhost', 'node-a'],
      ipAddresses: ['127.0.0.1', '::1', '10.1.2.3'],
    });
  });

  it('covers the IPv4 interface addresses for 0.0.0.0', () => {
    const names = servingNames({ listenHost: '0.0.0.0', hostname: 'h', interfaces });
    assert.deepEqual(names.ipAddresses, ['127.0.0.1', '::1', '192.0.2.10']);
  });

  it('covers every interface address but link-local for ::', () => {
    const names = servingNames({ listenHost: '::', hostname: 'h', interfaces });
    assert.deepEqual(names.ipAddresses, ['127.0.0.1', '::1', '192.0.2.10', '2001:db8::10']);
  });

  it('adds a DNS listen host as a DNS name and an IP host name as an IP', () => {
    const names = servingNames({ listenHost: 'api.example', hostname: '2001:db8:0:0::7', interfaces });
    assert.deepEqual(names, {
      dnsNames: ['localhost', 'api.example'],
      ipAddresses: ['127.0.0.1', '::1', '2001:db8::7'],
    });
  });
});

describe('namesCovered', () => {
  it('compares DNS names case-insensitively and IPs canonically', () => {
    const need = { dnsNames: ['localhost', 'node-a'], ipAddresses: ['::1', '10.0.0.1'] };
    assert.equal(
      namesCovered({ dnsNames: ['NODE-A', 'localhost'], ipAddresses: ['0:0:0:0:0:0:0:1', '10.0.0.1'] }, need),
      true,
    );
    assert.equal(namesCovered({ dnsNames: ['localhost'], ipAddresses: ['::1', '10.0.0.1'] }, need), false);
    assert.equal(namesCovered({ dnsNames: ['localhost', 'node-a'], ipAddresses: ['::1'] }, need), false);
  });
});

describe('serverUrl', () => {
  it('uses loopback for wildcards and brackets IPv6', () => {
    assert.equal(serverUrl('0.0.0.0', 6443), 'https://127.0.0.1:6443');
    assert.equal(serverUrl('::', 6443), 'https://127.0.0.1:6443');
    assert.equal(serverUrl('', 6443), 'https://127.0.0.1:6443');
    assert.equal(serverUrl('10.0.0.1', 443), 'https://10.0.0.1:443');
    assert.equal(serverUrl('fd00:0::1', 443), 'https://[fd00::1]:443');
    assert.equal(serverUrl('api.example', 443), 'https://api.example:443');
  });

  it('knows the wildcard spellings', () => {
    assert.equal(isWildcardHost('0:0:0:0:0:0:0:0'), true);
    assert.equal(isWildcardHost('127.0.0.1'), false);
    assert.equal(canonicalIp('FE80:0:0::1'), 'fe80::1');
  });
});
