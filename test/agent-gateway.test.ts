/**
 * The controller ↔ agent protocol end to end: a real `berth server` with its agent gateway and three
 * real `berth agent --runtime fake` processes. Joining (and refusing a wrong token), Node objects as
 * kubectl sees them, mTLS identity (another node's name, another node's pods, no or a foreign
 * certificate — through the gateway client library directly), pod delivery to the right agent only,
 * deletion through the agent, convergence after a controller restart, and a kill -9'd agent's stream
 * being cleaned up.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, status as grpcStatus, type StatusObject } from '@grpc/grpc-js';
import { findKubectl, kubectl, startBerthServer, type BerthServerHandle } from './harness/berth-server.js';
import { freePorts } from './harness/ports.js';
import { NodeIdentity, type NodeCredentials } from '../agent/node-identity.js';
import { realClock } from '../lib/clock.js';
import { silentLogger } from '../lib/logger.js';
import { createCertificateAuthority, signCsr } from '../lib/pki/certificate-authority.js';
import { createCsr } from '../lib/pki/csr.js';
import { formatNodeToken } from '../lib/pki/node-token.js';
import { errorCodes, errorMessage, isBerthError } from '../lib/errors.js';
import {
  AgentGatewayClient,
  type AgentMessage,
  type ControllerMessage,
} from '../proto/gen/berth/v1/agent.js';

const root = new URL('..', import.meta.url).pathname;
const found = findKubectl();
const skip = found.skip;
if (skip !== undefined) console.log(`# skipping agent gateway tests: ${skip}`);

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

interface AgentProcess {
  readonly name: string;
  readonly child: ChildProcess;
  output(): string;
  exited(): Promise<number | null>;
  stop(): Promise<void>;
}

/** Spawns `berth agent --runtime fake` from source. */
function spawnAgent(opts: {
  name: string;
  server: BerthServerHandle;
  gatewayPort: number;
  dataDir: string;
  token: string;
  nodeIp: string;
}): AgentProcess {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(root, 'cli/main.ts'),
      'agent',
      '--server',
      opts.server.url,
      '--gateway',
      `127.0.0.1:${opts.gatewayPort}`,
      '--token',
      opts.token,
      '--data-dir',
      opts.dataDir,
      '--node-name',
      opts.name,
      '--node-ip',
      opts.nodeIp,
      '--runtime',
      'fake',
      '--labels',
      `berth.test/agent=${opts.name}`,
      '--metrics-listen',
      '127.0.0.1:0',
    ],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  live.add(child);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exit = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      live.delete(child);
      resolve(code);
    }),
  );
  return {
    name: opts.name,
    child,
    output: () => out,
    exited: () => exit,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exit;
      clearTimeout(t);
    },
  };
}

