/**
 * Test helpers for the workload controllers when no scheduler or agent runs: they play the agent's
 * part by writing pod status (Running with a Ready condition, stamped with the test's clock) through
 * the status subresource, and read back Deployments, ReplicaSets and pods from the storage.
 */
import type { StoredObject } from '../../../api/object.js';
import type { Clock } from '../../../lib/clock.js';
import type { ResourceStorage } from '../../apiserver/resource-storage.js';
import { requireResource } from '../informer-factory.js';
import { updateObject } from '../object-writes.js';
import { controllerRefOf } from '../owner-references.js';
import { isPodActive, isPodReady } from '../pod-readiness.js';
import type { Deployment, Pod, ReplicaSet } from '../workload-objects.js';
import { rfc3339 } from '../workload-objects.js';

export const deploymentsResource = requireResource('apps', 'v1', 'deployments');
export const replicaSetsResource = requireResource('apps', 'v1', 'replicasets');
export const podsResource = requireResource('', 'v1', 'pods');
export const eventsResource = requireResource('', 'v1', 'events');

/** Marks a pod Running and Ready (as of `clock.now()`), as an agent would report it. */
export async function markPodReady(storage: ResourceStorage, pod: StoredObject, clock: Clock): Promise<void> {
  const now = rfc3339(clock.now());
  await updateObject(
    storage,
    podsResource,
    { namespace: pod.metadata.namespace, name: pod.metadata.name ?? '', uid: pod.metadata.uid },
    (p) => {
      p.status = {
        phase: 'Running',
        conditions: [
          { type: 'Ready', status: 'True', lastTransitionTime: now },
          { type: 'ContainersReady', status: 'True', lastTransitionTime: now },
          { type: 'PodScheduled', status: 'True', lastTransitionTime: now },
        ],
        startTime: now,
      };
      return true;
    },
    { subresource: 'status' },
  );
}

/** Marks a pod Running but not Ready. */
export async function markPodRunning(
  storage: ResourceStorage,
  pod: StoredObject,
  clock: Clock,
): Promise<void> {
  const now = rfc3339(clock.now());
  await updateObject(
    storage,
    podsResource,
    { namespace: pod.metadata.namespace, name: pod.metadata.name ?? '', uid: pod.metadata.uid },
    (p) => {
      p.status = {
        phase: 'Running',
        conditions: [{ type: 'Ready', status: 'False', lastTransitionTime: now }],
        startTime: now,
      };
      return true;
    },
    { subresource: 'status' },
  );
}

export async function listPods(storage: ResourceStorage, namespace = 'default'): Promise<Pod[]> {
  return (await storage.list(podsResource, namespace)).items as Pod[];
}

/** Active pods controlled by the object with `ownerUid`. */
export async function podsOf(
  storage: ResourceStorage,
  ownerUid: string,
  namespace = 'default',
): Promise<Pod[]> {
  return (await listPods(storage, namespace)).filter(
    (p) => controllerRefOf(p)?.uid === ownerUid && isPodActive(p),
  );
}

/** Marks every active, not yet ready pod controlled by `ownerUid` ready; returns how many. */
export async function markAllReady(
  storage: ResourceStorage,
  ownerUid: string,
  clock: Clock,
  namespace = 'default',
): Promise<number> {
  let n = 0;
  for (const pod of await podsOf(storage, ownerUid, namespace)) {
    if (isPodReady(pod)) continue;
    await markPodReady(storage, pod, clock);
    n++;
  }
  return n;
}

export async function getDeployment(
  storage: ResourceStorage,
  name: string,
  namespace = 'default',
): Promise<Deployment> {
  return (await storage.get(deploymentsResource, namespace, name)) as Deployment;
}

export async function getReplicaSet(
  storage: ResourceStorage,
  name: string,
  namespace = 'default',
): Promise<ReplicaSet> {
  return (await storage.get(replicaSetsResource, namespace, name)) as ReplicaSet;
}

/** ReplicaSets controlled by the object with `ownerUid`. */
export async function replicaSetsOf(
  storage: ResourceStorage,
  ownerUid: string,
  namespace = 'default',
): Promise<ReplicaSet[]> {
  const items = (await storage.list(replicaSetsResource, namespace)).items as ReplicaSet[];
  return items.filter((rs) => controllerRefOf(rs)?.uid === ownerUid);
}

/** `reason: message` of every event about the object named `name`. */
export async function eventsAbout(
  storage: ResourceStorage,
  name: string,
  namespace = 'default',
): Promise<string[]> {
  const items = (await storage.list(eventsResource, namespace)).items;
  return items
    .filter((e) => (e['involvedObject'] as { name?: string } | undefined)?.name === name)
    .map((e) => `${String(e['reason'])}: ${String(e['message'])}`);
}
