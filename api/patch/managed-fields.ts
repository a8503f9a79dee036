/**
 * `metadata.managedFields`: decoding the entries into per-manager field sets, encoding them back, and
 * the identity and printed name of a manager — following k8s.io/apiserver
 * `pkg/endpoints/handlers/fieldmanager/internal` (`managedfields.go`, `conflict.go`).
 *
 * A manager is identified by its name, operation and subresource, plus the apiVersion for `Update`
 * (so an applier keeps one entry across versions, as in Kubernetes).
 */

import { isJsonObject, type JsonObject, type JsonValue } from './json-value.js';
import { fromFieldsV1, isEmptyFieldSet, toFieldsV1, unionFieldSets, type FieldSet } from './fields-v1.js';

/** One manager's ownership. `time` is RFC 3339 (seconds), absent only on entries we were given without one. */
export interface ManagerEntry {
  readonly manager: string;
  readonly operation: 'Apply' | 'Update';
  readonly apiVersion: string;
  readonly subresource?: string;
  readonly time?: string;
  readonly set: FieldSet;
}

/** Managers by {@link managerKey}. */
export type ManagedFields = Map<string, ManagerEntry>;

/** The identity of a manager (Kubernetes' `BuildManagerIdentifier`, minus the JSON encoding). */
export function managerKey(
  entry: Pick<ManagerEntry, 'manager' | 'operation' | 'apiVersion' | 'subresource'>,
): string {
  const version = entry.operation === 'Update' ? entry.apiVersion : '';
  return JSON.stringify([entry.manager, entry.operation, version, entry.subresource ?? '']);
}

/**
 * How conflict messages name a manager: `"kubectl"` for an applier, `"kubectl-client-side-apply"
 * using apps/v1` for an updater, with `with subresource "status"` when there is one.
 */
export function printManager(
  entry: Pick<ManagerEntry, 'manager' | 'operation' | 'apiVersion' | 'subresource'>,
): string {
  let text = JSON.stringify(entry.manager);
  if (entry.subresource !== undefined && entry.subresource !== '') {
    text += ` with subresource ${JSON.stringify(entry.subresource)}`;
  }
  return entry.operation === 'Update' ? `${text} using ${entry.apiVersion}` : text;
}

/**
 * Decodes `metadata.managedFields`. Returns undefined when the value is not a valid list of FieldsV1
 * entries (Kubernetes then falls back to other ownership information rather than failing the write).
 * Entries with the same identity are merged.
 */
export function decodeManagedFields(value: JsonValue | undefined): ManagedFields | undefined {
  const out: ManagedFields = new Map();
  if (value === undefined || value === null) return out;
  if (!Array.isArray(value)) return undefined;
  for (const raw of value) {
    if (!isJsonObject(raw)) return undefined;
    const { manager, operation, apiVersion, time, fieldsType, subresource } = raw;
    if (typeof manager !== 'string' || (operation !== 'Apply' && operation !== 'Update')) return undefined;
    if (typeof apiVersion !== 'string') return undefined;
    if (fieldsType !== undefined && fieldsType !== 'FieldsV1') return undefined;
    const set = fromFieldsV1(raw['fieldsV1'] ?? {});
    if (set === undefined) return undefined;
    const entry: ManagerEntry = {
      manager,
      operation,
      apiVersion,
      set,
      ...(typeof time === 'string' ? { time } : {}),
      ...(typeof subresource === 'string' && subresource !== '' ? { subresource } : {}),
    };
    const key = managerKey(entry);
    const previous = out.get(key);
    out.set(key, previous === undefined ? entry : { ...entry, set: unionFieldSets(previous.set, set) });
  }
  return out;
}

/**
 * Encodes managers as `metadata.managedFields`, dropping managers that own nothing, sorted as
 * Kubernetes sorts them (operation, then time, then manager, apiVersion, subresource).
 */
export function encodeManagedFields(managers: ManagedFields): JsonObject[] {
  const entries = [...managers.values()].filter((m) => !isEmptyFieldSet(m.set));
  entries.sort(
    (a, b) =>
      compare(a.operation, b.operation) ||
      compare(a.time ?? '', b.time ?? '') ||
      compare(a.manager, b.manager) ||
      compare(a.apiVersion, b.apiVersion) ||
      compare(a.subresource ?? '', b.subresource ?? ''),
  );
  return entries.map((m) => {
    const entry: JsonObject = { manager: m.manager, operation: m.operation, apiVersion: m.apiVersion };
    if (m.time !== undefined) entry['time'] = m.time;
    entry['fieldsType'] = 'FieldsV1';
    entry['fieldsV1'] = toFieldsV1(m.set);
    if (m.subresource !== undefined) entry['subresource'] = m.subresource;
    return entry;
  });
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A `metav1.Time` string (RFC 3339, whole seconds, UTC) for a Unix time in milliseconds. */
export function managedFieldsTime(nowMs: number): string {
  return new Date(Math.floor(nowMs / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}
