/**
 * The result shape shared by the patch engines: a value, or an expected user error that the API
 * server turns into a Kubernetes Status (400 BadRequest, 409 Conflict, 413, 415 UnsupportedMediaType,
 * 422 Invalid). Nothing in this folder throws for a bad patch; only programming errors throw.
 */

import type { StatusCause, StatusReason } from '../status.js';

/** An expected failure: `reason` picks the Status reason (and so the HTTP code) the server sends. */
export interface PatchFailure {
  readonly ok: false;
  readonly reason: StatusReason;
  readonly message: string;
  /** `details.causes` of the Status, e.g. one `FieldManagerConflict` per conflicting field. */
  readonly causes?: readonly StatusCause[];
}

/** Success with a value, or a {@link PatchFailure}. */
export type PatchResult<T> = { readonly ok: true; readonly value: T } | PatchFailure;

/** Wraps a successful value. */
export function patchOk<T>(value: T): { readonly ok: true; readonly value: T } {
  return { ok: true, value };
}

/** Builds a failure; `causes` is left out when not given (exactOptionalPropertyTypes). */
export function patchFailure(
  reason: StatusReason,
  message: string,
  causes?: readonly StatusCause[],
): PatchFailure {
  return causes === undefined ? { ok: false, reason, message } : { ok: false, reason, message, causes };
}

/**
 * Internal control flow for the recursive engines: deep inside a merge it is simpler to abort than to
 * thread results through every level. Public functions run their work through {@link runPatch}, so
 * this never escapes the folder.
 */
class PatchAbort extends Error {
  readonly failure: PatchFailure;

  constructor(failure: PatchFailure) {
    super(failure.message);
    this.name = 'PatchAbort';
    this.failure = failure;
  }
}

/** Aborts the surrounding {@link runPatch} with an expected failure. */
export function abortPatch(reason: StatusReason, message: string, causes?: readonly StatusCause[]): never {
  throw new PatchAbort(patchFailure(reason, message, causes));
}

/** Runs `work`, turning an {@link abortPatch} inside it into a failure value. Other errors propagate. */
export function runPatch<T>(work: () => T): PatchResult<T> {
  try {
    return patchOk(work());
  } catch (err) {
    if (err instanceof PatchAbort) return err.failure;
    throw err;
  }
}
