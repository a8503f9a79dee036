/** Score normalisations shared by Score plugins (kube's helper.DefaultNormalizeScore and friends). */
import { maxNodeScore } from '../framework.js';

/**
 * Scales scores so the highest becomes 100 (integer division, as kube does). With `reverse`, the
 * highest becomes 0 and the lowest 100 — for "fewer is better" counts. All-zero scores become 0
 * (or 100 when reversed).
 */
export function defaultNormalize(scores: Float64Array, reverse: boolean): void {
  let max = 0;
  for (const s of scores) if (s > max) max = s;
  if (max === 0) {
    if (reverse) scores.fill(maxNodeScore);
    return;
  }
  for (let i = 0; i < scores.length; i++) {
    const s = Math.trunc(((scores[i] ?? 0) * maxNodeScore) / max);
    scores[i] = reverse ? maxNodeScore - s : s;
  }
}

/** Min–max scaling into 0–100; equal scores all become 0. */
export function minMaxNormalize(scores: Float64Array): void {
  let max = -Infinity;
  let min = Infinity;
  for (const s of scores) {
    if (s > max) max = s;
    if (s < min) min = s;
  }
  const diff = max - min;
  for (let i = 0; i < scores.length; i++) {
    scores[i] = diff > 0 ? Math.trunc((maxNodeScore * ((scores[i] ?? 0) - min)) / diff) : 0;
  }
}
