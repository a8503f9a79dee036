/**
 * Makes sure a container's image is on the node before it is created, the kubelet's
 * `EnsureImageExists`: honours `imagePullPolicy` (Always / IfNotPresent / Never), backs off failing
 * pulls per pod and image (ErrImagePull, then ImagePullBackOff while the back-off lasts), and emits
 * the kubelet's Pulling / Pulled / Failed / BackOff / ErrImageNeverPull events.
 */
import type { Clock } from '../../lib/clock.js';
import type { ImageRecord, ImageService, PullOptions, RegistryCredentials } from '../images/image-service.js';
import type { Backoff } from './backoff.js';
import type { ContainerSpec, PodView } from './pod-spec.js';

export type EnsureImageResult =
  | { readonly ok: true; readonly image: ImageRecord }
  | {
      readonly ok: false;
      /** `ErrImagePull`, `ImagePullBackOff`, `ErrImageNeverPull` or `InvalidImageName`. */
      readonly reason: string;
      readonly message: string;
      /** When trying again can help, ms since the epoch. */
      readonly retryAt?: number;
    };

export type EventFn = (type: 'Normal' | 'Warning', reason: string, message: string) => void;

export interface ImagePullerDeps {
  readonly images: ImageService;
  readonly clock: Clock;
  readonly backoff: Backoff;
  readonly credentials?: (pod: PodView) => ReadonlyMap<string, RegistryCredentials> | undefined;
}

export async function ensureImage(
  deps: ImagePullerDeps,
  pod: PodView,
  c: ContainerSpec,
  event: EventFn,
  signal: AbortSignal,
): Promise<EnsureImageResult> {
  const ref = c.image;
  if (ref === '' || /\s/.test(ref)) {
    const message = `Failed to apply default image tag "${ref}": couldn't parse image name "${ref}": invalid reference format`;
    event('Warning', 'InspectFailed', message);
    return { ok: false, reason: 'InvalidImageName', message };
  }
  const present = await deps.images.status(ref);
  if (c.imagePullPolicy === 'Never') {
    if (present !== undefined) return { ok: true, image: present };
    const message = `Container image "${ref}" is not present with pull policy of Never`;
    event('Warning', 'ErrImageNeverPull', message);
    return { ok: false, reason: 'ErrImageNeverPull', message };
  }
  if (c.imagePullPolicy === 'IfNotPresent' && present !== undefined) {
    event('Normal', 'Pulled', `Container image "${ref}" already present on machine`);
    return { ok: true, image: present };
  }

  const key = `${pod.uid}/${ref}`;
  const now = deps.clock.now();
  if (deps.backoff.inBackoffSinceUpdate(key, now)) {
    const message = `Back-off pulling image "${ref}"`;
    const retryAt = deps.backoff.expiresSinceUpdate(key);
    return { ok: false, reason: 'ImagePullBackOff', message, ...(retryAt !== undefined ? { retryAt } : {}) };
  }
  event('Normal', 'Pulling', `Pulling image "${ref}"`);
  const credentials = deps.credentials?.(pod);
  const opts: PullOptions & { podAnnotations: Readonly<Record<string, string>> } = {
    signal,
    podAnnotations: pod.annotations,
    ...(credentials !== undefined ? { credentials } : {}),
  };
  const result = await deps.images.pull(ref, opts);
  const done = deps.clock.now();
  if (!result.ok) {
    deps.backoff.next(key, done, done);
    event('Warning', 'Failed', `Failed to pull image "${ref}": ${result.message}`);
    event('Warning', 'Failed', 'Error: ErrImagePull');
    const retryAt = deps.backoff.expiresSinceUpdate(key);
    return {
      ok: false,
      reason: 'ErrImagePull',
      message: result.message,
      ...(retryAt !== undefined ? { retryAt } : {}),
    };
  }
  deps.backoff.reset(key);
  const secs = `${((done - now) / 1000).toFixed(3).replace(/\.?0+$/, '') || '0'}s`;
  event(
    'Normal',
    'Pulled',
    `Successfully pulled image "${ref}" in ${secs} (${secs} including waiting). Image size: ${result.image.size} bytes.`,
  );
  return { ok: true, image: result.image };
}
