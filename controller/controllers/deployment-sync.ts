/**
 * One reconcile pass over one Deployment: the state it works on and every write it makes
 * (pkg/controller/deployment/sync.go and progress.go). A `DeploymentSync` holds a private copy of
 * the Deployment and the ReplicaSets it controls; each write goes through `ResourceStorage` pinned to
 * the resourceVersion the decision was made on — a write based on a stale cache fails with 409 and
 * the key is retried on fresh data, as Kubernetes' Update does — and the copy is refreshed from the
 * write's result, so a pass can make several writes without tripping over its own.
 *
 * What lives here: finding or creating the new ReplicaSet (named `<deployment>-<pod-template-hash>`,
 * with a bumped `status.collisionCount` on a name clash), revision bookkeeping (a rollback — a
 * template equal to an old ReplicaSet's — moves that ReplicaSet to the newest revision and keeps its
 * previous one in `revision-history`), scaling with ScalingReplicaSet events, revision-history
 * cleanup, and status: the replica counts `kubectl rollout status` reads and the Available /
 * Progressing conditions with their deadline.
 */
import { cloneJson, jsonEqual, type StoredObject } from '../../api/object.js';
import type { ResourceInfo } from '../../api/resources.js';
import { ApiError, conflict, isApiError } from '../../api/status.js';
import type { Clock } from '../../lib/clock.js';
import { errorMessage } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import type { ResourceStorage } from '../apiserver/resource-storage.js';
import {
  byRevision,
  findNewReplicaSet,
  findOldReplicaSets,
  getCondition,
  hasProgressDeadline,
  hasRevisionHistoryLimit,
  maxRevision,
  maxSurge,
  newCondition,
  newReplicaSetReplicas,
  reasons,
  REVISION_ANNOTATION,
  replicasAnnotationsNeedUpdate,
  setCondition,
  setNewReplicaSetAnnotations,
  setReplicasAnnotations,
} from './deployment-util.js';
import { calculateStatus, pausedCondition, progressCheckDelay, rolloutStatus } from './deployment-status.js';
import type { EventRecorder } from './event-recorder.js';
import { requireResource } from './informer-factory.js';
import { deleteObject, isBeingDeleted, targetOf } from './object-writes.js';
import { controllerRefOf, controllerRefTo } from './owner-references.js';
import {
  computePodTemplateHash,
  POD_TEMPLATE_HASH_LABEL,
  templatesEqualIgnoringHash,
} from './pod-template-hash.js';
import type { Deployment, DeploymentStatus, Pod, ReplicaSet } from './workload-objects.js';
import { asDeployment, asReplicaSet, specReplicas } from './workload-objects.js';

const deployments = requireResource('apps', 'v1', 'deployments');
const replicasets = requireResource('apps', 'v1', 'replicasets');

/** What a pass needs from the controller. */
export interface DeploymentSyncDeps {
  readonly storage: ResourceStorage;
  readonly clock: Clock;
  readonly events: EventRecorder;
  readonly logger: Logger;
  /** A cached ReplicaSet by namespace and name (to resolve a name clash). */
  readonly cachedReplicaSet: (namespace: string | undefined, name: string) => StoredObject | undefined;
}

/** The state and writes of one pass over one Deployment (see the file header). */
export class DeploymentSync {
  /** The deployment as this pass sees it: a private copy, updated by this pass's writes. */
  readonly d: Deployment;
  /** Pods by ReplicaSet uid (all of them, terminating ones included). */
  readonly podsByReplicaSet: ReadonlyMap<string, readonly Pod[]>;
  /** When to look at the deployment again for its progress deadline (set by `syncRolloutStatus`). */
  requeueAfterMs: number | undefined;
  readonly #deps: DeploymentSyncDeps;
  #replicaSets: ReplicaSet[];

  constructor(
    deps: DeploymentSyncDeps,
    deployment: StoredObject,
    replicaSets: readonly StoredObject[],
    podsByReplicaSet: ReadonlyMap<string, readonly Pod[]>,
  ) {
    this.#deps = deps;
    this.d = asDeployment(cloneJson(deployment));
    this.#replicaSets = replicaSets.map((rs) => asReplicaSet(rs));
    this.podsByReplicaSet = podsByReplicaSet;
  }

  /** The deployment's ReplicaSets, as last written by this pass or as cached. */
  get replicaSets(): readonly ReplicaSet[] {
    return this.#replicaSets;
  }

  get clock(): Clock {
    return this.#deps.clock;
  }

