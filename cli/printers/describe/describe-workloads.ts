/**
 * `describe deployment` and `describe replicaset`, following kubectl's `describeDeployment` and
 * `describeReplicaSet`: replica counts, strategy, the pod template, conditions, the new and old
 * ReplicaSets of a Deployment, the pod phases of a ReplicaSet, and events.
 */

import { isJsonObject, type JsonObject } from '../../../api/patch/json-value.js';
import { formatLabelSelector, selectorString } from '../../../api/table/labels.js';
import { arr, at, num, rec, str } from '../../../api/table/json.js';
import { deploymentReplicaSets } from '../../verbs/deployment-revisions.js';
import { describeEvents } from './describe-events.js';
import { describePodTemplate } from './describe-pod.js';
import {
  controllerOf,
  LEVEL_0,
  LEVEL_1,
  PrefixWriter,
  printAnnotations,
  printLabels,
  rfc1123z,
  v,
  type DescribeContext,
} from './prefix-writer.js';

/** What `describe deployment` prints beyond the object itself. */
export interface DeploymentRelated {
  /** ReplicaSets matching the deployment's selector (filtered here by owner). */
  readonly replicaSets: readonly JsonObject[];
  readonly events: readonly JsonObject[] | undefined;
}

/** `kubectl describe deployment` text. */
export function describeDeployment(d: JsonObject, related: DeploymentRelated, ctx: DescribeContext): string {
  const w = new PrefixWriter();
  const meta = rec(d['metadata']) ?? {};
  const spec = rec(d['spec']) ?? {};
  const status = rec(d['status']) ?? {};
  w.write(LEVEL_0, `Name:\t${v(meta['name'])}\n`);
  w.write(LEVEL_0, `Namespace:\t${v(meta['namespace'])}\n`);
  w.write(LEVEL_0, `CreationTimestamp:\t${rfc1123z(meta['creationTimestamp'], ctx)}\n`);
  printLabels(w, 'Labels', meta['labels']);
  printAnnotations(w, 'Annotations', meta['annotations']);
  w.write(LEVEL_0, `Selector:\t${selectorString(spec['selector'])}\n`);
  const count = (x: unknown): number => num(x) ?? 0;
  w.write(
    LEVEL_0,
    `Replicas:\t${count(spec['replicas'])} desired | ${count(status['updatedReplicas'])} updated | ` +
      `${count(status['replicas'])} total | ${count(status['availableReplicas'])} available | ` +
      `${count(status['unavailableReplicas'])} unavailable\n`,
  );
  w.write(LEVEL_0, `StrategyType:\t${v(at(spec, 'strategy', 'type'))}\n`);
  w.write(LEVEL_0, `MinReadySeconds:\t${count(spec['minReadySeconds'])}\n`);
  const ru = at(spec, 'strategy', 'rollingUpdate');
  if (isJsonObject(ru)) {
    w.write(
      LEVEL_0,
      `RollingUpdateStrategy:\t${intOrString(ru['maxUnavailable'])} max unavailable, ${intOrString(ru['maxSurge'])} max surge\n`,
    );
  }
  describePodTemplate(w, spec['template'], ctx);
  describeConditions(w, status['conditions']);
  const { newRS, oldRSs } = deploymentReplicaSets(d, related.replicaSets);
  if (oldRSs.length > 0 || newRS !== undefined) {
    w.write(LEVEL_0, `OldReplicaSets:\t${replicaSetList(oldRSs)}\n`);
    w.write(LEVEL_0, `NewReplicaSet:\t${replicaSetList(newRS === undefined ? [] : [newRS])}\n`);
  }
  describeEvents(w, related.events, ctx);
  return w.text();
}

/** What `describe replicaset` prints beyond the object itself. */
export interface ReplicaSetRelated {
  /** Pods matching the selector (filtered here by owner). */
  readonly pods: readonly JsonObject[];
  readonly events: readonly JsonObject[] | undefined;
}

/** `kubectl describe replicaset` text. */
export function describeReplicaSet(rs: JsonObject, related: ReplicaSetRelated, ctx: DescribeContext): string {
  const w = new PrefixWriter();
  const meta = rec(rs['metadata']) ?? {};
  const spec = rec(rs['spec']) ?? {};
  const status = rec(rs['status']) ?? {};
  w.write(LEVEL_0, `Name:\t${v(meta['name'])}\n`);
  w.write(LEVEL_0, `Namespace:\t${v(meta['namespace'])}\n`);
  w.write(LEVEL_0, `Selector:\t${formatLabelSelector(spec['selector'])}\n`);
  printLabels(w, 'Labels', meta['labels']);
  printAnnotations(w, 'Annotations', meta['annotations']);
  const controlledBy = controllerOf(rs);
  if (controlledBy !== '') w.write(LEVEL_0, `Controlled By:\t${controlledBy}\n`);
  w.write(
    LEVEL_0,
    `Replicas:\t${num(status['replicas']) ?? 0} current / ${num(spec['replicas']) ?? 0} desired\n`,
  );
  const phases = podPhases(rs, related.pods);
  w.write(LEVEL_0, 'Pods Status:\t');
  w.write(
    LEVEL_0,
    `${phases.running} Running / ${phases.waiting} Waiting / ${phases.succeeded} Succeeded / ${phases.failed} Failed\n`,
  );
  describePodTemplate(w, spec['template'], ctx);
  describeConditions(w, status['conditions']);
  describeEvents(w, related.events, ctx);
  return w.text();
}

function describeConditions(w: PrefixWriter, conditions: unknown): void {
  const list = arr(conditions);
  if (list.length === 0) return;
  w.write(LEVEL_0, 'Conditions:\n  Type\tStatus\tReason\n');
  w.write(LEVEL_1, '----\t------\t------\n');
  for (const c of list)
    w.write(LEVEL_1, `${v(at(c, 'type'))} \t${v(at(c, 'status'))}\t${v(at(c, 'reason'))}\n`);
}

function replicaSetList(list: readonly JsonObject[]): string {
  if (list.length === 0) return '<none>';
  return list
    .map(
      (rs) =>
        `${str(at(rs, 'metadata', 'name')) ?? ''} (${num(at(rs, 'status', 'replicas')) ?? 0}/${num(at(rs, 'spec', 'replicas')) ?? 0} replicas created)`,
    )
    .join(', ');
}

function intOrString(x: unknown): string {
  return typeof x === 'number' ? String(x) : (str(x) ?? '');
}

/** `getPodStatusForController`: phases of the pods `owner` controls. */
export function podPhases(
  owner: unknown,
  pods: readonly JsonObject[],
): { running: number; waiting: number; succeeded: number; failed: number } {
  const uid = str(at(owner, 'metadata', 'uid'));
  const counts = { running: 0, waiting: 0, succeeded: 0, failed: 0 };
  for (const pod of pods) {
    const ref = arr(at(pod, 'metadata', 'ownerReferences')).find((r) => at(r, 'controller') === true);
    if (ref === undefined || at(ref, 'uid') !== uid) continue;
    switch (str(at(pod, 'status', 'phase'))) {
      case 'Running':
        counts.running++;
        break;
      case 'Pending':
        counts.waiting++;
        break;
      case 'Succeeded':
        counts.succeeded++;
        break;
      case 'Failed':
        counts.failed++;
        break;
      default:
        break;
    }
  }
  return counts;
}
