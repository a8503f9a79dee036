/**
 * Server-side field validation (KEP-2885, `?fieldValidation=` on create, update and patch): what the
 * server does with fields the schema does not declare and keys repeated in the body.
 *
 *   Strict  → the request fails: 400 `strict decoding error: unknown field "spec.foo", …`
 *   Warn    → it succeeds with one `Warning` header per problem; unknown fields are dropped (default)
 *   Ignore  → it succeeds silently; unknown fields are dropped
 *
 * kubectl 1.32 sends Strict by default (`--validate=strict`), Warn for `--validate=warn` and Ignore
 * for `--validate=false`. Pure: the API server reads the parameter and sends what this returns.
 */

import { notSupported, type StatusCause } from '../status.js';
import {
  dropUnknownFields,
  duplicateFieldError,
  strictDecodingMessage,
  unknownFieldError,
  unknownFields,
} from './unknown-fields.js';

/** `metav1.FieldValidation*`. */
export type FieldValidation = 'Strict' | 'Warn' | 'Ignore';

const directives: readonly string[] = ['Ignore', 'Strict', 'Warn'];

/**
 * The directive of a `fieldValidation` query value: absent or empty means Warn, as in Kubernetes
 * 1.27+. Anything else is the cause kube-apiserver reports inside its 422 on
 * `CreateOptions`/`UpdateOptions`/`PatchOptions`.
 */
export function parseFieldValidation(
  value: string | null | undefined,
): { ok: true; directive: FieldValidation } | { ok: false; cause: StatusCause } {
  if (value === null || value === undefined || value === '') return { ok: true, directive: 'Warn' };
  if (directives.includes(value)) return { ok: true, directive: value as FieldValidation };
  // sets.NewString(...).List(): sorted, with the empty string first.
  return { ok: false, cause: notSupported('fieldValidation', value, ['', ...directives]) };
}

/** What to do with a body after validation: the value to use and the warnings to send. */
export type FieldValidationResult<T> =
  | { readonly ok: true; readonly value: T; readonly warnings: readonly string[] }
  | { readonly ok: false; readonly message: string };

export interface FieldValidationInput<T> {
  readonly directive: FieldValidation;
  /** apiVersion and kind whose schema the value must follow (kinds without one pass unchecked). */
  readonly apiVersion: string;
  readonly kind: string;
  readonly value: T;
  /** Paths of keys the body repeated (duplicate-fields.ts); ignored under Ignore. */
  readonly duplicates?: readonly string[];
  /**
   * For a patch, the stored object it was applied to: unknown fields that object already had (written
   * before validation existed) are dropped but not reported, as the user did not just send them.
   */
  readonly current?: unknown;
}

/**
 * Validates `value` under the directive. Unknown fields are always removed from the returned value
 * (Kubernetes decodes into typed structs, which have no place for them); under Strict any unknown or
 * duplicate field fails the request instead, with kube-apiserver's message.
 */
export function validateFields<T>(input: FieldValidationInput<T>): FieldValidationResult<T> {
  const { value, removed } = dropUnknownFields(input.apiVersion, input.kind, input.value);
  if (input.directive === 'Ignore') return { ok: true, value, warnings: [] };
  const before =
    removed.length === 0 || input.current === undefined
      ? undefined
      : new Set(unknownFields(input.apiVersion, input.kind, input.current));
  const problems = [
    ...(input.duplicates ?? []).map(duplicateFieldError),
    ...removed.filter((p) => before?.has(p) !== true).map(unknownFieldError),
  ];
  if (problems.length === 0) return { ok: true, value, warnings: [] };
  if (input.directive === 'Strict') return { ok: false, message: strictDecodingMessage(problems) };
  return { ok: true, value, warnings: problems };
}

/**
 * kube-apiserver's wording when a create or update body fails to decode (handlers' transformDecodeError):
 * `Deployment in version "v1" cannot be handled as a Deployment: <detail>`. Patches report `detail` bare.
 */
export function cannotBeHandledAs(apiVersion: string, kind: string, detail: string): string {
  const version = apiVersion.includes('/') ? apiVersion.slice(apiVersion.indexOf('/') + 1) : apiVersion;
  return `${kind} in version "${version}" cannot be handled as a ${kind}: ${detail}`;
}
