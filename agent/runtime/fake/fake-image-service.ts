/**
 * FAKE image service for unit tests and hollow agents: implements `ImageService` in memory. Every
 * pull succeeds after a delay (on the injected Clock) unless the reference contains `notfound`
 * (→ `NotFound`) or `unauthorized` (→ `Unauthorized`). Digests are derived from the reference, so the
 * same reference always resolves to the same `imageID`.
 *
 * The delay is the constructor's `pullDelayMs`, or the pod's `berth.dev/fake-pull-delay-ms` annotation
 * when the caller passes the pod's annotations as `FakePullOptions.podAnnotations` (the pod workers
 * do; CRI's PullImageRequest carries the sandbox config the same way).
 */
import { createHash } from 'node:crypto';
import type { Clock } from '../../../lib/clock.js';
import type { ImageRecord, ImageService, PullOptions, PullResult } from '../../images/image-service.js';
import { fakeAnnotations } from './fake-script.js';

/** `PullOptions` plus the pod's annotations, which the fake reads its scripted delay from. */
export interface FakePullOptions extends PullOptions {
  readonly podAnnotations?: Readonly<Record<string, string>>;
}

export interface FakeImageServiceOptions {
  readonly clock: Clock;
  /** Default time a pull takes. Default 0. */
  readonly pullDelayMs?: number;
  /** References present from the start (as if pulled before). */
  readonly preloaded?: readonly string[];
}

export class FakeImageService implements ImageService {
  /** Pulls asked for, successful or not, by normalised reference (for tests). */
  readonly pulls: string[] = [];
  readonly #clock: Clock;
  readonly #delayMs: number;
  readonly #images = new Map<string, ImageRecord>();

  constructor(opts: FakeImageServiceOptions) {
    this.#clock = opts.clock;
    this.#delayMs = opts.pullDelayMs ?? 0;
    for (const ref of opts.preloaded ?? []) {
      const record = fakeImageRecord(ref);
      this.#images.set(normalizeReference(ref), record);
    }
  }

  async pull(ref: string, opts?: FakePullOptions): Promise<PullResult> {
    opts?.signal?.throwIfAborted();
    const name = normalizeReference(ref);
    this.pulls.push(name);
    const scripted = Number(opts?.podAnnotations?.[fakeAnnotations.pullDelayMs]);
    const delay = Number.isFinite(scripted) && scripted >= 0 ? scripted : this.#delayMs;
    if (delay > 0) await this.#clock.sleep(delay, opts?.signal);
    if (ref.includes('notfound')) {
      return {
        ok: false,
        reason: 'NotFound',
        message: `failed to resolve reference "${name}": ${name}: not found`,
      };
    }
    if (ref.includes('unauthorized')) {
      return {
        ok: false,
        reason: 'Unauthorized',
        message: `failed to authorize: failed to fetch anonymous token: unexpected status: 401 Unauthorized`,
      };
    }
    const image = this.#images.get(name) ?? fakeImageRecord(ref);
    this.#images.set(name, image);
    opts?.onProgress?.({ ref: name, bytesDone: image.size, bytesTotal: image.size });
    return { ok: true, image };
  }

  status(ref: string): Promise<ImageRecord | undefined> {
    return Promise.resolve(this.#images.get(normalizeReference(ref)) ?? this.#byDigest(ref));
  }

  list(): Promise<readonly ImageRecord[]> {
    return Promise.resolve([...new Set(this.#images.values())]);
  }

  remove(ref: string): Promise<boolean> {
    const name = normalizeReference(ref);
    if (this.#images.delete(name)) return Promise.resolve(true);
    const byDigest = this.#byDigest(ref);
    if (byDigest === undefined) return Promise.resolve(false);
    for (const [k, v] of this.#images) if (v === byDigest) this.#images.delete(k);
    return Promise.resolve(true);
  }

  #byDigest(ref: string): ImageRecord | undefined {
    for (const r of this.#images.values()) if (r.digest === ref || r.configDigest === ref) return r;
    return undefined;
  }
}

/** The record the fake resolves a reference to: deterministic digests, a busybox-like config. */
export function fakeImageRecord(ref: string): ImageRecord {
  const name = normalizeReference(ref);
  const sha = (s: string): string => `sha256:${createHash('sha256').update(s).digest('hex')}`;
  return {
    references: [name],
    digest: sha(`manifest:${name}`),
    configDigest: sha(`config:${name}`),
    size: 2_166_802,
    config: { cmd: ['sh'], env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'] },
  };
}

/** `busybox` → `docker.io/library/busybox:latest`, the way Docker normalises names. */
export function normalizeReference(ref: string): string {
  const at = ref.indexOf('@');
  const named = at >= 0 ? ref.slice(0, at) : ref;
  const digest = at >= 0 ? ref.slice(at) : '';
  const first = named.split('/')[0] ?? '';
  const hasDomain =
    named.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  let full = hasDomain ? named : named.includes('/') ? `docker.io/${named}` : `docker.io/library/${named}`;
  const slash = full.lastIndexOf('/');
  if (full.lastIndexOf(':') <= slash && digest === '') full += ':latest';
  return full + digest;
}
