/**
 * Kubernetes `Status` objects: the error (and occasional success) bodies the API server sends, built
 * with the exact messages of k8s.io/apimachinery `pkg/api/errors` so kubectl prints what users expect
 * (`Error from server (NotFound): pods "x" not found`, the 422 cause list, …). Also the field-error
 * helpers of `pkg/util/validation/field` that validation uses to produce `details.causes`, and
 * `ApiError`, which lets code deep in a request handler throw a Status for the server to send verbatim.
 *
 * Everything here is pure: builders return plain JSON-ready objects.
 */

import { BerthError, errorCodes } from '../lib/errors.js';

/** `metav1.StatusReason`; '' only on a Success status. */
export type StatusReason =
  | 'NotFound'
  | 'AlreadyExists'
  | 'Conflict'
  | 'Invalid'
  | 'BadRequest'
  | 'Gone'
  | 'Expired'
  | 'Unauthorized'
  | 'Forbidden'
  | 'MethodNotAllowed'
  | 'NotAcceptable'
  | 'UnsupportedMediaType'
  | 'RequestEntityTooLarge'
  | 'TooManyRequests'
  | 'InternalError'
  | 'ServiceUnavailable'
  | 'Timeout'
  | '';

/** The `field.ErrorType` values validation produces, serialised as a cause's `reason`. */
export type CauseType =
  | 'FieldValueInvalid'
  | 'FieldValueRequired'
  | 'FieldValueNotSupported'
  | 'FieldValueDuplicate'
  | 'FieldValueForbidden'
  | 'FieldValueTooLong'
  | 'FieldValueTooMany'
  | 'FieldValueNotFound';

/** `metav1.StatusCause`: one reason a request failed; validation fills all three. */
export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

/** `metav1.Status` as it goes on the wire (camelCase JSON). */
export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  // Always the empty object on the wire (ListMeta with nothing set); `{}` is the literal shape.
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  metadata: {};
  status: 'Failure' | 'Success';
  message: string;
  reason: StatusReason;
  details?: {
    name?: string;
    group?: string;
    kind?: string;
    uid?: string;
    causes?: StatusCause[];
    retryAfterSeconds?: number;
  };
  code: number;
}

/** A resource and its API group ('' for core), e.g. `{group: 'apps', resource: 'deployments'}`. */
export interface GroupResource {
  group: string;
  resource: string;
}

/** A kind and its API group ('' for core), e.g. `{group: 'apps', kind: 'Deployment'}`. */
export interface GroupKind {
  group: string;
  kind: string;
}

/** `schema.GroupResource.String()`: `pods`, `deployments.apps`. */
export function groupResourceString(gr: GroupResource): string {
  return gr.group === '' ? gr.resource : `${gr.resource}.${gr.group}`;
}

/** `schema.GroupKind.String()`: `Pod`, `Deployment.apps`. */
export function groupKindString(gk: GroupKind): string {
  return gk.group === '' ? gk.kind : `${gk.kind}.${gk.group}`;
}

type Details = NonNullable<Status['details']>;

/** A failure reason: every {@link StatusReason} but the empty one of a Success. */
export type FailureReason = Exclude<StatusReason, ''>;

/**
 * The HTTP code Kubernetes sends with each reason (`pkg/api/errors`: NewNotFound → 404, NewConflict →
 * 409, …). The one table that maps reasons to codes; builders below and {@link failureStatus} use it.
 */
export const reasonCodes: Readonly<Record<FailureReason, number>> = {
  BadRequest: 400,
  Unauthorized: 401,
  Forbidden: 403,
  NotFound: 404,
  MethodNotAllowed: 405,
  NotAcceptable: 406,
  AlreadyExists: 409,
  Conflict: 409,
  Gone: 410,
  Expired: 410,
  RequestEntityTooLarge: 413,
  UnsupportedMediaType: 415,
  Invalid: 422,
  TooManyRequests: 429,
  InternalError: 500,
  ServiceUnavailable: 503,
  Timeout: 504,
};

/**
 * A Failure Status for `reason` with `message` verbatim and the reason's HTTP code from
 * {@link reasonCodes}; `causes` (when given and non-empty) go into `details.causes`. For code that
 * receives a reason as a value (the patch engines' `PatchFailure`); prefer the named builders
 * (notFound, conflict, invalid, …) where the message has a Kubernetes form.
 */
export function failureStatus(
  reason: FailureReason,
  message: string,
  causes?: readonly StatusCause[],
): Status {
  return failure(
    reason,
    message,
    causes === undefined || causes.length === 0 ? undefined : { causes: causes.map((c) => ({ ...c })) },
  );
}

