import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { StoredObject } from '../../api/object.js';
import { findResource, type ResourceInfo } from '../../api/resources.js';
import { FakeClock, realClock } from '../../lib/clock.js';
import {
  startControllerFixture,
  eventually,
  type ControllerFixture,
} from '../controllers/testing/controller-fixture.js';
import { GatedStore } from '../controllers/testing/gated-store.js';
import { defaultAdmission } from '../apiserver/admission.js';
import { ResourceStorage } from '../apiserver/resource-storage.js';
import { openSqliteStore } from '../store/sqlite-store.js';
import { schedulerController, StoreBinder } from './scheduler-controller.js';
import type { PodLike } from './types.js';

function resource(plural: string): ResourceInfo {
  const r = findResource('', 'v1', plural);
  assert.ok(r !== undefined, plural);
  return r;
}

const tuning = { initialBackoffMs: 50, maxBackoffMs: 200, moveDebounceMs: 10 };

function node(name: string, cpu = '4', labels: Record<string, string> = {}): StoredObject {
  const alloc = { cpu, memory: '8Gi', pods: '110' };
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name, ...labels } },
    spec: {},
    status: {
      capacity: alloc,
      allocatable: alloc,
      conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'ready' }],
    },
  };
}

function pod(name: string, cpu = '500m', labels: Record<string, string> = { app: 'web' }): StoredObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', labels },
    spec: {
      containers: [{ name: 'c', image: 'busybox:1.36', resources: { requests: { cpu, memory: '64Mi' } } }],
    },
  };
}

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}

function podScheduled(p: StoredObject | undefined): Condition | undefined {
  const conditions = (p?.status as { conditions?: Condition[] } | undefined)?.conditions ?? [];
  return conditions.find((c) => c.type === 'PodScheduled');
}

function nodeNameOf(p: StoredObject | undefined): string | undefined {
  return (p?.spec as { nodeName?: string } | undefined)?.nodeName;
}

interface EventView {
  type: string;
  reason: string;
  message: string;
  count: number;
  source: { component: string };
  involvedObject: { name: string; uid: string; kind: string };
}

