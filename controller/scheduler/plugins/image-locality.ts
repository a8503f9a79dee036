/**
 * ImageLocality: prefer nodes that already have the pod's images (from `status.images`), weighted by
 * image size and by how widely the image is spread (so one node holding a common image does not
 * attract everything). kube's thresholds: below 23 MB in total scores 0, 1000 MB per container scores 100.
 */
import type { CycleState } from '../cycle-state.js';
import { maxNodeScore, type FrameworkHandle, type PreScorePlugin, type ScorePlugin } from '../framework.js';
import type { NodeInfo } from '../node-info.js';
import type { PodInfo } from '../pod-info.js';

const mb = 1024 * 1024;
const minThreshold = 23 * mb;
const maxContainerThreshold = 1000 * mb;

/** PreScore/Score plugin `ImageLocality`; skips when no node reports images. */
export class ImageLocality implements PreScorePlugin, ScorePlugin {
  readonly name = 'ImageLocality';
  readonly #handle: FrameworkHandle;

  constructor(handle: FrameworkHandle) {
    this.#handle = handle;
  }

  preScore(_state: CycleState, pod: PodInfo): 'skip' | undefined {
    return pod.images.length === 0 || this.#handle.snapshot.knownImages() === 0 ? 'skip' : undefined;
  }

  score(_state: CycleState, pod: PodInfo, node: NodeInfo): number {
    const snapshot = this.#handle.snapshot;
    const total = snapshot.nodeList().length;
    let sum = 0;
    for (const image of pod.images) {
      const size = node.images.get(image);
      if (size === undefined || total === 0) continue;
      sum += Math.trunc(size * (snapshot.imageNodeCount(image) / total));
    }
    const maxThreshold = maxContainerThreshold * pod.images.length;
    const clamped = Math.min(Math.max(sum, minThreshold), maxThreshold);
    return Math.trunc((maxNodeScore * (clamped - minThreshold)) / (maxThreshold - minThreshold));
  }
}
