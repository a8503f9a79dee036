/**
 * The Job controller (pkg/controller/job, tracking with finalizers): runs a Job's pods to the wanted
 * number of completions, `parallelism` at a time, and records the outcome in status and conditions.
 *
 * A reconcile of one Job (level-triggered; woken by the Job, its pods, deadlines and back-off):
 *
 *   1. count: pods carrying the `batch.kubernetes.io/job-tracking` finalizer that have finished —
 *      Succeeded, Failed, or deleted before succeeding (unless `podReplacementPolicy: Failed`), or
 *      anything still running once the Job has met its end — are first added to
 *      `status.uncountedTerminatedPods` (Indexed: their index to `completedIndexes`), then their
 *      finalizers are removed, then (in the final status write) they move into `succeeded`/`failed`.
 *      A crash between the steps neither loses nor double-counts a pod, and a pod deleted by anyone
 *      (GC, eviction, `kubectl delete`) is still counted, because it cannot vanish with the finalizer on.
 *   2. decide: `failed > backoffLimit` (or, for restartPolicy OnFailure, container restarts reaching it)
 *      → FailureTarget/BackoffLimitExceeded; `activeDeadlineSeconds` since startTime passed →
 *      FailureTarget/DeadlineExceeded; enough successes (`completions`, or with no completions any
 *      success and nothing active) → SuccessCriteriaMet/CompletionsReached.
 *   3. act: an ending Job's active pods are deleted; a suspended Job's active pods are deleted
 *      (Suspended=True); otherwise pods are created or deleted towards
 *      min(parallelism, completions − succeeded) active — new pods after failures wait an exponential
 *      back-off (10 s doubling to 6 min by default).
 *   4. status: active, ready, terminating, succeeded, failed, startTime (reset on resume), and
 *      `Complete` (with completionTime) or `Failed` once no pod is active or terminating.
 *   Finished Jobs with `ttlSecondsAfterFinished` are deleted (foreground) when it expires; pods whose
 *   Job is gone or being deleted lose their finalizer.
 *
 *   running ──enough successes──▶ SuccessCriteriaMet ──no pods left──▶ Complete
 *      │ backoff limit / deadline
 *      ▼
 *   FailureTarget ──active pods deleted, none left terminating──▶ Failed
 *
 * Indexed Jobs get one pod per index (`<job>-<index>-xxxxx`, the index in the
 * `batch.kubernetes.io/job-completion-index` annotation and label and in `JOB_COMPLETION_INDEX`).
 * Not implemented: podFailurePolicy rules, successPolicy, backoffLimitPerIndex, managedBy, pod
 * adoption (pods are found by their controller reference).
 */
import { jsonEqual, type StoredObject } from '../../api/object.js';
import { BerthError, errorCodes, errorMessage } from '../../lib/errors.js';
import type { Clock } from '../../lib/clock.js';
import { isApiError } from '../../api/status.js';
import type { Logger } from '../../lib/logger.js';
import type { ResourceStorage } from '../apiserver/resource-storage.js';
import type { Controller, ControllerContext, ControllerDescriptor } from './controller-manager.js';
import type { EventRecorder } from './event-recorder.js';
import { byControllerUid, cacheKey, keyOf, type Informer } from './informer.js';
import { requireResource } from './informer-factory.js';
import {
  completionIndexKey,
  completionIndexOf,
  finishedAs,
  formatIndexes,
  hasCondition,
  jobConditions,
  jobSpec,
  jobTrackingFinalizer,
  parseIndexes,
  setUncounted,
  uncountedOf,
  withCondition,
  type JobSpecView,
} from './job-status.js';
import { parseTime, timestamp } from './node-health.js';
import { deleteObject, hasFinalizer, removeFinalizer, targetOf, updateObject } from './object-writes.js';
import { OwnedPods } from './owned-pods.js';
import { controllerRefOf, controllerRefTo } from './owner-references.js';
import { runWorkers, type ReconcileResult, type WorkQueue } from './work-queue.js';
import { WriteBarrier } from './write-barrier.js';
import {
  boundNodeName,
  creationMs,
  describeObject,
  isPodActive,
  isPodReady,
  isPodTerminal,
  podPhase,
  podRestartCount,
} from './workload-pods.js';

