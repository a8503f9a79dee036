/**
 * The plugin contract (kube-scheduler's framework extension points, kept lean). A plugin is an object
 * with a `name` and any subset of these methods; a profile runs them in order per attempt:
 *
 *   PreFilter (once) ─► Filter (per node, until enough feasible nodes) ─► PreScore (once)
 *     ─► Score (per feasible node) + NormalizeScore ─► pick the best ─► Reserve ─► assume ─► Bind (async)
 *
 * Contracts every plugin keeps:
 * - The scheduling cycle (PreFilter…Reserve) is synchronous and single-threaded; plugins may read the
 *   cluster snapshot freely and must not await. Bind is the only asynchronous step.
 * - Expected negatives are values: Filter returns a `Status` for "does not fit", never throws for it.
 *   A throw from any plugin ends the attempt with `result=error` and the pod backs off.
 * - Per-attempt data goes in the `CycleState`, never in the plugin instance.
 */
import type { CycleState } from './cycle-state.js';
import type { NodeInfo } from './node-info.js';
import type { PodInfo } from './pod-info.js';
import type { ClusterSnapshot } from './scheduler-cache.js';
import type { Status } from './status.js';
import type { PodLike } from './types.js';

/** The highest score a Score plugin gives after normalisation (kube's MaxNodeScore). */
export const maxNodeScore = 100;

/** Every plugin has a name unique within its profile (used in metrics, messages and queueing hints). */
export interface Plugin {
  readonly name: string;
}

/**
 * PreFilter outcome: `undefined` = go on with every node; `'skip'` = this plugin has nothing to check
 * for this pod (its Filter is not called); `{ nodeNames }` = only these nodes can fit; a `Status` = the
 * pod cannot be scheduled at all this attempt.
 */
export type PreFilterResult = undefined | 'skip' | Status | { readonly nodeNames: ReadonlySet<string> };

/** Runs once per attempt, before any node is filtered; precomputes what Filter needs. */
export interface PreFilterPlugin extends Plugin {
  preFilter(state: CycleState, pod: PodInfo): PreFilterResult;
}

/** Decides, per node, whether the pod can run there. */
export interface FilterPlugin extends Plugin {
  /** `undefined` when the pod fits `node` as far as this plugin is concerned. */
  filter(state: CycleState, pod: PodInfo, node: NodeInfo): Status | undefined;
}

/** Runs once per attempt over the feasible nodes, before Score. */
export interface PreScorePlugin extends Plugin {
  /** `'skip'`: this plugin would score every node the same for this pod; its Score is not called. */
  preScore(state: CycleState, pod: PodInfo, nodes: readonly NodeInfo[]): 'skip' | undefined;
}

/** Ranks feasible nodes; the profile sums normalised scores times the plugin weight. */
export interface ScorePlugin extends Plugin {
  /** A raw score for `node`; higher is better. Range 0–100 unless `normalizeScores` maps it there. */
  score(state: CycleState, pod: PodInfo, node: NodeInfo): number;
  /** Rescales `scores` (parallel to the feasible nodes) into 0–100 in place. */
  normalizeScores?(state: CycleState, pod: PodInfo, scores: Float64Array): void;
}

/** Holds plugin-side state for the chosen node until binding settles. */
export interface ReservePlugin extends Plugin {
  /** Claims plugin-side resources for the chosen node; a Status fails the attempt (and unreserves). */
  reserve(state: CycleState, pod: PodInfo, nodeName: string): Status | undefined;
  /** Undoes `reserve`; must be idempotent, and is called when reserve or binding fails. */
  unreserve(state: CycleState, pod: PodInfo, nodeName: string): void;
}

/** Result of a bind: `ok`, or the reason it failed (the pod is forgotten and re-queued with back-off). */
export type BindResult = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/** Makes the placement durable (the API binding). */
export interface BindPlugin extends Plugin {
  /** Binds, or returns `'skip'` to let the next Bind plugin do it. */
  bind(state: CycleState, pod: PodInfo, nodeName: string, signal: AbortSignal): Promise<BindResult | 'skip'>;
}

/**
 * The binding seam the wiring implements: POST `/api/v1/namespaces/NS/pods/NAME/binding` with
 * {@link bindingFor}'s body. Resolve `{ ok: false, reason }` for an expected refusal (404 pod gone,
 * 409 already bound); a rejection counts as a failure too. Called with bounded concurrency.
 */
export interface Binder {
  bind(pod: PodLike, nodeName: string, signal: AbortSignal): Promise<BindResult>;
}

/** What plugin factories get: the cluster view and the binder. */
export interface FrameworkHandle {
  readonly snapshot: ClusterSnapshot;
  readonly binder: Binder;
}

/** Per-profile plugin arguments. */
export interface PluginArgs {
  /** NodeResourcesFit's scoring strategy. */
  readonly scoringStrategy: ScoringStrategy;
}

/** NodeResourcesFit's scoring: spread (LeastAllocated) or bin-pack (MostAllocated). */
export type ScoringStrategy = 'LeastAllocated' | 'MostAllocated';

/** Builds a plugin for one profile; called once when the Scheduler is constructed. */
export type PluginFactory = (handle: FrameworkHandle, args: PluginArgs) => Plugin;

/** The core/v1 Binding object for binding `pod` to `nodeName`. */
export function bindingFor(
  pod: PodLike,
  nodeName: string,
): {
  apiVersion: 'v1';
  kind: 'Binding';
  metadata: { name: string; namespace: string; uid?: string };
  target: { apiVersion: 'v1'; kind: 'Node'; name: string };
} {
  const m = pod.metadata;
  const metadata: { name: string; namespace: string; uid?: string } = {
    name: m?.name ?? '',
    namespace: m?.namespace ?? 'default',
  };
  if (m?.uid !== undefined && m.uid !== '') metadata.uid = m.uid;
  return {
    apiVersion: 'v1',
    kind: 'Binding',
    metadata,
    target: { apiVersion: 'v1', kind: 'Node', name: nodeName },
  };
}

/** Type guards: which extension points a plugin object implements. */
export function isPreFilterPlugin(p: Plugin): p is PreFilterPlugin {
  return typeof (p as Partial<PreFilterPlugin>).preFilter === 'function';
}
export function isFilterPlugin(p: Plugin): p is FilterPlugin {
  return typeof (p as Partial<FilterPlugin>).filter === 'function';
}
export function isPreScorePlugin(p: Plugin): p is PreScorePlugin {
  return typeof (p as Partial<PreScorePlugin>).preScore === 'function';
}
export function isScorePlugin(p: Plugin): p is ScorePlugin {
  return typeof (p as Partial<ScorePlugin>).score === 'function';
}
export function isReservePlugin(p: Plugin): p is ReservePlugin {
  return typeof (p as Partial<ReservePlugin>).reserve === 'function';
}
export function isBindPlugin(p: Plugin): p is BindPlugin {
  return typeof (p as Partial<BindPlugin>).bind === 'function';
}
