/**
 * Subject names as Kubernetes reads them: organisations first, common name last, one attribute per
 * RDN (Go's pkix ordering). Kubernetes maps CN to the user name and each O to a group, so a node
 * certificate is `O=system:nodes, CN=system:node:NAME` and an admin one `O=system:masters, CN=…`.
 * Names are built from structured values, never parsed from strings, so a CN with a comma or an
 * equals sign cannot smuggle in extra attributes.
 */
import type { JsonName } from '@peculiar/x509';

/** The parts of a subject that Berth sets. */
export interface SubjectFields {
  readonly commonName: string;
  /** One or more organisations (Kubernetes groups). */
  readonly organization?: string | readonly string[];
}

/** The subject as `@peculiar/x509`'s JSON name, in the order described above. */
export function buildName(subject: SubjectFields): JsonName {
  const organizations = subject.organization === undefined ? [] : [subject.organization].flat();
  return [...organizations.map((o) => ({ O: [o] })), { CN: [subject.commonName] }];
}
