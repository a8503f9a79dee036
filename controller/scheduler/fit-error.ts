/**
 * Why a pod fits nowhere, in Kubernetes' words (kube-scheduler's FitError), e.g.
 * `0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu.`
 * Each node contributes the reasons of the first filter that rejected it; reasons are counted, and the
 * "count reason" strings sorted as strings (kube ≥ 1.27). Berth does not preempt, so the
 * `preemption: …` sentence that Kubernetes appends is left out.
 */

/** What the filters said about every node in one failed attempt. */
export class Diagnosis {
  /** Reason → number of nodes that gave it. */
  readonly reasons = new Map<string, number>();
  /** Plugins that rejected at least one node (or the whole pod at PreFilter). */
  readonly plugins = new Set<string>();
  /** Set when a PreFilter plugin rejected the pod outright. */
  preFilterMessage: string | undefined = undefined;

  add(reason: string, count = 1): void {
    this.reasons.set(reason, (this.reasons.get(reason) ?? 0) + count);
  }
}

/** Kubernetes' `0/N nodes are available: …` message. */
export function fitErrorMessage(numAllNodes: number, d: Diagnosis): string {
  let msg = `0/${numAllNodes} nodes are available:`;
  if (d.preFilterMessage !== undefined) return `${msg} ${d.preFilterMessage}.`;
  const parts: string[] = [];
  for (const [reason, n] of d.reasons) parts.push(`${n} ${reason}`);
  // Go's sort.Strings orders by bytes; comparing with < does the same for these ASCII strings.
  parts.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (parts.length > 0) msg += ` ${parts.join(', ')}.`;
  return msg;
}
