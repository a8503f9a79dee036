/**
 * Creating and deleting the pods a workload controller owns (client-go's PodControl, for the
 * DaemonSet and Job controllers): writes go through `ResourceStorage`, each write's revision is noted
 * in the controller's `WriteBarrier` under the owner's key (so the next reconcile waits until the pod
 * cache shows it), and `SuccessfulCreate`/`FailedCreate`/`SuccessfulDelete`/`FailedDelete` events go
 * on the owner, with Kubernetes' messages.
 */
import type { StoredObject } from '../../api/object.js';
import { isApiError } from '../../api/status.js';
import { BerthError, errorCodes, errorMessage } from '../../lib/errors.js';
import type { ResourceStorage } from '../apiserver/resource-storage.js';
import type { EventRecorder } from './event-recorder.js';
import type { Informer } from './informer.js';
import { requireResource } from './informer-factory.js';
import type { WriteBarrier } from './write-barrier.js';

const pods = requireResource('', 'v1', 'pods');

/** What `OwnedPods` writes with and records into. */
export interface OwnedPodsDeps {
  readonly storage: ResourceStorage;
  readonly events: EventRecorder;
  /** The pod informer the owner's reconcile reads. */
  readonly pods: Informer;
  readonly barrier: WriteBarrier;
}

/** What `deletePod` did: `gone` means it was not there (or was another pod by now). */
export type PodDeleteOutcome = 'deleted' | 'terminating' | 'gone';

/** Pod creation and deletion on behalf of an owner, with barrier notes and events. */
export class OwnedPods {
  readonly #d: OwnedPodsDeps;

  constructor(deps: OwnedPodsDeps) {
    this.#d = deps;
  }

  /**
   * Creates `pod` for `owner` (cache key `ownerKey`). Returns the created pod; on failure records
   * FailedCreate and throws (a namespace being deleted included: the owner is going too).
   */
  async create(owner: StoredObject, ownerKey: string, pod: StoredObject): Promise<StoredObject> {
    try {
      const created = await this.#d.storage.create(pods, owner.metadata.namespace, pod);
      this.#d.barrier.note(ownerKey, this.#d.pods, created.metadata.resourceVersion);
      this.#d.events.event(
        owner,
        'Normal',
        'SuccessfulCreate',
        `Created pod: ${created.metadata.name ?? ''}`,
      );
      return created;
    } catch (err) {
      this.#d.events.event(owner, 'Warning', 'FailedCreate', `Error creating: ${errorMessage(err)}`);
      throw new BerthError(errorCodes.RECONCILE_FAILED, `create pod for ${ownerKey}: ${errorMessage(err)}`, {
        cause: err,
      });
    }
  }

  /**
   * Deletes `pod` (only that uid) on behalf of `owner`, gracefully unless `gracePeriodSeconds` says
   * otherwise. Records SuccessfulDelete, or FailedDelete and throws.
   */
  async delete(
    owner: StoredObject,
    ownerKey: string,
    pod: StoredObject,
    opts: { gracePeriodSeconds?: number } = {},
  ): Promise<PodDeleteOutcome> {
    const name = pod.metadata.name ?? '';
    try {
      const result = await this.#d.storage.delete(pods, pod.metadata.namespace, name, {
        ...opts,
        ...(pod.metadata.uid === undefined ? {} : { preconditions: { uid: pod.metadata.uid } }),
      });
      this.#d.barrier.note(ownerKey, this.#d.pods, result.object.metadata.resourceVersion);
      this.#d.events.event(owner, 'Normal', 'SuccessfulDelete', `Deleted pod: ${name}`);
      return result.deleted ? 'deleted' : 'terminating';
    } catch (err) {
      // Already gone, or the name now belongs to another pod (failed uid precondition).
      if (isApiError(err) && (err.status.code === 404 || err.status.code === 409)) return 'gone';
      this.#d.events.event(owner, 'Warning', 'FailedDelete', `Error deleting: ${errorMessage(err)}`);
      throw new BerthError(
        errorCodes.RECONCILE_FAILED,
        `delete pod ${name} of ${ownerKey}: ${errorMessage(err)}`,
        {
          cause: err,
        },
      );
    }
  }
}
