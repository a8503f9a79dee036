/**
 * The in-tree plugins by name (kube's default_registry.go), the order and score weights of the
 * default profile, and the profiles Berth ships:
 *
 * | `spec.schedulerName`     | NodeResourcesFit scoring | effect                                   |
 * |--------------------------|--------------------------|------------------------------------------|
 * | `default-scheduler`      | LeastAllocated           | spreads pods over the least-used nodes   |
 * | `bin-packing-scheduler`  | MostAllocated            | packs pods onto the fullest nodes        |
 *
 * A pod naming any other scheduler is left alone (another scheduler may own it), as in Kubernetes.
 */
import type { PluginFactory, ScoringStrategy } from './framework.js';
import { BalancedAllocation } from './plugins/balanced-allocation.js';
import { DefaultBinder } from './plugins/default-binder.js';
import { ImageLocality } from './plugins/image-locality.js';
import { InterPodAffinity } from './plugins/inter-pod-affinity.js';
import { NodeAffinity } from './plugins/node-affinity.js';
import { NodeName } from './plugins/node-name.js';
import { NodePorts } from './plugins/node-ports.js';
import { NodeReady } from './plugins/node-ready.js';
import { NodeResourcesFit } from './plugins/node-resources-fit.js';
import { NodeUnschedulable } from './plugins/node-unschedulable.js';
import { PodTopologySpread } from './plugins/pod-topology-spread.js';
import { TaintToleration } from './plugins/taint-toleration.js';
import { defaultSchedulerName } from './types.js';

/** Factories of the built-in plugins. */
export const inTreeRegistry = {
  NodeUnschedulable: () => new NodeUnschedulable(),
  NodeName: () => new NodeName(),
  TaintToleration: () => new TaintToleration(),
  NodeReady: () => new NodeReady(),
  NodeAffinity: () => new NodeAffinity(),
  NodePorts: () => new NodePorts(),
  NodeResourcesFit: (_h, args) => new NodeResourcesFit(args.scoringStrategy),
  PodTopologySpread: (h) => new PodTopologySpread(h),
  InterPodAffinity: (h) => new InterPodAffinity(h),
  NodeResourcesBalancedAllocation: () => new BalancedAllocation(),
  ImageLocality: (h) => new ImageLocality(h),
  DefaultBinder: (h) => new DefaultBinder(h),
} satisfies Record<string, PluginFactory>;

/** Names of the built-in plugins. */
export type InTreePluginName = keyof typeof inTreeRegistry;

/**
 * Plugin order: filters run in this order and a node reports the first one that rejects it, so the
 * cheap, decisive checks come first (kube's order, with NodeReady after TaintToleration).
 */
export const defaultPluginOrder: readonly InTreePluginName[] = [
  'NodeUnschedulable',
  'NodeName',
  'TaintToleration',
  'NodeReady',
  'NodeAffinity',
  'NodePorts',
  'NodeResourcesFit',
  'PodTopologySpread',
  'InterPodAffinity',
  'NodeResourcesBalancedAllocation',
  'ImageLocality',
  'DefaultBinder',
];

/** Score weights of the default profile (kube's v1 defaults). */
export const defaultScoreWeights: Readonly<Record<string, number>> = {
  TaintToleration: 3,
  NodeAffinity: 2,
  PodTopologySpread: 2,
  InterPodAffinity: 2,
  NodeResourcesFit: 1,
  NodeResourcesBalancedAllocation: 1,
  ImageLocality: 1,
};

/** A plugin added to a profile after the in-tree ones. */
export interface ExtraPlugin {
  readonly name: string;
  readonly factory: PluginFactory;
  /** Score weight, when the plugin scores. Default 1. */
  readonly weight?: number;
}

/** One scheduling profile, chosen by pods through `spec.schedulerName`. */
export interface ProfileConfig {
  readonly schedulerName: string;
  /** NodeResourcesFit scoring. Default LeastAllocated. */
  readonly scoringStrategy?: ScoringStrategy;
  /**
   * Share of nodes to find feasible before scoring, 1–100. Unset or 0: adaptive like kube —
   * 50% minus 1% per 125 nodes, at least 5%, and never fewer than 100 nodes.
   */
  readonly percentageOfNodesToScore?: number;
  /** In-tree plugins to leave out, by name. */
  readonly disabledPlugins?: readonly string[];
  /** Score weight overrides, by plugin name. */
  readonly scoreWeights?: Readonly<Record<string, number>>;
  readonly extraPlugins?: readonly ExtraPlugin[];
}

/** Name of the bin-packing profile. */
export const binPackingSchedulerName = 'bin-packing-scheduler';

/** The profiles a Scheduler gets when none are given. */
export const defaultProfiles: readonly ProfileConfig[] = [
  { schedulerName: defaultSchedulerName, scoringStrategy: 'LeastAllocated' },
  { schedulerName: binPackingSchedulerName, scoringStrategy: 'MostAllocated' },
];
