/**
 * The opaque `continue` token of a paginated list: the revision the first page was read at and the key
 * to resume after. Both backends share it, so a token is meaningful only to the store that issued it
 * (the API server hands it to clients verbatim, as Kubernetes does).
 */
import { BerthError, errorCodes } from '../../lib/errors.js';

export interface ContinuePoint {
  readonly revision: number;
  /** List resumes at keys strictly greater than this one. */
  readonly afterKey: string;
}

export function encodeContinue(point: ContinuePoint): string {
  return Buffer.from(JSON.stringify({ v: 1, rev: point.revision, after: point.afterKey })).toString(
    'base64url',
  );
}

export function decodeContinue(token: string): ContinuePoint {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch (err) {
    throw new BerthError(errorCodes.STORE_INVALID, 'continue token is not valid: not encoded JSON', {
      cause: err,
    });
  }
  if (
    typeof parsed !== 'object' ||
    parsed === null ||
    !('rev' in parsed) ||
    !('after' in parsed) ||
    typeof parsed.rev !== 'number' ||
    !Number.isSafeInteger(parsed.rev) ||
    parsed.rev < 1 ||
    typeof parsed.after !== 'string'
  ) {
    throw new BerthError(errorCodes.STORE_INVALID, 'continue token is not valid: missing revision or key');
  }
  return { revision: parsed.rev, afterKey: parsed.after };
}

/** The smallest key greater than every key with `prefix` (etcd's range end), or undefined for "no end". */
export function prefixEnd(prefix: string): string | undefined {
  for (let i = prefix.length - 1; i >= 0; i--) {
    const code = prefix.charCodeAt(i);
    if (code < 0xffff) return prefix.slice(0, i) + String.fromCharCode(code + 1);
  }
  return undefined;
}

/** Rejects keys the backends cannot store faithfully. */
export function validateKey(key: string): void {
  if (key.length === 0 || key.length > 4096 || key.includes('\0')) {
    throw new BerthError(
      errorCodes.STORE_INVALID,
      `invalid key ${JSON.stringify(key.slice(0, 64))}: must be 1-4096 characters without NUL`,
    );
  }
}
