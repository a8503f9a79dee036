/**
 * A DaemonSet's revision history (Kubernetes' pkg/controller/daemon/update.go constructHistory,
 * snapshot, cleanupHistory): one apps/v1 ControllerRevision per distinct pod template, named
 * `<ds>-<hash>`, labelled `controller-revision-hash: <hash>`, whose `data` is the strategic-merge
 * patch `{spec: {template: {…, $patch: replace}}}` that `kubectl rollout undo daemonset` applies, and
 * whose `revision` numbers order them (`kubectl rollout history`). The current template's revision
 * is always the highest; rolling back to an old template renumbers that revision rather than
 * creating another. Revisions beyond `revisionHistoryLimit` that no live pod uses are deleted.
 *
 * The hash is FNV-1a (32 bit) over the template's canonical JSON (and the DaemonSet's
 * `status.collisionCount`, bumped when two templates' names collide), written in Kubernetes'
 * vowel-free alphabet. It is not byte-for-byte Kubernetes' (which hashes Go's struct dump), only
 * stable and collision-checked in the same way.
 */
import { jsonEqual, type StoredObject } from '../../api/object.js';
import { isApiError } from '../../api/status.js';
import { BerthError, errorCodes } from '../../lib/errors.js';
import type { ResourceStorage } from '../apiserver/resource-storage.js';
import { byControllerUid, type Informer } from './informer.js';
import { requireResource } from './informer-factory.js';
import { deleteObject, targetOf, updateObject } from './object-writes.js';
import { controllerRefTo } from './owner-references.js';
import { revisionHashLabel, templateOf } from './daemon-set-pods.js';

/** apps/v1 controllerrevisions. */
export const controllerRevisions = requireResource('apps', 'v1', 'controllerrevisions');
const daemonSets = requireResource('apps', 'v1', 'daemonsets');

/** What the revision helpers write and read with. */
export interface RevisionDeps {
  readonly storage: ResourceStorage;
  /** The ControllerRevision informer (with the byControllerUid index). */
  readonly revisions: Informer;
}

/** A DaemonSet's revisions, split into the current one and the rest. */
export interface History {
  readonly current: StoredObject;
  readonly old: StoredObject[];
  /** The current revision's hash: the `controller-revision-hash` of up-to-date pods. */
  readonly hash: string;
}

/** FNV-1a, 32 bit, over the UTF-8 bytes of `text` (stable, not cryptographic). */
function fnv32a(text: string): number {
  let h = 0x811c9dc5;
  const bytes = new TextEncoder().encode(text);
  for (const b of bytes) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

const alphanums = 'bcdfghjklmnpqrstvwxz2456789';

/** k8s.io/apimachinery rand.SafeEncodeString: each character mapped into a vowel-free alphabet. */
function safeEncode(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) out += alphanums[s.charCodeAt(i) % alphanums.length] ?? 'x';
  return out;
}

/** JSON with object keys sorted, so that equal templates hash equally. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The revision hash of a pod template (controller.ComputeHash's role). */
export function templateHash(template: unknown, collisionCount: number | undefined): string {
  const text = canonicalJson(template) + (collisionCount === undefined ? '' : `#${collisionCount}`);
  return safeEncode(String(fnv32a(text)));
}

/** The `data` of a revision of `ds`: a patch that puts its template back (getPatch). */
export function revisionData(ds: StoredObject): Record<string, unknown> {
  return { spec: { template: { ...templateOf(ds), $patch: 'replace' } } };
}

/** A ControllerRevision's `revision` (0 when missing). */
export function revisionNumber(rev: StoredObject): number {
  const n = rev['revision'];
  return typeof n === 'number' ? n : 0;
}

function collisionCountOf(ds: StoredObject): number | undefined {
  const n = (ds.status as { collisionCount?: unknown } | undefined)?.collisionCount;
  return typeof n === 'number' ? n : undefined;
}

/**
 * The current revision of `ds` (created, or renumbered to be the newest, as needed) and the others.
 * Throws (to be retried) after bumping `status.collisionCount` when the hash's name is taken by a
 * revision of another template.
 */
