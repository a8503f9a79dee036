/**
 * End to end with real containers (issue #6, first "Must show" bullet): a real `berth server
 * --with-agent` running runc, an image pushed to a local registry, a Deployment of 3 busybox `httpd`
 * replicas applied with real kubectl, `kubectl rollout status`, HTTP from the host to each pod IP,
 * `kubectl logs` / `logs -f` / `exec` / `exec -i`, adoption after the server and its agent are
 * SIGKILLed mid-rollout (nothing started twice), a crashing container in CrashLoopBackOff, a memory hog
 * OOMKilled, a failing liveness probe restarting its container, and after deleting everything: no
 * runc container, mount, netns, veth or cgroup left.
 *
 * The local agent's host resources get names of their own (bridge, netns prefix, nft table, cgroup
 * root, runc root, through the BERTH_LOCAL_* variables cli/local-agent.ts reads) and a pod range
 * picked at random, so this can run beside other tests; all of it is removed even on failure.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BridgePodNetwork } from '../agent/network/bridge-pod-network.js';
import { defaultRuncPath } from '../agent/runtime/runc/runc-runtime.js';
import {
  findKubectl,
  kubectl,
  startBerthServer,
  type BerthServerHandle,
  type KubectlResult,
} from './harness/berth-server.js';
import { busyboxEntries, makeImage, makeLayer, makeTar, pushImage } from './harness/images.js';
import { runcAvailable } from './harness/runc.js';
import { startRegistry, type RegistryHandle } from './harness/registry.js';

const found = findKubectl();
const skip = runcAvailable() ?? found.skip;
if (skip !== undefined) console.log(`# skipping runc end-to-end tests: ${skip}`);

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

describe(
  'runc end to end: berth server --with-agent, kubectl, real containers',
  { ...(skip === undefined ? {} : { skip }) },
  () => {
    const tag = randomBytes(3).toString('hex');
    const names = {
      bridgeName: `bt${tag}`,
      netnsPrefix: `bt${tag}-`,
      nftTable: `berth_t${tag}`,
      cgroupRoot: `/berth-e2e-${tag}`,
    };
    const octet = randomInt(160, 250);
    const clusterCidr = `10.${octet}.0.0/16`;
    const work = mkdtempSync(join(tmpdir(), 'berth-e2e-runc-'));
    const runcRoot = join(work, 'runc-root');
    const runcPath = defaultRuncPath();
    let reg: RegistryHandle;
    let server: BerthServerHandle | undefined;
    let image: string;
    const k = (args: string[], input?: string): Promise<KubectlResult> =>
      kubectl(server as BerthServerHandle, args, {
        kubectlPath: found.path ?? '',
        timeoutMs: 180_000,
        ...(input === undefined ? {} : { input }),
      });

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
        if (Date.now() > until) {
          assert.fail(
            `${what}: not within ${ms / 1000} s (${String(last)})\n${server?.output().slice(-3000) ?? ''}`,
          );
        }
        await sleep(500);
      }
    };

    before(async () => {
      reg = await startRegistry({ mode: 'plain' });
      const entries = busyboxEntries();
      for (const a of ['dd', 'mkdir', 'hostname', 'wget'])
        entries.push({ name: `bin/${a}`, type: 'symlink', linkname: 'busybox' });
      await pushImage(reg, 'berth/busybox', 'e2e', makeImage([makeLayer(await makeTar(entries))]));
      image = `${reg.host}/berth/busybox:e2e`;
      Object.assign(process.env, {
        BERTH_LOCAL_RUNTIME: 'runc',
        BERTH_LOCAL_BRIDGE: names.bridgeName,
        BERTH_LOCAL_NETNS_PREFIX: names.netnsPrefix,
        BERTH_LOCAL_NFT_TABLE: names.nftTable,
        BERTH_LOCAL_CGROUP_ROOT: names.cgroupRoot,
        BERTH_LOCAL_RUNC_ROOT: runcRoot,
        BERTH_LOCAL_IP_FORWARD: '0',
      });
      server = await startBerthServer({
        args: ['--with-agent', '--node-name', `e2e-${tag}`, '--cluster-cidr', clusterCidr],
        readyTimeoutMs: 60_000,
      });
      await waitFor('the node is Ready', async () => {
        const r = await k(['get', 'nodes', '-o', 'json']);
        const items = (
          JSON.parse(r.stdout) as {
            items: { status?: { conditions?: { type: string; status: string }[] } }[];
          }
        ).items;
        return items.some((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))
          ? true
          : undefined;
      });
    });

    after(async () => {
      const dataDir = server?.dataDir;
      await server?.stop();
      if (existsSync(runcRoot)) {
        const ids = spawnSync(runcPath, ['--root', runcRoot, 'list', '-q'], {
          encoding: 'utf8',
        }).stdout.split('\n');
        for (const id of ids.filter((i) => i !== ''))
          spawnSync(runcPath, ['--root', runcRoot, 'delete', '-f', id]);
      }
      for (const m of mountsUnder(dataDir ?? work).reverse()) spawnSync('umount', ['-l', m]);
      await BridgePodNetwork.removeAll(names).catch((err: unknown) => {
        console.log(`# network cleanup: ${String(err)}`);
      });
      for (const h of cgroupHierarchies()) {
        const dir = join(h, names.cgroupRoot);
        if (existsSync(dir)) spawnSync('find', [dir, '-depth', '-type', 'd', '-exec', 'rmdir', '{}', ';']);
      }
      if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
      rmSync(work, { recursive: true, force: true });
      await reg.stop();
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
      assert.equal(
        rollout.code,
        0,
        `${rollout.stdout}${rollout.stderr}\n${server?.output().slice(-4000) ?? ''}`,
      );
      const web = await pods('app=web');
      assert.equal(web.length, 3);
      for (const p of web) {
        const ip = p.status?.podIP;
        assert.ok(ip !== undefined && ip.startsWith(`10.${octet}.`), `pod IP ${ip} from ${clusterCidr}`);
        assert.match(p.status?.containerStatuses?.[0]?.containerID ?? '', /^runc:\/\/[0-9a-f]{64}$/);
        const r = await httpGet(`http://${ip}/`);
        assert.equal(r.status, 200);
        assert.equal(r.body.trim(), p.metadata.name, 'each pod serves its own hostname');
      }
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

    it('adopts running containers after the server and its agent are SIGKILLed mid-rollout', async () => {
      const before = new Map(
        (await pods('app=web')).map((p) => [p.metadata.name, p.status?.containerStatuses?.[0]?.containerID]),
      );
      assert.equal(before.size, 3);
      const scaled = await k(['scale', 'deployment/web', '--replicas=5']);
      assert.equal(scaled.code, 0, scaled.stderr);
      // Kill while the new pods are being started.
      await waitFor(
        'a 4th web pod exists',
        async () => ((await pods('app=web')).length >= 4 ? true : undefined),
        30_000,
      );
      const old = server as BerthServerHandle;
      process.kill(old.pid, 'SIGKILL');
      await old.stop();
      server = await startBerthServer({
        dataDir: old.dataDir,
        port: old.port,
        agentPort: old.agentPort,
        args: ['--with-agent', '--node-name', `e2e-${tag}`, '--cluster-cidr', clusterCidr],
        readyTimeoutMs: 60_000,
      });
      const rollout = await k(['rollout', 'status', 'deployment/web', '--timeout=150s']);
      assert.equal(rollout.code, 0, `${rollout.stdout}${rollout.stderr}\n${server.output().slice(-4000)}`);
      const web = await waitFor('5 web pods ready', async () => {
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
      // Exactly one runc container per web pod: nothing started twice, nothing orphaned.
      const running = spawnSync(runcPath, ['--root', runcRoot, 'list', '--format', 'json'], {
        encoding: 'utf8',
      });
      const states = JSON.parse(running.stdout === '' ? '[]' : running.stdout) as
        { id: string; status: string }[] | null;
      const ids = new Set(
        web.map((p) => (p.status?.containerStatuses?.[0]?.containerID ?? '').replace('runc://', '')),
      );
      assert.deepEqual(
        (states ?? [])
          .filter((s) => s.status === 'running')
          .map((s) => s.id)
          .sort(),
        [...ids].sort(),
      );
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
              command: ['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=64M', 'count=1'],
              resources: { limits: { memory: '16Mi' } },
            },
          ],
        },
      };
      for (const o of [crash, sick, hog]) {
        const r = await k(['apply', '-f', '-'], JSON.stringify(o));
        assert.equal(r.code, 0, r.stderr);
      }
      const looping = await waitFor('crash is in CrashLoopBackOff', async () => {
        const [p] = await pods('e2e=failing').then((l) => l.filter((x) => x.metadata.name === 'crash'));
        const cs = p?.status?.containerStatuses?.[0];
        return cs?.state?.waiting?.reason === 'CrashLoopBackOff' && cs.restartCount >= 1 ? cs : undefined;
      });
      assert.equal(looping.lastState?.terminated?.exitCode, 3);
      const oom = await waitFor('hog is OOMKilled', async () => {
        const [p] = await pods('e2e=failing').then((l) => l.filter((x) => x.metadata.name === 'hog'));
        const t = p?.status?.containerStatuses?.[0]?.state?.terminated;
        return t?.reason === undefined ? undefined : t;
      });
      assert.equal(oom.reason, 'OOMKilled');
      assert.equal(oom.exitCode, 137);
      const restarted = await waitFor('the failing liveness probe restarts sick', async () => {
        const [p] = await pods('e2e=failing').then((l) => l.filter((x) => x.metadata.name === 'sick'));
        const cs = p?.status?.containerStatuses?.[0];
        return cs !== undefined && cs.restartCount >= 1 ? cs : undefined;
      });
      assert.ok(restarted.lastState?.terminated !== undefined, JSON.stringify(restarted));
    });

    it('leaves no container, mount, netns, veth or cgroup behind after deleting everything', async () => {
      const del = await k(['delete', 'deployment/web', 'pod/crash', 'pod/sick', 'pod/hog', '--wait=false']);
      assert.equal(del.code, 0, del.stderr);
      await waitFor(
        'every pod is gone',
        async () => ((await pods()).length === 0 ? true : undefined),
        120_000,
      );
      const dataDir = (server as BerthServerHandle).dataDir;
      await waitFor(
        'runc, mounts, netns, veths and cgroups are cleaned up',
        () => {
          const left = [
            ...spawnSync(runcPath, ['--root', runcRoot, 'list', '-q'], { encoding: 'utf8' })
              .stdout.split('\n')
              .filter((l) => l !== '')
              .map((id) => `runc ${id}`),
            ...mountsUnder(dataDir).map((m) => `mount ${m}`),
            ...netnsWithPrefix(names.netnsPrefix).map((n) => `netns ${n}`),
            ...bridgePorts(names.bridgeName).map((v) => `veth ${v}`),
            ...podCgroups(names.cgroupRoot).map((c) => `cgroup ${c}`),
          ];
          // Thrown, so that a timeout names what is still there.
          if (left.length > 0) throw new Error(`left behind: ${left.join(', ')}`);
          return Promise.resolve(true);
        },
        30_000,
      );
    });
  },
);

function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((p) => p === dir || p.startsWith(`${dir}/`));
}

function netnsWithPrefix(prefix: string): string[] {
  try {
    return readdirSync('/var/run/netns').filter((n) => n.startsWith(prefix));
  } catch {
    return [];
  }
}

function bridgePorts(bridge: string): string[] {
  const r = spawnSync('ip', ['-j', 'link', 'show', 'master', bridge], { encoding: 'utf8' });
  if (r.status !== 0) return [];
  return (JSON.parse(r.stdout === '' ? '[]' : r.stdout) as { ifname: string }[]).map((l) => l.ifname);
}

function cgroupHierarchies(): string[] {
  try {
    return readdirSync('/sys/fs/cgroup', { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => join('/sys/fs/cgroup', e.name));
  } catch {
    return [];
  }
}

function podCgroups(root: string): string[] {
  const out: string[] = [];
  for (const h of cgroupHierarchies()) {
    const dir = join(h, root);
    if (!existsSync(dir)) continue;
    for (const e of readdirSync(dir, { withFileTypes: true }))
      if (e.isDirectory()) out.push(join(dir, e.name));
  }
  return out;
}