describe('scheduler controller (in-process, in-memory store)', () => {
  let f: ControllerFixture;
  const podsR = () => f.resource('', 'pods');
  const nodesR = () => f.resource('', 'nodes');
  const get = (name: string) => f.find(podsR(), 'default', name);
  const eventsFor = async (name: string): Promise<EventView[]> => {
    const list = await f.storage.list(f.resource('', 'events'), 'default');
    return list.items
      .map((e) => e as unknown as EventView)
      .filter((e) => e.involvedObject.kind === 'Pod' && e.involvedObject.name === name);
  };

  before(async () => {
    f = await startControllerFixture({
      controllers: [schedulerController({ tuning })],
      // Nodes that exist before the informers sync arrive through the initial list.
      before: async (storage) => {
        for (const n of ['n1', 'n2', 'n3']) await storage.create(resource('nodes'), undefined, node(n));
      },
    });
  });
  after(async () => {
    await f.close();
  });

  it('binds pending pods across ready nodes, with PodScheduled=True and Scheduled events', async () => {
    for (let i = 0; i < 6; i++) await f.storage.create(podsR(), 'default', pod(`web-${i}`));
    await eventually('all six pods bound', async () => {
      for (let i = 0; i < 6; i++) if (nodeNameOf(await get(`web-${i}`)) === undefined) return false;
      return true;
    });
    const perNode = new Map<string, number>();
    for (let i = 0; i < 6; i++) {
      const p = await get(`web-${i}`);
      const n = nodeNameOf(p) ?? '';
      perNode.set(n, (perNode.get(n) ?? 0) + 1);
      assert.equal(podScheduled(p)?.status, 'True');
    }
    // LeastAllocated with equal requests spreads evenly.
    assert.deepEqual([...perNode.entries()].sort(), [
      ['n1', 2],
      ['n2', 2],
      ['n3', 2],
    ]);
    await f.manager.events.flush();
    await eventually('Scheduled events written', async () => (await eventsFor('web-5')).length > 0);
    const p0 = await get('web-0');
    const [ev] = await eventsFor('web-0');
    assert.equal(ev?.type, 'Normal');
    assert.equal(ev.reason, 'Scheduled');
    assert.equal(ev.message, `Successfully assigned default/web-0 to ${nodeNameOf(p0) ?? ''}`);
    assert.equal(ev.source.component, 'default-scheduler');
    assert.equal(ev.involvedObject.uid, p0?.metadata.uid);
  });

  it('marks a pod that fits nowhere Unschedulable, once, and binds it when a fitting node joins', async () => {
    await f.storage.create(podsR(), 'default', pod('big', '16'));
    const message = '0/3 nodes are available: 3 Insufficient cpu.';
    await eventually(
      'PodScheduled=False on the big pod',
      async () => podScheduled(await get('big'))?.status === 'False',
    );
    const first = await get('big');
    const cond = podScheduled(first);
    assert.equal(cond?.reason, 'Unschedulable');
    assert.equal(cond.message, message);
    assert.equal(nodeNameOf(first), undefined);
    await eventually('a FailedScheduling event', async () =>
      (await eventsFor('big')).some((e) => e.reason === 'FailedScheduling'),
    );
    const failed = (await eventsFor('big')).find((e) => e.reason === 'FailedScheduling');
    assert.equal(failed?.type, 'Warning');
    assert.equal(failed.message, message);

    // A relevant node change retries the pod: the same verdict aggregates into the same Event and
    // leaves the pod's condition (and resourceVersion) alone.
    await f.storage.update(nodesR(), undefined, 'n1', (n) => ({
      ...n,
      metadata: { ...n.metadata, labels: { ...n.metadata.labels, touched: 'yes' } },
    }));
    await eventually('the repeat counted on the FailedScheduling event', async () =>
      (await eventsFor('big')).some((e) => e.reason === 'FailedScheduling' && e.count >= 2),
    );
    assert.equal((await eventsFor('big')).filter((e) => e.reason === 'FailedScheduling').length, 1);
    assert.equal((await get('big'))?.metadata.resourceVersion, first?.metadata.resourceVersion);

    await f.storage.create(nodesR(), undefined, node('huge', '32'));
    await eventually(
      'the big pod bound to the new node',
      async () => nodeNameOf(await get('big')) === 'huge',
    );
    const bound = await get('big');
    assert.equal(podScheduled(bound)?.status, 'True');
    await eventually('a Scheduled event for the big pod', async () =>
      (await eventsFor('big')).some(
        (e) => e.reason === 'Scheduled' && e.message === 'Successfully assigned default/big to huge',
      ),
    );
  });

  it('leaves pods of other schedulers alone', async () => {
    const other = pod('other');
    (other.spec as Record<string, unknown>)['schedulerName'] = 'someone-else';
    await f.storage.create(podsR(), 'default', other);
    await f.storage.create(podsR(), 'default', pod('marker'));
    await eventually('the marker pod bound', async () => nodeNameOf(await get('marker')) !== undefined);
    const o = await get('other');
    assert.equal(nodeNameOf(o), undefined);
    assert.equal(podScheduled(o), undefined);
  });
});

