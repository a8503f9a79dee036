/**
 * Image garbage collection policy (kubelet's): when the image filesystem is more than
 * `highThresholdPercent` full, remove unused images, least recently used first, until usage would be
 * under `lowThresholdPercent`. Images in use (a container holds their rootfs) and images younger than
 * `minAgeMs` are never removed. This module only plans; the image service applies the plan.
 */

export interface ImageGcPolicy {
  /** Start collecting above this usage. Default 85 (kubelet `imageGCHighThresholdPercent`). */
  readonly highThresholdPercent: number;
  /** Collect down to this usage. Default 80 (kubelet `imageGCLowThresholdPercent`). */
  readonly lowThresholdPercent: number;
  /** Images pulled or used more recently than this are kept. Default 2 min (kubelet `imageMinimumGCAge`). */
  readonly minAgeMs: number;
}

export const defaultImageGcPolicy: ImageGcPolicy = {
  highThresholdPercent: 85,
  lowThresholdPercent: 80,
  minAgeMs: 2 * 60 * 1000,
};

export interface GcCandidate {
  readonly digest: string;
  readonly lastUsedAt: number;
  /** Bytes removing this image would free, as far as known in advance (layers no other image shares). */
  readonly reclaimableBytes: number;
  readonly inUse: boolean;
}

export interface GcPlan {
  /** Bytes to free to get under the low threshold; 0 when usage is under the high threshold. */
  readonly bytesToFree: number;
  /** Images to remove, in order. */
  readonly remove: readonly string[];
  /** Bytes the planned removals are expected to free. */
  readonly expectedBytes: number;
}

/** Checks a policy; returns a message when it is unusable. */
export function validateGcPolicy(p: ImageGcPolicy): string | undefined {
  if (!(p.highThresholdPercent > 0 && p.highThresholdPercent <= 100))
    return 'highThresholdPercent must be in (0, 100]';
  if (!(p.lowThresholdPercent >= 0 && p.lowThresholdPercent < p.highThresholdPercent)) {
    return 'lowThresholdPercent must be in [0, highThresholdPercent)';
  }
  if (!(p.minAgeMs >= 0)) return 'minAgeMs must be >= 0';
  return undefined;
}

/** What to remove, given the filesystem's capacity and free bytes. */
export function planImageGc(
  usage: { readonly capacityBytes: number; readonly availableBytes: number },
  candidates: readonly GcCandidate[],
  policy: ImageGcPolicy,
  now: number,
): GcPlan {
  const { capacityBytes, availableBytes } = usage;
  if (capacityBytes <= 0) return { bytesToFree: 0, remove: [], expectedBytes: 0 };
  const used = capacityBytes - availableBytes;
  const percent = (used * 100) / capacityBytes;
  if (percent < policy.highThresholdPercent) return { bytesToFree: 0, remove: [], expectedBytes: 0 };
  const bytesToFree = Math.ceil(used - (policy.lowThresholdPercent * capacityBytes) / 100);
  const eligible = candidates
    .filter((c) => !c.inUse && now - c.lastUsedAt >= policy.minAgeMs)
    .sort((a, b) => a.lastUsedAt - b.lastUsedAt || a.digest.localeCompare(b.digest));
  const remove: string[] = [];
  let expected = 0;
  for (const c of eligible) {
    if (expected >= bytesToFree) break;
    remove.push(c.digest);
    expected += c.reclaimableBytes;
  }
  return { bytesToFree, remove, expectedBytes: expected };
}
