/**
 * The node's volume manager (the kubelet's volumemanager + the volume plugins it needs): makes each
 * pod's volumes exist on the host before its containers are created, keeps configMap/secret content
 * fresh, and removes it all once the pod is done. One instance per node; every call for a pod comes
 * from that pod's worker, so calls for one pod never overlap.
 *
 * Host layout (the kubelet's, under `rootDir` instead of /var/lib/kubelet/pods):
 *
 *     <rootDir>/<pod uid>/volumes/kubernetes.io~empty-dir/<name>     0777 dir, or a tmpfs (medium Memory)
 *     <rootDir>/<pod uid>/volumes/kubernetes.io~configmap/<name>     atomic-writer dir (atomic-writer.ts)
 *     <rootDir>/<pod uid>/volumes/kubernetes.io~secret/<name>        the same on a tmpfs (root) or 0700 dir
 *     <rootDir>/<pod uid>/volumes/kubernetes.io~downward-api/<name>
 *     <rootDir>/<pod uid>/volumes/kubernetes.io~projected/<name>     tmpfs like secrets (may hold them)
 *     hostPath volumes are the host path itself, after the `type` check (host-path.ts)
 *
 * Per pod:
 *
 *     (none) ──setUp ok──▶ set up ──setUp/refresh: objects older than refreshIntervalMs──▶ re-read,
 *        │                   │                     rewrite what changed (atomically)
 *        │                   └──tearDown──▶ (none): tmpfs unmounted, <rootDir>/<uid> removed
 *        └──setUp fails──▶ (none) — nothing is half-published; the pod worker retries later
 *
 * A failure on the first setUp fails it (FailedMount; containers are not created). A failure on a
 * later refresh keeps the content last published — running containers keep what they read — and is
 * reported as a problem to log and announce. tmpfs needs root: without it memory-backed emptyDirs
 * and secret volumes are written to plain directories (secrets 0700), and the agent says so once.
 */
import { createHash } from 'node:crypto';
import { chmod, mkdir, realpath, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Clock } from '../../../lib/clock.js';
import { execCommandRunner, type CommandRunner } from '../../../lib/command-runner.js';
import { BerthError, errorCodes, errorMessage } from '../../../lib/errors.js';
import type { Logger } from '../../../lib/logger.js';
import { asObject, asString, type JsonObject } from '../../../api/validation/json-access.js';
import { toValue } from '../../../api/validation/quantity.js';
import type { ObjectKind, ObjectSource } from '../../object-source.js';
import type { PodView } from '../pod-spec.js';
import { writePayloadAtomically, type Payload } from './atomic-writer.js';
import { checkHostPath } from './host-path.js';
import { mountPointsUnder, mountTmpfs, procMountTable, unmount, type MountTableReader } from './tmpfs.js';
import { volumeObjectRefs, volumePayload } from './volume-payloads.js';

/** A set-up volume as containers mount it. */
export interface MountedVolume {
  /** The host path to bind-mount. */
  readonly hostPath: string;
  /** Kubernetes mounts configMap, secret, downwardAPI and projected volumes read-only, always. */
  readonly readOnly: boolean;
}

/** A volume that could not be refreshed (its previous content stays). */
export interface VolumeProblem {
  readonly volume: string;
  readonly message: string;
}

export type VolumeSetUpResult =
  | {
      readonly ok: true;
      /** Volume name → where it is on the host. */
      readonly volumes: ReadonlyMap<string, MountedVolume>;
      /** Refresh failures (only after a successful first setUp). */
      readonly problems: readonly VolumeProblem[];
    }
  | { readonly ok: false; readonly volume: string; readonly message: string };

export interface VolumeManagerOptions {
  /** Parent of the per-pod directories (kubelet: /var/lib/kubelet/pods). */
  readonly rootDir: string;
  /** Where ConfigMaps and Secrets come from; absent: volumes and env needing them fail to set up. */
  readonly objects?: ObjectSource;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Runs mount/umount (default: the real programs). */
  readonly runner?: CommandRunner;
  /** The mount table (default /proc/self/mountinfo). */
  readonly mountTable?: MountTableReader;
  /** Whether tmpfs may be mounted (default: running as root). */
  readonly canMount?: boolean;
  /** ConfigMap/Secret content is re-read at most this often per pod, ms (default 60 000, the kubelet's TTL). */
  readonly refreshIntervalMs?: number;
}

