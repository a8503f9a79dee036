/**
 * The etcd backend of the `Store` seam (store.ts), over the `etcd3` client, with etcd's own
 * revisions, transactions, compaction and watches — no second bookkeeping layer.
 *
 * - Writes are single etcd transactions: create = `if createRevision(k)==0 then put else get`,
 *   update / conditional delete = `if modRevision(k)==expected && version(k)>0 then put|delete else get`.
 *   The `version > 0` guard keeps `update(k, v, 0)` from creating a missing key.
 * - Every key lives under `prefix` inside etcd, so several clusters or tests share one etcd; callers
 *   never see it. Revisions, compaction and `currentRevision()` are etcd-wide, though: another tenant's
 *   writes advance them too.
 * - Store revisions are etcd revisions minus one (etcd-codec.ts says why): an empty etcd, at etcd
 *   revision 1, is the seam's empty store at 0, and its first write is revision 1.
 * - Compaction: etcd keeps revision C readable after `compact(C)` and only refuses reads below it, while
 *   the seam refuses C too (a delete at exactly C is gone from the history). The store therefore checks
 *   the compaction point itself before reads at a revision and before watches. etcd cannot be asked
 *   for its compaction point, so `compactedRevision()` remembers the highest point it compacted to or
 *   learnt of, and confirms it with one read at that revision; if that read is refused (another
 *   controller, or etcd's auto-compaction, went further) it binary-searches the first readable
 *   revision. No marker key is written (kube-apiserver's `compact_rev_key` is one), so compaction
 *   consumes no revision and adds no key.
 * - Connectivity: unary calls go through etcd3's default fault handling (3 retries, a per-endpoint
 *   circuit breaker) under a per-call deadline, then fail with STORE_UNAVAILABLE. A write whose answer
 *   is lost may have been applied: a retried create then reports `exists` with our own value, as with
 *   any etcd client. Watches do not resume silently; see etcd-watch.ts.
 */
import {
  Etcd3,
  type CallContext,
  type ICompare,
  type IOptions,
  type IRangeRequest,
  type IResponseOp,
} from 'etcd3';
import type { Clock } from '../../lib/clock.js';
import { realClock } from '../../lib/clock.js';
import { BerthError, CompactedError, errorCodes } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import { silentLogger } from '../../lib/logger.js';
import { decodeContinue, encodeContinue } from './continue-token.js';
import { EtcdKeyCodec, asBuffer, etcdRevision, storeRevision } from './etcd-codec.js';
import { etcdError, isEtcdCompacted } from './etcd-errors.js';
import { EtcdWatch } from './etcd-watch.js';
import type {
  CreateResult,
  DeleteResult,
  KeyValue,
  ListOptions,
  ListResult,
  Store,
  UpdateResult,
  Watch,
  WatchOptions,
} from './store.js';

/** Client TLS for `https://` endpoints (PEM bytes). */
export interface EtcdTlsOptions {
  readonly ca: Uint8Array;
  readonly cert?: Uint8Array;
  readonly key?: Uint8Array;
}

export interface EtcdStoreOptions {
  /** Client URLs, e.g. `["http://127.0.0.1:2379"]`. */
  readonly endpoints: readonly string[];
  /** Namespace for every key inside etcd (e.g. "/berth/"). Default "" (keys stored as given). */
  readonly prefix?: string;
  /** Unread events a watcher may accumulate before it is dropped. Default 1000. */
  readonly watchBufferSize?: number;
  /**
   * Deadline for each attempt of a unary etcd call. Default 10 s. etcd3 retries recoverable failures
   * (up to 3 times) before the call fails, so a call can take up to four times this.
   */
  readonly requestTimeoutMs?: number;
  /** Deadline for a physical compaction, which scans the whole database. Default 5 min. */
  readonly compactTimeoutMs?: number;
  /**
   * Values larger than this are refused with STORE_INVALID before reaching etcd. Default 1.5 MiB,
   * etcd's default `--max-request-bytes`. Raise both together.
   */
  readonly maxValueBytes?: number;
  readonly tls?: EtcdTlsOptions;
  readonly auth?: { readonly username: string; readonly password: string };
  readonly logger?: Logger;
  /** Used for call deadlines only. */
  readonly clock?: Clock;
}

