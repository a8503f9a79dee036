/**
 * End to end through containerd (issue #6, "the same pod scenario on `--runtime cri`"): a real
 * `berth server` (no local agent), a private containerd 1.6 from test/harness/containerd.ts (its own
 * root, socket, CNI bridge and /24, the local registry as a plain-HTTP mirror), and a real
 * `berth agent --runtime cri` process joined to the server. A Deployment of 3 busybox `httpd`
 * replicas applied with real kubectl, `kubectl rollout status`, HTTP from the host to each pod IP
 * (given by containerd's CNI), `kubectl logs` / `logs -f` / `exec` / `exec -i`, adoption after the
 * agent is SIGKILLed mid-scale (nothing started twice), a crashing container in CrashLoopBackOff, a
 * memory hog OOMKilled, a failing liveness probe restarting its container, and after deleting
 * everything: no sandbox or container left in containerd, no sandbox netns, no veth on the bridge, no
 * mount under the agent's data dir, no pod cgroup (`<cgroup root>/pod<uid>`).
 *
 * Images are built offline from the host's static busybox (the sandbox "pause" image too, as
 * test/runtime-cri.test.ts does). Everything is stopped and removed even on failure: the agent, the
 * server, containerd (its harness removes sandboxes, shims, mounts, bridge, netns and cgroups), the
 * registry and the temp dirs.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CriConnection } from '../agent/runtime/cri/cri-client.js';
import * as cri from '../proto/gen/runtime/v1/api.js';
import { startBerthAgent, type BerthProcess } from './harness/agent.js';
import {
  findKubectl,
  kubectl,
  startBerthServer,
  type BerthServerHandle,
  type KubectlResult,
} from './harness/berth-server.js';
import { containerdAvailable, startContainerd, type ContainerdHandle } from './harness/containerd.js';
import {
  busyboxAvailable,
  busyboxEntries,
  makeImage,
  makeLayer,
  makeTar,
  pushImage,
} from './harness/images.js';
import { registryAvailable, startRegistry, type RegistryHandle } from './harness/registry.js';

const found = findKubectl();
const skip = containerdAvailable() ?? registryAvailable() ?? busyboxAvailable() ?? found.skip;
if (skip !== undefined) console.log(`# skipping cri end-to-end tests: ${skip}`);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface PodJson {
  metadata: { name: string; labels?: Record<string, string> };
  status?: {
    phase?: string;
    podIP?: string;
    containerStatuses?: {
      name: string;
      restartCount: number;
      containerID?: string;
      state?: {
        waiting?: { reason?: string };
        running?: object;
        terminated?: { reason?: string; exitCode?: number };
      };
      lastState?: { terminated?: { reason?: string; exitCode?: number } };
    }[];
  };
}

function httpGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = get(url, { timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** Network namespaces of our sandboxes, as containerd reported them (checked gone at the end). */
const seenNetns = new Set<string>();

/** What containerd holds right now, through CRI; remembers each sandbox's network namespace. */
async function criState(endpoint: string): Promise<{
  sandboxes: { id: string; pod: string; attempt: number; ready: boolean }[];
  containers: { id: string; sandbox: string; state: string }[];
}> {
  const conn = new CriConnection(endpoint);
  try {
    const sb = await conn.runtimeCall('listPodSandbox', cri.ListPodSandboxRequest.fromPartial({}));
    const cs = await conn.runtimeCall('listContainers', cri.ListContainersRequest.fromPartial({}));
    for (const s of sb.items) {
      const st = await conn
        .runtimeCall(
          'podSandboxStatus',
          cri.PodSandboxStatusRequest.fromPartial({ podSandboxId: s.id, verbose: true }),
        )
        .catch(() => undefined);
      // containerd 1.6 names the netns in the sandbox's OCI spec (verbose info), not in a field of its own.
      const info = JSON.parse(st?.info['info'] ?? '{}') as {
        runtimeSpec?: { linux?: { namespaces?: { type: string; path?: string }[] } };
      };
      const netns = info.runtimeSpec?.linux?.namespaces?.find((n) => n.type === 'network')?.path;
      if (netns !== undefined && netns !== '') seenNetns.add(netns);
    }
    return {
      sandboxes: sb.items.map((s) => ({
        id: s.id,
        pod: s.metadata?.name ?? '',
        attempt: s.metadata?.attempt ?? 0,
        ready: s.state === cri.PodSandboxState.SANDBOX_READY,
      })),
      containers: cs.containers.map((c) => ({
        id: c.id,
        sandbox: c.podSandboxId,
        state: Object.entries(cri.ContainerState).find(([, v]) => v === c.state)?.[0] ?? String(c.state),
      })),
    };
  } finally {
    conn.close();
  }
}

