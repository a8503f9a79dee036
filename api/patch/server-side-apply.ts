/**
 * Server-side apply (`Content-Type: application/apply-patch+yaml`, `kubectl apply --server-side`) and
 * the ownership bookkeeping of ordinary writes, after sigs.k8s.io/structured-merge-diff `merge.Updater`
 * and k8s.io/apiserver's field manager:
 *
 *   apply:  live + config ──merge──▶ merged ──prune what this manager applied last time and nobody
 *           owns any more──▶ compare with live ──▶ conflicts with other managers' changed fields?
 *             ├─ yes, no force ──▶ 409 (unless `kubectl` migrating from client-side apply)
 *             └─ otherwise ──▶ others lose changed/removed fields; applier owns exactly its config
 *   update: compare live with new ──▶ everyone loses changed/removed fields; the writer gains changed ones
 *
 * Ownership lives in `metadata.managedFields` (./managed-fields.ts, ./fields-v1.ts). Time is given by
 * the caller. Nothing here does I/O.
 */

import { schemaForKind } from './patch-meta.js';
import {
  deleteKey,
  isJsonObject,
  jsonClone,
  metadataOf,
  type JsonObject,
  type JsonValue,
} from './json-value.js';
import { allowedByLastApplied, kubectlApplyManager, syncLastApplied } from './last-applied.js';
import {
  differenceFieldSets,
  emptyFieldSet,
  fieldSetOf,
  fieldSetPaths,
  intersectFieldSets,
  isEmptyFieldSet,
  pathToString,
  unionFieldSets,
  withoutPrefixes,
  type FieldPath,
  type FieldSet,
} from './fields-v1.js';
import {
  decodeManagedFields,
  encodeManagedFields,
  managedFieldsTime,
  managerKey,
  printManager,
  type ManagedFields,
  type ManagerEntry,
} from './managed-fields.js';
import {
  compareValues,
  mergeApplied,
  removeFieldSet,
  rootNode,
  toFieldSet,
  type NodeType,
} from './typed-value.js';
import { abortPatch, patchFailure, runPatch, type PatchResult } from './result.js';

/** Who owns an object before its first apply when it has no managed fields (Kubernetes' name). */
export const beforeFirstApplyManager = 'before-first-apply';

// Fields no manager ever owns (the apiserver's strip set).
const strippedPaths = fieldSetOf(
  [['f:apiVersion'], ['f:kind'], ['f:metadata']].concat(
    [
      'name',
      'namespace',
      'creationTimestamp',
      'selfLink',
      'uid',
      'clusterName',
      'generation',
      'managedFields',
      'resourceVersion',
    ].map((f) => ['f:metadata', `f:${f}`]),
  ),
);

/** Options shared by {@link applyServerSide} and {@link updateManagedFields}. */
export interface OwnershipOptions {
  /** The `fieldManager`. */
  readonly manager: string;
  /** Now, in milliseconds since the Unix epoch (`Clock.now()`), for the entries' `time`. */
  readonly now: number;
  /** The subresource written (`status`), recorded in the entry; the main resource when absent. */
  readonly subresource?: string;
  /**
   * Field paths the resource's strategy resets on this endpoint (Kubernetes' `ResetFieldsStrategy`),
   * e.g. `[['status']]` for the main resource of a Deployment: nobody gains ownership of them here,
   * and an apply leaves them as they are live.
   */
  readonly resetFields?: readonly (readonly string[])[];
}

/** Options for {@link applyServerSide}. */
export interface ApplyOptions extends OwnershipOptions {
  /** `force=true` (`--force-conflicts`): take conflicting fields instead of failing. */
  readonly force?: boolean;
}

/**
 * Applies `config` (the parsed apply patch: a full or partial object with apiVersion and kind) as
 * `options.manager`, to `live` or — when `live` is undefined — to nothing, creating the object.
 * Returns the new object with its `metadata.managedFields` updated, or: 400 for a malformed
 * configuration, 409 Conflict listing each field another manager owns with a different value (one
 * `FieldManagerConflict` cause per field). Neither input is modified.
 */
export function applyServerSide(
  live: JsonObject | undefined,
  config: unknown,
  options: ApplyOptions,
): PatchResult<JsonObject> {
  if (options.manager === '') {
    return patchFailure(
      'BadRequest',
      'PATCH requests with an apply patch (application/apply-patch+yaml) must have a fieldManager',
    );
  }
  if (options.manager.length > 128) {
    return patchFailure('Invalid', 'fieldManager: Invalid value: must be at most 128 characters');
  }
  if (!isJsonObject(config)) return patchFailure('BadRequest', 'apply patch must be a single object');
  const { apiVersion, kind, metadata } = config;
  if (typeof apiVersion !== 'string' || apiVersion === '' || typeof kind !== 'string' || kind === '') {
    return patchFailure('BadRequest', 'apply patch must set apiVersion and kind');
  }
  if (
    isJsonObject(metadata) &&
    metadata['managedFields'] !== undefined &&
    metadata['managedFields'] !== null
  ) {
    return patchFailure('BadRequest', 'metadata.managedFields must be nil');
  }
  return runPatch(() =>
    apply(live, config, { ...options, apiVersion, root: rootNode(schemaForKind({ apiVersion, kind })) }),
  );
}