export const defaultEtcdWatchBufferSize = 1000;
const defaultRequestTimeoutMs = 10_000;
const defaultCompactTimeoutMs = 5 * 60_000;
const defaultMaxValueBytes = 1536 * 1024;

/**
 * Connects to etcd and returns a `Store` over it. Resolves once one read has succeeded; rejects with
 * STORE_UNAVAILABLE when etcd cannot be reached, or CONFIG_INVALID for unusable options.
 */
export async function openEtcdStore(opts: EtcdStoreOptions): Promise<EtcdStore> {
  const store = new EtcdStore(opts);
  try {
    await store.currentRevision();
  } catch (err) {
    await store.close();
    throw new BerthError(
      errorCodes.STORE_UNAVAILABLE,
      `open etcd store at ${opts.endpoints.join(',')}: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
  return store;
}

/** A `Store` on etcd. Create it with {@link openEtcdStore}. Safe for concurrent use. */
export class EtcdStore implements Store {
  readonly backend = 'etcd';
  /** The namespace inside etcd. */
  readonly prefix: string;
  readonly #client: Etcd3;
  readonly #codec: EtcdKeyCodec;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #watchBufferSize: number;
  readonly #compactTimeoutMs: number;
  readonly #maxValueBytes: number;
  readonly #watches = new Set<EtcdWatch>();
  /** Highest compaction point (a store revision) known to have happened; 0: none known. */
  #compacted = 0;
  #closed = false;

  /** Prefer {@link openEtcdStore}, which also checks that etcd answers. */
  constructor(opts: EtcdStoreOptions) {
    if (opts.endpoints.length === 0) {
      throw new BerthError(errorCodes.CONFIG_INVALID, 'etcd store: no endpoints given');
    }
    // etcd3 picks TLS from `credentials` alone and strips the scheme; catch the mismatch here.
    if (opts.tls === undefined && opts.endpoints.some((e) => e.startsWith('https://'))) {
      throw new BerthError(errorCodes.CONFIG_INVALID, 'etcd store: https:// endpoints need the tls option');
    }
    this.prefix = opts.prefix ?? '';
    this.#codec = new EtcdKeyCodec(this.prefix);
    this.#clock = opts.clock ?? realClock;
    this.#logger = (opts.logger ?? silentLogger()).child({ component: 'etcd-store' });
    this.#watchBufferSize = positive(opts.watchBufferSize, defaultEtcdWatchBufferSize, 'watchBufferSize');
    this.#compactTimeoutMs = positive(opts.compactTimeoutMs, defaultCompactTimeoutMs, 'compactTimeoutMs');
    this.#maxValueBytes = positive(opts.maxValueBytes, defaultMaxValueBytes, 'maxValueBytes');
    const requestTimeoutMs = positive(opts.requestTimeoutMs, defaultRequestTimeoutMs, 'requestTimeoutMs');
    const clock = this.#clock;
    const options: IOptions = {
      hosts: [...opts.endpoints],
      // Streams (watches) live until cancelled; everything else gets a deadline.
      defaultCallOptions: (ctx: CallContext) =>
        ctx.isStream ? {} : { deadline: clock.now() + requestTimeoutMs },
      grpcOptions: {
        // Detect a silently dead etcd under an open watch. etcd refuses pings more often than every 5 s
        // and pings without an open call, so ping every 30 s and only during calls.
        'grpc.keepalive_time_ms': 30_000,
        'grpc.keepalive_timeout_ms': 10_000,
      },
    };
    if (opts.tls !== undefined) {
      options.credentials = {
        rootCertificate: asBuffer(opts.tls.ca),
        ...(opts.tls.key !== undefined ? { privateKey: asBuffer(opts.tls.key) } : {}),
        ...(opts.tls.cert !== undefined ? { certChain: asBuffer(opts.tls.cert) } : {}),
      };
    }
    if (opts.auth !== undefined)
      options.auth = { username: opts.auth.username, password: opts.auth.password };
    this.#client = new Etcd3(options);
  }

  async create(key: string, value: Uint8Array): Promise<CreateResult> {
    const etcdKey = this.#codec.encode(key);
    const bytes = this.#checkValue(value);
    const res = await this.#call(`create ${key}`, () =>
      this.#client.kv.txn({
        compare: [{ key: etcdKey, target: 'Create', result: 'Equal', create_revision: 0 }],
        success: [{ request_put: { key: etcdKey, value: bytes } }],
        failure: [{ request_range: { key: etcdKey } }],
      }),
    );
    if (!res.succeeded) {
      const current = this.#rangeFirst(res.responses[0]);
      if (current === undefined) throw invariant(`create ${key}: comparison failed but the key is absent`);
      return { ok: false, reason: 'exists', current };
    }
    const revision = storeRevision(res.header.revision);
    return { ok: true, kv: { key, value: copy(value), createRevision: revision, modRevision: revision } };
  }

  async update(key: string, value: Uint8Array, expectedModRevision: number): Promise<UpdateResult> {
    const etcdKey = this.#codec.encode(key);
    const bytes = this.#checkValue(value);
    const res = await this.#call(`update ${key}`, () =>
      this.#client.kv.txn({
        compare: casCompare(etcdKey, expectedModRevision),
        success: [{ request_put: { key: etcdKey, value: bytes, prev_kv: true } }],
        failure: [{ request_range: { key: etcdKey } }],
      }),
    );
    if (!res.succeeded) return this.#casFailure(res.responses[0]);
    const prev = res.responses[0]?.response_put.prev_kv;
    if (!prev) throw invariant(`update ${key}: etcd returned no previous value`);
    const prevKv = this.#codec.toKeyValue(prev);
    const kv: KeyValue = {
      key,
      value: copy(value),
      createRevision: prevKv.createRevision,
      modRevision: storeRevision(res.header.revision),
    };
    return { ok: true, kv, prevKv };
  }

  async delete(key: string, expectedModRevision?: number): Promise<DeleteResult> {
    const etcdKey = this.#codec.encode(key);
    if (expectedModRevision === undefined) {
      const res = await this.#call(`delete ${key}`, () =>
        this.#client.kv.deleteRange({ key: etcdKey, prev_kv: true }),
      );
      const prev = res.prev_kvs[0];
      if (prev === undefined) return { ok: false, reason: 'not-found' };
      return { ok: true, revision: storeRevision(res.header.revision), prevKv: this.#codec.toKeyValue(prev) };
    }
    const res = await this.#call(`delete ${key}`, () =>
      this.#client.kv.txn({
        compare: casCompare(etcdKey, expectedModRevision),
        success: [{ request_delete_range: { key: etcdKey, prev_kv: true } }],
        failure: [{ request_range: { key: etcdKey } }],
      }),
    );
    if (!res.succeeded) return this.#casFailure(res.responses[0]);
    const prev = res.responses[0]?.response_delete_range.prev_kvs[0];
    if (prev === undefined) throw invariant(`delete ${key}: etcd returned no previous value`);
    return { ok: true, revision: storeRevision(res.header.revision), prevKv: this.#codec.toKeyValue(prev) };
  }

  async get(key: string): Promise<KeyValue | undefined> {
    const etcdKey = this.#codec.encode(key);
    const res = await this.#call(`get ${key}`, () => this.#client.kv.range({ key: etcdKey }));
    const first = res.kvs[0];
    return first === undefined ? undefined : this.#codec.toKeyValue(first);
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    const token = opts.continue === undefined ? undefined : decodeContinue(opts.continue);
    // A continued list stays at its first page's revision, whatever else is asked.
    const atRevision = token?.revision ?? opts.revision ?? 0;
    const limit = opts.limit ?? 0;
    if (!Number.isSafeInteger(atRevision) || atRevision < 0) {
      throw new BerthError(errorCodes.STORE_INVALID, `list ${prefix}: invalid revision ${atRevision}`);
    }
    if (!Number.isSafeInteger(limit) || limit < 0) {
      throw new BerthError(errorCodes.STORE_INVALID, `list ${prefix}: invalid limit ${limit}`);
    }
    if (atRevision > 0 && atRevision <= this.#compacted) {
      throw new CompactedError(atRevision, this.#compacted);
    }
    const range = this.#codec.range(prefix);
    let start = range.start;
    if (token !== undefined) {
      const after = this.#codec.after(token.afterKey);
      if (Buffer.compare(after, start) > 0) start = after;
    }
    const req: IRangeRequest = {
      key: start,
      range_end: range.end,
      limit,
      revision: atRevision > 0 ? etcdRevision(atRevision) : 0,
    };
    const res = await this.#readAt(`list ${prefix}`, atRevision, () => this.#client.kv.range(req));
    // A read at a past revision answers with the current header revision; the list is at atRevision.
    const revision = atRevision > 0 ? atRevision : storeRevision(res.header.revision);
    const items = res.kvs.map((kv) => this.#codec.toKeyValue(kv));
    const last = items[items.length - 1];
    if (!res.more || last === undefined) return { items, revision };
    return {
      items,
      revision,
      continue: encodeContinue({ revision, afterKey: last.key }),
      // etcd's count is of the whole [start, end) range at that revision, not of this page.
      remainingItemCount: Number(res.count) - items.length,
    };
  }

  async count(prefix: string): Promise<number> {
    const { start, end } = this.#codec.range(prefix);
    const res = await this.#call(`count ${prefix}`, () =>
      this.#client.kv.range({ key: start, range_end: end, count_only: true }),
    );
    return Number(res.count);
  }

  watch(prefix: string, fromRevision: number, opts: WatchOptions = {}): Watch {
    return new EtcdWatch({
      codec: this.#codec,
      prefix,
      fromRevision,
      bufferSize: this.#watchBufferSize,
      logger: this.#logger,
      registry: this.#watches,
      signal: opts.signal,
      checkStart: async () => {
        if (!Number.isSafeInteger(fromRevision) || fromRevision < 0) {
          throw new BerthError(errorCodes.STORE_INVALID, `watch ${prefix}: invalid revision ${fromRevision}`);
        }
        // etcd itself would accept a start exactly at the compaction point (see the header).
        const compacted = await this.compactedRevision();
        if (compacted > 0 && fromRevision <= compacted) throw new CompactedError(fromRevision, compacted);
      },
      openStream: () => {
        this.#assertOpen('watch');
        return this.#client.watchClient.watch();
      },
      learnCompacted: (etcdCompactRevision) => {
        this.#compacted = Math.max(this.#compacted, storeRevision(etcdCompactRevision));
      },
      knownCompacted: () => this.#compacted,
    });
  }

  async compact(revision: number): Promise<void> {
    if (!Number.isSafeInteger(revision) || revision < 0) {
      throw new BerthError(errorCodes.STORE_INVALID, `compact: invalid revision ${revision}`);
    }
    if (revision <= this.#compacted) return;
    try {
      this.#assertOpen('compact');
      // etcd compaction at E refuses reads below E: store revisions below `revision`.
      await this.#client.kv.compact(
        { revision: etcdRevision(revision), physical: true },
        { deadline: this.#clock.now() + this.#compactTimeoutMs },
      );
    } catch (err) {
      // etcd says "compacted" when the point is already at or past `revision`: nothing left to do.
      if (!isEtcdCompacted(err)) throw etcdError(err, `compact to revision ${revision}`);
    }
    this.#compacted = Math.max(this.#compacted, revision);
    this.#logger.debug({ revision }, 'etcd compacted');
  }

  async currentRevision(): Promise<number> {
    // One-key lookup: the cheapest request that returns a header.
    const res = await this.#call('current revision', () =>
      this.#client.kv.range({ key: this.#codec.range('').start, keys_only: true }),
    );
    return storeRevision(res.header.revision);
  }

  async compactedRevision(): Promise<number> {
    // etcd compacted at E means etcd revision E is the oldest readable, i.e. store revision E - 1 is
    // our compaction point; never compacted, etcd revision 1 (store 0) is readable.
    const known = this.#compacted;
    if (await this.#readableAt(etcdRevision(known))) return known;
    // Compacted past what we knew: find the first readable etcd revision; the current one always is.
    let lo = etcdRevision(known) + 1;
    let hi = Number(
      (await this.#call('compacted revision', () => this.#client.kv.range(this.#probe(0)))).header.revision,
    );
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      if (await this.#readableAt(mid)) hi = mid;
      else lo = mid + 1;
    }
    this.#compacted = Math.max(this.#compacted, storeRevision(lo));
    return this.#compacted;
  }

  /** Ends every watch and closes the gRPC channels, so nothing keeps the process alive. Idempotent. */
  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      for (const watch of [...this.#watches]) watch.close();
      this.#client.close();
    }
    return Promise.resolve();
  }

  /** Runs one etcd call, turning its failure into a `BerthError`. */
  async #call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    this.#assertOpen(what);
    try {
      return await fn();
    } catch (err) {
      throw etcdError(err, what);
    }
  }

  /** Like #call for reads at `revision`, turning etcd's "compacted" into a `CompactedError`. */
  async #readAt<T>(what: string, revision: number, fn: () => Promise<T>): Promise<T> {
    this.#assertOpen(what);
    try {
      return await fn();
    } catch (err) {
      if (!isEtcdCompacted(err)) throw etcdError(err, what);
      const compacted = await this.compactedRevision();
      throw new CompactedError(revision, Math.max(compacted, revision), { cause: err });
    }
  }

  /** Whether etcd still serves reads at etcd revision `etcdRev`. */
  async #readableAt(etcdRev: number): Promise<boolean> {
    this.#assertOpen('compacted revision');
    try {
      await this.#client.kv.range(this.#probe(etcdRev));
      return true;
    } catch (err) {
      if (isEtcdCompacted(err)) return false;
      throw etcdError(err, `read at etcd revision ${etcdRev}`);
    }
  }

  /** The cheapest read at etcd revision `etcdRev` (0: the current one): a one-key count. */
  #probe(etcdRev: number): IRangeRequest {
    return { key: this.#codec.range('').start, revision: etcdRev, count_only: true };
  }

  /** A lost compare on modRevision: the key is gone, or it moved on (carrying what is there now). */
  #casFailure(
    op: IResponseOp | undefined,
  ): { ok: false; reason: 'not-found' } | { ok: false; reason: 'conflict'; current: KeyValue } {
    const current = this.#rangeFirst(op);
    return current === undefined
      ? { ok: false, reason: 'not-found' }
      : { ok: false, reason: 'conflict', current };
  }

  #rangeFirst(op: IResponseOp | undefined): KeyValue | undefined {
    const first = op?.response_range.kvs[0];
    return first === undefined ? undefined : this.#codec.toKeyValue(first);
  }

  #checkValue(value: Uint8Array): Buffer {
    if (value.byteLength > this.#maxValueBytes) {
      throw new BerthError(
        errorCodes.STORE_INVALID,
        `value of ${value.byteLength} bytes exceeds the etcd store's limit of ${this.#maxValueBytes}`,
      );
    }
    return asBuffer(value);
  }

  #assertOpen(what: string): void {
    if (this.#closed) throw new BerthError(errorCodes.STORE_UNAVAILABLE, `${what}: etcd store is closed`);
  }
}

/** `modRevision(key) == expected` and the key exists (so an expected 0 cannot match a missing key). */
function casCompare(etcdKey: Buffer, expectedModRevision: number): ICompare[] {
  if (!Number.isSafeInteger(expectedModRevision) || expectedModRevision < 0) {
    throw new BerthError(errorCodes.STORE_INVALID, `invalid expected revision ${expectedModRevision}`);
  }
  return [
    { key: etcdKey, target: 'Mod', result: 'Equal', mod_revision: etcdRevision(expectedModRevision) },
    { key: etcdKey, target: 'Version', result: 'Greater', version: 0 },
  ];
}

function copy(value: Uint8Array): Uint8Array {
  return Buffer.from(value);
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new BerthError(
      errorCodes.CONFIG_INVALID,
      `etcd store: ${name} must be a positive integer, got ${value}`,
    );
  }
  return value;
}

function invariant(message: string): BerthError {
  return new BerthError(errorCodes.STORE_UNAVAILABLE, `etcd answered inconsistently: ${message}`);
}
