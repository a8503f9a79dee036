/**
 * One scheduling profile at work (kube's frameworkImpl + the schedulePod algorithm): runs the
 * profile's plugins over the cluster for one pod and picks a node.
 *
 * Finding feasible nodes stops once `numFeasibleNodesToFind` have passed every filter (kube's
 * percentageOfNodesToScore: on 1,000 nodes, 420 are enough), and the next attempt starts where this
 * one stopped, so all nodes get their turn. When nothing fits, every node has been checked, so the
 * failure message accounts for all of them. PreFilter results are computed once per attempt; plugins
 * with nothing to check for the pod are skipped for every node; the per-node loop allocates nothing
 * for nodes that pass or fail with a shared Status.
 */
import { performance } from 'node:perf_hooks';
import type { CycleState } from './cycle-state.js';
import { Diagnosis, fitErrorMessage } from './fit-error.js';
import {
  isBindPlugin,
  isFilterPlugin,
  isPreFilterPlugin,
  isPreScorePlugin,
  isReservePlugin,
  isScorePlugin,
  type BindPlugin,
  type BindResult,
  type FilterPlugin,
  type FrameworkHandle,
  type Plugin,
  type PreFilterPlugin,
  type PreScorePlugin,
  type ReservePlugin,
  type ScorePlugin,
} from './framework.js';
import type { NodeInfo } from './node-info.js';
import type { PodInfo } from './pod-info.js';
import {
  defaultPluginOrder,
  defaultScoreWeights,
  inTreeRegistry,
  type ProfileConfig,
} from './plugin-registry.js';
import { Status } from './status.js';

/** Extension points timed into `scheduler_framework_extension_point_duration_seconds`. */
export type ExtensionPoint = 'PreFilter' | 'Filter' | 'PreScore' | 'Score' | 'Reserve' | 'Bind';

/** The outcome of the scheduling algorithm for one pod. */
export type ScheduleOutcome =
  | {
      readonly kind: 'scheduled';
      readonly nodeName: string;
      readonly evaluatedNodes: number;
      readonly feasibleNodes: number;
    }
  | { readonly kind: 'unschedulable'; readonly message: string; readonly plugins: ReadonlySet<string> }
  | { readonly kind: 'error'; readonly message: string; readonly cause: unknown };

/** What the Scheduler gives each profile besides its config. */
export interface ProfileOptions {
  /** Random source for breaking score ties. */
  readonly random: () => number;
  /** Receives the time spent in each extension point. */
  readonly observe?: (
    point: ExtensionPoint,
    status: 'Success' | 'Unschedulable' | 'Error',
    seconds: number,
  ) => void;
}

/** kube's minFeasibleNodesToFind and minFeasibleNodesPercentageToFind. */
const minFeasibleNodesToFind = 100;
const minFeasibleNodesPercentageToFind = 5;

/** How many feasible nodes to find before scoring (kube's numFeasibleNodesToFind). */
export function numFeasibleNodesToFind(percentage: number | undefined, numAllNodes: number): number {
  if (numAllNodes < minFeasibleNodesToFind) return numAllNodes;
  let pct = percentage ?? 0;
  if (pct <= 0) {
    pct = 50 - Math.trunc(numAllNodes / 125);
    if (pct < minFeasibleNodesPercentageToFind) pct = minFeasibleNodesPercentageToFind;
  }
  if (pct >= 100) return numAllNodes;
  const n = Math.trunc((numAllNodes * pct) / 100);
  return n < minFeasibleNodesToFind ? minFeasibleNodesToFind : n;
}

/** Kubernetes' message when the cluster has no nodes at all (ErrNoNodesAvailable). */
export const noNodesAvailableMessage = 'no nodes available to schedule pods';

/** The plugins of one profile, run per attempt. Not re-entrant: one attempt at a time (the loop guarantees it). */
export class Profile {
  readonly name: string;
  readonly #handle: FrameworkHandle;
  readonly #percentage: number | undefined;
  readonly #random: () => number;
  readonly #observe: ProfileOptions['observe'];
  readonly #preFilter: PreFilterPlugin[] = [];
  readonly #filter: FilterPlugin[] = [];
  readonly #preScore: PreScorePlugin[] = [];
  readonly #score: { plugin: ScorePlugin; weight: number }[] = [];
  readonly #reserve: ReservePlugin[] = [];
  readonly #bind: BindPlugin[] = [];
  #nextStart = 0;
  #cycles = 0;
  #binds = 0;
  // Scratch reused across attempts (an attempt never overlaps another): no per-attempt allocation.
  readonly #feasible: NodeInfo[] = [];
  readonly #activeFilters: FilterPlugin[] = [];
  #totals = new Float64Array(0);
  #scores = new Float64Array(0);
  /** For each PreFilter plugin, the index of the same plugin among Filter plugins (or -1). */
  readonly #preFilterToFilter: number[] = [];
  readonly #preScoreToScore: number[] = [];
  readonly #skipFilter: boolean[] = [];
  readonly #skipScore: boolean[] = [];

