/**
 * Translation between the `Store` seam's view (string keys without the namespace, number revisions)
 * and etcd's wire view (byte keys under the store's prefix, revisions as decimal strings).
 *
 * Revisions are shifted by one: store revision = etcd revision - 1. A new etcd is at revision 1 and
 * its first write takes 2, while the seam says an empty store is at 0 and (the contract suite) each
 * write takes exactly the next revision — so the first write is 1, as on SQLite. The shift is a
 * bijection applied only here, at the wire, so etcd's MVCC still does all the work; the visible cost is
 * that an object's resourceVersion is its etcd mod_revision minus one when inspected with etcdctl.
 *
 * Ranges are computed on bytes, not on UTF-16 code units: etcd orders keys by their UTF-8 bytes, so
 * the end of a prefix range is "the prefix with its last non-0xff byte incremented" (clientv3's
 * `GetPrefixRangeEnd`). `prefixEnd` in continue-token.ts works on code units and would be wrong for
 * keys that end in characters outside ASCII.
 */
import type { IKeyValue } from 'etcd3';
import { BerthError, errorCodes } from '../../lib/errors.js';
import { validateKey } from './continue-token.js';
import type { KeyValue } from './store.js';

/** etcd's "range to the end of the keyspace" / "from the start" marker. */
const nulByte = Buffer.from([0]);

export interface ByteRange {
  readonly start: Buffer;
  readonly end: Buffer;
}

/** Maps keys into and out of one namespace (`prefix`) of an etcd keyspace. */
export class EtcdKeyCodec {
  readonly #prefix: Buffer;

  constructor(prefix: string) {
    if (prefix.includes('\0') || !isWellFormed(prefix)) {
      throw new BerthError(
        errorCodes.CONFIG_INVALID,
        `etcd key prefix ${JSON.stringify(prefix)} is not valid`,
      );
    }
    this.#prefix = Buffer.from(prefix, 'utf8');
  }

  /** The etcd key for a store key; rejects keys the store cannot hold faithfully. */
  encode(key: string): Buffer {
    validateKey(key);
    if (!isWellFormed(key)) {
      throw new BerthError(
        errorCodes.STORE_INVALID,
        `invalid key ${JSON.stringify(key.slice(0, 64))}: contains an unpaired surrogate`,
      );
    }
    return Buffer.concat([this.#prefix, Buffer.from(key, 'utf8')]);
  }

  /** The store key of an etcd key read from within this namespace. */
  decode(etcdKey: Buffer): string {
    return etcdKey.subarray(this.#prefix.length).toString('utf8');
  }

  /** The etcd byte range holding every store key that starts with `keyPrefix`. */
  range(keyPrefix: string): ByteRange {
    const start = Buffer.concat([this.#prefix, Buffer.from(keyPrefix, 'utf8')]);
    if (start.length === 0) return { start: nulByte, end: nulByte };
    return { start, end: bytePrefixEnd(start) ?? nulByte };
  }

  /** The smallest etcd key after the store key `key` (keys never contain NUL, so key + "\0"). */
  after(key: string): Buffer {
    return Buffer.concat([this.#prefix, Buffer.from(key, 'utf8'), nulByte]);
  }

  toKeyValue(kv: IKeyValue): KeyValue {
    return {
      key: this.decode(kv.key),
      value: kv.value,
      createRevision: storeRevision(kv.create_revision),
      modRevision: storeRevision(kv.mod_revision),
    };
  }
}

/** The store revision of an etcd revision (as etcd3 hands them over: decimal strings). */
export function storeRevision(etcdRevision: string | number): number {
  return Number(etcdRevision) - 1;
}

/** The etcd revision of a store revision. */
export function etcdRevision(storeRev: number): number {
  return storeRev + 1;
}

/** The first key after every key starting with `prefix`, or undefined if there is none (all 0xff). */
export function bytePrefixEnd(prefix: Buffer): Buffer | undefined {
  for (let i = prefix.length - 1; i >= 0; i--) {
    const byte = prefix[i];
    if (byte !== undefined && byte < 0xff) {
      const end = Buffer.from(prefix.subarray(0, i + 1));
      end[i] = byte + 1;
      return end;
    }
  }
  return undefined;
}

/** A view of `value` as a Buffer without copying (the gRPC encoder wants Buffers). */
export function asBuffer(value: Uint8Array): Buffer {
  return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

/** True when `s` has no unpaired surrogates, i.e. survives a UTF-8 round trip. */
function isWellFormed(s: string): boolean {
  // Fast path: most keys are ASCII paths.
  if (!/[\uD800-\uDFFF]/.test(s)) return true;
  return Buffer.from(s, 'utf8').toString('utf8') === s;
}
