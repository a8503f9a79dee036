/**
 * Plugin verdicts (kube-scheduler's framework.Status). A node that does not fit is an expected answer,
 * never an exception: Filter returns `undefined` for "fits" (kube's nil status) or a `Status` saying why
 * not. Statuses are immutable, so a plugin can return one shared instance for a fixed reason and the
 * filter loop allocates nothing per rejected node.
 */

/**
 * - `Unschedulable`: this node does not fit now; a cluster change may help (preemption could help too).
 * - `UnschedulableAndUnresolvable`: this node cannot fit whatever happens to other pods.
 * - `Error`: the plugin failed; the attempt ends with `result=error` and the pod backs off.
 */
export type StatusCode = 'Unschedulable' | 'UnschedulableAndUnresolvable' | 'Error';

/** An immutable verdict with one or more reasons. */
export class Status {
  readonly code: StatusCode;
  /** Human-readable reasons, each counted separately in the "0/N nodes are available" message. */
  readonly reasons: readonly string[];
  /** The underlying failure for `Error`. */
  readonly cause: unknown;

  constructor(code: StatusCode, reasons: readonly string[], cause?: unknown) {
    this.code = code;
    this.reasons = Object.freeze([...reasons]);
    this.cause = cause;
    Object.freeze(this);
  }

  /** The reasons joined, for logs and errors. */
  message(): string {
    return this.reasons.join(', ');
  }
}

/** A node that does not fit now. */
export function unschedulable(...reasons: string[]): Status {
  return new Status('Unschedulable', reasons);
}

/** A node that cannot fit whatever other pods do. */
export function unresolvable(...reasons: string[]): Status {
  return new Status('UnschedulableAndUnresolvable', reasons);
}

/** A plugin failure. */
export function errorStatus(message: string, cause?: unknown): Status {
  return new Status('Error', [message], cause);
}
