/**
 * Image service metrics, registered on the registry the agent gives us (never prom-client's global
 * one). Names follow the kubelet where it has one — `kubelet_image_pull_duration_seconds` with its
 * `image_size_in_bytes` buckets and `kubelet_image_garbage_collected_total` — and are `berth_image*`
 * otherwise. Image-fs capacity/usage gauges are read when scraped.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** kubelet's buckets (pkg/kubelet/metrics/metrics.go). */
const pullDurationBuckets = [
  1, 5, 10, 20, 30, 60, 120, 180, 240, 300, 360, 480, 600, 900, 1200, 1800, 2700, 3600,
];
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const sizeBuckets: [number, string][] = [
  [0, '0-10MB'],
  [10 * MiB, '10MB-100MB'],
  [100 * MiB, '100MB-500MB'],
  [500 * MiB, '500MB-1GB'],
  [1 * GiB, '1GB-5GB'],
  [5 * GiB, '5GB-10GB'],
  [10 * GiB, '10GB-20GB'],
  [20 * GiB, '20GB-30GB'],
  [30 * GiB, '30GB-40GB'],
  [40 * GiB, '40GB-60GB'],
  [60 * GiB, '60GB-100GB'],
  [100 * GiB, 'GT100GB'],
];

/** kubelet's `GetImageSizeBucket`. */
export function imageSizeBucket(bytes: number): string {
  let label = '0-10MB';
  for (const [lower, l] of sizeBuckets) if (bytes >= lower) label = l;
  return label;
}

export interface ImageFsUsage {
  readonly capacityBytes: number;
  readonly availableBytes: number;
  /** Bytes the image service itself holds (content + snapshots + container layers' metadata). */
  readonly imagesBytes: number;
  readonly images: number;
}

export type PullErrorReason = 'NotFound' | 'Unauthorized' | 'InvalidReference' | 'Failed';

export class ImageMetrics {
  readonly #pullDuration: Histogram<'image_size_in_bytes'>;
  readonly #pullBytes: Counter;
  readonly #pullErrors: Counter<'reason'>;
  readonly #pullsInFlight: Gauge;
  readonly #gcRemoved: Counter;
  readonly #gcBytes: Counter;

  constructor(registry: Registry, usage: () => Promise<ImageFsUsage>) {
    this.#pullDuration = new Histogram({
      name: 'kubelet_image_pull_duration_seconds',
      help: 'Duration in seconds to pull an image, by image size.',
      labelNames: ['image_size_in_bytes'],
      buckets: pullDurationBuckets,
      registers: [registry],
    });
    this.#pullBytes = new Counter({
      name: 'berth_image_pull_bytes_total',
      help: 'Compressed bytes downloaded from registries.',
      registers: [registry],
    });
    this.#pullErrors = new Counter({
      name: 'berth_image_pull_errors_total',
      help: 'Image pulls that failed, by reason.',
      labelNames: ['reason'],
      registers: [registry],
    });
    this.#pullsInFlight = new Gauge({
      name: 'berth_image_pulls_in_flight',
      help: 'Image pulls in progress (after de-duplication).',
      registers: [registry],
    });
    this.#gcRemoved = new Counter({
      name: 'kubelet_image_garbage_collected_total',
      help: 'Images removed by image garbage collection.',
      registers: [registry],
    });
    this.#gcBytes = new Counter({
      name: 'berth_image_gc_freed_bytes_total',
      help: 'Bytes freed by image garbage collection.',
      registers: [registry],
    });
    // One read per scrape feeds all four gauges.
    let pending: Promise<ImageFsUsage> | undefined;
    const read = async (): Promise<ImageFsUsage> => {
      pending ??= usage().finally(() => {
        pending = undefined;
      });
      return pending;
    };
    const gauge = (name: string, help: string, pick: (u: ImageFsUsage) => number): void => {
      new Gauge({
        name,
        help,
        registers: [registry],
        async collect() {
          this.set(pick(await read()));
        },
      });
    };
    gauge(
      'berth_imagefs_capacity_bytes',
      'Capacity of the filesystem holding images.',
      (u) => u.capacityBytes,
    );
    gauge(
      'berth_imagefs_available_bytes',
      'Free bytes on the filesystem holding images.',
      (u) => u.availableBytes,
    );
    gauge(
      'berth_image_store_bytes',
      'Bytes of image content and layer snapshots on disk.',
      (u) => u.imagesBytes,
    );
    gauge('berth_images', 'Images present on the node.', (u) => u.images);
  }

  pullStarted(): void {
    this.#pullsInFlight.inc();
  }

  pullFinished(
    result: { ok: true; seconds: number; sizeBytes: number } | { ok: false; reason: PullErrorReason },
  ): void {
    this.#pullsInFlight.dec();
    if (result.ok) {
      this.#pullDuration.observe({ image_size_in_bytes: imageSizeBucket(result.sizeBytes) }, result.seconds);
    } else {
      this.#pullErrors.inc({ reason: result.reason });
    }
  }

  bytesDownloaded(n: number): void {
    this.#pullBytes.inc(n);
  }

  imageCollected(bytes: number): void {
    this.#gcRemoved.inc();
    this.#gcBytes.inc(bytes);
  }
}