interface PodState {
  readonly volumes: Map<string, MountedVolume>;
  /** When the objects were last read (for the refresh interval). */
  fetchedAt: number;
  /** Hash of each volume's last published payload. */
  readonly hashes: Map<string, string>;
  /** Directories known to carry our tmpfs. */
  readonly mounted: Set<string>;
}

const uidPattern = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export class VolumeManager {
  readonly #o: VolumeManagerOptions;
  readonly #runner: CommandRunner;
  readonly #mountTable: MountTableReader;
  readonly #canMount: boolean;
  readonly #refreshMs: number;
  readonly #pods = new Map<string, PodState>();
  #warnedNoTmpfs = false;

  constructor(opts: VolumeManagerOptions) {
    this.#o = opts;
    this.#runner = opts.runner ?? execCommandRunner;
    this.#mountTable = opts.mountTable ?? procMountTable;
    this.#canMount = opts.canMount ?? process.getuid?.() === 0;
    this.#refreshMs = opts.refreshIntervalMs ?? 60_000;
  }

  /** The directory holding a pod's volumes. */
  podDir(uid: string): string {
    return join(this.#o.rootDir, uid);
  }

  /**
   * Makes every volume of `pod` exist; idempotent, and cheap when nothing is due: objects are read
   * again only once `refreshIntervalMs` has passed since the last read (downward-API content is
   * recomputed every call). Returns where each volume is, or the first volume that failed and why
   * (the kubelet's FailedMount message). I/O errors other than the expected ones are thrown.
   */
  setUp(pod: PodView, signal?: AbortSignal): Promise<VolumeSetUpResult> {
    return this.#setUp(pod, false, signal);
  }

  /** Like `setUp`, but reads the objects now whatever the interval says. */
  refresh(pod: PodView, signal?: AbortSignal): Promise<VolumeSetUpResult> {
    return this.#setUp(pod, true, signal);
  }

  /** When the pod's objects should be read again (undefined: not set up, or nothing to read). */
  nextRefreshAt(pod: PodView): number | undefined {
    const st = this.#pods.get(pod.uid);
    if (st === undefined || !pod.volumes.some((v) => volumeObjectRefs(v).length > 0)) return undefined;
    return st.fetchedAt + this.#refreshMs;
  }

  /**
   * Removes the pod's volumes: unmounts every mount under its directory (deepest first), then deletes
   * the directory. Idempotent; works after an agent restart (the mount table is the truth). Throws
   * `PROCESS_FAILED` when something stays mounted — then nothing is deleted, so no tmpfs or host
   * data below a mount point is ever removed by mistake.
   */
  async tearDown(uid: string): Promise<void> {
    if (!uidPattern.test(uid)) throw new BerthError(errorCodes.CONFIG_INVALID, `unusable pod uid "${uid}"`);
    const dir = this.podDir(uid);
    if (!(await exists(dir))) {
      this.#pods.delete(uid);
      return;
    }
    const problems: string[] = [];
    for (const point of mountPointsUnder(await this.#mountTable(), dir)) {
      const err = await unmount(this.#runner, point);
      if (err !== undefined) problems.push(err);
    }
    const left = mountPointsUnder(await this.#mountTable(), dir);
    if (left.length > 0) {
      throw new BerthError(
        errorCodes.PROCESS_FAILED,
        `cannot remove the volumes of pod ${uid}: still mounted: ${left.join(', ')}${problems.length > 0 ? ` (${problems.join('; ')})` : ''}`,
      );
    }
    await rm(dir, { recursive: true, force: true });
    this.#pods.delete(uid);
  }

  async #setUp(pod: PodView, force: boolean, signal: AbortSignal | undefined): Promise<VolumeSetUpResult> {
    if (!uidPattern.test(pod.uid)) return { ok: false, volume: '', message: `unusable pod uid "${pod.uid}"` };
    const now = this.#o.clock.now();
    const known = this.#pods.get(pod.uid);
    const st: PodState = known ?? {
      volumes: new Map(),
      fetchedAt: now,
      hashes: new Map(),
      mounted: new Set(),
    };
    const first = known === undefined;
    const due = first || force || now >= st.fetchedAt + this.#refreshMs;
    const problems: VolumeProblem[] = [];

    // Read every referenced object once (volumes may share them).
    const fetched = new Map<string, JsonObject | undefined>();
    const failed = new Map<string, string>();
    if (due) {
      for (const v of pod.volumes) {
        for (const ref of volumeObjectRefs(v)) {
          const k = `${ref.kind}/${ref.name}`;
          if (fetched.has(k) || failed.has(k)) continue;
          const got = await this.#fetch(ref.kind, pod.namespace, ref.name, signal);
          if (got.ok) fetched.set(k, got.object);
          else failed.set(k, got.message);
        }
      }
    }

    for (const v of pod.volumes) {
      const name = asString(v['name']);
      if (name === '' || name.includes('/') || name.startsWith('.'))
        return { ok: false, volume: name, message: `invalid volume name "${name}"` };
      const fail = (message: string): VolumeSetUpResult => ({ ok: false, volume: name, message });
      // hostPath and emptyDir are set up once (the kubelet does not re-check them either); a
      // container that changes its emptyDir's mode keeps the change.
      const settled = st.volumes.has(name);

      const hostPath = asObject(v['hostPath']);
      if (hostPath !== undefined) {
        if (settled) continue;
        const path = asString(hostPath['path']);
        const why = await checkHostPath(path, asString(hostPath['type']));
        if (why !== undefined) return fail(why);
        st.volumes.set(name, { hostPath: path, readOnly: false });
        continue;
      }

      const emptyDir = asObject(v['emptyDir']);
      if (emptyDir !== undefined) {
        if (settled) continue;
        const dir = this.#volumeDir(pod.uid, 'empty-dir', name);
        const memory = asString(emptyDir['medium']) === 'Memory';
        const err = await this.#prepareDir(st, dir, memory, 0o777, memorySize(pod, emptyDir['sizeLimit']));
        if (err !== undefined) return fail(err);
        st.volumes.set(name, { hostPath: dir, readOnly: false });
        continue;
      }

      const plugin = atomicPlugin(v);
      if (plugin === undefined) {
        const kinds = Object.keys(v).filter((k) => k !== 'name');
        return fail(`unsupported volume type ${kinds.map((k) => `"${k}"`).join(', ') || '(none)'}`);
      }
      const refs = volumeObjectRefs(v);
      if (refs.length > 0 && !due && settled) continue; // not due: keep what is published

      const refFailure = refs.map((r) => failed.get(`${r.kind}/${r.name}`)).find((m) => m !== undefined);
      const lookup = (kind: ObjectKind, objName: string): JsonObject | undefined =>
        fetched.get(`${kind}/${objName}`);
      const payload =
        refFailure === undefined
          ? volumePayload(pod, v, lookup)
          : { ok: false as const, message: refFailure };
      if (payload === undefined) return fail('unsupported volume type');
      if (!payload.ok) {
        if (!settled) return fail(payload.message);
        problems.push({ volume: name, message: payload.message });
        continue;
      }
      const dir = this.#volumeDir(pod.uid, plugin.dir, name);
      const err = await this.#prepareDir(st, dir, plugin.memory, 0o755, undefined);
      if (err !== undefined) return fail(err);
      const hash = payloadHash(payload.files);
      if (st.hashes.get(name) !== hash) {
        await writePayloadAtomically(dir, payload.files, now);
        st.hashes.set(name, hash);
      }
      st.volumes.set(name, { hostPath: dir, readOnly: true });
    }
    if (due) st.fetchedAt = now;
    this.#pods.set(pod.uid, st);
    return { ok: true, volumes: new Map(st.volumes), problems };
  }

  async #fetch(
    kind: ObjectKind,
    namespace: string,
    name: string,
    signal: AbortSignal | undefined,
  ): Promise<{ ok: true; object: JsonObject | undefined } | { ok: false; message: string }> {
    if (this.#o.objects === undefined)
      return {
        ok: false,
        message: `cannot read ${kind.toLowerCase()} "${name}": this node has no object source`,
      };
    try {
      const object = await this.#o.objects.get(kind, namespace, name, signal);
      return { ok: true, object };
    } catch (err) {
      if (signal?.aborted === true) throw err;
      return { ok: false, message: errorMessage(err) };
    }
  }

  #volumeDir(uid: string, plugin: string, name: string): string {
    return join(this.podDir(uid), 'volumes', `kubernetes.io~${plugin}`, name);
  }

  /** Creates the directory; mounts a tmpfs on it when memory-backed and allowed. Returns an error text. */
  async #prepareDir(
    st: PodState,
    dir: string,
    memory: boolean,
    mode: number,
    sizeBytes: number | undefined,
  ): Promise<string | undefined> {
    await mkdir(dir, { recursive: true, mode: 0o750 });
    if (!memory) {
      await chmod(dir, mode);
      return undefined;
    }
    if (!this.#canMount) {
      if (!this.#warnedNoTmpfs) {
        this.#warnedNoTmpfs = true;
        this.#o.logger.warn(
          { rootDir: this.#o.rootDir },
          'not running as root: memory-backed volumes (emptyDir medium Memory, secrets) are plain directories on disk, secrets with mode 0700',
        );
      }
      await chmod(dir, mode === 0o777 ? 0o777 : 0o700);
      return undefined;
    }
    if (st.mounted.has(dir)) return undefined;
    if (mountPointsUnder(await this.#mountTable(), dir).includes(dir)) {
      st.mounted.add(dir); // mounted before an agent restart
      return undefined;
    }
    const err = await mountTmpfs(this.#runner, dir, {
      mode,
      ...(sizeBytes !== undefined ? { sizeBytes } : {}),
    });
    if (err !== undefined) return err;
    st.mounted.add(dir);
    return undefined;
  }
}

/**
 * The host path for a `subPath` mount of `volume`, resolved and checked against escaping the volume
 * through symlinks (CVE-2017-1002101: a container plants `x -> /` in an emptyDir, another mounts
 * subPath `x`). A missing subPath is created as a directory in writable volumes, as the kubelet
 * does. The runtime is given the resolved path, so a link planted later on the checked path is not
 * followed; a component swapped between this check and the mount is the remaining (narrow) race —
 * the kubelet closes it by mounting through an open file descriptor.
 */
export async function resolveSubPath(
  volume: MountedVolume,
  subPath: string,
): Promise<
  { readonly ok: true; readonly hostPath: string } | { readonly ok: false; readonly message: string }
> {
  const parts = subPath.split('/').filter((p) => p !== '' && p !== '.');
  if (subPath.startsWith('/') || parts.includes('..'))
    return { ok: false, message: `invalid subPath "${subPath}": must be a relative path without '..'` };
  let root: string;
  try {
    root = await realpath(volume.hostPath);
  } catch (err) {
    return {
      ok: false,
      message: `subPath "${subPath}": volume path ${volume.hostPath}: ${errorMessage(err)}`,
    };
  }
  const inside = (p: string): boolean => p === root || p.startsWith(`${root}/`);
  const target = join(root, ...parts);
  // The deepest part that exists must already resolve inside, before anything is created below it.
  let existing = target;
  for (;;) {
    try {
      const real = await realpath(existing);
      if (!inside(real)) return { ok: false, message: `subPath "${subPath}" resolves outside its volume` };
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || existing === root) throw err;
      existing = dirname(existing);
    }
  }
  if (existing !== target) {
    if (volume.readOnly) return { ok: false, message: `subPath "${subPath}" does not exist in its volume` };
    await mkdir(target, { recursive: true, mode: 0o755 });
  }
  const real = await realpath(target);
  if (!inside(real)) return { ok: false, message: `subPath "${subPath}" resolves outside its volume` };
  return { ok: true, hostPath: real };
}