  // ── the new ReplicaSet and revisions ─────────────────────────────────────────────────────────

  /**
   * getAllReplicaSetsAndSyncRevision: the new ReplicaSet (created when `create` and missing) with its
   * revision brought up to date, and every old one.
   */
  async newAndOld(create: boolean): Promise<{ newRS: ReplicaSet | undefined; oldRSs: ReplicaSet[] }> {
    const oldRSs = findOldReplicaSets(this.d, this.#replicaSets);
    const newRS = await this.#getNewReplicaSet(oldRSs, create);
    return { newRS, oldRSs: findOldReplicaSets(this.d, this.#replicaSets) };
  }

  async #getNewReplicaSet(oldRSs: readonly ReplicaSet[], create: boolean): Promise<ReplicaSet | undefined> {
    const d = this.d;
    const existing = findNewReplicaSet(d, this.#replicaSets);
    const newRevision = maxRevision(oldRSs) + 1;
    if (existing !== undefined) {
      const copy = asReplicaSet(cloneJson(existing));
      const annotationsChanged = setNewReplicaSetAnnotations(d, copy, newRevision, true);
      const minReadySeconds = d.spec.minReadySeconds ?? 0;
      if (annotationsChanged || (copy.spec.minReadySeconds ?? 0) !== minReadySeconds) {
        return this.#updateReplicaSet(existing, (rs) => {
          rs.metadata.annotations = { ...copy.metadata.annotations };
          if (minReadySeconds === 0) delete rs.spec.minReadySeconds;
          else rs.spec.minReadySeconds = minReadySeconds;
        });
      }
      await this.#setRevision(copy.metadata.annotations?.[REVISION_ANNOTATION] ?? String(newRevision));
      if (hasProgressDeadline(d) && getCondition(d.status, 'Progressing') === undefined) {
        const status = this.#status();
        setCondition(
          status,
          newCondition(
            this.clock,
            'Progressing',
            'True',
            reasons.foundNewRS,
            `Found new replica set "${copy.metadata.name ?? ''}"`,
          ),
        );
        await this.writeStatus();
      }
      return existing;
    }
    if (!create) return undefined;
    return this.#createNewReplicaSet(oldRSs, newRevision);
  }

  async #createNewReplicaSet(oldRSs: readonly ReplicaSet[], newRevision: number): Promise<ReplicaSet> {
    const d = this.d;
    const source = cloneJson(d.spec.template ?? {});
    const hash = computePodTemplateHash(source, d.status?.collisionCount);
    const labels = { ...(source.metadata?.labels ?? {}), [POD_TEMPLATE_HASH_LABEL]: hash };
    const template = { ...source, metadata: { ...(source.metadata ?? {}), labels } };
    const selector = cloneJson(d.spec.selector ?? {});
    selector.matchLabels = { ...(selector.matchLabels ?? {}), [POD_TEMPLATE_HASH_LABEL]: hash };
    const name = `${d.metadata.name ?? ''}-${hash}`;
    const minReadySeconds = d.spec.minReadySeconds ?? 0;
    const rs: ReplicaSet = {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: {
        name,
        namespace: d.metadata.namespace ?? '',
        ownerReferences: [controllerRefTo(d)],
        labels: { ...labels },
      },
      spec: { replicas: 0, ...(minReadySeconds === 0 ? {} : { minReadySeconds }), selector, template },
    };
    const replicas = newReplicaSetReplicas(d, [...oldRSs, rs], rs);
    rs.spec.replicas = replicas;
    setNewReplicaSetAnnotations(d, rs, newRevision, false);
    let created: ReplicaSet;
    let alreadyExisted = false;
    try {
      created = asReplicaSet(await this.#deps.storage.create(replicasets, d.metadata.namespace, rs));
    } catch (err) {
      if (isApiError(err) && err.status.reason === 'AlreadyExists') {
        const found = await this.#existingReplicaSet(name);
        if (
          found === undefined ||
          controllerRefOf(found)?.uid !== d.metadata.uid ||
          !templatesEqualIgnoringHash(d.spec.template, found.spec.template)
        ) {
          // A hash collision: another template has this name. Bump collisionCount and retry.
          const status = this.#status();
          status.collisionCount = (status.collisionCount ?? 0) + 1;
          await this.writeStatus();
          this.#deps.logger.info(
            { deployment: name, collisionCount: status.collisionCount },
            'replica set name collision; bumping collisionCount',
          );
          throw err;
        }
        created = found;
        alreadyExisted = true;
      } else if (isApiError(err) && err.status.code === 403 && /being terminated/.test(err.message)) {
        throw err;
      } else {
        const msg = `Failed to create new replica set "${name}": ${errorMessage(err)}`;
        if (hasProgressDeadline(d)) {
          setCondition(
            this.#status(),
            newCondition(this.clock, 'Progressing', 'False', reasons.failedRSCreate, msg),
          );
          await this.writeStatus().catch(() => undefined);
        }
        this.#deps.events.event(d, 'Warning', reasons.failedRSCreate, msg);
        throw err;
      }
    }
    this.#replace(created);
    if (!alreadyExisted && replicas > 0) {
      this.#deps.events.event(
        d,
        'Normal',
        'ScalingReplicaSet',
        `Scaled up replica set ${name} to ${replicas}`,
      );
    }
    await this.#setRevision(String(newRevision));
    if (!alreadyExisted && hasProgressDeadline(d)) {
      setCondition(
        this.#status(),
        newCondition(
          this.clock,
          'Progressing',
          'True',
          reasons.newReplicaSet,
          `Created new replica set "${name}"`,
        ),
      );
      await this.writeStatus();
    }
    return created;
  }

  async #existingReplicaSet(name: string): Promise<ReplicaSet | undefined> {
    const cached = this.#deps.cachedReplicaSet(this.d.metadata.namespace, name);
    if (cached !== undefined) return asReplicaSet(cached);
    try {
      return asReplicaSet(await this.#deps.storage.get(replicasets, this.d.metadata.namespace, name));
    } catch (err) {
      if (isApiError(err) && err.status.code === 404) return undefined;
      throw err;
    }
  }

  /** Writes the deployment's revision annotation when it differs (a metadata-only write). */
  async #setRevision(revision: string): Promise<void> {
    if (this.d.metadata.annotations?.[REVISION_ANNOTATION] === revision) return;
    const updated = await this.#updatePinned(deployments, this.d, (obj) => {
      obj.metadata.annotations = { ...(obj.metadata.annotations ?? {}), [REVISION_ANNOTATION]: revision };
    });
    this.d.metadata.annotations = { ...(updated.metadata.annotations ?? {}) };
    this.#tookVersion(updated);
  }

  // ── scaling and cleanup ──────────────────────────────────────────────────────────────────────

  /** Scales `rs` to `newScale` (event "Scaled up|down …") unless it already has that size. */
  async scaleAndRecord(rs: ReplicaSet, newScale: number): Promise<{ scaled: boolean; rs: ReplicaSet }> {
    if (specReplicas(rs) === newScale) return { scaled: false, rs };
    return this.scaleReplicaSet(rs, newScale, specReplicas(rs) < newScale ? 'up' : 'down');
  }

  /**
   * Sets `rs`'s replicas to `newScale` and its replica annotations to the deployment's current
   * desired/max; records ScalingReplicaSet ("Scaled <op> replica set <name> to <new> from <old>")
   * when the size changed.
   */
  async scaleReplicaSet(
    rs: ReplicaSet,
    newScale: number,
    op: string,
  ): Promise<{ scaled: boolean; rs: ReplicaSet }> {
    const sizeChanges = specReplicas(rs) !== newScale;
    if (!sizeChanges && !replicasAnnotationsNeedUpdate(rs, this.d)) return { scaled: false, rs };
    const old = specReplicas(rs);
    const desired = specReplicas(this.d);
    const max = desired + maxSurge(this.d);
    const updated = await this.#updateReplicaSet(rs, (current) => {
      current.spec.replicas = newScale;
      setReplicasAnnotations(current, desired, max);
    });
    if (sizeChanges) {
      this.#deps.events.event(
        this.d,
        'Normal',
        'ScalingReplicaSet',
        `Scaled ${op} replica set ${rs.metadata.name ?? ''} to ${newScale} from ${old}`,
      );
    }
    return { scaled: sizeChanges, rs: updated };
  }

  /**
   * cleanupDeployment: deletes the oldest old ReplicaSets beyond `revisionHistoryLimit`, skipping any
   * that still have pods, want pods, have not caught up with their spec, or are being deleted.
   */
  async cleanup(oldRSs: readonly ReplicaSet[]): Promise<void> {
    if (!hasRevisionHistoryLimit(this.d)) return;
    const cleanable = oldRSs.filter((rs) => !isBeingDeleted(rs)).sort(byRevision);
    const diff = cleanable.length - (this.d.spec.revisionHistoryLimit ?? 0);
    for (let i = 0; i < diff; i++) {
      const rs = cleanable[i];
      if (rs === undefined) break;
      const caughtUp = (rs.status?.observedGeneration ?? 0) >= (rs.metadata.generation ?? 0);
      if ((rs.status?.replicas ?? 0) !== 0 || specReplicas(rs) !== 0 || !caughtUp) continue;
      await deleteObject(this.#deps.storage, replicasets, targetOf(rs));
      this.#replicaSets = this.#replicaSets.filter((x) => x.metadata.uid !== rs.metadata.uid);
      this.#deps.logger.debug(
        { replicaset: rs.metadata.name },
        'old replica set beyond the revision history limit deleted',
      );
    }
  }

  // ── status ───────────────────────────────────────────────────────────────────────────────────

  /** syncDeploymentStatus: writes the calculated status if it differs (scaling, paused, deleting). */
  async syncStatus(all: readonly (ReplicaSet | undefined)[], newRS: ReplicaSet | undefined): Promise<void> {
    const next = calculateStatus(this.d, all, newRS, this.clock);
    if (jsonEqual(this.d.status ?? {}, next)) return;
    this.d.status = next;
    await this.writeStatus();
  }

  /**
   * syncRolloutStatus: writes the rollout status (deployment-status.ts) if it differs, and sets
   * `requeueAfterMs` for the next progress-deadline check.
   */
  async syncRolloutStatus(
    all: readonly (ReplicaSet | undefined)[],
    newRS: ReplicaSet | undefined,
  ): Promise<void> {
    const next = rolloutStatus(this.d, all, newRS, this.clock);
    if (!jsonEqual(this.d.status ?? {}, next)) {
      this.d.status = next;
      await this.writeStatus();
    }
    this.requeueAfterMs = progressCheckDelay(this.d, next, this.clock.now());
  }

  /** checkPausedConditions: records pausing or resuming in the Progressing condition. */
  async checkPausedConditions(): Promise<void> {
    const condition = pausedCondition(this.d, this.clock);
    if (condition === undefined) return;
    setCondition(this.#status(), condition);
    await this.writeStatus();
  }

  /** Writes `d.status` (pinned to the deployment's resourceVersion). */
  async writeStatus(): Promise<void> {
    const status = cloneJson(this.d.status ?? {});
    const updated = await this.#updatePinned(
      deployments,
      this.d,
      (obj) => {
        obj.status = status;
      },
      'status',
    );
    this.#tookVersion(updated);
  }

  /** Records the resourceVersion this pass's last write of the deployment produced. */
  #tookVersion(updated: StoredObject): void {
    const rv = updated.metadata.resourceVersion;
    if (rv !== undefined) this.d.metadata.resourceVersion = rv;
  }

  #status(): DeploymentStatus {
    return (this.d.status ??= {});
  }

  // ── writes ───────────────────────────────────────────────────────────────────────────────────

  async #updateReplicaSet(rs: ReplicaSet, change: (rs: ReplicaSet) => void): Promise<ReplicaSet> {
    const updated = asReplicaSet(
      await this.#updatePinned(replicasets, rs, (obj) => {
        change(asReplicaSet(obj));
      }),
    );
    this.#replace(updated);
    return updated;
  }

  #replace(rs: ReplicaSet): void {
    const i = this.#replicaSets.findIndex((x) => x.metadata.uid === rs.metadata.uid);
    if (i < 0) this.#replicaSets.push(rs);
    else this.#replicaSets[i] = rs;
  }

  /**
   * A read-modify-write that succeeds only if the stored object is still the version `base` was read
   * at (uid and resourceVersion); otherwise a 409 Conflict, like an Update carrying a resourceVersion.
   */
  async #updatePinned(
    r: ResourceInfo,
    base: StoredObject,
    change: (obj: StoredObject) => void,
    subresource?: 'status',
  ): Promise<StoredObject> {
    const rv = base.metadata.resourceVersion;
    const name = base.metadata.name ?? '';
    const { object } = await this.#deps.storage.update(
      r,
      base.metadata.namespace,
      name,
      (current) => {
        if (current.metadata.uid !== base.metadata.uid) {
          throw new ApiError(conflict({ group: r.group, resource: r.plural }, name));
        }
        change(current);
        if (rv !== undefined) current.metadata.resourceVersion = rv;
        return current;
      },
      subresource === undefined ? {} : { subresource },
    );
    return object;
  }
}
