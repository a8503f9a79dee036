/**
 * A pod's QoS class (Guaranteed, Burstable, BestEffort), computed as Kubernetes' `qos.GetPodQOS`
 * does from the containers' cpu and memory requests and limits. The API server stores it in
 * `status.qosClass` when a pod is created; the agent's cgroups and eviction order follow it.
 */
import { asArray, asObject } from '../validation/json-access.js';
import { toMilliValue } from '../validation/quantity.js';

export type QosClass = 'Guaranteed' | 'Burstable' | 'BestEffort';

const computeResources = ['cpu', 'memory'] as const;

/** The QoS class of a pod spec (init and app containers; ephemeral containers do not count). */
export function podQosClass(spec: Record<string, unknown>): QosClass {
  let anySet = false;
  let guaranteed = true;
  for (const field of ['initContainers', 'containers']) {
    for (const c of asArray(spec[field])) {
      const resources = asObject(asObject(c)?.['resources']);
      const requests = asObject(resources?.['requests']) ?? {};
      const limits = asObject(resources?.['limits']) ?? {};
      for (const name of computeResources) {
        const req = quantityOf(requests[name]);
        const lim = quantityOf(limits[name]);
        if ((req !== undefined && req > 0) || (lim !== undefined && lim > 0)) anySet = true;
        // Guaranteed needs a limit for cpu and memory in every container, with requests equal to it.
        if (lim === undefined || lim === 0 || (req !== undefined && req !== lim)) guaranteed = false;
      }
    }
  }
  if (!anySet) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}

function quantityOf(v: unknown): number | undefined {
  return v === undefined ? undefined : toMilliValue(v);
}
