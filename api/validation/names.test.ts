import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import {
  isConfigMapKey,
  isDNS1035Label,
  isDNS1123Label,
  isDNS1123Subdomain,
  isQualifiedName,
  isRelaxedEnvVarName,
  isValidCIDR,
  isValidIP,
  isValidLabelValue,
  isValidPercent,
  isValidPortName,
  isValidPortNum,
  nameIsDNSSubdomain,
  parseIP,
} from './names.js';

const subdomainMsg =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const labelMsg =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const dns1035Msg =
  "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

describe('DNS names', () => {
  it('subdomains', () => {
    assert.deepEqual(isDNS1123Subdomain('my.app-1'), []);
    assert.deepEqual(isDNS1123Subdomain('Foo'), [subdomainMsg]);
    assert.deepEqual(isDNS1123Subdomain('a'.repeat(254)), ['must be no more than 253 characters']);
    assert.deepEqual(isDNS1123Subdomain(''), [subdomainMsg]);
  });

  it('labels, with the dots special case', () => {
    assert.deepEqual(isDNS1123Label('web-1'), []);
    assert.deepEqual(isDNS1123Label('a.b'), ['must not contain dots']);
    assert.deepEqual(isDNS1123Label('-a'), [labelMsg]);
    assert.deepEqual(isDNS1123Label('a'.repeat(64)), ['must be no more than 63 characters']);
  });

  it('DNS-1035 labels (service names)', () => {
    assert.deepEqual(isDNS1035Label('web'), []);
    assert.deepEqual(isDNS1035Label('1web'), [dns1035Msg]);
  });

  it('generateName prefixes may end with a dash', () => {
    assert.deepEqual(nameIsDNSSubdomain('web-', true), []);
    assert.notDeepEqual(nameIsDNSSubdomain('web-', false), []);
  });
});

describe('qualified names and label values', () => {
  it('accepts prefixed and plain names', () => {
    assert.deepEqual(isQualifiedName('app'), []);
    assert.deepEqual(isQualifiedName('example.com/app'), []);
    assert.deepEqual(isQualifiedName('app.kubernetes.io/name'), []);
  });

  it('reports prefix and name parts', () => {
    assert.deepEqual(isQualifiedName('/a'), ['prefix part must be non-empty']);
    assert.deepEqual(isQualifiedName('a/'), [
      'name part must be non-empty',
      "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
    ]);
    assert.deepEqual(isQualifiedName('Foo/a'), [`prefix part ${subdomainMsg}`]);
    assert.deepEqual(isQualifiedName('a/b/c'), [
      "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
    ]);
    assert.deepEqual(isQualifiedName('a'.repeat(64)), ['name part must be no more than 63 characters']);
  });

  it('label values', () => {
    assert.deepEqual(isValidLabelValue(''), []);
    assert.deepEqual(isValidLabelValue('My_value.1'), []);
    assert.equal(isValidLabelValue('a b').length, 1);
    assert.deepEqual(isValidLabelValue('a'.repeat(64)), ['must be no more than 63 characters']);
  });
});

describe('ports, env names, config keys, percents, IPs', () => {
  it('port numbers and names', () => {
    assert.deepEqual(isValidPortNum(80), []);
    assert.deepEqual(isValidPortNum(0), ['must be between 1 and 65535, inclusive']);
    assert.deepEqual(isValidPortNum(65536), ['must be between 1 and 65535, inclusive']);
    assert.deepEqual(isValidPortName('http'), []);
    assert.deepEqual(isValidPortName('HTTP'), [
      'must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)',
      'must contain at least one letter (a-z)',
    ]);
    assert.deepEqual(isValidPortName('a--b'), ['must not contain consecutive hyphens']);
    assert.deepEqual(isValidPortName('-ab'), ['must not begin or end with a hyphen']);
    assert.deepEqual(isValidPortName('abcdefghijklmnop'), ['must be no more than 15 characters']);
    assert.deepEqual(isValidPortName('8080'), ['must contain at least one letter (a-z)']);
  });

  it('relaxed env var names', () => {
    assert.deepEqual(isRelaxedEnvVarName('1-odd.NAME'), []);
    assert.deepEqual(isRelaxedEnvVarName(''), ['environment variable name must be non-empty']);
    assert.deepEqual(isRelaxedEnvVarName('A=B'), [
      "a valid environment variable name must consist only of printable ASCII characters other than '='",
    ]);
  });

  it('config keys', () => {
    assert.deepEqual(isConfigMapKey('app.properties'), []);
    assert.deepEqual(isConfigMapKey('a/b'), [
      "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
    ]);
    assert.deepEqual(isConfigMapKey('..'), ["must not be '..'"]);
    assert.deepEqual(isConfigMapKey('..a'), ["must not start with '..'"]);
  });

  it('percents', () => {
    assert.deepEqual(isValidPercent('25%'), []);
    assert.deepEqual(isValidPercent('x%'), [
      "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
    ]);
  });

  it('IP addresses and CIDRs', () => {
    assert.equal(parseIP('10.0.0.1'), 4);
    assert.equal(parseIP('010.0.0.1'), undefined);
    assert.equal(parseIP('256.0.0.1'), undefined);
    assert.equal(parseIP('fd00::1'), 6);
    assert.equal(parseIP('::'), 6);
    assert.equal(parseIP('1:2:3:4:5:6:7:8'), 6);
    assert.equal(parseIP('1:2:3:4:5:6:7:8:9'), undefined);
    assert.equal(parseIP('::ffff:10.0.0.1'), 6);
    assert.equal(parseIP('abc'), undefined);
    assert.deepEqual(isValidIP('nope'), ['must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)']);
    assert.deepEqual(isValidCIDR('10.244.1.0/24'), []);
    assert.deepEqual(isValidCIDR('10.244.1.0/33'), [
      'must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)',
    ]);
  });
});
