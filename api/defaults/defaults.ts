/**
 * `applyDefaults`: Kubernetes' defaulting for the kinds Berth serves, picked by apiVersion and kind.
 * Pure: returns a defaulted deep copy and never touches its input. Kinds with no defaults in
 * Kubernetes (ConfigMap, Event, …) and unknown kinds come back as an unchanged copy.
 *
 * Order in a create request, as in Kubernetes: set namespace from the URL and generate the name
 * from generateName → applyDefaults(obj, {operation: 'create', uid}) → validateCreate.
 * On update: applyDefaults(obj, {operation: 'update'}) → (services: carryOverServiceAllocations)
 * → validateUpdate.
 */

import { asObject, asString, cloneJson } from '../validation/json-access.js';
import { defaultEndpoints, defaultNamespace, defaultNode, defaultSecret, defaultService } from './core.js';
import { defaultPod, defaultPodTemplate, child } from './pod.js';
import { podQosClass } from './pod-qos.js';
import { defaultDaemonSet, defaultDeployment, defaultJob, defaultReplicaSet } from './workloads.js';

/** Inputs defaulting needs beyond the object. */
export interface DefaultingOptions {
  /**
   * 'create' (the default) also does what Kubernetes does only on create: a Namespace's
   * `kubernetes` finalizer and Active phase, and a Job's generated selector and labels.
   * Pass 'update' when defaulting the new object of an update.
   */
  operation?: 'create' | 'update';
  /** The uid the new object will get; a Job needs it for its generated selector (else metadata.uid). */
  uid?: string;
}

/** Returns a copy of `obj` with Kubernetes' defaults applied for its apiVersion/kind. */
export function applyDefaults<T>(obj: T, opts: DefaultingOptions = {}): T {
  const copy = cloneJson(obj);
  const o = asObject(copy);
  if (o === undefined) return copy;
  const create = (opts.operation ?? 'create') === 'create';
  const apiVersion = asString(o['apiVersion']);
  const kind = asString(o['kind']);
  const group = apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '';
  switch (`${group}/${kind}`) {
    case '/Pod':
      defaultPod(o);
      // PrepareForCreate: a new pod starts Pending with its QoS class, whatever status the client sent.
      if (create) o['status'] = { phase: 'Pending', qosClass: podQosClass(child(o, 'spec')) };
      break;
    case '/PodTemplate':
      defaultPodTemplate(child(o, 'template'));
      break;
    case '/ReplicationController': {
      const spec = child(o, 'spec');
      if (spec['replicas'] == null) spec['replicas'] = 1;
      defaultPodTemplate(child(spec, 'template'));
      break;
    }
    case '/Service':
      defaultService(o);
      break;
    case '/Secret':
      defaultSecret(o);
      break;
    case '/Namespace':
      defaultNamespace(o, create);
      break;
    case '/Node':
      defaultNode(o);
      break;
    case '/Endpoints':
      defaultEndpoints(o);
      break;
    case 'apps/Deployment':
      defaultDeployment(o);
      break;
    case 'apps/ReplicaSet':
      defaultReplicaSet(o);
      break;
    case 'apps/DaemonSet':
      defaultDaemonSet(o);
      break;
    case 'batch/Job': {
      const uid = opts.uid ?? asString(asObject(o['metadata'])?.['uid']);
      defaultJob(o, create && uid !== '' ? uid : undefined);
      break;
    }
    default:
      // ConfigMap, Event and others: Kubernetes defines no defaults.
      break;
  }
  return copy;
}