function failure(reason: FailureReason, message: string, details?: Details): Status {
  const status: Status = {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    code: reasonCodes[reason],
  };
  if (details !== undefined) status.details = details;
  return status;
}

// Kubernetes tags every details field omitempty; leaving '' out keeps our JSON identical to theirs.
function resourceDetails(group: string, kind: string, name?: string): Details {
  const details: Details = {};
  if (name !== undefined && name !== '') details.name = name;
  if (group !== '') details.group = group;
  if (kind !== '') details.kind = kind;
  return details;
}

/** 404: `pods "x" not found` / `deployments.apps "x" not found`. `details.kind` is the resource. */
export function notFound(gr: GroupResource, name: string): Status {
  return failure(
    'NotFound',
    `${groupResourceString(gr)} ${goQuote(name)} not found`,
    resourceDetails(gr.group, gr.resource, name),
  );
}

/** 409 AlreadyExists: `configmaps "cm1" already exists`. */
export function alreadyExists(gr: GroupResource, name: string): Status {
  return failure(
    'AlreadyExists',
    `${groupResourceString(gr)} ${goQuote(name)} already exists`,
    resourceDetails(gr.group, gr.resource, name),
  );
}

/** The detail Kubernetes gives for a lost optimistic-concurrency race (`registry.OptimisticLockErrorMsg`). */
export const optimisticLockErrorMsg =
  'the object has been modified; please apply your changes to the latest version and try again';

/**
 * 409 Conflict: `Operation cannot be fulfilled on pods "x": <detail>`; `detail` defaults to
 * {@link optimisticLockErrorMsg}.
 */
export function conflict(gr: GroupResource, name: string, detail: string = optimisticLockErrorMsg): Status {
  return failure(
    'Conflict',
    `Operation cannot be fulfilled on ${groupResourceString(gr)} ${goQuote(name)}: ${detail}`,
    resourceDetails(gr.group, gr.resource, name),
  );
}

/**
 * 422 Invalid: `Deployment.apps "x" is invalid: <aggregate>` where the aggregate is `field: message`
 * per distinct cause, bracketed and comma-joined when there are several (utilerrors.Aggregate).
 * `details.kind` is the Kind; kubectl prints one `* field: message` line per cause.
 */
export function invalid(gk: GroupKind, name: string, causes: readonly StatusCause[]): Status {
  const head = `${groupKindString(gk)} ${goQuote(name)} is invalid`;
  const aggregate = aggregateCauses(causes);
  const details = resourceDetails(gk.group, gk.kind, name);
  // omitempty: Kubernetes sends no causes list when there are none.
  if (causes.length > 0) details.causes = causes.map((c) => ({ ...c }));
  return failure('Invalid', aggregate === '' ? head : `${head}: ${aggregate}`, details);
}

/** `field.ErrorList.ToAggregate().Error()`: de-duplicated `field: message`s, bracketed when more than one. */
export function aggregateCauses(causes: readonly StatusCause[]): string {
  const seen = new Set<string>();
  for (const c of causes) seen.add(causeString(c));
  const msgs = [...seen];
  if (msgs.length === 0) return '';
  if (msgs.length === 1) return msgs[0] ?? '';
  return `[${msgs.join(', ')}]`;
}

/** `field.Error.Error()`: `spec.replicas: Invalid value: -1: must be …`. */
export function causeString(cause: StatusCause): string {
  return `${cause.field ?? ''}: ${cause.message ?? ''}`;
}

/** 400 BadRequest with `message` as given. */
export function badRequest(message: string): Status {
  return failure('BadRequest', message);
}

/**
 * 410 for a watch or list from a resourceVersion the server no longer has. The reason defaults to
 * 'Expired' (what the watch cache sends; client-go's reflector treats 'Expired' and 'Gone' alike and
 * re-lists). Use {@link tooOldResourceVersion} for Kubernetes' standard message.
 */
export function gone(message: string, reason: 'Expired' | 'Gone' = 'Expired'): Status {
  return failure(reason, message);
}

/** 410 Expired: `too old resource version: <requested> (<oldest available>)`, the watch cache's text. */
export function tooOldResourceVersion(requested: number | string, oldest: number | string): Status {
  return gone(`too old resource version: ${String(requested)} (${String(oldest)})`);
}

/** 401: the authenticator's rejection; kubectl prints `You must be logged in to the server (Unauthorized)`. */
export function unauthorized(message = 'Unauthorized'): Status {
  return failure('Unauthorized', message);
}

/**
 * 403 (NewForbidden): `pods "x" is forbidden: <why>`, `pods is forbidden: <why>` without a name, or
 * `forbidden: <why>` without a resource.
 */