/** Which atomic-writer plugin serves the volume, and whether it lives in memory. */
function atomicPlugin(v: JsonObject): { dir: string; memory: boolean } | undefined {
  if (v['configMap'] !== undefined) return { dir: 'configmap', memory: false };
  if (v['secret'] !== undefined) return { dir: 'secret', memory: true };
  if (v['downwardAPI'] !== undefined) return { dir: 'downward-api', memory: false };
  if (v['projected'] !== undefined) return { dir: 'projected', memory: true };
  return undefined;
}

/**
 * A memory-backed emptyDir's size (the kubelet's SizeMemoryBackedVolumes): its `sizeLimit`, capped
 * by the pod's memory limit when every container has one; without either, tmpfs' default.
 */
function memorySize(pod: PodView, sizeLimit: unknown): number | undefined {
  const limit = sizeLimit !== undefined ? toValue(sizeLimit) : undefined;
  const limits = pod.containers.map((c) => c.limits.memoryBytes);
  const podLimit =
    limits.length > 0 && limits.every((l) => l !== undefined && l > 0)
      ? limits.reduce<number>((a, b) => a + (b ?? 0), 0)
      : undefined;
  if (limit !== undefined && limit > 0) return podLimit !== undefined ? Math.min(limit, podLimit) : limit;
  return podLimit;
}

function payloadHash(files: Payload): string {
  const h = createHash('sha256');
  for (const path of [...files.keys()].sort()) {
    const f = files.get(path);
    if (f === undefined) continue;
    h.update(`${path}\0${f.mode}\0${f.data.length}\0`);
    h.update(f.data);
  }
  return h.digest('hex');
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}