/** Tuning of the Job controller. */
export interface JobControllerOptions {
  /** Jobs reconciled concurrently (default 4). */
  readonly workers?: number;
  /** First delay before creating pods again after a failure (default 10 s, Kubernetes'). */
  readonly podFailureBackoffMs?: number;
  /** Longest such delay (default 6 min). */
  readonly maxPodFailureBackoffMs?: number;
  /** Pod creations in flight at once per Job (default 16). */
  readonly createConcurrency?: number;
}

/** The Job controller for the `ControllerManager`. */
export function jobController(opts: JobControllerOptions = {}): ControllerDescriptor {
  return { name: 'job-controller', create: (ctx) => new JobController(ctx, opts) };
}

const jobs = requireResource('batch', 'v1', 'jobs');
const pods = requireResource('', 'v1', 'pods');
/** Pods counted (and released) per sync, and pods created or deleted per sync (Kubernetes' 500s). */
const MAX_UNCOUNTED = 500;
const MAX_CREATE_DELETE = 500;
const BARRIER_RECHECK_MS = 1000;
/** Queue keys for pods whose finalizer may have to be released without their Job. */
const ORPHAN_PREFIX = 'pod:';

interface Ending {
  readonly type: 'Complete' | 'Failed';
  readonly reason: string;
  readonly message: string;
}

const successEnd: Ending = {
  type: 'Complete',
  reason: 'CompletionsReached',
  message: 'Reached expected number of succeeded pods',
};

/** The Job controller, keyed by `namespace/name` (and `pod:<key>` for orphaned pods). Construct through {@link jobController}. */
export class JobController implements Controller {
  readonly name = 'job-controller';
  readonly #storage: ResourceStorage;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #events: EventRecorder;
  readonly #jobs: Informer;
  readonly #pods: Informer;
  readonly #queue: WorkQueue;
  readonly #barrier = new WriteBarrier();
  readonly #owned: OwnedPods;
  readonly #workers: number;
  readonly #backoffMs: number;
  readonly #maxBackoffMs: number;
  readonly #createConcurrency: number;
  /** Job uid → failures since its last success, and when the last was seen. */
  readonly #failures = new Map<string, { count: number; lastMs: number }>();

