/**
 * The bridge pod network on the real kernel (root only): its own bridge, netns prefix, nft table and a
 * random 10.2xx.y.0/24, two "pods" (netns running `busybox httpd`), and checks of host→pod, pod→pod,
 * and hostPort through the node address and 127.0.0.1; then tearDown and removeAll leave nothing.
 * Everything is removed in `after`, also when a check fails.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../lib/logger.js';
import { execCommandRunner } from '../lib/command-runner.js';
import { BridgePodNetwork } from '../agent/network/bridge-pod-network.js';
import { freePorts } from './harness/ports.js';

function run(
  file: string,
  args: string[],
  timeoutMs = 5000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

async function missingPrerequisite(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, bridges, nftables)';
  for (const [bin, args] of [
    ['ip', ['-V']],
    ['nft', ['--version']],
    ['busybox', ['true']],
    ['curl', ['--version']],
  ] as const) {
    if ((await run(bin, [...args])).code !== 0) return `needs ${bin}`;
  }
  return undefined;
}

const skip = await missingPrerequisite();
if (skip !== undefined) process.stdout.write(`# skipping pod network test: ${skip}\n`);

/** GETs `url` (from inside `netns` when given); the body, or undefined when it fails. */
async function httpGet(url: string, netns?: string): Promise<string | undefined> {
  const curl = ['curl', '-s', '--max-time', '3', url];
  // busybox wget segfaults when run from the host's file system (test-environment.md §0), so curl.
  const r =
    netns === undefined
      ? await run('curl', curl.slice(1))
      : await run('ip', ['netns', 'exec', netns, ...curl]);
  return r.code === 0 ? r.stdout : undefined;
}

async function eventuallyGet(url: string, netns?: string): Promise<string | undefined> {
  for (let i = 0; i < 50; i++) {
    const body = await httpGet(url, netns);
    if (body !== undefined) return body;
    await new Promise((r) => setTimeout(r, 100));
  }
  return undefined;
}

