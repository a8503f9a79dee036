import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BerthError, errorCodes } from '../../lib/errors.js';
import { EtcdKeyCodec, bytePrefixEnd, etcdRevision, storeRevision } from './etcd-codec.js';

const hex = (b: Buffer | undefined): string | undefined => b?.toString('hex');

void describe('bytePrefixEnd', () => {
  void it('increments the last byte that is not 0xff and drops what follows', () => {
    assert.equal(hex(bytePrefixEnd(Buffer.from('/a/'))), Buffer.from('/a0').toString('hex'));
    assert.equal(hex(bytePrefixEnd(Buffer.from([0x61, 0xff, 0xff]))), '62');
    assert.equal(bytePrefixEnd(Buffer.from([0xff, 0xff])), undefined);
    assert.equal(bytePrefixEnd(Buffer.alloc(0)), undefined);
  });

  void it('works on UTF-8 bytes, where code-unit arithmetic would not', () => {
    // "é" is C3 A9: the range end is C3 AA ("ê"), and every key starting with "é" sorts below it.
    const end = bytePrefixEnd(Buffer.from('/é'));
    assert.equal(hex(end), Buffer.from('/ê').toString('hex'));
    // U+FFFF is EF BF BF in UTF-8; the end is EF BF C0, not a string increment past U+FFFF.
    assert.equal(hex(bytePrefixEnd(Buffer.from('\uffff'))), 'efbfc0');
    assert.ok(end !== undefined && Buffer.compare(Buffer.from('/é\u{10ffff}'), end) < 0);
  });
});

void describe('EtcdKeyCodec', () => {
  void it('adds the prefix on the way in and strips it on the way out', () => {
    const codec = new EtcdKeyCodec('/berth/');
    const key = codec.encode('/pods/default/ä');
    assert.equal(key.toString('utf8'), '/berth//pods/default/ä');
    assert.equal(codec.decode(key), '/pods/default/ä');
  });

  void it('ranges over the prefix, or over everything when both prefixes are empty', () => {
    const codec = new EtcdKeyCodec('/t/');
    const r = codec.range('/a');
    assert.equal(r.start.toString(), '/t//a');
    assert.equal(r.end.toString(), '/t//b');
    const whole = new EtcdKeyCodec('').range('');
    assert.equal(hex(whole.start), '00');
    assert.equal(hex(whole.end), '00');
    assert.equal(new EtcdKeyCodec('').range('').start.length, 1);
  });

  void it('resumes a page right after a key', () => {
    const codec = new EtcdKeyCodec('p');
    assert.equal(hex(codec.after('/k')), Buffer.from('p/k\0').toString('hex'));
  });

  void it('rejects keys that would not survive the trip', () => {
    const codec = new EtcdKeyCodec('');
    for (const bad of ['', 'a\0b', '/lone-\ud800', '/lone-\udc00-x']) {
      assert.throws(
        () => codec.encode(bad),
        (err: unknown) => err instanceof BerthError && err.code === errorCodes.STORE_INVALID,
        JSON.stringify(bad),
      );
    }
    assert.equal(codec.decode(codec.encode('/ok-\u{1F600}')), '/ok-\u{1F600}');
  });

  void it('rejects unusable prefixes', () => {
    assert.throws(
      () => new EtcdKeyCodec('a\0'),
      (err: unknown) => isCode(err, errorCodes.CONFIG_INVALID),
    );
    assert.throws(
      () => new EtcdKeyCodec('\udfff'),
      (err: unknown) => isCode(err, errorCodes.CONFIG_INVALID),
    );
  });

  void it('shifts revisions by one in kvs', () => {
    const codec = new EtcdKeyCodec('/x/');
    const kv = codec.toKeyValue({
      key: Buffer.from('/x/k'),
      value: Buffer.from('v'),
      create_revision: '2',
      mod_revision: '5',
      version: '2',
      lease: '0',
    });
    assert.deepEqual(
      { ...kv, value: Buffer.from(kv.value).toString() },
      {
        key: 'k',
        value: 'v',
        createRevision: 1,
        modRevision: 4,
      },
    );
  });
});

void describe('revision shift', () => {
  void it('maps etcd revision 1 (empty) to store revision 0 and back', () => {
    assert.equal(storeRevision('1'), 0);
    assert.equal(storeRevision(10), 9);
    assert.equal(etcdRevision(0), 1);
    for (const r of [0, 1, 2, 1e12]) assert.equal(storeRevision(etcdRevision(r)), r);
  });
});

function isCode(err: unknown, code: string): boolean {
  return err instanceof BerthError && err.code === code;
}