describe(
  'cri end to end: berth server, berth agent --runtime cri, containerd, kubectl',
  { ...(skip === undefined ? {} : { skip }) },
  () => {
    const nodeName = `e2e-cri-${process.pid}`;
    const agentDir = mkdtempSync(join(tmpdir(), 'berth-e2e-cri-agent-'));
    let reg: RegistryHandle | undefined;
    let containerd: ContainerdHandle | undefined;
    let server: BerthServerHandle | undefined;
    let agent: BerthProcess | undefined;
    let image: string;

    const cd = (): ContainerdHandle => containerd as ContainerdHandle;
    const k = (args: string[], input?: string): Promise<KubectlResult> =>
      kubectl(server as BerthServerHandle, args, {
        kubectlPath: found.path ?? '',
        timeoutMs: 180_000,
        ...(input === undefined ? {} : { input }),
      });
    const tails = (): string =>
      `--- server:\n${server?.output().slice(-2500) ?? ''}\n--- agent:\n${agent?.output().slice(-4000) ?? ''}`;

    const pods = async (selector?: string): Promise<PodJson[]> => {
      const r = await k(['get', 'pods', '-o', 'json', ...(selector === undefined ? [] : ['-l', selector])]);
      assert.equal(r.code, 0, r.stderr);
      return (JSON.parse(r.stdout) as { items: PodJson[] }).items;
    };

    const waitFor = async <T>(what: string, fn: () => Promise<T | undefined>, ms = 120_000): Promise<T> => {
      const until = Date.now() + ms;
      let last: unknown;
      for (;;) {
        try {
          const v = await fn();
          if (v !== undefined) return v;
        } catch (err) {
          last = err;
        }
        if (Date.now() > until)
          assert.fail(`${what}: not within ${ms / 1000} s (${String(last)})\n${tails()}`);
        await sleep(500);
      }
    };

    const startAgent = (): Promise<BerthProcess> =>
      startBerthAgent({
        server: server as BerthServerHandle,
        nodeName,
        dataDir: agentDir,
        // Later flags win: the harness's `--runtime fake` is replaced by cri.
        extraArgs: ['--runtime', 'cri', '--cri-endpoint', cd().endpoint, '--cgroup-root', cd().cgroupRoot],
      });

    before(async () => {
      reg = await startRegistry({ mode: 'plain' });
      const entries = busyboxEntries();
      for (const a of ['dd', 'mkdir', 'hostname', 'wget', 'rm'])
        entries.push({ name: `bin/${a}`, type: 'symlink', linkname: 'busybox' });
      const layer = makeLayer(await makeTar(entries));
      await pushImage(reg, 'berth/busybox', 'e2e', makeImage([layer]));
      await pushImage(
        reg,
        'berth/pause',
        'e2e',
        makeImage([layer], {
          config: {
            Entrypoint: ['/bin/sh', '-c', 'trap "exit 0" TERM INT; while :; do sleep 3600 & wait $!; done'],
            Cmd: [],
          },
        }),
      );
      image = `${reg.host}/berth/busybox:e2e`;
      containerd = await startContainerd({
        sandboxImage: `${reg.host}/berth/pause:e2e`,
        registries: [{ host: reg.host }],
      });
      server = await startBerthServer({ readyTimeoutMs: 60_000 });
      agent = await startAgent();
      await waitFor('the node is Ready', async () => {
        const r = await k(['get', 'nodes', '-o', 'json']);
        const items = (
          JSON.parse(r.stdout) as {
            items: {
              metadata: { name: string };
              status?: { conditions?: { type: string; status: string }[] };
            }[];
          }
        ).items;
        return items.some(
          (n) =>
            n.metadata.name === nodeName &&
            n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
        )
          ? true
          : undefined;
      });
    });

    after(async () => {
      await agent?.stop();
      if (agent !== undefined)
        assert.ok(agent.child.exitCode !== null || agent.child.signalCode !== null, 'the agent is stopped');
      await server?.destroy();
      await containerd?.stop();
      await reg?.stop();
      for (const m of mountsUnder(agentDir).reverse()) spawnUmount(m);
      rmSync(agentDir, { recursive: true, force: true });
    });

    it('reports the node on containerd', async () => {
      const r = await k(['get', 'node', nodeName, '-o', 'json']);
      assert.equal(r.code, 0, r.stderr);
      const n = JSON.parse(r.stdout) as { status?: { nodeInfo?: { containerRuntimeVersion?: string } } };
      assert.match(n.status?.nodeInfo?.containerRuntimeVersion ?? '', /^containerd:\/\/\S+/);
    });

    it('rolls out 3 httpd replicas that answer on their pod IPs', async () => {
      const deployment = {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'web', namespace: 'default' },
        spec: {
          replicas: 3,
          selector: { matchLabels: { app: 'web' } },
          template: {
            metadata: { labels: { app: 'web' } },
            spec: {
              terminationGracePeriodSeconds: 2,
              containers: [
                {
                  name: 'httpd',
                  image,
                  command: [
                    'sh',
                    '-c',
                    'echo serving $(hostname); mkdir -p /tmp/www && hostname > /tmp/www/index.html && exec httpd -f -v -p 80 -h /tmp/www',
                  ],
                  ports: [{ containerPort: 80 }],
                  readinessProbe: { tcpSocket: { port: 80 }, periodSeconds: 1 },
                },
              ],
            },
          },
        },
      };
      const applied = await k(['apply', '-f', '-'], JSON.stringify(deployment));
      assert.equal(applied.code, 0, applied.stderr);
      const rollout = await k(['rollout', 'status', 'deployment/web', '--timeout=150s']);
      assert.equal(rollout.code, 0, `${rollout.stdout}${rollout.stderr}\n${tails()}`);
      const web = await pods('app=web');
      assert.equal(web.length, 3);
      const prefix = cd().subnet.slice(0, cd().subnet.lastIndexOf('.') + 1);
      for (const p of web) {
        const ip = p.status?.podIP;
        assert.ok(ip?.startsWith(prefix), `pod IP ${ip} from containerd's CNI range ${cd().subnet}`);
        assert.match(p.status?.containerStatuses?.[0]?.containerID ?? '', /^containerd:\/\/[0-9a-f]{64}$/);
        const r = await httpGet(`http://${ip}/`);
        assert.equal(r.status, 200);
        assert.equal(r.body.trim(), p.metadata.name, 'each pod serves its own hostname');
      }
      // containerd holds exactly these three pods' sandboxes and containers.
      const st = await criState(cd().endpoint);
      assert.equal(st.sandboxes.filter((s) => s.ready).length, 3);
      assert.deepEqual(
        st.containers
          .filter((c) => c.state === 'CONTAINER_RUNNING')
          .map((c) => c.id)
          .sort(),
        web
          .map((p) => (p.status?.containerStatuses?.[0]?.containerID ?? '').replace('containerd://', ''))
          .sort(),
      );
    });

    it('kubectl logs (and -f) reads the CRI log; kubectl exec (and -i) returns output and exit code', async () => {
      const [p] = await pods('app=web');
      assert.ok(p !== undefined);
      const logs = await k(['logs', p.metadata.name]);
      assert.equal(logs.code, 0, logs.stderr);
      assert.match(logs.stdout, new RegExp(`serving ${p.metadata.name}`));
      const exec = await k(['exec', p.metadata.name, '--', 'sh', '-c', 'hostname; exit 3']);
      assert.equal(exec.code, 3, `${exec.stdout}${exec.stderr}`);
      assert.equal(exec.stdout.trim(), p.metadata.name);
      const withStdin = await k(
        ['exec', '-i', p.metadata.name, '--', 'sh', '-c', 'read x; echo "got $x"'],
        'ping\n',
      );
      assert.equal(withStdin.code, 0, withStdin.stderr);
      assert.equal(withStdin.stdout, 'got ping\n');

      // logs -f streams what the container writes after following began (httpd -v logs each request).
      const s = server as BerthServerHandle;
      const follow = spawn(
        found.path ?? '',
        [
          '--kubeconfig',
          s.kubeconfig,
          '--cache-dir',
          join(s.dataDir, 'kubectl-cache'),
          'logs',
          '-f',
          p.metadata.name,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let followed = '';
      follow.stdout.on('data', (d: Buffer) => (followed += d.toString()));
      try {
        await waitFor(
          'logs -f shows the start line',
          () => Promise.resolve(followed.includes('serving') ? true : undefined),
          30_000,
        );
        const seen = (followed.match(/response:200/g) ?? []).length;
        await httpGet(`http://${p.status?.podIP ?? ''}/`);
        await waitFor(
          'logs -f shows the new request',
          () => Promise.resolve((followed.match(/response:200/g) ?? []).length > seen ? true : undefined),
          30_000,
        );
      } finally {
        follow.kill('SIGKILL');
      }
    });

    it('adopts running containers after the agent is SIGKILLed mid-scale', async () => {
      const before = new Map(
        (await pods('app=web')).map((p) => [p.metadata.name, p.status?.containerStatuses?.[0]?.containerID]),
      );
      assert.equal(before.size, 3);
      const scaled = await k(['scale', 'deployment/web', '--replicas=5']);
      assert.equal(scaled.code, 0, scaled.stderr);
      await waitFor(
        'a 4th web pod exists',
        async () => ((await pods('app=web')).length >= 4 ? true : undefined),
        30_000,
      );
      const old = agent as BerthProcess;
      old.signal('SIGKILL');
      await old.exited();
      agent = await startAgent();
      const rollout = await k(['rollout', 'status', 'deployment/web', '--timeout=150s']);
      assert.equal(rollout.code, 0, `${rollout.stdout}${rollout.stderr}\n${tails()}`);
      const web = await waitFor('5 web pods running', async () => {
        const l = await pods('app=web');
        return l.length === 5 &&
          l.every((p) => p.status?.containerStatuses?.[0]?.state?.running !== undefined)
          ? l
          : undefined;
      });
      for (const p of web) {
        const cs = p.status?.containerStatuses?.[0];
        assert.equal(cs?.restartCount, 0, `${p.metadata.name} was not restarted`);
        const was = before.get(p.metadata.name);
        if (was !== undefined)
          assert.equal(cs.containerID, was, `${p.metadata.name} kept its container (adopted)`);
      }
      // Exactly one sandbox and one running container per web pod: nothing started twice or orphaned.
      const ids = web
        .map((p) => (p.status?.containerStatuses?.[0]?.containerID ?? '').replace('containerd://', ''))
        .sort();
      const st = await criState(cd().endpoint);
      const shown = JSON.stringify(st, undefined, 1);
      assert.deepEqual(
        st.containers
          .filter((c) => c.state === 'CONTAINER_RUNNING')
          .map((c) => c.id)
          .sort(),
        ids,
        shown,
      );
      const ready = st.sandboxes.filter((s) => s.ready);
      assert.equal(ready.length, 5, shown);
      assert.equal(new Set(ready.map((s) => s.pod)).size, 5, `one ready sandbox per pod: ${shown}`);
      assert.equal(st.containers.length, 5, `no container left over: ${shown}`);
      assert.equal(st.sandboxes.length, 5, `no sandbox left over: ${shown}`);
    });

    it('shows CrashLoopBackOff, OOMKilled, and a restart by a failing liveness probe', async () => {
      const crash = {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'crash', namespace: 'default', labels: { e2e: 'failing' } },
        spec: {
          terminationGracePeriodSeconds: 1,
          containers: [{ name: 'crash', image, command: ['sh', '-c', 'echo crashing; exit 3'] }],
        },
      };
      const sick = {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'sick', namespace: 'default', labels: { e2e: 'failing' } },
        spec: {
          terminationGracePeriodSeconds: 1,
          containers: [
            {
              name: 'sick',
              image,
              command: ['sh', '-c', 'echo ok > /tmp/healthy; sleep 2; rm /tmp/healthy; sleep 600'],
              livenessProbe: {
                exec: { command: ['cat', '/tmp/healthy'] },
                periodSeconds: 1,
                failureThreshold: 2,
              },
            },
          ],
        },
      };
      const hog = {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'hog', namespace: 'default', labels: { e2e: 'failing' } },
        spec: {
          restartPolicy: 'Never',
          terminationGracePeriodSeconds: 1,
          containers: [
            {
              name: 'hog',
              image,
              // Not at once: containerd 1.6's shim watches for OOM only after the task started, so a
              // process killed within its first milliseconds is reported as a plain "Error".
              command: ['sh', '-c', 'sleep 1; exec dd if=/dev/zero of=/dev/null bs=64M count=1'],
              resources: { limits: { memory: '16Mi' } },
            },
          ],
        },
      };
      for (const o of [crash, sick, hog]) {
        const r = await k(['apply', '-f', '-'], JSON.stringify(o));
        assert.equal(r.code, 0, r.stderr);
      }
      const one = async (name: string): Promise<PodJson | undefined> =>
        (await pods('e2e=failing')).find((x) => x.metadata.name === name);
      const looping = await waitFor('crash is in CrashLoopBackOff', async () => {
        const cs = (await one('crash'))?.status?.containerStatuses?.[0];
        return cs?.state?.waiting?.reason === 'CrashLoopBackOff' && cs.restartCount >= 1 ? cs : undefined;
      });
      assert.equal(looping.lastState?.terminated?.exitCode, 3);
      const oom = await waitFor('hog is terminated', async () => {
        const cs = (await one('hog'))?.status?.containerStatuses?.[0];
        return cs?.state?.terminated?.reason === undefined ? undefined : cs;
      });
      if (oom.state?.terminated?.reason !== 'OOMKilled') {
        // Say what containerd itself reports by now, next to what the pod status froze.
        await sleep(3000);
        const later = (await one('hog'))?.status?.containerStatuses?.[0]?.state?.terminated;
        const conn = new CriConnection(cd().endpoint);
        const fromCri = await conn
          .runtimeCall(
            'containerStatus',
            cri.ContainerStatusRequest.fromPartial({
              containerId: (oom.containerID ?? '').replace('containerd://', ''),
            }),
          )
          .then(
            (r) => ({ reason: r.status?.reason, exitCode: r.status?.exitCode }),
            (err: unknown) => String(err),
          )
          .finally(() => {
            conn.close();
          });
        assert.fail(
          `hog: pod status says ${JSON.stringify(oom.state?.terminated)} (3 s later ${JSON.stringify(later)}); containerd says ${JSON.stringify(fromCri)}`,
        );
      }
      assert.equal(oom.state.terminated.exitCode, 137);
      const restarted = await waitFor('the failing liveness probe restarts sick', async () => {
        const cs = (await one('sick'))?.status?.containerStatuses?.[0];
        return cs !== undefined && cs.restartCount >= 1 ? cs : undefined;
      });
      assert.ok(restarted.lastState?.terminated !== undefined, JSON.stringify(restarted));
      const failing = (await criState(cd().endpoint)).sandboxes.filter((s) =>
        ['crash', 'sick', 'hog'].includes(s.pod),
      );
      assert.equal(failing.length, 3, `one sandbox per pod: ${JSON.stringify(failing)}`);
    });

    it('leaves no sandbox, container, netns, veth or mount behind after deleting everything', async () => {
      const del = await k(['delete', 'deployment/web', 'pod/crash', 'pod/sick', 'pod/hog', '--wait=false']);
      assert.equal(del.code, 0, del.stderr);
      await waitFor(
        'every pod is gone',
        async () => ((await pods()).length === 0 ? true : undefined),
        120_000,
      );
      await waitFor(
        'containerd, netns, the bridge and mounts are cleaned up',
        async () => {
          const st = await criState(cd().endpoint);
          const left = [
            ...st.sandboxes.map((s) => `sandbox ${s.id}`),
            ...st.containers.map((c) => `container ${c.id}`),
            ...[...seenNetns].filter((n) => existsSync(n)).map((n) => `netns ${n}`),
            ...bridgePorts(cd().bridge).map((v) => `veth ${v}`),
            ...mountsUnder(agentDir).map((m) => `mount ${m}`),
          ];
          // Thrown, so that a timeout names what is still there.
          if (left.length > 0) throw new Error(`left behind: ${left.join(', ')}`);
          return true;
        },
        30_000,
      );
      assert.ok(seenNetns.size >= 5, `saw the sandboxes' netns (${[...seenNetns].join(', ')})`);
    });

    it("removes the pods' cgroups (<cgroup root>/pod<uid>)", async () => {
      await waitFor(
        'pod cgroups are removed',
        () => {
          const left = podCgroups(cd().cgroupRoot);
          if (left.length > 0) throw new Error(`left behind: ${left.join(', ')}`);
          return Promise.resolve(true);
        },
        10_000,
      );
    });
  },
);

function spawnUmount(path: string): void {
  spawnSync('umount', ['-l', path], { stdio: 'ignore' });
}

function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((p) => p === dir || p.startsWith(`${dir}/`));
}

function bridgePorts(bridge: string): string[] {
  try {
    return readdirSync(`/sys/class/net/${bridge}/brif`);
  } catch {
    return [];
  }
}

function podCgroups(root: string): string[] {
  const out: string[] = [];
  let hierarchies: string[];
  try {
    hierarchies = readdirSync('/sys/fs/cgroup').map((h) => join('/sys/fs/cgroup', h));
  } catch {
    return out;
  }
  // cgroup v2: the root itself is the only hierarchy, and `<root>/<name>` is found the same way.
  for (const h of [...hierarchies, '/sys/fs/cgroup']) {
    const dir = join(h, root);
    if (!existsSync(dir)) continue;
    for (const e of readdirSync(dir, { withFileTypes: true }))
      if (e.isDirectory()) out.push(join(dir, e.name));
  }
  return out;
}
