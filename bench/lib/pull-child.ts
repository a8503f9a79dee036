/**
 * One cold Berth pull for bench/pull.ts, in its own process so its CPU time is its own: opens an
 * image service on an empty directory, pulls, prepares a container rootfs, and prints
 * `{"seconds","durableSeconds","cpuUser","cpuSystem","bytes","maxLoopDelayMs"}` as one JSON line. Timing starts at the
 * pull request and stops when the rootfs is ready (every layer extracted, verified and committed).
 * Argument: JSON `{ root, ref, layerConcurrency, durable, keepLayerBlobs, unpackInWorkers? }` (the last
 * absent means the image service's default).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { LocalImageService } from '../../agent/images/local-image-service.js';
import { createNodeRegistryHttp, globalFetch } from '../../agent/images/registry-http.js';

interface Args {
  root: string;
  ref: string;
  layerConcurrency: number;
  durable: boolean;
  keepLayerBlobs: boolean;
  unpackInWorkers?: boolean;
}

const args = JSON.parse(process.argv[2] ?? '{}') as Args;
const http = await createNodeRegistryHttp(globalFetch());
const service = await LocalImageService.open({
  root: args.root,
  http,
  layerConcurrency: args.layerConcurrency,
  durable: args.durable,
  keepLayerBlobs: args.keepLayerBlobs,
  ...(args.unpackInWorkers === undefined ? {} : { unpackInWorkers: args.unpackInWorkers }),
});
// A running agent has its layer workers up before any pull.
await service.prewarm();
const loop = monitorEventLoopDelay({ resolution: 10 });
loop.enable();
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const r = await service.pull(args.ref);
if (!r.ok) throw new Error(`pull failed: ${r.message}`);
const p = await service.prepareRootfs(args.ref, 'bench');
if (!p.ok) throw new Error(`rootfs: ${p.message}`);
const seconds = (performance.now() - t0) / 1000;
// Rootfs-ready above; durable (layers synced, compressed blobs fsync'd and renamed) here.
await service.flush();
const durableSeconds = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
loop.disable();
process.stdout.write(
  `${JSON.stringify({
    seconds,
    durableSeconds,
    cpuUser: cpu.user / 1e6,
    cpuSystem: cpu.system / 1e6,
    bytes: r.image.size,
    maxLoopDelayMs: loop.max / 1e6,
  })}\n`,
);
await service.close();
await http.close();