export function forbidden(gr: GroupResource | undefined, name: string, why: string): Status {
  if (gr === undefined || (gr.group === '' && gr.resource === '')) {
    return failure('Forbidden', `forbidden: ${why}`, resourceDetails('', '', name));
  }
  const what = groupResourceString(gr);
  const message =
    name === '' ? `${what} is forbidden: ${why}` : `${what} ${goQuote(name)} is forbidden: ${why}`;
  return failure('Forbidden', message, resourceDetails(gr.group, gr.resource, name));
}

/** 405 (NewMethodNotSupported): `<action> is not supported on resources of kind "pods"`. */
export function methodNotAllowed(gr: GroupResource, action: string): Status {
  return failure(
    'MethodNotAllowed',
    `${action} is not supported on resources of kind ${goQuote(groupResourceString(gr))}`,
    resourceDetails(gr.group, gr.resource),
  );
}

/** The media types Berth's API server reads and writes. */
export const defaultMediaTypes: readonly string[] = ['application/json', 'application/yaml'];

/** 406: `only the following media types are accepted: application/json, …`. */
export function notAcceptable(accepted: readonly string[] = defaultMediaTypes): Status {
  return failure('NotAcceptable', `only the following media types are accepted: ${accepted.join(', ')}`);
}

/**
 * 415: Kubernetes' `the body of the request was in an unknown format - accepted media types include: …`,
 * with the rejected type added in parentheses (kubectl's typed clients send protobuf, and naming it
 * saves the user a debugging session).
 */
export function unsupportedMediaType(
  contentType: string,
  accepted: readonly string[] = defaultMediaTypes,
): Status {
  const what = contentType === '' ? '' : ` (${contentType})`;
  return failure(
    'UnsupportedMediaType',
    `the body of the request was in an unknown format${what} - accepted media types include: ${accepted.join(', ')}`,
  );
}

/** 413: `Request entity too large: limit is 3145728`. */
export function tooLarge(limitBytes: number): Status {
  return failure('RequestEntityTooLarge', `Request entity too large: limit is ${limitBytes}`);
}

/** 429: `Too many requests: <message>`, with Retry-After seconds in details. */
export function tooManyRequests(message: string, retryAfterSeconds: number): Status {
  return failure('TooManyRequests', `Too many requests: ${message}`, { retryAfterSeconds });
}

/** 503 with `message` as given. */
export function serviceUnavailable(message: string): Status {
  return failure('ServiceUnavailable', message);
}

/** 504: `Timeout: <message>`. */
export function timeout(message: string, retryAfterSeconds = 0): Status {
  return failure('Timeout', `Timeout: ${message}`, retryAfterSeconds > 0 ? { retryAfterSeconds } : undefined);
}

/** 500: `Internal error occurred: <err>`, the error text repeated as the single cause. */
export function internalError(err: unknown): Status {
  const text = err instanceof Error ? err.message : String(err);
  return failure('InternalError', `Internal error occurred: ${text}`, { causes: [{ message: text }] });
}

/** 200 Success, e.g. for a DELETE answered with a Status; `details` names what was acted on. */
export function success(details?: Details): Status {
  const status: Status = {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Success',
    message: '',
    reason: '',
    code: 200,
  };
  if (details !== undefined) status.details = details;
  return status;
}

/**
 * A Status thrown from inside request handling; the server catches it and sends `status` with HTTP
 * `status.code`. Throw it only where returning a value is impractical (deep in a handler).
 */
export class ApiError extends BerthError {
  readonly status: Status;

  constructor(status: Status, options?: { cause?: unknown }) {
    super(errorCodes.API_STATUS, status.message, options);
    this.name = 'ApiError';
    this.status = status;
  }
}

/** True when `err` is an {@link ApiError}. */
export function isApiError(err: unknown): err is ApiError {
  return err instanceof ApiError;
}

/** The Status to send for anything thrown: an ApiError's own Status, otherwise a 500 InternalError. */
export function toStatus(err: unknown): Status {
  return isApiError(err) ? err.status : internalError(err);
}

// ---------------------------------------------------------------------------------------------------
// Field errors (k8s.io/apimachinery/pkg/util/validation/field). Each returns a cause whose message is
// field.Error.ErrorBody() and whose field is the path, e.g. `spec.template.spec.containers[0].image`.

function cause(reason: CauseType, field: string, message: string): StatusCause {
  return { reason, message, field };
}

function withDetail(head: string, detail: string): string {
  return detail === '' ? head : `${head}: ${detail}`;
}

/** `Required value` (+ `: detail`). */
export function required(path: string, detail = ''): StatusCause {
  return cause('FieldValueRequired', path, withDetail('Required value', detail));
}

