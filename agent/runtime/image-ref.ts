/**
 * How a container's image is named in its status: `imageID` is `repository@digest` (what the kubelet
 * shows, e.g. `docker.io/library/busybox@sha256:…`). Shared by the runtimes that build containers from
 * an `ImageRecord` (runc, fake) so they report the same thing.
 */
import type { ImageRecord } from '../images/image-service.js';

/** `repository@digest` from the record's first reference, else the digest, else the spec's reference. */
export function imageRefOf(image: string, record: ImageRecord | undefined): string {
  if (record === undefined) return image;
  const ref = record.references[0] ?? image;
  return `${repositoryOf(ref)}@${record.digest}`;
}

/** The repository part of a reference: without `:tag` and `@digest`. */
export function repositoryOf(ref: string): string {
  const at = ref.indexOf('@');
  const named = at >= 0 ? ref.slice(0, at) : ref;
  const slash = named.lastIndexOf('/');
  const colon = named.lastIndexOf(':');
  return colon > slash ? named.slice(0, colon) : named;
}
