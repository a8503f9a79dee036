/**
 * Test fixture for controllers: a real `ResourceStorage` (default admission) on an in-memory SQLite
 * store with the built-in namespaces, and a `ControllerManager` running the given controllers — the
 * same code paths as `berth server`, without HTTP. Also `eventually`, the bounded poll tests wait with.
 */
import type { StoredObject } from '../../../api/object.js';
import { findResource, type ResourceInfo } from '../../../api/resources.js';
import { realClock, type Clock } from '../../../lib/clock.js';
import { silentLogger, type Logger } from '../../../lib/logger.js';
import { createMetricsRegistry } from '../../../lib/metrics.js';
import { defaultAdmission } from '../../apiserver/admission.js';
import { ResourceStorage } from '../../apiserver/resource-storage.js';
import { openSqliteStore, type SqliteStore } from '../../store/sqlite-store.js';
import { ControllerManager, type ControllerDescriptor } from '../controller-manager.js';

export interface ControllerFixture {
  readonly store: SqliteStore;
  readonly storage: ResourceStorage;
  readonly manager: ControllerManager;
  readonly metrics: ReturnType<typeof createMetricsRegistry>;
  /** The served resource `group/v1/plural` (throws if unknown). */
  resource(group: string, plural: string): ResourceInfo;
  /** The stored object, or undefined. */
  find(r: ResourceInfo, namespace: string | undefined, name: string): Promise<StoredObject | undefined>;
  close(): Promise<void>;
}

export interface FixtureOptions {
  readonly controllers: readonly ControllerDescriptor[];
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** Runs before the manager starts (e.g. to create objects the controllers find at start-up). */
  readonly before?: (storage: ResourceStorage) => Promise<void>;
  /** Start the manager (default true). */
  readonly start?: boolean;
}

export async function startControllerFixture(opts: FixtureOptions): Promise<ControllerFixture> {
  const clock = opts.clock ?? realClock;
  const store = openSqliteStore({ path: ':memory:', clock });
  const storage = new ResourceStorage({ store, clock, admission: defaultAdmission });
  const resource = (group: string, plural: string): ResourceInfo => {
    const r = findResource(group, 'v1', plural);
    if (r === undefined) throw new Error(`no resource ${group}/v1/${plural}`);
    return r;
  };
  try {
    return await build(store, storage, resource, clock, opts);
  } catch (err) {
    await store.close();
    throw err;
  }
}

async function build(
  store: SqliteStore,
  storage: ResourceStorage,
  resource: (group: string, plural: string) => ResourceInfo,
  clock: Clock,
  opts: FixtureOptions,
): Promise<ControllerFixture> {
  for (const name of ['default', 'kube-system']) {
    await storage.create(resource('', 'namespaces'), undefined, {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name },
    });
  }
  await opts.before?.(storage);
  const metrics = createMetricsRegistry({ processMetrics: false });
  const manager = new ControllerManager({
    storage,
    clock,
    logger: opts.logger ?? silentLogger(),
    metrics,
    controllers: opts.controllers,
  });
  if (opts.start ?? true) {
    manager.start();
    if (!(await manager.waitForStart())) {
      await manager.close();
      throw new Error('controller manager did not start');
    }
  }
  return {
    store,
    storage,
    manager,
    metrics,
    resource,
    find: async (r, namespace, name) => {
      try {
        return await storage.get(r, namespace, name);
      } catch {
        return undefined;
      }
    },
    close: async () => {
      await manager.close();
      await store.close();
    },
  };
}

/** Polls `check` every 20 ms until it returns true; throws with `what` after `timeoutMs` (default 5 s). */
export async function eventually(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = realClock.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (realClock.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await realClock.sleep(20);
  }
}
