/**
 * `rollout status` for Deployments, as kubectl decides and words it
 * (k8s.io/kubectl/pkg/polymorphichelpers/rollout_status.go), and the list-then-watch loop that feeds
 * it (kubectl's `UntilWithSync`): every observed state is evaluated and its message printed until the
 * rollout is done, the object is deleted, or the timeout fires.
 *
 *   list(name) ─▶ evaluate ─done─▶ exit 0
 *        ▲           │ not done
 *        │           ▼
 *        └─closed── watch(rv) ─event─▶ evaluate …      timeout ─▶ "timed out waiting for the condition"
 */

import type { JsonObject } from '../../api/patch/json-value.js';
import { arr, at, num, str } from '../../api/table/json.js';
import type { Clock } from '../../lib/clock.js';
import { formatStatusError } from '../client/error-message.js';
import type { KubeClient } from '../client/kube-client.js';
import type { ApiResource } from '../client/resource-mapper.js';
import type { Output } from './verb-support.js';

/** One evaluation: the message to print, whether the rollout is complete, or why it failed. */
export type RolloutState = { readonly done: boolean; readonly message: string } | { readonly error: string };

/** kubectl's `DeploymentStatusViewer.Status` (with no `--revision`). */
export function deploymentRolloutStatus(d: JsonObject, revision?: number): RolloutState {
  const name = str(at(d, 'metadata', 'name')) ?? '';
  if (revision !== undefined && revision > 0) {
    const current = Number(
      str(at(d, 'metadata', 'annotations', 'deployment.kubernetes.io/revision')) ?? 'NaN',
    );
    if (!Number.isInteger(current)) return { error: `cannot get the revision of deployment "${name}"` };
    if (current !== revision) {
      return { error: `desired revision (${revision}) is different from the running revision (${current})` };
    }
  }
  const generation = num(at(d, 'metadata', 'generation')) ?? 0;
  const observed = num(at(d, 'status', 'observedGeneration')) ?? 0;
  if (generation > observed)
    return { done: false, message: 'Waiting for deployment spec update to be observed...\n' };
  const progressing = arr(at(d, 'status', 'conditions')).find((c) => at(c, 'type') === 'Progressing');
  if (at(progressing, 'reason') === 'ProgressDeadlineExceeded') {
    return { error: `deployment "${name}" exceeded its progress deadline` };
  }
  const desired = num(at(d, 'spec', 'replicas'));
  const replicas = num(at(d, 'status', 'replicas')) ?? 0;
  const updated = num(at(d, 'status', 'updatedReplicas')) ?? 0;
  const available = num(at(d, 'status', 'availableReplicas')) ?? 0;
  const waiting = `Waiting for deployment "${name}" rollout to finish: `;
  if (desired !== undefined && updated < desired) {
    return {
      done: false,
      message: `${waiting}${updated} out of ${desired} new replicas have been updated...\n`,
    };
  }
  if (replicas > updated) {
    return {
      done: false,
      message: `${waiting}${replicas - updated} old replicas are pending termination...\n`,
    };
  }
  if (available < updated) {
    return {
      done: false,
      message: `${waiting}${available} of ${updated} updated replicas are available...\n`,
    };
  }
  return { done: true, message: `deployment "${name}" successfully rolled out\n` };
}

/** What the status loop needs. */
export interface RolloutWatch {
  readonly client: KubeClient;
  readonly resource: ApiResource;
  readonly namespace: string;
  readonly name: string;
  /** 0: no limit. */
  readonly timeoutMs: number;
  /** With `--watch=false`, print the current state once and stop. */
  readonly watch: boolean;
  readonly revision?: number;
  readonly clock: Clock;
  readonly stdout: Output;
  readonly stderr: Output;
}

/** Runs the status loop; returns the exit code. */
export async function watchRolloutStatus(w: RolloutWatch): Promise<number> {
  const abort = new AbortController();
  const timer =
    w.timeoutMs > 0
      ? w.clock.setTimer(w.timeoutMs, () => {
          abort.abort();
        })
      : undefined;
  const fieldSelector = `metadata.name=${w.name}`;
  const evaluate = (obj: JsonObject): number | undefined => {
    const state = deploymentRolloutStatus(obj, w.revision);
    if ('error' in state) {
      w.stderr.write(`error: ${state.error}\n`);
      return 1;
    }
    w.stdout.write(state.message);
    return state.done || !w.watch ? 0 : undefined;
  };
  try {
    while (!abort.signal.aborted) {
      const list = await w.client.list(w.resource, w.namespace, { fieldSelector, resourceVersion: '0' });
      if (!list.ok) {
        w.stderr.write(formatStatusError(list.status));
        return 1;
      }
      const items = Array.isArray(list.value['items']) ? (list.value['items'] as JsonObject[]) : [];
      const obj = items[0];
      if (obj === undefined) {
        w.stderr.write(`error: deployments.apps "${w.name}" not found\n`);
        return 1;
      }
      const first = evaluate(obj);
      if (first !== undefined) return first;
      const stream = await w.client.watch(w.resource, w.namespace, {
        fieldSelector,
        resourceVersion: str(at(list.value, 'metadata', 'resourceVersion')) ?? '0',
        allowWatchBookmarks: true,
        signal: abort.signal,
      });
      if (!stream.ok) continue;
      for await (const ev of stream.value) {
        if (ev.type === 'DELETED') {
          w.stderr.write('error: object has been deleted\n');
          return 1;
        }
        if (ev.type === 'ERROR') break;
        if (ev.type !== 'ADDED' && ev.type !== 'MODIFIED') continue;
        const code = evaluate(ev.object);
        if (code !== undefined) return code;
      }
    }
    w.stderr.write('error: timed out waiting for the condition\n');
    return 1;
  } finally {
    timer?.cancel();
    abort.abort();
  }
}
