/**
 * Node identities as certificates carry them, Kubernetes' convention: CN `system:node:<name>` in
 * organisation `system:nodes`. Join issues exactly this subject; Connect reads it back from the
 * verified client certificate, and nothing the agent says in a message can change it.
 */

/** The organisation (Kubernetes group) of every node certificate. */
export const nodesGroup = 'system:nodes';

const nodeCommonNamePrefix = 'system:node:';

/** The certificate subject for `nodeName`. */
export function nodeSubject(nodeName: string): { commonName: string; organization: string } {
  return { commonName: `${nodeCommonNamePrefix}${nodeName}`, organization: nodesGroup };
}

/**
 * The node name a verified peer certificate's subject stands for, or undefined when the subject is
 * not a node's (wrong CN prefix, not in `system:nodes`, empty name).
 */
export function nodeNameFromSubject(subject: {
  readonly CN?: string | readonly string[];
  readonly O?: string | readonly string[];
}): string | undefined {
  const cn = single(subject.CN);
  const orgs = subject.O === undefined ? [] : typeof subject.O === 'string' ? [subject.O] : subject.O;
  if (cn === undefined || !cn.startsWith(nodeCommonNamePrefix) || !orgs.includes(nodesGroup))
    return undefined;
  const name = cn.slice(nodeCommonNamePrefix.length);
  return name === '' ? undefined : name;
}

function single(value: string | readonly string[] | undefined): string | undefined {
  if (value === undefined || typeof value === 'string') return value;
  return value.length === 1 ? value[0] : undefined;
}