export async function constructHistory(deps: RevisionDeps, ds: StoredObject): Promise<History> {
  const uid = ds.metadata.uid ?? '';
  const data = revisionData(ds);
  const owned = deps.revisions
    .byIndex(byControllerUid, uid)
    .filter((r) => r.metadata.deletionTimestamp === undefined);
  const current = owned.filter((r) => jsonEqual(r['data'], data));
  const old = owned.filter((r) => !current.includes(r));
  const next = Math.max(0, ...old.map(revisionNumber)) + 1;
  let cur: StoredObject;
  if (current.length === 0) {
    cur = await snapshot(deps, ds, data, next);
  } else {
    // Should two revisions match (created concurrently), the newest is used; the others age out.
    current.sort((a, b) => revisionNumber(b) - revisionNumber(a));
    cur = current[0] as StoredObject;
    old.push(...current.slice(1));
    if (revisionNumber(cur) < next) {
      const result = await updateObject(deps.storage, controllerRevisions, targetOf(cur), (r) => {
        r['revision'] = next;
        return true;
      });
      if (result.outcome === 'gone') throw retry(`revision ${cur.metadata.name ?? ''} disappeared`);
      cur = result.object;
    }
  }
  const hash = cur.metadata.labels?.[revisionHashLabel] ?? cur.metadata.name ?? '';
  return { current: cur, old, hash };
}

async function snapshot(
  deps: RevisionDeps,
  ds: StoredObject,
  data: Record<string, unknown>,
  revision: number,
): Promise<StoredObject> {
  const collisionCount = collisionCountOf(ds);
  const hash = templateHash(templateOf(ds), collisionCount);
  const name = `${ds.metadata.name ?? ''}-${hash}`;
  const ns = ds.metadata.namespace;
  const annotations = ds.metadata.annotations;
  try {
    return await deps.storage.create(controllerRevisions, ns, {
      apiVersion: 'apps/v1',
      kind: 'ControllerRevision',
      metadata: {
        name,
        ...(ns === undefined ? {} : { namespace: ns }),
        labels: { ...templateOf(ds).metadata?.labels, [revisionHashLabel]: hash },
        ...(annotations === undefined ? {} : { annotations: { ...annotations } }),
        ownerReferences: [controllerRefTo(ds)],
      },
      data,
      revision,
    });
  } catch (err) {
    if (!(isApiError(err) && err.status.code === 409)) throw err;
  }
  const existing = await deps.storage.get(controllerRevisions, ns, name);
  const mine = existing.metadata.ownerReferences?.some((r) => r.uid === ds.metadata.uid) === true;
  if (mine && jsonEqual(existing['data'], data)) return existing;
  // The name belongs to another template (or another owner): hash again with a higher count.
  await updateObject(
    deps.storage,
    daemonSets,
    targetOf(ds),
    (d) => {
      const status = (d.status ?? {}) as Record<string, unknown>;
      if (collisionCountOf(d) !== collisionCount) return false;
      status['collisionCount'] = (collisionCount ?? 0) + 1;
      d.status = status;
      return true;
    },
    { subresource: 'status' },
  );
  throw retry(`revision name ${name} is taken by another template; collisionCount bumped`);
}

/**
 * Deletes the oldest of `old` beyond the DaemonSet's `revisionHistoryLimit` (default 10), except those
 * whose hash a live pod still carries.
 */
export async function cleanupHistory(
  deps: RevisionDeps,
  ds: StoredObject,
  old: readonly StoredObject[],
  liveHashes: ReadonlySet<string>,
): Promise<void> {
  const limit = (ds.spec as { revisionHistoryLimit?: unknown } | undefined)?.revisionHistoryLimit;
  const keep = typeof limit === 'number' ? limit : 10;
  let toKill = old.length - keep;
  if (toKill <= 0) return;
  const sorted = [...old].sort((a, b) => revisionNumber(a) - revisionNumber(b));
  for (const rev of sorted) {
    if (toKill <= 0) break;
    const hash = rev.metadata.labels?.[revisionHashLabel];
    if (hash !== undefined && liveHashes.has(hash)) continue;
    await deleteObject(deps.storage, controllerRevisions, targetOf(rev));
    toKill--;
  }
}

function retry(message: string): BerthError {
  return new BerthError(errorCodes.RECONCILE_FAILED, message);
}
