/**
 * How etcd (and etcd3/gRPC) failures become `BerthError`s. etcd reports its MVCC errors as gRPC
 * OUT_OF_RANGE with a fixed message ("etcdserver: mvcc: required revision has been compacted" /
 * "... is a future revision"), so they are recognised by message, as clientv3 does with
 * `rpctypes.ErrCompacted`. Everything not recognised means the store could not do its job:
 * STORE_UNAVAILABLE, with the original error as `cause`.
 */
import { BerthError, errorCodes, errorMessage } from '../../lib/errors.js';

/** etcd refused a read or watch because the revision asked for has been compacted. */
export function isEtcdCompacted(err: unknown): boolean {
  return errorMessage(err).includes('required revision has been compacted');
}

/** etcd refused a read or compaction because the revision asked for has not been written yet. */
export function isEtcdFutureRevision(err: unknown): boolean {
  return errorMessage(err).includes('required revision is a future revision');
}

/**
 * The `BerthError` for a failed etcd call. `what` says what we were doing ("update /a/b"). Callers
 * handle compaction themselves first, because a `CompactedError` needs the compaction point.
 */
export function etcdError(err: unknown, what: string): BerthError {
  if (err instanceof BerthError) return err;
  const message = errorMessage(err);
  if (isEtcdFutureRevision(err)) {
    return new BerthError(errorCodes.STORE_FUTURE_REVISION, `${what}: ${message}`, { cause: err });
  }
  if (message.includes('request is too large') || message.includes('larger than max')) {
    return new BerthError(errorCodes.STORE_INVALID, `${what}: ${message}`, { cause: err });
  }
  return new BerthError(errorCodes.STORE_UNAVAILABLE, `${what}: etcd: ${message}`, { cause: err });
}