/** `Invalid value: <value>` (+ `: detail`), the value printed as Go's validation does (strings quoted). */
export function invalidValue(path: string, value: unknown, detail = ''): StatusCause {
  return cause('FieldValueInvalid', path, withDetail(`Invalid value: ${formatBadValue(value)}`, detail));
}

/** `Unsupported value: "X": supported values: "A", "B"`. */
export function notSupported(path: string, value: unknown, valid: readonly string[]): StatusCause {
  const detail = valid.length === 0 ? '' : `supported values: ${valid.map((v) => goQuote(v)).join(', ')}`;
  return cause(
    'FieldValueNotSupported',
    path,
    withDetail(`Unsupported value: ${formatBadValue(value)}`, detail),
  );
}

/** `Duplicate value: "x"`. */
export function duplicate(path: string, value: unknown): StatusCause {
  return cause('FieldValueDuplicate', path, `Duplicate value: ${formatBadValue(value)}`);
}

/** `Forbidden: <detail>`. */
export function forbiddenField(path: string, detail: string): StatusCause {
  return cause('FieldValueForbidden', path, withDetail('Forbidden', detail));
}

/** `Too long: may not be more than <max> bytes` (the value itself is never echoed). */
export function tooLong(path: string, _value: unknown, max: number): StatusCause {
  const detail =
    max < 0 ? 'value is too long' : `may not be more than ${max} ${max === 1 ? 'byte' : 'bytes'}`;
  return cause('FieldValueTooLong', path, `Too long: ${detail}`);
}

/** `Too many: <actual>: must have at most <max> items`. */
export function tooMany(path: string, actual: number, max: number): StatusCause {
  return cause('FieldValueTooMany', path, `Too many: ${actual}: must have at most ${max} items`);
}

/** `Not found: <value>`. */
export function notFoundField(path: string, value: unknown): StatusCause {
  return cause('FieldValueNotFound', path, `Not found: ${formatBadValue(value)}`);
}

const goSyntaxKey = Symbol('goSyntax');

/**
 * A bad value whose Go rendering is given verbatim — for structs Kubernetes prints with %#v, e.g.
 * `v1.LabelSelector{MatchLabels:map[string]string{"app":"x"}, …}` — so formatBadValue leaves it alone.
 */
export interface GoSyntax {
  readonly [goSyntaxKey]: string;
}

/** Wraps `text` so that field errors print it as-is in place of a value. */
export function goSyntax(text: string): GoSyntax {
  return { [goSyntaxKey]: text };
}

function isGoSyntax(value: object): value is GoSyntax {
  return goSyntaxKey in value;
}

/**
 * A bad value the way field.Error.ErrorBody prints it: numbers and booleans bare, strings with Go's
 * %q, null/undefined as `"null"` (Go substitutes the string "null" and then quotes it), lists and
 * maps in an approximation of Go's %#v.
 */
export function formatBadValue(value: unknown): string {
  if (value === null || value === undefined) return goQuote('null');
  if (typeof value === 'string') return goQuote(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value);
  if (Array.isArray(value)) {
    const items = value as unknown[];
    const elemType = items.every((v) => typeof v === 'string') ? 'string' : 'interface {}';
    return `[]${elemType}{${items.map((v) => formatBadValue(v)).join(', ')}}`;
  }
  if (typeof value === 'object') {
    if (isGoSyntax(value)) return value[goSyntaxKey];
    // Go's fmt prints maps sorted by key.
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) =>
      a < b ? -1 : a > b ? 1 : 0,
    );
    const valueType = entries.every(([, v]) => typeof v === 'string') ? 'string' : 'interface {}';
    return `map[string]${valueType}{${entries.map(([k, v]) => `${goQuote(k)}:${formatBadValue(v)}`).join(', ')}}`;
  }
  // Functions and symbols never come from JSON; name the type rather than print source text.
  return goQuote(typeof value === 'symbol' ? value.toString() : typeof value);
}

const goEscapes: Record<string, string> = {
  '\x07': '\\a',
  '\b': '\\b',
  '\f': '\\f',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\v': '\\v',
  '\\': '\\\\',
  '"': '\\"',
};

/** Go's `%q` / strconv.Quote for a string: double quotes, C escapes, printable Unicode kept. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const esc = goEscapes[ch];
    if (esc !== undefined) {
      out += esc;
      continue;
    }
    const cp = ch.codePointAt(0) ?? 0;
    if (cp < 0x20 || cp === 0x7f) out += `\\x${cp.toString(16).padStart(2, '0')}`;
    else if (cp >= 0x80 && cp < 0xa0) out += `\\u${cp.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}
