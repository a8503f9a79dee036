import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { status as grpcStatus } from '@grpc/grpc-js';
import type { StoredObject } from '../../api/object.js';
import { findResource, type ResourceInfo } from '../../api/resources.js';
import { isApiError } from '../../api/status.js';
import { FakeClock, realClock } from '../../lib/clock.js';
import { silentLogger } from '../../lib/logger.js';
import type { AgentMessage, ControllerMessage, Register } from '../../proto/gen/berth/v1/agent.js';
import { defaultAdmission } from '../apiserver/admission.js';
import { ResourceStorage } from '../apiserver/resource-storage.js';
import { openSqliteStore, type SqliteStore } from '../store/sqlite-store.js';
import { AgentSession, type SessionStream } from './agent-session.js';
import type { EventRecord, EventSink } from './event-sink.js';
import { NodeRegistrar } from './node-registrar.js';
import { PodFeed } from './pod-feed.js';
import { PodStatusWriter } from './pod-status-writer.js';

const podsR = findResource('', 'v1', 'pods') as ResourceInfo;
const nodesR = findResource('', 'v1', 'nodes') as ResourceInfo;
const namespacesR = findResource('', 'v1', 'namespaces') as ResourceInfo;
const decoder = new TextDecoder();

class FakeStream implements SessionStream {
  readonly sent: ControllerMessage[] = [];
  ended: { code: grpcStatus; details: string } | undefined;
  backlog = 0;
  send(message: ControllerMessage): void {
    this.sent.push(message);
  }
  end(code: grpcStatus, details: string): void {
    this.ended = { code, details };
  }
}

function register(nodeName: string, extra: Partial<Register> = {}): AgentMessage {
  const resources = { cpu: '4', memory: '8Gi', pods: '110', ephemeralStorage: '100Gi' };
  return {
    kind: {
      $case: 'register',
      register: {
        nodeName,
        capacity: resources,
        allocatable: resources,
        labels: { zone: 'z1' },
        addresses: [{ type: 'InternalIP', address: '10.0.0.5' }],
        runtimeName: 'fake',
        runtimeVersion: '0.1.0',
        agentVersion: '0.1.0',
        metricsAddress: '10.0.0.5:10255',
        operatingSystem: 'linux',
        architecture: 'amd64',
        kernelVersion: '6.1.0',
        osImage: 'Test Linux',
        bootId: 'boot-1',
        lastAppliedRevision: 0,
        ...extra,
      },
    },
  };
}

function statusMessage(pod: StoredObject, status: Record<string, unknown>): AgentMessage {
  return {
    kind: {
      $case: 'podStatus',
      podStatus: {
        namespace: pod.metadata.namespace ?? '',
        name: pod.metadata.name ?? '',
        uid: pod.metadata.uid ?? '',
        statusJson: Buffer.from(JSON.stringify(status)),
      },
    },
  };
}