describe('StoreBinder (the scheduler side of pods/binding)', () => {
  const setup = async () => {
    const inner = openSqliteStore({ path: ':memory:', clock: realClock });
    const store = new CountingStore(inner);
    const storage = new ResourceStorage({ store, clock: realClock, admission: defaultAdmission });
    const r = resource('pods');
    await storage.create(resource('namespaces'), undefined, {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'default' },
    });
    const binder = new StoreBinder(store, realClock);
    const signal = new AbortController().signal;
    return { store, storage, r, binder, signal, close: () => inner.close() };
  };

  it('binds with one store write and no read when the pod it holds is current', async () => {
    const s = await setup();
    try {
      const created = await s.storage.create(s.r, 'default', pod('a'));
      s.store.reset();
      const result = await s.binder.bind(created as PodLike, 'n1', s.signal);
      assert.deepEqual(result, { ok: true });
      assert.deepEqual(s.store.counts(), { gets: 0, updates: 1 });
      const stored = await s.storage.get(s.r, 'default', 'a');
      assert.equal(nodeNameOf(stored), 'n1');
      assert.equal(podScheduled(stored)?.status, 'True');
    } finally {
      await s.close();
    }
  });

  it('retries once on the current value when its copy is stale, still without a read', async () => {
    const s = await setup();
    try {
      const created = await s.storage.create(s.r, 'default', pod('b'));
      await s.storage.update(s.r, 'default', 'b', (p) => ({
        ...p,
        metadata: { ...p.metadata, labels: { app: 'web', extra: 'x' } },
      }));
      s.store.reset();
      assert.deepEqual(await s.binder.bind(created as PodLike, 'n2', s.signal), { ok: true });
      assert.deepEqual(s.store.counts(), { gets: 0, updates: 2 });
      const stored = await s.storage.get(s.r, 'default', 'b');
      assert.equal(nodeNameOf(stored), 'n2');
      // The later label change survives: the binding was applied to the current pod.
      assert.equal(stored.metadata.labels?.['extra'], 'x');
    } finally {
      await s.close();
    }
  });

  it('refuses (as a value) a pod already bound, deleted, or replaced under the same name', async () => {
    const s = await setup();
    try {
      const c = await s.storage.create(s.r, 'default', pod('c'));
      assert.deepEqual(await s.binder.bind(c as PodLike, 'n1', s.signal), { ok: true });
      const again = await s.binder.bind(c as PodLike, 'n2', s.signal);
      assert.equal(again.ok, false);
      assert.match(again.reason, /pod c is already assigned to node "n1"/);

      const d = await s.storage.create(s.r, 'default', pod('d'));
      await s.storage.delete(s.r, 'default', 'd');
      const gone = await s.binder.bind(d as PodLike, 'n1', s.signal);
      assert.equal(gone.ok, false);
      assert.match(gone.reason, /not found/);

      const e = await s.storage.create(s.r, 'default', pod('e'));
      await s.storage.delete(s.r, 'default', 'e');
      await s.storage.create(s.r, 'default', pod('e'));
      const replaced = await s.binder.bind(e as PodLike, 'n1', s.signal);
      assert.equal(replaced.ok, false);
      assert.match(replaced.reason, /Precondition failed: UID in precondition/);
      assert.equal(nodeNameOf(await s.storage.get(s.r, 'default', 'e')), undefined);
    } finally {
      await s.close();
    }
  });
});

describe('StoreBinder batching', () => {
  it('holds bindings while more pods are coming, and writes them together when the batch fills or time is up', async () => {
    const inner = openSqliteStore({ path: ':memory:', clock: realClock });
    try {
      const store = new CountingStore(inner);
      const storage = new ResourceStorage({ store, clock: realClock, admission: defaultAdmission });
      await storage.create(resource('namespaces'), undefined, {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: 'default' },
      });
      const created: PodLike[] = [];
      for (const n of ['a', 'b', 'c', 'd', 'e']) {
        created.push((await storage.create(resource('pods'), 'default', pod(n))) as PodLike);
      }
      const [a, b, c, d, e] = created as [PodLike, PodLike, PodLike, PodLike, PodLike];
      const clock = new FakeClock();
      let moreComing = true;
      const binder = new StoreBinder(store, clock, {
        maxBatch: 3,
        maxDelayMs: 20,
        moreComing: () => moreComing,
      });
      const signal = new AbortController().signal;
      store.reset();
      const first = [binder.bind(a, 'n1', signal), binder.bind(b, 'n1', signal)];
      await new Promise((r) => setImmediate(r));
      assert.equal(store.updates, 0, 'two of three: still waiting');
      first.push(binder.bind(c, 'n1', signal));
      assert.equal(store.updates, 3, 'the third fills the batch: all three issued in one pass');
      assert.deepEqual(await Promise.all(first), [{ ok: true }, { ok: true }, { ok: true }]);

      const late = binder.bind(d, 'n2', signal);
      await new Promise((r) => setImmediate(r));
      assert.equal(store.updates, 3);
      await clock.advance(20);
      assert.deepEqual(await late, { ok: true });
      assert.equal(store.updates, 4);

      moreComing = false;
      const alone = binder.bind(e, 'n3', signal);
      assert.equal(store.updates, 5, 'nothing else to schedule: written at once');
      assert.deepEqual(await alone, { ok: true });
      for (const n of ['a', 'b', 'c', 'd', 'e']) {
        assert.notEqual(nodeNameOf(await storage.get(resource('pods'), 'default', n)), undefined, n);
      }
    } finally {
      await inner.close();
    }
  });
});

/** Counts reads and compare-and-swap writes going to the store. */
class CountingStore extends GatedStore {
  gets = 0;
  updates = 0;
  override get(key: string) {
    this.gets++;
    return super.get(key);
  }
  override update(key: string, value: Uint8Array, rev: number) {
    this.updates++;
    return super.update(key, value, rev);
  }
  reset(): void {
    this.gets = 0;
    this.updates = 0;
  }
  counts(): { gets: number; updates: number } {
    return { gets: this.gets, updates: this.updates };
  }
}
