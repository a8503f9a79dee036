/**
 * The status conditions the namespace controller sets on a terminating Namespace, with Kubernetes'
 * types, reasons and messages (pkg/controller/namespace/deletion/status_condition_utils.go), so that
 * `kubectl describe namespace` explains what a stuck deletion waits for.
 */

export interface NamespaceCondition {
  type: string;
  status: 'True' | 'False';
  lastTransitionTime: string;
  reason: string;
  message: string;
}

/** What one pass of content deletion found. */
export interface ContentReport {
  /** Objects still present, by group-resource (`pods`, `replicasets.apps`). */
  readonly remainingByResource: ReadonlyMap<string, number>;
  /** Objects still present, by each finalizer they carry. */
  readonly remainingByFinalizer: ReadonlyMap<string, number>;
  /** Messages of the deletions or listings that failed. */
  readonly failures: readonly string[];
}

const okConditions: Readonly<Record<string, { reason: string; message: string }>> = {
  NamespaceDeletionDiscoveryFailure: {
    reason: 'ResourcesDiscovered',
    message: 'All resources successfully discovered',
  },
  NamespaceDeletionGroupVersionParsingFailure: {
    reason: 'ParsedGroupVersions',
    message: 'All legacy kube types successfully parsed',
  },
  NamespaceDeletionContentFailure: {
    reason: 'ContentDeleted',
    message: 'All content successfully deleted, may be waiting on finalization',
  },
  NamespaceContentRemaining: { reason: 'ContentRemoved', message: 'All content successfully removed' },
  NamespaceFinalizersRemaining: {
    reason: 'ContentHasNoFinalizers',
    message: 'All content-preserving finalizers finished',
  },
};

/** The five condition types, in Kubernetes' order. */
export const namespaceConditionTypes: readonly string[] = Object.keys(okConditions);

/** The conditions that `report` calls for (status, reason, message; no times yet). */
export function conditionsFor(report: ContentReport): Omit<NamespaceCondition, 'lastTransitionTime'>[] {
  return namespaceConditionTypes.map((type) => {
    const ok = okConditions[type] ?? { reason: '', message: '' };
    if (type === 'NamespaceDeletionContentFailure' && report.failures.length > 0) {
      return {
        type,
        status: 'True' as const,
        reason: 'ContentDeletionFailed',
        message: `Failed to delete all resource types, ${report.failures.length} remaining: ${report.failures.join(', ')}`,
      };
    }
    if (type === 'NamespaceContentRemaining' && report.remainingByResource.size > 0) {
      return {
        type,
        status: 'True' as const,
        reason: 'SomeResourcesRemain',
        message: `Some resources are remaining: ${sortedCounts(report.remainingByResource, 'has', 'resource instances')}`,
      };
    }
    if (type === 'NamespaceFinalizersRemaining' && report.remainingByFinalizer.size > 0) {
      return {
        type,
        status: 'True' as const,
        reason: 'SomeFinalizersRemain',
        message: `Some content in the namespace has finalizers remaining: ${sortedCounts(report.remainingByFinalizer, 'in', 'resource instances')}`,
      };
    }
    return { type, status: 'False' as const, reason: ok.reason, message: ok.message };
  });
}

/**
 * Merges `wanted` into `existing` as Kubernetes does: a condition's lastTransitionTime moves only when
 * its status, reason or message changes. Returns the merged list and whether anything changed.
 */
export function mergeConditions(
  existing: readonly NamespaceCondition[],
  wanted: readonly Omit<NamespaceCondition, 'lastTransitionTime'>[],
  now: string,
): { conditions: NamespaceCondition[]; changed: boolean } {
  let changed = false;
  const out = existing.filter((c) => !namespaceConditionTypes.includes(c.type));
  for (const w of wanted) {
    const old = existing.find((c) => c.type === w.type);
    if (
      old !== undefined &&
      old.status === w.status &&
      old.reason === w.reason &&
      old.message === w.message
    ) {
      out.push(old);
    } else {
      out.push({ ...w, lastTransitionTime: now });
      changed = true;
    }
  }
  return { conditions: out, changed };
}

function sortedCounts(counts: ReadonlyMap<string, number>, verb: string, noun: string): string {
  return [...counts.entries()]
    .map(([name, n]) => `${name} ${verb} ${n} ${noun}`)
    .sort()
    .join(', ');
}