async function waitFor(what: string, cond: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('AgentSession', () => {
  let store: SqliteStore;
  let storage: ResourceStorage;
  let clock: FakeClock;
  let feed: PodFeed;
  let registrar: NodeRegistrar;
  let writer: PodStatusWriter;
  let events: EventRecord[];
  let podA: StoredObject;
  let podB: StoredObject;
  const sessions: AgentSession[] = [];

  function session(nodeName: string): { s: AgentSession; stream: FakeStream; closed: () => boolean } {
    const stream = new FakeStream();
    let closed = false;
    const sink: EventSink = { record: (e) => events.push(e) };
    const s = new AgentSession({
      nodeName,
      stream,
      feed,
      registrar,
      statusWriter: writer,
      events: sink,
      clock,
      logger: silentLogger(),
      onRegister: () => undefined,
      onClose: () => {
        closed = true;
      },
    });
    sessions.push(s);
    return { s, stream, closed: () => closed };
  }

  async function createPod(name: string, nodeName: string): Promise<StoredObject> {
    return storage.create(podsR, 'default', {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name },
      spec: { nodeName, containers: [{ name: 'c', image: 'busybox' }] },
    });
  }

  beforeEach(async () => {
    clock = new FakeClock();
    store = openSqliteStore({ path: ':memory:', logger: silentLogger() });
    storage = new ResourceStorage({ store, clock, admission: defaultAdmission });
    await storage.create(namespacesR, undefined, {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'default' },
    });
    podA = await createPod('pod-a', 'node-a');
    podB = await createPod('pod-b', 'node-b');
    feed = new PodFeed({ store, clock: realClock, logger: silentLogger() });
    await feed.start();
    events = [];
    const sink: EventSink = { record: (e) => events.push(e) };
    registrar = new NodeRegistrar({
      storage,
      clock,
      logger: silentLogger(),
      events: sink,
      statusUpdateIntervalMs: 10_000,
    });
    writer = new PodStatusWriter({ storage, clock, logger: silentLogger() });
  });
  afterEach(async () => {
    for (const s of sessions.splice(0)) s.close(grpcStatus.UNAVAILABLE, 'test over');
    await writer.close();
    await feed.close();
    await store.close();
  });

  it('sends StreamOpen only once active, and NodeConfig only when it changed', async () => {
    const { s, stream } = session('node-a');
    const open = { streamId: 's1', request: undefined };
    assert.equal(s.streamOpen(open), false, 'not before Register');
    s.nodeConfig({ podCidr: '10.42.0.0/24', clusterCidr: '10.42.0.0/16' });
    assert.equal(stream.sent.length, 0);
    s.handle(register('node-a'));
    assert.equal(s.streamOpen(open), true);
    s.nodeConfig({ podCidr: '', clusterCidr: '10.42.0.0/16' });
    s.nodeConfig({ podCidr: '', clusterCidr: '10.42.0.0/16' });
    s.nodeConfig({ podCidr: '10.42.3.0/24', clusterCidr: '10.42.0.0/16' });
    const kinds = stream.sent.map((m) => m.kind?.$case).filter((k) => k !== 'podSnapshot');
    assert.deepEqual(kinds, ['streamOpen', 'nodeConfig', 'nodeConfig']);
    await waitFor('the snapshot', () => stream.sent.some((m) => m.kind?.$case === 'podSnapshot'));
  });

  it('registers the node: creates the Node with capacity, labels and Ready, then sends its pods only', async () => {
    const { s, stream } = session('node-a');
    s.handle(register('node-a'));
    await waitFor('the snapshot', () => stream.sent.length > 0);
    const node = await storage.get(nodesR, undefined, 'node-a');
    const status = node.status as {
      capacity: Record<string, string>;
      allocatable: Record<string, string>;
      conditions: { type: string; status: string; lastHeartbeatTime: string }[];
      nodeInfo: Record<string, string>;
      addresses: unknown[];
    };
    assert.deepEqual(status.capacity, { cpu: '4', memory: '8Gi', pods: '110', 'ephemeral-storage': '100Gi' });
    assert.equal(status.conditions.find((c) => c.type === 'Ready')?.status, 'True');
    assert.equal(status.nodeInfo['containerRuntimeVersion'], 'fake://0.1.0');
    assert.deepEqual(status.addresses, [{ type: 'InternalIP', address: '10.0.0.5' }]);
    const labels = node.metadata.labels ?? {};
    assert.equal(labels['kubernetes.io/hostname'], 'node-a');
    assert.equal(labels['kubernetes.io/os'], 'linux');
    assert.equal(labels['zone'], 'z1');
    assert.equal(node.metadata.annotations?.['node.berth.io/metrics-address'], '10.0.0.5:10255');
    const snapshot = stream.sent[0]?.kind;
    assert.equal(snapshot?.$case, 'podSnapshot');
    assert.deepEqual(
      snapshot.podSnapshot.podsJson.map((b) => (JSON.parse(decoder.decode(b)) as StoredObject).metadata.name),
      ['pod-a'],
    );
    assert.equal(events[0]?.reason, 'NodeReady');
    assert.equal(stream.ended, undefined);
  });

  it('refuses a Register for another node name, and creates no Node for it', async () => {
    const { s, stream, closed } = session('node-a');
    s.handle(register('node-b'));
    assert.equal(stream.ended?.code, grpcStatus.PERMISSION_DENIED);
    assert.match(stream.ended.details, /node "node-a" .* may not register as node "node-b"/);
    assert.ok(closed());
    await assert.rejects(
      storage.get(nodesR, undefined, 'node-b'),
      (err) => isApiError(err) && err.status.code === 404,
    );
  });

  it('refuses restricted labels and a stream that does not start with Register', () => {
    const a = session('node-a');
    a.s.handle(register('node-a', { labels: { 'node-role.kubernetes.io/control-plane': '' } }));
    assert.equal(a.stream.ended?.code, grpcStatus.PERMISSION_DENIED);
    const b = session('node-b');
    b.s.handle({ kind: { $case: 'heartbeat', heartbeat: {} } });
    assert.equal(b.stream.ended?.code, grpcStatus.FAILED_PRECONDITION);
  });

  it('ends a stream that does not register in time', async () => {
    const { stream } = session('node-a');
    const ended = (): FakeStream['ended'] => stream.ended;
    await clock.advance(9_000);
    assert.equal(ended(), undefined);
    await clock.advance(2_000);
    assert.equal(ended()?.code, grpcStatus.DEADLINE_EXCEEDED);
  });

  it("writes its own pods' status, keeping conditions it does not own, and refuses another node's pod", async () => {
    await storage.update(
      podsR,
      'default',
      'pod-a',
      (p) => ({
        ...p,
        status: { phase: 'Pending', conditions: [{ type: 'DisruptionTarget', status: 'True' }] },
      }),
      { subresource: 'status' },
    );
    const { s, stream } = session('node-a');
    s.handle(register('node-a'));
    s.handle(statusMessage(podA, { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] }));
    await writer.flush();
    const a = await storage.get(podsR, 'default', 'pod-a');
    assert.deepEqual(a.status, {
      phase: 'Running',
      conditions: [
        { type: 'Ready', status: 'True' },
        { type: 'DisruptionTarget', status: 'True' },
      ],
    });

    s.handle(statusMessage(podB, { phase: 'Failed' }));
    assert.equal(stream.ended?.code, grpcStatus.PERMISSION_DENIED);
    assert.match(stream.ended.details, /may not report the status of pod default\/pod-b/);
    await writer.flush();
    const b = await storage.get(podsR, 'default', 'pod-b');
    assert.deepEqual(b.status, podB.status);
    assert.notEqual((b.status as { phase?: string } | undefined)?.phase, 'Failed');
  });

  it("refuses to remove or report events about another node's pods", () => {
    const a = session('node-a');
    a.s.handle(register('node-a'));
    a.s.handle({
      kind: {
        $case: 'podTerminated',
        podTerminated: { namespace: 'default', name: 'pod-b', uid: podB.metadata.uid ?? '' },
      },
    });
    assert.equal(a.stream.ended?.code, grpcStatus.PERMISSION_DENIED);
    const b = session('node-a');
    b.s.handle(register('node-a'));
    b.s.handle({
      kind: {
        $case: 'podEvent',
        podEvent: {
          namespace: 'default',
          podName: 'pod-b',
          podUid: podB.metadata.uid ?? '',
          fieldPath: '',
          type: 'Warning',
          reason: 'X',
          message: 'y',
        },
      },
    });
    assert.equal(b.stream.ended?.code, grpcStatus.PERMISSION_DENIED);
  });

  it('ignores reports about unknown pods without ending the stream', async () => {
    const { s, stream } = session('node-a');
    s.handle(register('node-a'));
    s.handle(
      statusMessage(
        { ...podA, metadata: { ...podA.metadata, name: 'gone', uid: 'no-such-uid' } },
        { phase: 'Running' },
      ),
    );
    await writer.flush();
    assert.equal(stream.ended, undefined);
  });

  it('removes its pod once deleted and terminated, keeps one not being deleted, and records its events', async () => {
    const { s } = session('node-a');
    s.handle(register('node-a'));
    const terminated: AgentMessage = {
      kind: {
        $case: 'podTerminated',
        podTerminated: { namespace: 'default', name: 'pod-a', uid: podA.metadata.uid ?? '' },
      },
    };
    s.handle(terminated);
    await writer.flush();
    await storage.get(podsR, 'default', 'pod-a'); // still there: nobody asked to delete it

    const deleting = await storage.delete(podsR, 'default', 'pod-a');
    assert.equal(deleting.deleted, false, 'a bound pod waits for its node');
    s.handle(terminated);
    await writer.flush();
    await assert.rejects(
      storage.get(podsR, 'default', 'pod-a'),
      (err) => isApiError(err) && err.status.code === 404,
    );

    s.handle({
      kind: {
        $case: 'podEvent',
        podEvent: {
          namespace: 'default',
          podName: 'pod-a',
          podUid: podA.metadata.uid ?? '',
          fieldPath: 'spec.containers{c}',
          type: 'Normal',
          reason: 'Killing',
          message: 'Stopping container c',
        },
      },
    });
    const event = events.find((e) => e.reason === 'Killing');
    assert.deepEqual(event?.involvedObject, {
      apiVersion: 'v1',
      kind: 'Pod',
      namespace: 'default',
      name: 'pod-a',
      uid: podA.metadata.uid,
      fieldPath: 'spec.containers{c}',
    });
    assert.deepEqual(event.source, { component: 'kubelet', host: 'node-a' });
  });

  it('writes heartbeats to the Node at most once per interval, and at once after a silence', async () => {
    const { s } = session('node-a');
    s.handle(register('node-a'));
    await waitFor('registration', async () => {
      try {
        await storage.get(nodesR, undefined, 'node-a');
        return true;
      } catch {
        return false;
      }
    });
    const heartbeatTime = async (): Promise<string | undefined> => {
      const node = await storage.get(nodesR, undefined, 'node-a');
      const conditions = (node.status as { conditions: { type: string; lastHeartbeatTime?: string }[] })
        .conditions;
      return conditions.find((c) => c.type === 'Ready')?.lastHeartbeatTime;
    };
    await waitFor('the status write', async () => (await heartbeatTime()) !== undefined);
    const first = await heartbeatTime();
    const beat: AgentMessage = { kind: { $case: 'heartbeat', heartbeat: {} } };
    for (let i = 0; i < 4; i++) {
      await clock.advance(2000);
      s.handle(beat);
    }
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(await heartbeatTime(), first, 'no write within the interval');
    await clock.advance(2000);
    s.handle(beat);
    await waitFor('the heartbeat write', async () => (await heartbeatTime()) !== first);
    const second = await heartbeatTime();
    await clock.advance(5000); // silence: the node may have been marked NotReady meanwhile
    s.handle(beat);
    await waitFor('the forced write', async () => (await heartbeatTime()) !== second);
  });
});