  constructor(ctx: ControllerContext, opts: JobControllerOptions = {}) {
    this.#storage = ctx.storage;
    this.#clock = ctx.clock;
    this.#log = ctx.logger;
    this.#events = ctx.events;
    this.#workers = opts.workers ?? 4;
    this.#backoffMs = opts.podFailureBackoffMs ?? 10_000;
    this.#maxBackoffMs = opts.maxPodFailureBackoffMs ?? 360_000;
    this.#createConcurrency = opts.createConcurrency ?? 16;
    this.#queue = ctx.newQueue('job');
    this.#jobs = ctx.informers.informerFor(jobs);
    this.#pods = ctx.informers.informerFor(pods);
    this.#pods.addIndex(byControllerUid);
    this.#owned = new OwnedPods({
      storage: ctx.storage,
      events: ctx.events,
      pods: this.#pods,
      barrier: this.#barrier,
    });

    this.#jobs.addEventHandler({
      onAdd: (job) => {
        this.#queue.add(keyOf(job));
      },
      onUpdate: (_old, job) => {
        this.#queue.add(keyOf(job));
      },
      onDelete: (job) => {
        this.#barrier.forget(keyOf(job));
        this.#failures.delete(job.metadata.uid ?? '');
        for (const pod of this.#pods.byIndex(byControllerUid, job.metadata.uid ?? '')) {
          if (hasFinalizer(pod, jobTrackingFinalizer)) this.#queue.add(ORPHAN_PREFIX + keyOf(pod));
        }
      },
    });
    const onPod = (pod: StoredObject): void => {
      const ref = controllerRefOf(pod);
      const isJobPod = ref?.kind === 'Job' && ref.apiVersion.startsWith('batch/');
      const job = isJobPod ? this.#jobs.get(pod.metadata.namespace, ref.name) : undefined;
      if (isJobPod && job?.metadata.uid === ref.uid) {
        this.#queue.add(cacheKey(pod.metadata.namespace, ref.name));
      } else if (hasFinalizer(pod, jobTrackingFinalizer)) {
        this.#queue.add(ORPHAN_PREFIX + keyOf(pod));
      }
    };
    this.#pods.addEventHandler({
      onAdd: onPod,
      onUpdate: (old, pod) => {
        onPod(pod);
        if (controllerRefOf(old)?.uid !== controllerRefOf(pod)?.uid) onPod(old);
      },
      onDelete: onPod,
    });
  }

  run(signal: AbortSignal): Promise<void> {
    return runWorkers(this.#queue, (key) => this.reconcile(key), {
      workers: this.#workers,
      signal,
      logger: this.#log,
    });
  }

  /** One pass over the Job behind `key` (or, for `pod:<key>`, an orphaned pod). Exposed for tests. */
  async reconcile(key: string): Promise<ReconcileResult | undefined> {
    if (key.startsWith(ORPHAN_PREFIX)) {
      await this.#releaseOrphan(key.slice(ORPHAN_PREFIX.length));
      return undefined;
    }
    const job = this.#jobs.getByKey(key);
    if (job === undefined) {
      this.#barrier.forget(key);
      return undefined;
    }
    if (!this.#barrier.caughtUp(key)) return { requeueAfterMs: BARRIER_RECHECK_MS };
    const jobPods = this.#pods.byIndex(byControllerUid, job.metadata.uid ?? '');
    if (job.metadata.deletionTimestamp !== undefined) {
      // Going away: nothing more to count; let its pods go too.
      await this.#release(
        key,
        jobPods.filter((p) => hasFinalizer(p, jobTrackingFinalizer)),
      );
      return undefined;
    }
    if (finishedAs(job) !== undefined) {
      await this.#release(
        key,
        jobPods.filter((p) => hasFinalizer(p, jobTrackingFinalizer)),
      );
      return this.#expireFinished(job);
    }
    return this.#sync(key, job, jobPods);
  }

  async #sync(key: string, job: StoredObject, jobPods: StoredObject[]): Promise<ReconcileResult | undefined> {
    const spec = jobSpec(job);
    const now = this.#clock.now();
    const uid = job.metadata.uid ?? '';
    const completions = spec.completions ?? 0;
    const status0 = job.status as Record<string, unknown> | undefined;
    let ending = interimEnding(status0);

    // 1. Count finished pods: uncounted first, then release their finalizers.
    const uncounted0 = uncountedOf(status0);
    const indexes0 = spec.indexed
      ? parseIndexes(status0?.['completedIndexes'], completions)
      : new Set<number>();
    const held = jobPods.filter((p) => hasFinalizer(p, jobTrackingFinalizer));
    const toRelease: StoredObject[] = [];
    const addSucceeded: string[] = [];
    const addFailed: string[] = [];
    const addIndexes: number[] = [];
    for (const pod of held) {
      const podUid = pod.metadata.uid ?? '';
      const succeeded = podPhase(pod) === 'Succeeded';
      const failed = isPodFailed(pod, spec);
      if (ending === undefined && !succeeded && !failed) continue;
      toRelease.push(pod);
      if (succeeded && !uncounted0.failed.has(podUid)) {
        if (spec.indexed) {
          const ix = completionIndexOf(pod);
          if (ix !== undefined && ix < completions && !indexes0.has(ix)) addIndexes.push(ix);
        } else if (!uncounted0.succeeded.has(podUid)) {
          addSucceeded.push(podUid);
        }
      } else if (!succeeded && !uncounted0.failed.has(podUid)) {
        addFailed.push(podUid);
      }
      if (toRelease.length >= MAX_UNCOUNTED) break;
    }
    this.#noteFinished(uid, addSucceeded.length + addIndexes.length, addFailed.length, now);
    let current = job;
    if (addSucceeded.length + addFailed.length + addIndexes.length > 0) {
      const result = await updateObject(
        this.#storage,
        jobs,
        targetOf(job),
        (j) => {
          const st = { ...((j.status ?? {}) as Record<string, unknown>) };
          const u = uncountedOf(st);
          for (const x of addSucceeded) u.succeeded.add(x);
          for (const x of addFailed) u.failed.add(x);
          setUncounted(st, u);
          if (spec.indexed) {
            const ix = parseIndexes(st['completedIndexes'], completions);
            for (const x of addIndexes) ix.add(x);
            st['completedIndexes'] = formatIndexes(ix);
            st['succeeded'] = ix.size;
          }
          j.status = st;
          return true;
        },
        { subresource: 'status' },
      );
      if (result.outcome === 'gone') return undefined;
      current = result.object;
      this.#barrier.note(key, this.#jobs, current.metadata.resourceVersion);
    }
    const released = await this.#release(key, toRelease);
    const stillHeld = new Set(
      held.filter((p) => !released.has(p.metadata.uid ?? '')).map((p) => p.metadata.uid ?? ''),
    );

    // 2. Decide.
    const status1 = current.status as Record<string, unknown> | undefined;
    const u1 = uncountedOf(status1);
    const succeeded = spec.indexed
      ? parseIndexes(status1?.['completedIndexes'], completions).size
      : count(status1?.['succeeded']) + u1.succeeded.size;
    const failed = count(status1?.['failed']) + u1.failed.size;
    const active = jobPods.filter(isPodActive);
    const startMs = parseTime(status1?.['startTime']);
    let requeueMs: number | undefined;
    if (ending === undefined) {
      if (failed > spec.backoffLimit || pastBackoffLimitOnFailure(spec, active)) {
        ending = {
          type: 'Failed',
          reason: 'BackoffLimitExceeded',
          message: 'Job has reached the specified backoff limit',
        };
      } else if (
        spec.activeDeadlineSeconds !== undefined &&
        !spec.suspend &&
        startMs !== undefined &&
        now - startMs >= spec.activeDeadlineSeconds * 1000
      ) {
        ending = {
          type: 'Failed',
          reason: 'DeadlineExceeded',
          message: 'Job was active longer than specified deadline',
        };
      } else {
        const complete =
          spec.completions === undefined
            ? succeeded > 0 && active.length === 0
            : succeeded >= spec.completions && active.length === 0;
        if (complete) ending = successEnd;
        else if (spec.activeDeadlineSeconds !== undefined && !spec.suspend) {
          const deadline = (startMs ?? now) + spec.activeDeadlineSeconds * 1000;
          requeueMs = Math.max(1, deadline - now);
        }
      }
    }

    // 3. Act.
    const failures: string[] = [];
    let deleted = 0;
    let terminatingNow = 0;
    // Pods removed because the Job ends keep their finalizer until counted (as failures); pods
    // removed because of suspension or scale-down are released first and never counted
    // (deleteActivePods vs deleteJobPods).
    const remove = async (list: readonly StoredObject[], count: boolean): Promise<void> => {
      await Promise.all(
        list.slice(0, MAX_CREATE_DELETE).map(async (pod) => {
          try {
            if (!count) await this.#release(key, [pod]);
            const outcome = await this.#owned.delete(job, key, pod);
            if (outcome !== 'gone') deleted++;
            if (outcome === 'terminating' && (count || boundNodeName(pod) !== undefined)) terminatingNow++;
          } catch (err) {
            failures.push(errorMessage(err));
          }
        }),
      );
    };
    if (ending !== undefined) {
      await remove(active, true);
    } else if (spec.suspend) {
      await remove(active, false);
    } else {
      const wait = this.#backoffRemaining(uid, now);
      const plan = spec.indexed
        ? planIndexed(spec, active, parseIndexes(status1?.['completedIndexes'], completions))
        : planNonIndexed(spec, active, succeeded, jobPods);
      await remove(plan.remove, false);
      if (plan.create.length > 0 && wait > 0) {
        requeueMs = Math.min(requeueMs ?? Infinity, wait);
      } else if (plan.create.length > 0) {
        await this.#createPods(job, key, plan.create.slice(0, MAX_CREATE_DELETE), failures);
      }
    }

    // 4. Status.
    const activeAfter = ending !== undefined || spec.suspend ? active.length - deleted : active.length;
    const terminating =
      jobPods.filter(
        (p) =>
          p.metadata.deletionTimestamp !== undefined && !isPodTerminal(p) && stillHeldOrBound(p, stillHeld),
      ).length + terminatingNow;
    const ready = active.filter(isPodReady).length;
    await this.#writeStatus(job, key, {
      spec,
      ending,
      stillHeld,
      active: Math.max(0, activeAfter),
      ready: ending !== undefined || spec.suspend ? 0 : ready,
      terminating,
      now,
    });
    if (failures.length > 0) {
      throw new BerthError(errorCodes.RECONCILE_FAILED, `job ${key}: ${failures.join('; ')}`);
    }
    return requeueMs === undefined ? undefined : { requeueAfterMs: requeueMs };
  }

  async #writeStatus(
    job: StoredObject,
    key: string,
    s: {
      spec: JobSpecView;
      ending: Ending | undefined;
      stillHeld: ReadonlySet<string>;
      active: number;
      ready: number;
      terminating: number;
      now: number;
    },
  ): Promise<void> {
    const events: { type: 'Normal' | 'Warning'; reason: string; message: string }[] = [];
    const result = await updateObject(
      this.#storage,
      jobs,
      targetOf(job),
      (j) => {
        events.length = 0;
        const before = (j.status ?? {}) as Record<string, unknown>;
        const st = { ...before };
        // Uncounted pods whose finalizer is gone are counted for good.
        const u = uncountedOf(st);
        let succeeded = count(st['succeeded']);
        let failed = count(st['failed']);
        for (const x of [...u.succeeded]) {
          if (s.stillHeld.has(x)) continue;
          u.succeeded.delete(x);
          if (!s.spec.indexed) succeeded++;
        }
        for (const x of [...u.failed]) {
          if (s.stillHeld.has(x)) continue;
          u.failed.delete(x);
          failed++;
        }
        setUncounted(st, u);
        // active, succeeded and failed are omitempty in batch/v1; ready and terminating are pointers.
        for (const [field, value] of [
          ['succeeded', succeeded],
          ['failed', failed],
          ['active', s.active],
        ] as const) {
          if (value === 0) Reflect.deleteProperty(st, field);
          else st[field] = value;
        }
        st['ready'] = s.ready;
        st['terminating'] = s.terminating;
        let conditions = jobConditions(st);
        const set = (type: string, status: string, reason: string, message: string): boolean => {
          const r = withCondition(conditions, { type, status, reason, message }, s.now);
          conditions = r.conditions;
          return r.changed;
        };
        if (s.spec.suspend && s.ending === undefined) {
          if (set('Suspended', 'True', 'JobSuspended', 'Job suspended')) {
            events.push({ type: 'Normal', reason: 'Suspended', message: 'Job suspended' });
          }
        } else if (set('Suspended', 'False', 'JobResumed', 'Job resumed')) {
          events.push({ type: 'Normal', reason: 'Resumed', message: 'Job resumed' });
          // The deadline counts time active: it starts again on resume.
          st['startTime'] = timestamp(s.now);
        }
        if (st['startTime'] === undefined && !s.spec.suspend) st['startTime'] = timestamp(s.now);
        if (s.ending !== undefined) {
          const interim = s.ending.type === 'Complete' ? 'SuccessCriteriaMet' : 'FailureTarget';
          if (set(interim, 'True', s.ending.reason, s.ending.message) && s.ending.type === 'Failed') {
            events.push({ type: 'Warning', reason: s.ending.reason, message: s.ending.message });
          }
          const drained = s.active === 0 && s.terminating === 0 && u.succeeded.size + u.failed.size === 0;
          if (drained && set(s.ending.type, 'True', s.ending.reason, s.ending.message)) {
            if (s.ending.type === 'Complete') {
              st['completionTime'] = timestamp(s.now);
              events.push({ type: 'Normal', reason: 'Completed', message: 'Job completed' });
            }
          }
        }
        if (conditions.length > 0) st['conditions'] = conditions;
        if (jsonEqual(st, before)) return false;
        j.status = st;
        return true;
      },
      { subresource: 'status' },
    );
    if (result.outcome === 'updated') {
      this.#barrier.note(key, this.#jobs, result.object.metadata.resourceVersion);
      for (const e of events) this.#events.event(result.object, e.type, e.reason, e.message);
      if (finishedAs(result.object) !== undefined) {
        this.#log.info({ job: describeObject(job), as: finishedAs(result.object) }, 'job finished');
      }
    }
  }

  async #createPods(
    job: StoredObject,
    key: string,
    indexes: readonly (number | undefined)[],
    failures: string[],
  ): Promise<void> {
    for (let i = 0; i < indexes.length; i += this.#createConcurrency) {
      const batch = indexes.slice(i, i + this.#createConcurrency);
      const results = await Promise.allSettled(
        batch.map((ix) => this.#owned.create(job, key, newJobPod(job, ix))),
      );
      const failed = results.filter((r) => r.status === 'rejected');
      if (failed.length > 0) {
        failures.push(...failed.map((r) => errorMessage(r.reason)));
        return;
      }
    }
  }

  /** Removes the tracking finalizer from `list`; returns the uids released (or already gone). */
  async #release(key: string, list: readonly StoredObject[]): Promise<Set<string>> {
    const released = new Set<string>();
    const errors: unknown[] = [];
    await Promise.all(
      list.map(async (pod) => {
        try {
          const r = await updateObject(this.#storage, pods, targetOf(pod), (p) =>
            removeFinalizer(p, jobTrackingFinalizer),
          );
          if (r.outcome !== 'gone') this.#barrier.note(key, this.#pods, r.object.metadata.resourceVersion);
          released.add(pod.metadata.uid ?? '');
        } catch (err) {
          errors.push(err);
        }
      }),
    );
    if (errors.length > 0) {
      throw new BerthError(
        errorCodes.RECONCILE_FAILED,
        `release job pods of ${key}: ${errorMessage(errors[0])}`,
        {
          cause: errors[0],
        },
      );
    }
    return released;
  }

  /** A pod with the tracking finalizer whose Job is gone (or is not its controller): release it. */
  async #releaseOrphan(podKey: string): Promise<void> {
    const pod = this.#pods.getByKey(podKey);
    if (pod === undefined || !hasFinalizer(pod, jobTrackingFinalizer)) return;
    const ref = controllerRefOf(pod);
    if (ref?.kind === 'Job' && ref.apiVersion.startsWith('batch/')) {
      const cached = this.#jobs.get(pod.metadata.namespace, ref.name);
      if (cached?.metadata.uid === ref.uid) return; // its Job's reconcile owns it
      try {
        const live = await this.#storage.get(jobs, pod.metadata.namespace, ref.name);
        if (live.metadata.uid === ref.uid) return;
      } catch (err) {
        if (!(isApiError(err) && err.status.code === 404)) throw err;
      }
    }
    await updateObject(this.#storage, pods, targetOf(pod), (p) => removeFinalizer(p, jobTrackingFinalizer));
    this.#log.debug({ pod: podKey }, 'released the tracking finalizer of a pod without its job');
  }

  /** `ttlSecondsAfterFinished`: deletes the finished Job when its time is up. */
  async #expireFinished(job: StoredObject): Promise<ReconcileResult | undefined> {
    const ttl = jobSpec(job).ttlSecondsAfterFinished;
    if (ttl === undefined) return undefined;
    const status = job.status as Record<string, unknown> | undefined;
    const as = finishedAs(job);
    const finishedMs =
      parseTime(status?.['completionTime']) ??
      parseTime(jobConditions(status).find((c) => c.type === as)?.lastTransitionTime) ??
      this.#clock.now();
    const expireAt = finishedMs + ttl * 1000;
    const now = this.#clock.now();
    if (now < expireAt) return { requeueAfterMs: expireAt - now };
    const outcome = await deleteObject(this.#storage, jobs, targetOf(job), {
      propagationPolicy: 'Foreground',
    });
    this.#log.info(
      { job: describeObject(job), outcome },
      'finished job deleted after ttlSecondsAfterFinished',
    );
    return undefined;
  }

  #noteFinished(uid: string, succeeded: number, failed: number, nowMs: number): void {
    if (succeeded === 0 && failed === 0) return;
    const prev = this.#failures.get(uid) ?? { count: 0, lastMs: 0 };
    const next = {
      count: succeeded > 0 ? failed : prev.count + failed,
      lastMs: failed > 0 ? nowMs : prev.lastMs,
    };
    this.#failures.set(uid, next);
  }

  /** Milliseconds before pods may be created again after failures (0 when free to). */
  #backoffRemaining(uid: string, nowMs: number): number {
    const f = this.#failures.get(uid);
    if (f === undefined || f.count === 0) return 0;
    const delay = Math.min(this.#backoffMs * 2 ** (f.count - 1), this.#maxBackoffMs);
    return Math.max(0, f.lastMs + delay - nowMs);
  }
}