describe('bridge pod network (real kernel)', { skip }, () => {
  const id = randomBytes(3).toString('hex');
  const names = { bridgeName: `bt${id}`, netnsPrefix: `btp${id}-`, nftTable: `bt${id}` };
  let cidrBase = '';
  let dir = '';
  let net: BridgePodNetwork | undefined;
  const servers: ChildProcess[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-pod-network-'));
    // A /24 no route on this machine uses yet.
    const routes = (await run('ip', ['-4', 'route', 'show'])).stdout;
    for (let i = 0; i < 20 && cidrBase === ''; i++) {
      const candidate = `10.${200 + randomInt(56)}.${randomInt(256)}`;
      if (!routes.includes(`${candidate}.`)) cidrBase = candidate;
    }
    assert.notEqual(cidrBase, '', 'found an unused 10.2xx.y.0/24');
  });

  after(async () => {
    for (const s of servers) s.kill('SIGKILL');
    await net?.close();
    await BridgePodNetwork.removeAll({ ...names, stateDir: dir, logger: silentLogger() }).catch(
      (err: unknown) => {
        process.stderr.write(`pod network cleanup: ${String(err)}\n`);
      },
    );
    await rm(dir, { recursive: true, force: true });
  });

  async function serve(netns: string, text: string): Promise<ChildProcess> {
    const www = join(dir, `www-${netns}`);
    await mkdir(www, { recursive: true });
    await writeFile(join(www, 'index.html'), text);
    const child = spawn('ip', ['netns', 'exec', netns, 'busybox', 'httpd', '-f', '-p', '80', '-h', www], {
      stdio: 'ignore',
    });
    servers.push(child);
    return child;
  }

  it('attaches two pods and routes host→pod, pod→pod and hostPorts; tearDown and removeAll leave nothing', async () => {
    const cidr = `${cidrBase}.0/24`;
    const gateway = `${cidrBase}.1`;
    const [hostPort] = await freePorts(1);
    assert.ok(hostPort !== undefined);
    net = new BridgePodNetwork({
      ...names,
      stateDir: join(dir, 'state'),
      podCidr: cidr,
      runner: execCommandRunner,
      logger: silentLogger(),
      // Node↔pod traffic needs no forwarding; leave the shared machine's setting alone.
      ipForward: false,
    });
    // Concurrently: the IPAM must still give distinct addresses.
    const [a, b] = await Promise.all([
      net.setUp({
        uid: `uid-a-${id}`,
        namespace: 'default',
        name: 'a',
        portMappings: [{ protocol: 'TCP', containerPort: 80, hostPort }],
      }),
      net.setUp({ uid: `uid-b-${id}`, namespace: 'default', name: 'b', portMappings: [] }),
    ]);
    assert.ok(a.ok, a.ok ? '' : a.message);
    assert.ok(b.ok, b.ok ? '' : b.message);
    const [ipA, ipB] = [a.ips[0] ?? '', b.ips[0] ?? ''];
    assert.deepEqual([ipA, ipB].sort(), [`${cidrBase}.2`, `${cidrBase}.3`]);
    assert.deepEqual(net.status(), { ready: true });
    const nsA = net.netnsName(`uid-a-${id}`);
    const nsB = net.netnsName(`uid-b-${id}`);
    assert.equal(a.networkNamespacePath, `/var/run/netns/${nsA}`);
    assert.deepEqual(
      await net.setUp({ uid: `uid-a-${id}`, namespace: 'default', name: 'a', portMappings: [] }),
      a,
      'setUp is idempotent',
    );

    const httpdA = await serve(nsA, 'hello from a');
    await serve(nsB, 'hello from b');
    assert.equal(await eventuallyGet(`http://${ipA}/`), 'hello from a', 'host → pod a');
    assert.equal(await eventuallyGet(`http://${ipB}/`), 'hello from b', 'host → pod b');
    assert.equal(await httpGet(`http://${ipB}/`, nsA), 'hello from b', 'pod a → pod b');
    assert.equal(await httpGet(`http://${ipA}/`, nsB), 'hello from a', 'pod b → pod a');
    assert.equal(
      await httpGet(`http://${gateway}:${hostPort}/`),
      'hello from a',
      'hostPort via the node address',
    );
    assert.equal(await httpGet(`http://127.0.0.1:${hostPort}/`), 'hello from a', 'hostPort via 127.0.0.1');
    const route = (await run('ip', ['-n', nsA, 'route', 'show', 'default'])).stdout;
    assert.match(route, new RegExp(`default via ${gateway.replaceAll('.', '\\.')} dev eth0`));

    // An agent restart: a new instance on the same state returns the same attachments and keeps
    // the pods' netns and hostPorts.
    await net.close();
    net = new BridgePodNetwork({
      ...names,
      stateDir: join(dir, 'state'),
      podCidr: cidr,
      logger: silentLogger(),
      ipForward: false,
    });
    assert.deepEqual(
      await net.setUp({ uid: `uid-b-${id}`, namespace: 'default', name: 'b', portMappings: [] }),
      b,
      'same attachment after a restart',
    );
    assert.equal(await httpGet(`http://127.0.0.1:${hostPort}/`), 'hello from a', 'hostPort still there');
    assert.equal(await httpGet(`http://${ipB}/`, nsA), 'hello from b', 'pods still connected');

    // The sandbox stops first, then the network goes.
    httpdA.kill('SIGKILL');
    await net.tearDown(`uid-a-${id}`);
    await net.tearDown(`uid-a-${id}`);
    const netns = (await run('ip', ['netns', 'list'])).stdout;
    assert.ok(!netns.includes(nsA), 'netns of a removed');
    assert.ok(netns.includes(nsB), 'netns of b kept');
    const links = (await run('ip', ['-o', 'link', 'show'])).stdout;
    assert.ok(!links.includes(net.vethName(`uid-a-${id}`)), 'veth of a removed');
    assert.ok(links.includes(net.vethName(`uid-b-${id}`)), 'veth of b kept');
    const table = (await run('nft', ['list', 'table', 'ip', names.nftTable])).stdout;
    assert.ok(!table.includes(`${hostPort}`), `no hostPort element left:\n${table}`);
    assert.equal(await httpGet(`http://127.0.0.1:${hostPort}/`), undefined, 'hostPort no longer answers');

    const vethB = net.vethName(`uid-b-${id}`);
    await net.close();
    net = undefined;
    await BridgePodNetwork.removeAll({ ...names, stateDir: join(dir, 'state'), logger: silentLogger() });
    assert.ok(
      !(await run('ip', ['netns', 'list'])).stdout.includes(names.netnsPrefix),
      'no netns with the prefix',
    );
    assert.notEqual((await run('ip', ['link', 'show', names.bridgeName])).code, 0, 'bridge removed');
    assert.notEqual((await run('nft', ['list', 'table', 'ip', names.nftTable])).code, 0, 'table removed');
    assert.ok(!(await run('ip', ['-o', 'link', 'show'])).stdout.includes(vethB), 'veth of b removed');
  });
});