  constructor(config: ProfileConfig, handle: FrameworkHandle, opts: ProfileOptions) {
    this.name = config.schedulerName;
    this.#handle = handle;
    this.#percentage = config.percentageOfNodesToScore;
    this.#random = opts.random;
    this.#observe = opts.observe;
    const disabled = new Set(config.disabledPlugins ?? []);
    const args = { scoringStrategy: config.scoringStrategy ?? 'LeastAllocated' } as const;
    const plugins: { plugin: Plugin; weight: number }[] = [];
    for (const name of defaultPluginOrder) {
      if (disabled.has(name)) continue;
      const weight = config.scoreWeights?.[name] ?? defaultScoreWeights[name] ?? 1;
      plugins.push({ plugin: inTreeRegistry[name](handle, args), weight });
    }
    for (const extra of config.extraPlugins ?? []) {
      if (disabled.has(extra.name)) continue;
      plugins.push({
        plugin: extra.factory(handle, args),
        weight: config.scoreWeights?.[extra.name] ?? extra.weight ?? 1,
      });
    }
    for (const { plugin, weight } of plugins) {
      if (isPreFilterPlugin(plugin)) this.#preFilter.push(plugin);
      if (isFilterPlugin(plugin)) this.#filter.push(plugin);
      if (isPreScorePlugin(plugin)) this.#preScore.push(plugin);
      if (isScorePlugin(plugin) && weight > 0) this.#score.push({ plugin, weight });
      if (isReservePlugin(plugin)) this.#reserve.push(plugin);
      if (isBindPlugin(plugin)) this.#bind.push(plugin);
    }
    for (const p of this.#preFilter)
      this.#preFilterToFilter.push(this.#filter.findIndex((f) => f.name === p.name));
    for (const p of this.#preScore)
      this.#preScoreToScore.push(this.#score.findIndex((s) => s.plugin.name === p.name));
    this.#skipFilter.length = this.#filter.length;
    this.#skipScore.length = this.#score.length;
  }

  /** Names of the plugins at each extension point, in run order (for logs and tests). */
  describe(): Record<'preFilter' | 'filter' | 'preScore' | 'score' | 'reserve' | 'bind', string[]> {
    return {
      preFilter: this.#preFilter.map((p) => p.name),
      filter: this.#filter.map((p) => p.name),
      preScore: this.#preScore.map((p) => p.name),
      score: this.#score.map((s) => `${s.plugin.name}×${s.weight}`),
      reserve: this.#reserve.map((p) => p.name),
      bind: this.#bind.map((p) => p.name),
    };
  }

  /** Runs PreFilter → Filter → PreScore → Score and picks a node. Synchronous; never throws. */
  schedule(state: CycleState, pod: PodInfo): ScheduleOutcome {
    try {
      return this.#schedule(state, pod);
    } catch (err) {
      return { kind: 'error', message: `running scheduling plugins: ${errorText(err)}`, cause: err };
    }
  }

  #schedule(state: CycleState, pod: PodInfo): ScheduleOutcome {
    const allNodes = this.#handle.snapshot.nodeList();
    if (allNodes.length === 0) {
      return { kind: 'unschedulable', message: noNodesAvailableMessage, plugins: new Set() };
    }
    // Extension-point timings are sampled on one attempt in ten, as kube samples plugin metrics.
    const timed = this.#observe !== undefined && this.#cycles++ % 10 === 0;
    let t0 = timed ? performance.now() : 0;

    // PreFilter.
    const skip = this.#skipFilter;
    skip.fill(false);
    let narrowed: Set<string> | undefined;
    let narrowedBy: string[] | undefined;
    for (let i = 0; i < this.#preFilter.length; i++) {
      const pl = this.#preFilter[i] as PreFilterPlugin;
      const r = pl.preFilter(state, pod);
      if (r === undefined) continue;
      if (r === 'skip') {
        const fi = this.#preFilterToFilter[i] ?? -1;
        if (fi >= 0) skip[fi] = true;
        continue;
      }
      if (r instanceof Status) {
        if (timed) this.#time('PreFilter', r.code === 'Error' ? 'Error' : 'Unschedulable', t0);
        if (r.code === 'Error')
          return { kind: 'error', message: `${pl.name}: ${r.message()}`, cause: r.cause };
        const d = new Diagnosis();
        d.plugins.add(pl.name);
        d.preFilterMessage = r.message();
        return { kind: 'unschedulable', message: fitErrorMessage(allNodes.length, d), plugins: d.plugins };
      }
      (narrowedBy ??= []).push(pl.name);
      narrowed = narrowed === undefined ? new Set(r.nodeNames) : intersect(narrowed, r.nodeNames);
      if (narrowed.size === 0) {
        if (timed) this.#time('PreFilter', 'Unschedulable', t0);
        const d = new Diagnosis();
        for (const n of narrowedBy) d.plugins.add(n);
        d.preFilterMessage =
          narrowedBy.length === 1
            ? `node(s) didn't satisfy plugin ${pl.name}`
            : `node(s) didn't satisfy plugin(s) [${narrowedBy.join(' ')}] simultaneously`;
        return { kind: 'unschedulable', message: fitErrorMessage(allNodes.length, d), plugins: d.plugins };
      }
    }
    if (timed) this.#time('PreFilter', 'Success', t0);

    let diagnosis: Diagnosis | undefined;
    let candidates = allNodes;
    if (narrowed !== undefined && narrowedBy !== undefined) {
      const picked: NodeInfo[] = [];
      for (const name of narrowed) {
        const ni = this.#handle.snapshot.get(name);
        if (ni?.node !== undefined) picked.push(ni);
      }
      candidates = picked;
      const absent = allNodes.length - picked.length;
      if (absent > 0) {
        diagnosis = new Diagnosis();
        diagnosis.add(`node(s) didn't satisfy plugin(s) [${narrowedBy.join(' ')}]`, absent);
        for (const n of narrowedBy) diagnosis.plugins.add(n);
      }
    }

    // Filter, until enough feasible nodes are found.
    if (timed) t0 = performance.now();
    const filters = this.#activeFilters;
    filters.length = 0;
    for (let i = 0; i < this.#filter.length; i++) if (!skip[i]) filters.push(this.#filter[i] as FilterPlugin);
    const numFilters = filters.length;
    const n = candidates.length;
    const want = numFeasibleNodesToFind(this.#percentage, n);
    const feasible = this.#feasible;
    feasible.length = 0;
    let index = narrowed === undefined ? this.#nextStart % n : 0;
    let processed = 0;
    while (processed < n && feasible.length < want) {
      const node = candidates[index] as NodeInfo;
      if (++index === n) index = 0;
      processed++;
      let f = 0;
      for (; f < numFilters; f++) {
        const pl = filters[f] as FilterPlugin;
        const st = pl.filter(state, pod, node);
        if (st === undefined) continue;
        if (st.code === 'Error') {
          if (timed) this.#time('Filter', 'Error', t0);
          return {
            kind: 'error',
            message: `${pl.name} on node ${node.name}: ${st.message()}`,
            cause: st.cause,
          };
        }
        diagnosis ??= new Diagnosis();
        for (const reason of st.reasons) diagnosis.add(reason);
        diagnosis.plugins.add(pl.name);
        break;
      }
      if (f === numFilters) feasible.push(node);
    }
    if (narrowed === undefined) this.#nextStart = index;
    if (timed) this.#time('Filter', feasible.length === 0 ? 'Unschedulable' : 'Success', t0);

    if (feasible.length === 0) {
      const d = diagnosis ?? new Diagnosis();
      return { kind: 'unschedulable', message: fitErrorMessage(allNodes.length, d), plugins: d.plugins };
    }
    const first = feasible[0] as NodeInfo;
    if (feasible.length === 1) {
      return { kind: 'scheduled', nodeName: first.name, evaluatedNodes: processed, feasibleNodes: 1 };
    }

    // PreScore and Score.
    if (timed) t0 = performance.now();
    const m = feasible.length;
    const scoreSkip = this.#skipScore;
    scoreSkip.fill(false);
    for (let i = 0; i < this.#preScore.length; i++) {
      const pl = this.#preScore[i] as PreScorePlugin;
      if (pl.preScore(state, pod, feasible) === 'skip') {
        const si = this.#preScoreToScore[i] ?? -1;
        if (si >= 0) scoreSkip[si] = true;
      }
    }
    if (timed) {
      this.#time('PreScore', 'Success', t0);
      t0 = performance.now();
    }
    if (this.#totals.length < m) {
      this.#totals = new Float64Array(m * 2);
      this.#scores = new Float64Array(m * 2);
    }
    const totals = this.#totals.subarray(0, m);
    const scores = this.#scores.subarray(0, m);
    totals.fill(0);
    for (let k = 0; k < this.#score.length; k++) {
      if (scoreSkip[k]) continue;
      const { plugin, weight } = this.#score[k] as { plugin: ScorePlugin; weight: number };
      for (let i = 0; i < m; i++) scores[i] = plugin.score(state, pod, feasible[i] as NodeInfo);
      plugin.normalizeScores?.(state, pod, scores);
      for (let i = 0; i < m; i++) totals[i] = (totals[i] ?? 0) + (scores[i] ?? 0) * weight;
    }
    // Highest total wins; ties are broken uniformly at random (kube samples a reservoir; picking the
    // k-th of the tied nodes is the same distribution with one random draw instead of one per tie).
    let bestScore = -Infinity;
    let ties = 0;
    for (let i = 0; i < m; i++) {
      const s = totals[i] ?? 0;
      if (s > bestScore) {
        bestScore = s;
        ties = 1;
      } else if (s === bestScore) {
        ties++;
      }
    }
    let pick = ties > 1 ? Math.min(ties - 1, Math.floor(this.#random() * ties)) : 0;
    let best = 0;
    for (let i = 0; i < m; i++) {
      if (totals[i] === bestScore && pick-- === 0) {
        best = i;
        break;
      }
    }
    if (timed) this.#time('Score', 'Success', t0);
    const chosen = (feasible[best] as NodeInfo).name;
    feasible.length = 0;
    return { kind: 'scheduled', nodeName: chosen, evaluatedNodes: processed, feasibleNodes: m };
  }

  /** Runs Reserve plugins; on a failure, unreserves them all and returns the failing Status. */
  reserve(state: CycleState, pod: PodInfo, nodeName: string): Status | undefined {
    if (this.#reserve.length === 0) return undefined;
    const t0 = performance.now();
    for (const pl of this.#reserve) {
      const st = pl.reserve(state, pod, nodeName);
      if (st !== undefined) {
        this.unreserve(state, pod, nodeName);
        this.#time('Reserve', st.code === 'Error' ? 'Error' : 'Unschedulable', t0);
        return st;
      }
    }
    this.#time('Reserve', 'Success', t0);
    return undefined;
  }

  /** Runs every Reserve plugin's unreserve, in reverse order. Never throws. */
  unreserve(state: CycleState, pod: PodInfo, nodeName: string): void {
    for (let i = this.#reserve.length - 1; i >= 0; i--) {
      try {
        this.#reserve[i]?.unreserve(state, pod, nodeName);
      } catch {
        // Unreserve must be idempotent and best-effort; a failing plugin must not block the others.
      }
    }
  }

  /** Runs Bind plugins until one handles the pod. Never rejects. */
  async bind(state: CycleState, pod: PodInfo, nodeName: string, signal: AbortSignal): Promise<BindResult> {
    const timed = this.#observe !== undefined && this.#binds++ % 10 === 0;
    const t0 = timed ? performance.now() : 0;
    let result: BindResult = { ok: false, reason: 'no bind plugin handled the pod' };
    try {
      for (const pl of this.#bind) {
        const r = await pl.bind(state, pod, nodeName, signal);
        if (r === 'skip') continue;
        result = r;
        break;
      }
    } catch (err) {
      result = { ok: false, reason: errorText(err) };
    }
    if (timed) this.#time('Bind', result.ok ? 'Success' : 'Error', t0);
    return result;
  }

  #time(point: ExtensionPoint, status: 'Success' | 'Unschedulable' | 'Error', t0: number): void {
    this.#observe?.(point, status, (performance.now() - t0) / 1000);
  }
}

function intersect(a: ReadonlySet<string>, b: ReadonlySet<string>): Set<string> {
  const out = new Set<string>();
  for (const x of a) if (b.has(x)) out.add(x);
  return out;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