function count(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

/** The Job's interim condition, if it has already met its end. */
function interimEnding(status: Record<string, unknown> | undefined): Ending | undefined {
  for (const [type, end] of [
    ['FailureTarget', 'Failed'],
    ['SuccessCriteriaMet', 'Complete'],
  ] as const) {
    if (!hasCondition(status, type)) continue;
    const c = jobConditions(status).find((x) => x.type === type);
    return { type: end, reason: c?.reason ?? '', message: c?.message ?? '' };
  }
  return undefined;
}

/** A pod that failed — or, unless only Failed pods are replaced, was deleted before succeeding. */
function isPodFailed(pod: StoredObject, spec: JobSpecView): boolean {
  const phase = podPhase(pod);
  if (phase === 'Failed') return true;
  if (spec.onlyReplaceFailed) return false;
  return pod.metadata.deletionTimestamp !== undefined && phase !== 'Succeeded';
}

/** restartPolicy OnFailure: container restarts of active pods reach the backoff limit. */
function pastBackoffLimitOnFailure(spec: JobSpecView, active: readonly StoredObject[]): boolean {
  if (spec.restartPolicy !== 'OnFailure') return false;
  const restarts = active.reduce((n, p) => n + podRestartCount(p), 0);
  return spec.backoffLimit === 0 ? restarts > 0 : restarts >= spec.backoffLimit;
}

/** Terminating pods that still count: those we hold, and bound ones whose agent must confirm. */
function stillHeldOrBound(pod: StoredObject, held: ReadonlySet<string>): boolean {
  return held.has(pod.metadata.uid ?? '') || boundNodeName(pod) !== undefined;
}

interface Plan {
  /** Pods to create (an index each for Indexed Jobs, undefined otherwise). */
  readonly create: (number | undefined)[];
  readonly remove: StoredObject[];
}

/** Which active pods to give up first: unbound, not ready, newest (ActivePods ordering, simplified). */
function deletionOrder(a: StoredObject, b: StoredObject): number {
  const ab = boundNodeName(a) !== undefined ? 1 : 0;
  const bb = boundNodeName(b) !== undefined ? 1 : 0;
  if (ab !== bb) return ab - bb;
  const ar = isPodReady(a) ? 1 : 0;
  const br = isPodReady(b) ? 1 : 0;
  if (ar !== br) return ar - br;
  return creationMs(b) - creationMs(a);
}

function planNonIndexed(
  spec: JobSpecView,
  active: readonly StoredObject[],
  succeeded: number,
  all: readonly StoredObject[],
): Plan {
  let want: number;
  if (spec.completions === undefined) want = succeeded > 0 ? active.length : spec.parallelism;
  else want = Math.max(0, Math.min(spec.completions - succeeded, spec.parallelism));
  if (active.length > want)
    return { create: [], remove: [...active].sort(deletionOrder).slice(0, active.length - want) };
  let diff = want - active.length;
  if (spec.onlyReplaceFailed) {
    diff -= all.filter((p) => p.metadata.deletionTimestamp !== undefined && !isPodTerminal(p)).length;
  }
  return { create: Array.from({ length: Math.max(0, diff) }, () => undefined), remove: [] };
}

function planIndexed(spec: JobSpecView, active: readonly StoredObject[], done: ReadonlySet<number>): Plan {
  const completions = spec.completions ?? 0;
  const remove: StoredObject[] = [];
  const byIndex = new Map<number, StoredObject>();
  for (const pod of [...active].sort((a, b) => creationMs(a) - creationMs(b))) {
    const ix = completionIndexOf(pod);
    // Out of range, already done, or a second pod for the index: not wanted.
    if (ix === undefined || ix >= completions || done.has(ix) || byIndex.has(ix)) remove.push(pod);
    else byIndex.set(ix, pod);
  }
  const want = Math.max(0, Math.min(completions - done.size, spec.parallelism));
  if (byIndex.size > want) {
    const extra = [...byIndex.keys()].sort((a, b) => b - a).slice(0, byIndex.size - want);
    for (const ix of extra) remove.push(byIndex.get(ix) as StoredObject);
    return { create: [], remove };
  }
  const create: number[] = [];
  for (let ix = 0; ix < completions && create.length < want - byIndex.size; ix++) {
    if (!done.has(ix) && !byIndex.has(ix)) create.push(ix);
  }
  return { create, remove };
}

interface TemplateView {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
}

/** A pod of `job` (for completion index `index` of an Indexed Job). */
export function newJobPod(job: StoredObject, index: number | undefined): StoredObject {
  const template = structuredClone((job.spec as { template?: TemplateView } | undefined)?.template ?? {});
  const name = job.metadata.name ?? '';
  const labels = { ...template.metadata?.labels };
  const annotations = { ...template.metadata?.annotations };
  const spec = template.spec ?? {};
  if (index !== undefined) {
    labels[completionIndexKey] = String(index);
    annotations[completionIndexKey] = String(index);
    if (typeof spec['hostname'] !== 'string' || spec['hostname'] === '')
      spec['hostname'] = `${name}-${index}`;
    for (const field of ['containers', 'initContainers']) {
      const list = spec[field];
      if (!Array.isArray(list)) continue;
      for (const c of list as { env?: { name: string; value?: string }[] }[]) {
        const env = (c.env ?? []).filter((e) => e.name !== 'JOB_COMPLETION_INDEX');
        c.env = [...env, { name: 'JOB_COMPLETION_INDEX', value: String(index) }];
      }
    }
  }
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: index === undefined ? `${name}-` : `${name}-${index}-`,
      ...(job.metadata.namespace === undefined ? {} : { namespace: job.metadata.namespace }),
      labels,
      ...(Object.keys(annotations).length === 0 ? {} : { annotations }),
      finalizers: [jobTrackingFinalizer],
      ownerReferences: [controllerRefTo(job)],
    },
    spec,
  };
}
