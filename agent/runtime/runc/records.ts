/**
 * The runc runtime's durable records: one JSON file per sandbox and per container in the state
 * directory, replaced atomically (write, rename) on every state change, so that an agent that
 * restarts — even after SIGKILL — knows every object it made, what state it was in, and never starts a
 * container twice. Records on the pod start path are not fsynced (an agent crash cannot lose them; a
 * host crash takes the containers with it); exits and stops are. Layout under `stateDir`:
 *
 *     sandboxes/<id>/sandbox.json    the sandbox record; hosts, resolv.conf, hostname beside it
 *     containers/<id>/container.json the container record, written once the container exists
 *     containers/<id>/bundle/        config.json and rootfs/ (the overlay mount point)
 *     containers/<id>/out.fifo, err.fifo, pid, exit, runc.log   (the shim's files)
 *
 * A directory without its JSON file is a create that crashed half-way; the runtime removes it.
 *
 * Container record states (the Runtime's states plus STARTING, the durable "start was asked" mark
 * that makes a start at most once):
 *
 *     CREATED ──▶ STARTING ──(pid file)──▶ RUNNING ──(exit file)──▶ EXITED
 *                    └──(exit file, no pid file: StartError)─────────────┘
 *
 * RUNNING lives in memory only: on disk a started container stays STARTING until its exit is
 * recorded, and the shim's pid file is what says it started (one fsync less per start).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../../lib/atomic-write.js';
import type { ContainerConfig, Mount, PodSandboxConfig, SandboxState } from '../runtime.js';

export type RecordState = 'CREATED' | 'STARTING' | 'RUNNING' | 'EXITED';

export interface SandboxRecord {
  readonly kind: 'sandbox';
  readonly id: string;
  readonly seq: number;
  readonly config: PodSandboxConfig;
  readonly createdAt: number;
  /** cgroupfs parent of the sandbox's containers. */
  readonly cgroupParent: string;
  /** /etc/hosts, resolv.conf, hostname bind mounts. */
  readonly mounts: readonly Mount[];
  state: SandboxState;
}

export interface ContainerRecord {
  readonly kind: 'container';
  readonly id: string;
  readonly sandboxId: string;
  readonly seq: number;
  readonly config: ContainerConfig;
  readonly imageRef: string;
  /** Absolute. */
  readonly logPath: string;
  readonly cgroupsPath: string;
  readonly createdAt: number;
  state: RecordState;
  startedAt?: number;
  finishedAt?: number;
  exitCode?: number;
  reason?: string;
  message?: string;
}

async function save(path: string, rec: SandboxRecord | ContainerRecord, durable: boolean): Promise<void> {
  const text = JSON.stringify(rec);
  if (durable) {
    await writeFileAtomic(path, text, 0o600);
    return;
  }
  const tmp = `${path}.tmp-${randomBytes(4).toString('hex')}`;
  try {
    await writeFile(tmp, text, { mode: 0o600 });
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** Reads and writes records under one state directory. */
export class RecordStore {
  readonly dir: string;

  constructor(stateDir: string) {
    this.dir = stateDir;
  }

  sandboxDir(id: string): string {
    return join(this.dir, 'sandboxes', id);
  }

  containerDir(id: string): string {
    return join(this.dir, 'containers', id);
  }

  async init(): Promise<void> {
    await mkdir(join(this.dir, 'sandboxes'), { recursive: true, mode: 0o700 });
    await mkdir(join(this.dir, 'containers'), { recursive: true, mode: 0o700 });
  }

  /** See {@link RecordStore.saveContainer} for `durable`. */
  async saveSandbox(rec: SandboxRecord, durable = true): Promise<void> {
    await save(join(this.sandboxDir(rec.id), 'sandbox.json'), rec, durable);
  }

  /**
   * Replaces the record atomically. `durable: false` skips the fsyncs: the record then survives an
   * agent crash (it is in the page cache) but maybe not a host crash — which also kills every
   * container and empties runc's tmpfs state, so nothing can run twice. Used on the pod start path.
   */
  async saveContainer(rec: ContainerRecord, durable = true): Promise<void> {
    await save(join(this.containerDir(rec.id), 'container.json'), rec, durable);
  }

  /** Every record on disk, plus the ids of directories without one (crashed creates). */
  async load(): Promise<{
    sandboxes: SandboxRecord[];
    containers: ContainerRecord[];
    orphanSandboxDirs: string[];
    orphanContainerDirs: string[];
  }> {
    const read = async <T>(kind: 'sandboxes' | 'containers', file: string): Promise<[T[], string[]]> => {
      const recs: T[] = [];
      const orphans: string[] = [];
      let ids: string[];
      try {
        ids = await readdir(join(this.dir, kind));
      } catch {
        return [recs, orphans];
      }
      for (const id of ids) {
        try {
          recs.push(JSON.parse(await readFile(join(this.dir, kind, id, file), 'utf8')) as T);
        } catch {
          orphans.push(id);
        }
      }
      return [recs, orphans];
    };
    const [sandboxes, orphanSandboxDirs] = await read<SandboxRecord>('sandboxes', 'sandbox.json');
    const [containers, orphanContainerDirs] = await read<ContainerRecord>('containers', 'container.json');
    return { sandboxes, containers, orphanSandboxDirs, orphanContainerDirs };
  }

  /** Deletes the record file first (so a crash part-way leaves no half record), then the directory. */
  async removeSandbox(id: string): Promise<void> {
    await rm(join(this.sandboxDir(id), 'sandbox.json'), { force: true });
    await rm(this.sandboxDir(id), { recursive: true, force: true });
  }

  async removeContainer(id: string): Promise<void> {
    await rm(join(this.containerDir(id), 'container.json'), { force: true });
    await rm(this.containerDir(id), { recursive: true, force: true });
  }
}
