/**
 * Logs and exec through the controller, end to end: a real `berth server`, a real `berth agent
 * --runtime fake` (its containers write scripted CRI logs and run a fake shell), and real kubectl
 * 1.32 (`logs`, `logs -f`, `--tail`, `--timestamps`, `exec` with exit codes, `exec -i`, `exec -it`
 * under script(1)), plus `berth logs` / `berth exec`. A node identity joined in-process checks that
 * one node cannot answer a stream the controller asked of another.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials as grpcCredentials, status as grpcStatus, type StatusObject } from '@grpc/grpc-js';
import { NodeIdentity } from '../agent/node-identity.js';
import { realClock } from '../lib/clock.js';
import { createLogger } from '../lib/logger.js';
import {
  AgentGatewayClient,
  type ControllerMessage,
  type StreamOpen,
  type TunnelFrame,
} from '../proto/gen/berth/v1/agent.js';
import { startBerthAgent, type BerthProcess } from './harness/agent.js';
import { findKubectl, kubectl, startBerthServer, type BerthServerHandle } from './harness/berth-server.js';

const found = findKubectl();
const skip = found.skip;
if (skip !== undefined) console.log(`# skipping logs/exec tests: ${skip}`);
const kubectlPath = found.path ?? '';
const root = new URL('..', import.meta.url).pathname;

const pods = `
apiVersion: v1
kind: Pod
metadata:
  name: quiet
  annotations:
    berth.dev/fake-log: "one\\ntwo\\nthree\\n"
spec:
  containers:
  - name: app
    image: busybox:1.36
---
apiVersion: v1
kind: Pod
metadata:
  name: ticker
  annotations:
    berth.dev/fake-log-every-ms: "300"
spec:
  containers:
  - name: app
    image: busybox:1.36
---
apiVersion: v1
kind: Pod
metadata:
  name: multi
  annotations:
    berth.dev/fake-log.b: "from b\\n"
spec:
  containers:
  - name: a
    image: busybox:1.36
  - name: b
    image: busybox:1.36
`;

let server: BerthServerHandle;
let agent: BerthProcess | undefined;

function agentOutput(): string {
  return agent?.output() ?? '';
}

function run(
  file: string,
  args: readonly string[],
  opts: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      file,
      args,
      {
        timeout: opts.timeoutMs ?? 60_000,
        maxBuffer: 16 * 1024 * 1024,
        cwd: root,
        env: opts.env ?? process.env,
      },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}

function berth(
  args: readonly string[],
  input?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const [verb = '', ...rest] = args;
  return run(
    process.execPath,
    ['--import', 'tsx', join(root, 'cli/main.ts'), verb, '--kubeconfig', server.kubeconfig, ...rest],
    {
      ...(input === undefined ? {} : { input }),
    },
  );
}

function k(args: readonly string[], input?: string): ReturnType<typeof kubectl> {
  return kubectl(server, args, { kubectlPath, ...(input === undefined ? {} : { input }), timeoutMs: 60_000 });
}

/** A raw GET with the admin token, for the Status bodies kubectl does not show. */
function get(path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: server.port,
        path,
        ca: server.caPem,
        headers: { Authorization: `Bearer ${server.token}` },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, body: text });
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('logs and exec through the controller', { skip, timeout: 600_000 }, () => {
  before(async () => {
    server = await startBerthServer();
    try {
      const started = await startBerthAgent({ server, nodeName: 'streams-node' });
      agent = started;
      const applied = await k(['apply', '-f', '-'], pods);
      assert.equal(applied.code, 0, applied.stderr);
      const ready = await k([
        'wait',
        '--for=condition=Ready',
        'pod/quiet',
        'pod/ticker',
        'pod/multi',
        '--timeout=90s',
      ]);
      assert.equal(ready.code, 0, `${ready.stderr}\n${started.output()}`);
    } catch (err) {
      await agent?.destroy();
      await server.destroy();
      throw err;
    }
  });

  after(async () => {
    if (process.env['BERTH_TEST_DUMP'] !== undefined) {
      writeFileSync(process.env['BERTH_TEST_DUMP'], `${agentOutput()}\n----\n${server.output()}`);
    }
    await agent?.destroy();
    // Undefined when starting the server failed.
    await (server as BerthServerHandle | undefined)?.destroy();
  });

  it('the agent is sent its NodeConfig: the pod CIDR node-ipam assigned and the cluster range', async () => {
    const deadline = Date.now() + 30_000;
    const pattern =
      /"podCidr":"(10\.42\.\d+\.0\/24)","clusterCidr":"10\.42\.0\.0\/16","msg":"node config from the controller"/;
    while (!pattern.test(agentOutput()) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 200));
    const cidr = pattern.exec(agentOutput())?.[1];
    assert.ok(cidr !== undefined, agentOutput());
    const node = await k(['get', 'node', 'streams-node', '-o', 'jsonpath={.spec.podCIDR}']);
    assert.equal(node.stdout, cidr);
  });

  it('kubectl logs prints the container output, --tail and --timestamps', async () => {
    const all = await k(['logs', 'quiet']);
    assert.equal(all.code, 0, all.stderr);
    assert.equal(all.stdout, 'one\ntwo\nthree\n');
    const tail = await k(['logs', 'quiet', '--tail=1']);
    assert.equal(tail.stdout, 'three\n');
    const ts = await k(['logs', 'quiet', '--timestamps', '--tail=2']);
    assert.match(ts.stdout, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z two\n\d{4}-\d\d-\d\dT[\d:.]+Z three\n$/);
    const limited = await k(['logs', 'quiet', '--limit-bytes=5']);
    assert.equal(limited.stdout, 'one\nt');
  });

  it('kubectl logs picks the first of several containers, and -c picks one', async () => {
    const first = await k(['logs', 'multi']);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, /Defaulted container "a" out of: a, b/);
    assert.equal(first.stdout, '');
    const b = await k(['logs', 'multi', '-c', 'b']);
    assert.equal(b.stdout, 'from b\n');
    const raw = await get('/api/v1/namespaces/default/pods/multi/log');
    assert.equal(raw.status, 400);
    assert.match(raw.body, /a container name must be specified for pod multi, choose one of: \[a b\]/);
    const prev = await k(['logs', 'quiet', '--previous']);
    assert.notEqual(prev.code, 0);
    assert.match(prev.stderr, /previous terminated container "app" in pod "quiet" not found/);
    const missing = await k(['logs', 'nope']);
    assert.match(missing.stderr, /pods "nope" not found/);
  });

  it('kubectl logs -f streams lines written after it started', async () => {
    const child = spawn(kubectlPath, [
      '--kubeconfig',
      server.kubeconfig,
      '--cache-dir',
      join(server.dataDir, 'kubectl-cache'),
      'logs',
      '-f',
      'ticker',
    ]);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    try {
      const deadline = Date.now() + 30_000;
      let firstSeen: number | undefined;
      while (Date.now() < deadline) {
        const ticks = [...out.matchAll(/^tick (\d+)$/gm)].map((m) => Number(m[1]));
        if (firstSeen === undefined && ticks.length > 0) firstSeen = Math.max(...ticks);
        const seen = firstSeen;
        if (seen !== undefined && ticks.some((t) => t > seen + 1)) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const ticks = [...out.matchAll(/^tick (\d+)$/gm)].map((m) => Number(m[1]));
      const seenFirst = firstSeen ?? Infinity;
      assert.ok(
        firstSeen !== undefined && ticks.some((t) => t > seenFirst + 1),
        `no new line arrived:\n${out}`,
      );
      // In order, no duplicates.
      assert.deepEqual(
        ticks,
        [...ticks].sort((a, b) => a - b),
      );
      assert.equal(new Set(ticks).size, ticks.length);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('kubectl exec returns the remote exit code and output', async () => {
    const three = await k(['exec', 'quiet', '--', 'sh', '-c', 'exit 3']);
    assert.equal(three.code, 3, three.stderr);
    assert.match(three.stderr, /command terminated with exit code 3/);
    const echo = await k(['exec', 'quiet', '--', 'sh', '-c', 'echo hi; echo oops >&2']);
    assert.equal(echo.code, 0, echo.stderr);
    assert.equal(echo.stdout, 'hi\n');
    assert.match(echo.stderr, /oops/);
    const bad = await k(['exec', 'quiet', '-c', 'nope', '--', 'true']);
    assert.notEqual(bad.code, 0);
  });

  it('kubectl exec -i passes piped stdin and its EOF', async () => {
    const r = await k(['exec', '-i', 'quiet', '--', 'cat'], 'piped line\nsecond\n');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'piped line\nsecond\n');
  });

  it(
    'kubectl exec -it works on a terminal (under script)',
    { skip: !existsSync('/usr/bin/script') },
    async () => {
      const cmd = [
        kubectlPath,
        '--kubeconfig',
        server.kubeconfig,
        '--cache-dir',
        join(server.dataDir, 'kubectl-cache'),
        'exec',
        '-it',
        'quiet',
        '--',
        'sh',
      ].join(' ');
      // Typed slowly enough for the session to be up; `exit 4` ends it with that code.
      const child = spawn('script', ['-qfec', cmd, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const code = new Promise<number | null>((resolve) => child.on('exit', resolve));
      try {
        const deadline = Date.now() + 30_000;
        while (!out.includes('/ # ') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
        child.stdin.write('echo typed\r');
        while (!/typed\r?\n[^]*typed/.test(out) && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 100));
        child.stdin.write('exit 4\r');
        assert.equal(await code, 4, out);
        assert.match(out, /echo typed\r\ntyped\r\n/);
      } finally {
        child.kill('SIGKILL');
      }
    },
  );

  it('berth logs and berth exec', async () => {
    const logs = await berth(['logs', 'quiet', '--tail', '2']);
    assert.equal(logs.code, 0, logs.stderr);
    assert.equal(logs.stdout, 'two\nthree\n');
    const multi = await berth(['logs', 'multi', '-c', 'b']);
    assert.equal(multi.stdout, 'from b\n');
    const exit = await berth(['exec', 'quiet', '--', 'sh', '-c', 'exit 3']);
    assert.equal(exit.code, 3, exit.stderr);
    assert.match(exit.stderr, /command terminated with exit code 3/);
    const cat = await berth(['exec', '-i', 'quiet', '--', 'cat'], 'via berth\n');
    assert.equal(cat.code, 0, cat.stderr);
    assert.equal(cat.stdout, 'via berth\n');
    const missing = await berth(['logs', 'nope']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /pods "nope" not found/);
  });

  it('a node cannot answer a stream the controller asked of another node', async () => {
    const dirs = [mkdtempSync(join(tmpdir(), 'berth-node-a-')), mkdtempSync(join(tmpdir(), 'berth-node-b-'))];
    const clients: AgentGatewayClient[] = [];
    try {
      const token = readFileSync(join(server.dataDir, 'node-token'), 'utf8').trim();
      const identity = (dataDir: string, nodeName: string): NodeIdentity =>
        new NodeIdentity({
          dataDir,
          nodeName,
          token,
          gateway: { host: '127.0.0.1', port: server.agentPort },
          clock: realClock,
          logger: createLogger({ level: 'error' }),
        });
      const credsA = await identity(dirs[0] ?? '', 'node-a').current();
      const credsB = await identity(dirs[1] ?? '', 'node-b').current();
      const clientFor = (c: typeof credsA): AgentGatewayClient => {
        const client = new AgentGatewayClient(
          `127.0.0.1:${server.agentPort}`,
          grpcCredentials.createSsl(Buffer.from(c.caPem), Buffer.from(c.keyPem), Buffer.from(c.certPem)),
        );
        clients.push(client);
        return client;
      };
      // node-a connects and registers by hand, so the test sees the StreamOpen sent to it.
      const a = clientFor(credsA);
      const connect = a.connect();
      const opens: StreamOpen[] = [];
      connect.on('data', (m: ControllerMessage) => {
        if (m.kind?.$case === 'streamOpen') opens.push(m.kind.streamOpen);
      });
      connect.on('error', () => undefined);
      connect.write({
        kind: {
          $case: 'register',
          register: {
            nodeName: 'node-a',
            capacity: { cpu: '1', memory: '1Gi', pods: '10', ephemeralStorage: '' },
            allocatable: undefined,
            labels: {},
            addresses: [{ type: 'InternalIP', address: '127.0.0.1' }],
            runtimeName: 'fake',
            runtimeVersion: '0',
            agentVersion: '0',
            metricsAddress: '',
            operatingSystem: 'linux',
            architecture: 'amd64',
            kernelVersion: '',
            osImage: '',
            bootId: 'b',
            lastAppliedRevision: 0,
          },
        },
      });
      const pod = await k(
        ['apply', '-f', '-'],
        `
apiVersion: v1
kind: Pod
metadata:
  name: on-a
spec:
  nodeName: node-a
  containers:
  - name: app
    image: busybox:1.36
`,
      );
      assert.equal(pod.code, 0, pod.stderr);
      const exec = k(['exec', 'on-a', '--', 'sh', '-c', 'exit 7']);
      const deadline = Date.now() + 20_000;
      while (opens.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const open = opens[0];
      assert.ok(open !== undefined, 'no StreamOpen reached node-a');
      assert.equal(open.request?.$case, 'exec');

      // node-b presents node-a's stream id: refused.
      const intruder = clientFor(credsB).tunnel();
      intruder.on('data', () => undefined);
      intruder.on('error', () => undefined);
      const refused = new Promise<StatusObject>((resolve) => intruder.on('status', resolve));
      intruder.write({ streamId: open.streamId, channel: 0, data: Buffer.alloc(0), close: false });
      const s = await refused;
      assert.equal(s.code, grpcStatus.PERMISSION_DENIED);
      assert.match(s.details, /node "node-b" may not open a stream that was asked of node "node-a"/);

      // node-a itself answers: accepted, then exit status 7.
      const tunnel = a.tunnel();
      tunnel.on('data', () => undefined);
      tunnel.on('error', () => undefined);
      const frame = (channel: number, data: string): TunnelFrame => ({
        streamId: '',
        channel,
        data: Buffer.from(data),
        close: false,
      });
      tunnel.write({ streamId: open.streamId, channel: 0, data: Buffer.alloc(0), close: false });
      tunnel.write(frame(1, ''));
      tunnel.write(frame(1, 'answered by a\n'));
      tunnel.write(
        frame(
          3,
          JSON.stringify({
            metadata: {},
            status: 'Failure',
            reason: 'NonZeroExitCode',
            message: 'command terminated with non-zero exit code: exit code 7',
            details: { causes: [{ reason: 'ExitCode', message: '7' }] },
          }),
        ),
      );
      tunnel.end();
      const result = await exec;
      assert.equal(result.code, 7, result.stderr);
      assert.equal(result.stdout, 'answered by a\n');
      connect.end();
    } finally {
      for (const c of clients) c.close();
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    }
  });

  it('exec on a node that is not connected is a 503', async () => {
    const pod = await k(
      ['apply', '-f', '-'],
      `
apiVersion: v1
kind: Pod
metadata:
  name: on-ghost
spec:
  nodeName: ghost-node
  containers:
  - name: app
    image: busybox:1.36
`,
    );
    assert.equal(pod.code, 0, pod.stderr);
    const r = await k(['exec', 'on-ghost', '--', 'true']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /node "ghost-node" is not connected/);
    const unscheduled = await k(
      ['apply', '-f', '-'],
      `
apiVersion: v1
kind: Pod
metadata:
  name: pending-pod
  annotations:
    berth.dev/note: "unschedulable"
spec:
  nodeSelector:
    nowhere: "true"
  containers:
  - name: app
    image: busybox:1.36
`,
    );
    assert.equal(unscheduled.code, 0, unscheduled.stderr);
    const e = await k(['exec', 'pending-pod', '--', 'true']);
    assert.match(e.stderr, /pod pending-pod does not have a host assigned/);
  });
});