async function eventually<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last === undefined ? '' : `: ${errorMessage(last)}`}`,
      );
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

interface PodView {
  metadata: { name: string; uid: string };
  spec: { nodeName?: string };
  status?: { phase?: string; hostIP?: string };
}

interface NodeView {
  metadata: { name: string; uid: string; labels?: Record<string, string> };
  status: {
    capacity: Record<string, string>;
    allocatable: Record<string, string>;
    conditions: { type: string; status: string; lastHeartbeatTime: string }[];
    nodeInfo: Record<string, string>;
    addresses: { type: string; address: string }[];
  };
}

/** Opens a raw Connect stream with `creds`, sends `messages`, and resolves with the final status. */
function rawStream(
  gatewayPort: number,
  creds: NodeCredentials | { caPem: string },
  messages: AgentMessage[],
): Promise<StatusObject> {
  const channelCreds =
    'certPem' in creds
      ? credentials.createSsl(Buffer.from(creds.caPem), Buffer.from(creds.keyPem), Buffer.from(creds.certPem))
      : credentials.createSsl(Buffer.from(creds.caPem));
  const client = new AgentGatewayClient(`127.0.0.1:${gatewayPort}`, channelCreds);
  const call = client.connect();
  return new Promise<StatusObject>((resolve) => {
    call.on('data', (_m: ControllerMessage) => undefined);
    call.on('error', () => undefined);
    call.on('status', (s: StatusObject) => {
      client.close();
      resolve(s);
    });
    for (const m of messages) call.write(m);
  });
}

function registerAs(nodeName: string): AgentMessage {
  const r = { cpu: '1', memory: '1Gi', pods: '10', ephemeralStorage: '1Gi' };
  return {
    kind: {
      $case: 'register',
      register: {
        nodeName,
        capacity: r,
        allocatable: r,
        labels: {},
        addresses: [{ type: 'InternalIP', address: '10.44.9.9' }],
        runtimeName: 'fake',
        runtimeVersion: '0',
        agentVersion: '0.1.0',
        metricsAddress: '',
        operatingSystem: 'linux',
        architecture: 'amd64',
        kernelVersion: '',
        osImage: '',
        bootId: '',
        lastAppliedRevision: 0,
      },
    },
  };
}

describe('agents over the gateway (berth server + berth agent --runtime fake)', { skip }, () => {
  let server: BerthServerHandle;
  let gatewayPort: number;
  let apiPort: number;
  let token: string;
  let work: string;
  const agents = new Map<string, AgentProcess>();
  const nodeIps: Record<string, string> = { a: '10.44.0.1', b: '10.44.0.2', c: '10.44.0.3' };

  const k = (args: string[], input?: string) =>
    kubectl(server, args, { kubectlPath: found.path ?? '', ...(input === undefined ? {} : { input }) });
  const getJson = async <T>(args: string[]): Promise<T> => {
    const r = await k([...args, '-o', 'json']);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  };
  const pod = (name: string, nodeName: string): string =>
    `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"${name}"},"spec":{"nodeName":"${nodeName}","containers":[{"name":"c","image":"busybox"}]}}`;
  const runningPod = (name: string) =>
    eventually(`pod ${name} Running`, async () => {
      const p = await getJson<PodView>(['get', 'pod', name]);
      return p.status?.phase === 'Running' ? p : undefined;
    });
  const gatewayMetric = async (): Promise<number | undefined> => {
    const r = await k(['get', '--raw', '/metrics']);
    const m = /^berth_agent_gateway_connected_agents (\d+)/m.exec(r.stdout);
    return m === null ? undefined : Number(m[1]);
  };

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'berth-agents-'));
    [gatewayPort, apiPort] = (await freePorts(2)) as [number, number];
    server = await startBerthServer({
      dataDir: join(work, 'server'),
      port: apiPort,
      args: ['--agent-listen', `127.0.0.1:${gatewayPort}`],
    });
    token = readFileSync(join(server.dataDir, 'node-token'), 'utf8').trim();
    for (const name of ['a', 'b', 'c']) {
      agents.set(
        name,
        spawnAgent({
          name,
          server,
          gatewayPort,
          dataDir: join(work, `agent-${name}`),
          token,
          nodeIp: nodeIps[name] ?? '',
        }),
      );
    }
  });

  after(async () => {
    await Promise.all([...agents.values()].map((a) => a.stop()));
    await server.destroy();
    rmSync(work, { recursive: true, force: true });
  });

  it('agents join: their Nodes appear with capacity, labels, addresses and Ready=True', async () => {
    const nodes = await eventually(
      'three Ready nodes',
      async () => {
        const list = await getJson<{ items: NodeView[] }>(['get', 'nodes']);
        const ready = list.items.filter((n) =>
          n.status.conditions.some((c) => c.type === 'Ready' && c.status === 'True'),
        );
        return ready.length === 3 ? list.items : undefined;
      },
      60_000,
    ).catch((err: unknown) => {
      const logs = [...agents.values()].map((a) => `--- agent ${a.name}:\n${a.output()}`).join('\n');
      throw new Error(`${String(err)}\n${logs}\n--- server:\n${server.output()}`);
    });
    for (const n of nodes) {
      const name = n.metadata.name;
      assert.ok(['a', 'b', 'c'].includes(name), name);
      assert.match(n.status.capacity['cpu'] ?? '', /^\d+$/);
      assert.match(n.status.capacity['memory'] ?? '', /^\d+Ki$/);
      assert.equal(n.status.capacity['pods'], '110');
      assert.ok(n.status.allocatable['memory'] !== undefined);
      const labels = n.metadata.labels ?? {};
      assert.equal(labels['kubernetes.io/hostname'], name);
      assert.equal(labels['kubernetes.io/os'], 'linux');
      assert.equal(labels['berth.test/agent'], name);
      assert.deepEqual(n.status.addresses.find((a) => a.type === 'InternalIP')?.address, nodeIps[name]);
      assert.equal(n.status.nodeInfo['containerRuntimeVersion']?.startsWith('fake://'), true);
    }
    const table = await k(['get', 'nodes']);
    assert.match(table.stdout, /^a\s+Ready\s/m);
    assert.equal(
      await eventually('the connected-agents gauge', async () =>
        (await gatewayMetric()) === 3 ? 3 : undefined,
      ),
      3,
    );
  });

  it('refuses a wrong token with a clear message', async () => {
    const wrongSecret = token.replace(/:[^:]+$/, `:${'0'.repeat(64)}`);
    const agent = spawnAgent({
      name: 'intruder',
      server,
      gatewayPort,
      dataDir: join(work, 'agent-intruder'),
      token: wrongSecret,
      nodeIp: '10.44.0.9',
    });
    const code = await agent.exited();
    assert.equal(code, 1, agent.output());
    assert.match(
      agent.output(),
      /error: the controller refused the join: join refused: unknown or revoked token/,
    );

    // A token naming another cluster's CA is refused by the agent itself, before it sends anything.
    const otherCa = await createCertificateAuthority({ commonName: 'other', validDays: 1, now: Date.now() });
    const identity = new NodeIdentity({
      dataDir: join(work, 'identity-other'),
      nodeName: 'intruder',
      token: formatNodeToken(otherCa.certPem, 'x'.repeat(64)),
      gateway: { host: '127.0.0.1', port: gatewayPort },
      clock: realClock,
      logger: silentLogger(),
    });
    await assert.rejects(
      identity.current(),
      (err) => isBerthError(err, errorCodes.JOIN_REFUSED) && /CA hash/.test(err.message),
    );
    const nodes = await getJson<{ items: NodeView[] }>(['get', 'nodes']);
    assert.ok(!nodes.items.some((n) => n.metadata.name === 'intruder'));
  });

  it('joins with a token from `berth token create`, lists it, and refuses it once revoked', async () => {
    const berth = (args: string[]): Promise<{ code: number | null; out: string }> =>
      new Promise((resolve) => {
        const child = spawn(
          process.execPath,
          ['--import', 'tsx', join(root, 'cli/main.ts'), 'token', ...args, '--data-dir', server.dataDir],
          {
            cwd: root,
            stdio: ['ignore', 'pipe', 'pipe'],
          },
        );
        live.add(child);
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (out += d.toString()));
        child.once('exit', (code) => {
          live.delete(child);
          resolve({ code, out });
        });
      });
    const created = await berth(['create', '--description', 'e2e', '--ttl', '1h']);
    assert.equal(created.code, 0, created.out);
    const newToken = created.out.trim();
    assert.match(newToken, /^K10[0-9a-f]{64}::[0-9a-f]{6}:[0-9a-f]{64}$/);
    const id = newToken.split('::')[1]?.split(':')[0] ?? '';
    const joinWith = (name: string) =>
      new NodeIdentity({
        dataDir: join(work, `identity-${name}`),
        nodeName: name,
        token: newToken,
        gateway: { host: '127.0.0.1', port: gatewayPort },
        clock: realClock,
        logger: silentLogger(),
      }).current();
    const joined = await joinWith('token-node-1');
    assert.match(joined.certPem, /BEGIN CERTIFICATE/);
    const listed = await berth(['list']);
    assert.equal(listed.code, 0, listed.out);
    assert.match(listed.out, new RegExp(`^${id}\\s+created\\s+valid\\s.*e2e$`, 'm'));
    assert.match(listed.out, /^server\s+default\s+valid\s/m);
    assert.ok(!listed.out.includes(newToken.split(':').at(-1) ?? '-'), 'secrets are never listed');
    const revoked = await berth(['revoke', id]);
    assert.equal(revoked.code, 0, revoked.out);
    await assert.rejects(
      joinWith('token-node-2'),
      (err) => isBerthError(err, errorCodes.JOIN_REFUSED) && /unknown or revoked/.test(err.message),
    );
  });

  it("refuses a node's certificate used as another node, or for another node's pods, and no or a foreign certificate", async () => {
    const podB = pod('owned-by-b', 'b');
    assert.equal((await k(['apply', '-f', '-'], podB)).code, 0);
    const before = await runningPod('owned-by-b');

    // Node "rogue" joins legitimately with the token…
    const rogue = await new NodeIdentity({
      dataDir: join(work, 'identity-rogue'),
      nodeName: 'rogue',
      token,
      gateway: { host: '127.0.0.1', port: gatewayPort },
      clock: realClock,
      logger: silentLogger(),
    }).current();
    // …but cannot register as b,
    const asB = await rawStream(gatewayPort, rogue, [registerAs('b')]);
    assert.equal(asB.code, grpcStatus.PERMISSION_DENIED);
    assert.match(asB.details, /node "rogue" .* may not register as node "b"/);
    // nor, registered as itself, touch b's pod.
    const statusOfB: AgentMessage = {
      kind: {
        $case: 'podStatus',
        podStatus: {
          namespace: 'default',
          name: 'owned-by-b',
          uid: before.metadata.uid,
          statusJson: Buffer.from(JSON.stringify({ phase: 'Failed', reason: 'Hijacked' })),
        },
      },
    };
    const status = await rawStream(gatewayPort, rogue, [registerAs('rogue'), statusOfB]);
    assert.equal(status.code, grpcStatus.PERMISSION_DENIED);
    assert.match(status.details, /may not report the status of pod default\/owned-by-b/);
    const removal: AgentMessage = {
      kind: {
        $case: 'podTerminated',
        podTerminated: { namespace: 'default', name: 'owned-by-b', uid: before.metadata.uid },
      },
    };
    assert.equal(
      (await rawStream(gatewayPort, rogue, [registerAs('rogue'), removal])).code,
      grpcStatus.PERMISSION_DENIED,
    );
    const after = await getJson<PodView>(['get', 'pod', 'owned-by-b']);
    assert.deepEqual([after.status?.phase, after.status?.hostIP], ['Running', nodeIps['b']]);

    // No client certificate, or one from another CA for the name "a": not even identified.
    const noCert = await rawStream(gatewayPort, { caPem: rogue.caPem }, [registerAs('a')]);
    assert.equal(noCert.code, grpcStatus.UNAUTHENTICATED);
    const otherCa = await createCertificateAuthority({ commonName: 'forger', validDays: 1, now: Date.now() });
    const csr = await createCsr({ commonName: 'system:node:a', organization: 'system:nodes' });
    const forged = await signCsr(otherCa, csr.csrPem, {
      usages: ['clientAuth'],
      validDays: 1,
      now: Date.now(),
    });
    const foreign = await rawStream(
      gatewayPort,
      { nodeName: 'a', caPem: rogue.caPem, certPem: forged, keyPem: csr.keyPem },
      [registerAs('a')],
    );
    assert.notEqual(foreign.code, grpcStatus.OK);
    assert.ok(
      foreign.code === grpcStatus.UNAUTHENTICATED || foreign.code === grpcStatus.UNAVAILABLE,
      String(foreign.code),
    );
  });

  it('delivers a pod bound to a node to that agent only, which reports it Running; deletion goes through the agent', async () => {
    assert.equal((await k(['apply', '-f', '-'], pod('on-a', 'a'))).code, 0);
    const running = await runningPod('on-a');
    assert.equal(running.status?.hostIP, nodeIps['a'], 'reported by agent a');
    const events = await getJson<{
      items: { involvedObject: { name: string }; reason: string; source?: { host?: string } }[];
    }>(['get', 'events']);
    const about = events.items.filter((e) => e.involvedObject.name === 'on-a');
    assert.ok(
      about.some((e) => e.reason === 'Started' && e.source?.host === 'a'),
      JSON.stringify(about),
    );
    assert.ok(
      about.every((e) => e.source?.host === 'a'),
      'no other agent saw the pod',
    );

    const del = await k(['delete', 'pod', 'on-a', '--wait=true', '--timeout=30s']);
    assert.equal(del.code, 0, del.stderr);
    const gone = await k(['get', 'pod', 'on-a']);
    assert.match(gone.stderr, /NotFound/);
  });

  it('converges after a controller restart: same Nodes, pods kept Running, new changes delivered', async () => {
    assert.equal((await k(['apply', '-f', '-'], pod('before-restart', 'b'))).code, 0);
    await runningPod('before-restart');
    const nodesBefore = await getJson<{ items: NodeView[] }>(['get', 'nodes']);

    await server.stop();
    server = await startBerthServer({
      dataDir: server.dataDir,
      port: apiPort,
      args: ['--agent-listen', `127.0.0.1:${gatewayPort}`],
    });
    await eventually('the agents to reconnect', async () =>
      (await gatewayMetric()) === 3 ? true : undefined,
    );

    // A change made after the restart reaches the agent on its new stream, both ways.
    assert.equal((await k(['apply', '-f', '-'], pod('after-restart', 'b'))).code, 0);
    await runningPod('after-restart');
    const del = await k(['delete', 'pod', 'before-restart', '--wait=true', '--timeout=30s']);
    assert.equal(del.code, 0, del.stderr);

    const nodesAfter = await getJson<{ items: NodeView[] }>(['get', 'nodes']);
    const uids = (l: { items: NodeView[] }) =>
      l.items.map((n) => `${n.metadata.name}=${n.metadata.uid}`).sort();
    assert.deepEqual(
      uids(nodesAfter),
      uids(nodesBefore),
      'the same Node objects, none duplicated or re-created',
    );
    const pods = await getJson<{ items: PodView[] }>(['get', 'pods']);
    assert.deepEqual(pods.items.map((p) => p.metadata.name).sort(), ['after-restart', 'owned-by-b']);
    for (const p of pods.items) {
      assert.deepEqual([p.status?.phase, p.status?.hostIP], ['Running', nodeIps['b']], p.metadata.name);
    }
  });

  it('resumes a broken stream from the revision the agent applied, without a snapshot', async () => {
    // Another stream with a's own identity replaces a's stream; a reconnects and takes it back.
    const dir = join(work, 'agent-a', 'pki');
    const a: NodeCredentials = {
      nodeName: 'a',
      caPem: readFileSync(join(dir, 'ca.crt'), 'utf8'),
      certPem: readFileSync(join(dir, 'node.crt'), 'utf8'),
      keyPem: readFileSync(join(dir, 'node.key'), 'utf8'),
    };
    const mark = server.output().length;
    const kicked = await rawStream(gatewayPort, a, [registerAs('a')]);
    assert.equal(kicked.code, grpcStatus.ABORTED, kicked.details);
    assert.match(kicked.details, /replaced by a newer stream/);
    await eventually('a to re-register', () =>
      Promise.resolve(
        /"node":"a"[^\n]*"resumedFrom":\d+[^\n]*"msg":"agent registered"/.test(server.output().slice(mark))
          ? true
          : undefined,
      ),
    );
    assert.equal((await k(['apply', '-f', '-'], pod('after-resume', 'a'))).code, 0);
    await runningPod('after-resume');
  });

  it("cleans up a kill -9'd agent's stream", async () => {
    const c = agents.get('c');
    assert.ok(c !== undefined);
    c.child.kill('SIGKILL');
    await c.exited();
    await eventually(
      'the stream of c to be cleaned up',
      async () => ((await gatewayMetric()) === 2 ? true : undefined),
      20_000,
    );
    assert.match(server.output(), /"node":"c".*"msg":"agent stream ended"/);
    // The others are unaffected.
    assert.equal((await k(['apply', '-f', '-'], pod('after-kill', 'a'))).code, 0);
    await runningPod('after-kill');
  });
});