interface ApplyContext extends ApplyOptions {
  readonly apiVersion: string;
  readonly root: NodeType;
}

function apply(live: JsonObject | undefined, config: JsonObject, ctx: ApplyContext): JsonObject {
  const { root, manager } = ctx;
  const time = managedFieldsTime(ctx.now);
  const reset = resetPrefixes(ctx);
  const applied = withoutFields(config, ctx.resetFields ?? []);
  const liveBody = live === undefined ? {} : withoutManagedFields(live);
  const managers =
    live === undefined
      ? new Map<string, ManagerEntry>()
      : (decodeManagedFields(metadataOf(live)['managedFields']) ?? new Map<string, ManagerEntry>());
  if (live !== undefined && managers.size === 0) {
    // Fields written before anyone tracked ownership belong to somebody; Kubernetes says who.
    const set = owned(changedFields(compareValues({}, liveBody, root)), reset);
    const first = {
      manager: beforeFirstApplyManager,
      operation: 'Update',
      apiVersion: stringField(live, 'apiVersion', ctx.apiVersion),
    } as const;
    managers.set(managerKey(first), { ...first, time, set });
  }

  const configSet = owned(toFieldSet(applied, root), reset);
  let merged = mergeApplied(liveBody, applied, root);
  const identity = {
    manager,
    operation: 'Apply',
    apiVersion: ctx.apiVersion,
    ...subresourceOf(ctx),
  } as const;
  const key = managerKey(identity);
  const previous = managers.get(key);
  managers.set(key, { ...identity, set: configSet });
  if (previous !== undefined) {
    let stillOwned = emptyFieldSet();
    for (const m of managers.values()) stillOwned = unionFieldSets(stillOwned, m.set);
    const prune = differenceFieldSets(previous.set, stillOwned);
    if (!isEmptyFieldSet(prune)) merged = removeFieldSet(merged, prune, root);
  }

  const comparison = compareValues(liveBody, merged, root);
  const changed = owned(changedFields(comparison), reset);
  const conflicts = new Map<string, FieldSet>();
  for (const [k, m] of managers) {
    if (k === key) continue;
    const c = intersectFieldSets(m.set, changed);
    if (!isEmptyFieldSet(c)) conflicts.set(k, c);
  }
  if (conflicts.size > 0 && ctx.force !== true) {
    const remaining =
      manager === kubectlApplyManager && live !== undefined
        ? withoutAllowed(conflicts, allowedByLastApplied(live, liveBody, root))
        : conflicts;
    if (remaining.size > 0) abortConflicts(remaining, managers);
  }
  for (const [k, m] of managers) {
    if (k === key) continue;
    const set = differenceFieldSets(
      differenceFieldSets(m.set, conflicts.get(k) ?? emptyFieldSet()),
      comparison.removed,
    );
    managers.set(k, { ...m, set });
  }
  // The applier's timestamp moves only when something changed, so a no-op apply is a no-op.
  const unchanged =
    previous?.time !== undefined &&
    isEmptyFieldSet(changed) &&
    isEmptyFieldSet(comparison.removed) &&
    sameSet(previous.set, configSet);
  managers.set(key, { ...identity, set: configSet, time: unchanged ? (previous.time ?? time) : time });

  if (manager === kubectlApplyManager) syncLastApplied(merged, config);
  return withManagedFields(merged, managers);
}

/** Options for {@link updateManagedFields}. */
export type UpdateManagedFieldsOptions = OwnershipOptions;

/**
 * Records an ordinary write (create, update, non-apply patch) as `Update` by `options.manager`: the
 * writer gains every field it added or changed, every manager loses fields it no longer has, and
 * the writer's entry gets `time` when it gained anything. `live` is undefined for a create. Managed
 * fields sent in `updated` replace the live ones when they are non-empty and valid (so clients can
 * edit ownership, as kubectl's client-side-apply migration does); otherwise the live ones are kept.
 * Returns a new object; neither input is modified.
 */
export function updateManagedFields(
  live: JsonObject | undefined,
  updated: JsonObject,
  options: UpdateManagedFieldsOptions,
): JsonObject {
  const apiVersion = stringField(
    updated,
    'apiVersion',
    live === undefined ? '' : stringField(live, 'apiVersion', ''),
  );
  const root = rootNode(schemaForKind({ apiVersion, kind: stringField(updated, 'kind', '') }));
  const reset = resetPrefixes(options);
  const sent =
    options.subresource === undefined ? decodeManagedFields(metadataOf(updated)['managedFields']) : undefined;
  const managers: ManagedFields =
    sent !== undefined && sent.size > 0
      ? sent
      : ((live === undefined ? undefined : decodeManagedFields(metadataOf(live)['managedFields'])) ??
        new Map<string, ManagerEntry>());

  const body = withoutManagedFields(updated);
  const comparison = compareValues(live === undefined ? {} : withoutManagedFields(live), body, root);
  const changed = owned(changedFields(comparison), reset);
  for (const [k, m] of managers) {
    managers.set(k, {
      ...m,
      set: differenceFieldSets(differenceFieldSets(m.set, comparison.removed), changed),
    });
  }
  if (!isEmptyFieldSet(changed)) {
    const identity = {
      manager: options.manager,
      operation: 'Update',
      apiVersion,
      ...subresourceOf(options),
    } as const;
    const key = managerKey(identity);
    const set = unionFieldSets(managers.get(key)?.set ?? emptyFieldSet(), changed);
    managers.set(key, { ...identity, set, time: managedFieldsTime(options.now) });
  }
  return withManagedFields(body, managers);
}

function changedFields(c: { readonly added: FieldSet; readonly modified: FieldSet }): FieldSet {
  return unionFieldSets(c.added, c.modified);
}

/** A set minus fields nobody may own and fields the endpoint resets. */
function owned(set: FieldSet, reset: readonly FieldPath[]): FieldSet {
  return withoutPrefixes(differenceFieldSets(set, strippedPaths), reset);
}

function resetPrefixes(options: OwnershipOptions): FieldPath[] {
  return (options.resetFields ?? []).map((p) => p.map((f) => `f:${f}`));
}

function subresourceOf(options: OwnershipOptions): { subresource?: string } {
  return options.subresource === undefined || options.subresource === ''
    ? {}
    : { subresource: options.subresource };
}

function sameSet(a: FieldSet, b: FieldSet): boolean {
  return isEmptyFieldSet(differenceFieldSets(a, b)) && isEmptyFieldSet(differenceFieldSets(b, a));
}

function stringField(obj: JsonObject, key: string, fallback: string): string {
  const v = obj[key];
  return typeof v === 'string' ? v : fallback;
}

function withoutManagedFields(obj: JsonObject): JsonObject {
  const copy = jsonClone(obj);
  const metadata = copy['metadata'];
  if (isJsonObject(metadata)) delete metadata['managedFields'];
  return copy;
}

function withoutFields(obj: JsonObject, paths: readonly (readonly string[])[]): JsonObject {
  const copy = jsonClone(obj);
  for (const path of paths) {
    let node: JsonValue | undefined = copy;
    for (const f of path.slice(0, -1)) node = isJsonObject(node) ? node[f] : undefined;
    if (isJsonObject(node)) deleteKey(node, path[path.length - 1] ?? '');
  }
  return copy;
}

function withManagedFields(obj: JsonObject, managers: ManagedFields): JsonObject {
  const entries = encodeManagedFields(managers);
  const metadata = isJsonObject(obj['metadata']) ? obj['metadata'] : {};
  if (entries.length > 0) metadata['managedFields'] = entries;
  else delete metadata['managedFields'];
  if (entries.length > 0 || obj['metadata'] !== undefined) obj['metadata'] = metadata;
  return obj;
}

function withoutAllowed(conflicts: Map<string, FieldSet>, allowed: FieldSet): Map<string, FieldSet> {
  const out = new Map<string, FieldSet>();
  for (const [k, set] of conflicts) {
    const rest = differenceFieldSets(set, allowed);
    if (!isEmptyFieldSet(rest)) out.set(k, rest);
  }
  return out;
}

/** The 409 Kubernetes sends: `Apply failed with 1 conflict: conflict with "m" using apps/v1: .spec.replicas`. */
function abortConflicts(conflicts: Map<string, FieldSet>, managers: ManagedFields): never {
  const groups = [...conflicts]
    .map(([k, set]) => {
      const entry = managers.get(k);
      return {
        who: entry === undefined ? JSON.stringify(k) : printManager(entry),
        name: entry?.manager ?? k,
        key: k,
        paths: fieldSetPaths(set).map(pathToString),
      };
    })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.key < b.key ? -1 : 1));
  const causes = groups.flatMap((g) =>
    g.paths.map((field) => ({ reason: 'FieldManagerConflict', message: `conflict with ${g.who}`, field })),
  );
  const first = groups[0];
  const message =
    causes.length === 1 && first !== undefined
      ? `Apply failed with 1 conflict: conflict with ${first.who}: ${first.paths[0] ?? ''}`
      : `Apply failed with ${causes.length} conflicts: ${groups.map((g) => [`conflicts with ${g.who}:`, ...g.paths.map((p) => `- ${p}`)].join('\n')).join('\n')}`;
  abortPatch('Conflict', message, causes);
}
