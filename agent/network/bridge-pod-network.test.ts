import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../lib/logger.js';
import type { PortMapping } from '../runtime/runtime.js';
import type { PodNetworkRequest } from '../pods/pod-network.js';
import { BridgePodNetwork, type BridgePodNetworkOptions } from './bridge-pod-network.js';
import { SimulatedNetRunner } from './testing/simulated-net-runner.js';

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-net-unit-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function network(
  dir: string,
  runner: SimulatedNetRunner,
  extra: Partial<BridgePodNetworkOptions> = {},
): BridgePodNetwork {
  return new BridgePodNetwork({
    bridgeName: 'bt0',
    netnsPrefix: 'bt-',
    nftTable: 'bt',
    stateDir: dir,
    runner,
    linkExists: runner.linkExists,
    logger: silentLogger(),
    ...extra,
  });
}

function pod(uid: string, portMappings: PortMapping[] = []): PodNetworkRequest {
  return { uid, namespace: 'default', name: `pod-${uid}`, portMappings };
}

/** Polls (real time, up to 3 s) until `check` holds. */
async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 300 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
}

async function settle(net: BridgePodNetwork): Promise<void> {
  await until(() => net.status().ready);
}

describe('BridgePodNetwork', () => {
  it('refuses pods until the node has a pod CIDR', () =>
    withDir(async (dir) => {
      const sim = new SimulatedNetRunner();
      const net = network(dir, sim);
      assert.deepEqual(net.status(), { ready: false, message: 'node has no pod CIDR yet' });
      assert.deepEqual(await net.setUp(pod('a')), { ok: false, message: 'node has no pod CIDR yet' });
      assert.equal(sim.netns.size, 0);
      assert.ok(!sim.links.has('bt0'), 'no bridge before a CIDR');
      await net.close();
    }));

  it('sets up the bridge, the table and a pod with the commands the recipe uses', () =>
    withDir(async (dir) => {
      const sim = new SimulatedNetRunner();
      const net = network(dir, sim, { podCidr: '10.210.3.0/24' });
      const res = await net.setUp(pod('uid-a', [{ protocol: 'TCP', containerPort: 80, hostPort: 8080 }]));
      const ns = net.netnsName('uid-a');
      const veth = net.vethName('uid-a');
      assert.deepEqual(res, { ok: true, ips: ['10.210.3.2'], networkNamespacePath: `/var/run/netns/${ns}` });
      assert.match(ns, /^bt-[0-9a-f]{12}$/);
      assert.match(veth, /^bv[0-9a-f]{8}$/);
      // Node side: bridge with the first host, route_localnet, ip_forward, the table.
      assert.deepEqual(sim.addrs.get('bt0'), ['10.210.3.1/24']);
      assert.equal(sim.sysctls.get('net.ipv4.conf.bt0.route_localnet'), '1');
      assert.equal(sim.sysctls.get('net.ipv4.ip_forward'), '1');
      const table = sim.calls.find(
        (c) => c.file === 'nft' && c.input?.includes('delete table ip bt') === true,
      );
      assert.ok(
        table?.input?.includes(
          'ip saddr 10.210.3.0/24 ip daddr != 10.210.3.0/24 oifname != "bt0" masquerade',
        ),
      );
      // Pod side: one batch on the host, one inside the netns.
      const hostBatch = sim.calls.find(
        (c) => c.file === 'ip' && c.args.join(' ') === '-batch -' && c.input?.includes(veth) === true,
      );
      assert.equal(
        hostBatch?.input,
        [
          `netns add ${ns}`,
          `link add ${veth} type veth peer name eth0 netns ${ns}`,
          `link set ${veth} master bt0`,
          `link set ${veth} type bridge_slave hairpin on`,
          `link set ${veth} up`,
          '',
        ].join('\n'),
      );
      const podBatch = sim.calls.find((c) => c.args[0] === '-netns');
      assert.deepEqual(podBatch?.args, ['-netns', ns, '-batch', '-']);
      assert.equal(
        podBatch.input,
        'addr add 10.210.3.2/24 dev eth0\nlink set eth0 up\nlink set lo up\nroute add default via 10.210.3.1\n',
      );
      assert.deepEqual(sim.elements('bt'), ['hostports tcp . 8080']);
      assert.equal(sim.links.get(veth)?.master, 'bt0');
      assert.deepEqual(net.status(), { ready: true });
      await net.close();
    }));

  it('returns the same attachment for the same uid without touching the kernel again', () =>
    withDir(async (dir) => {
      const sim = new SimulatedNetRunner();
      const net = network(dir, sim, { podCidr: '10.210.3.0/24' });
      const first = await net.setUp(pod('a'));
      const calls = sim.calls.length;
      const [again, concurrent] = await Promise.all([net.setUp(pod('a')), net.setUp(pod('a'))]);
      assert.deepEqual(again, first);
      assert.deepEqual(concurrent, first);
      assert.equal(sim.calls.length, calls);
      await net.close();
    }));

  it('gives concurrent pods distinct addresses and says clearly when the range is exhausted', () =>
    withDir(async (dir) => {
      const sim = new SimulatedNetRunner();
      // A /29 has 8 addresses: network, gateway, broadcast and 5 for pods.
      const net = network(dir, sim, { podCidr: '10.210.4.0/29', ipForward: false });
      const results = await Promise.all(['a', 'b', 'c', 'd', 'e', 'f'].map((u) => net.setUp(pod(u))));
      const ips = results.flatMap((r) => (r.ok ? r.ips : []));
      assert.deepEqual([...ips].sort(), [
        '10.210.4.2',
        '10.210.4.3',
        '10.210.4.4',
        '10.210.4.5',
        '10.210.4.6',
      ]);
      const failed = results.filter((r) => !r.ok);
      assert.equal(failed.length, 1);
      assert.deepEqual(failed[0], {
        ok: false,
        message: 'failed to allocate an IP for the pod: all 5 pod addresses of 10.210.4.0/29 are in use',
      });
      assert.equal(sim.netns.size, 5, 'the refused pod got no netns');
      assert.equal(sim.sysctls.has('net.ipv4.ip_forward'), false, 'ipForward: false leaves the host alone');
      // Freeing one makes room; the freed address rests while others are free, then is reused.
      const loser = ['a', 'b', 'c', 'd', 'e', 'f'][results.findIndex((r) => !r.ok)] ?? '';
      const winner = ['a', 'b', 'c', 'd', 'e', 'f'].find((u) => u !== loser) ?? '';
      const freed = results[['a', 'b', 'c', 'd', 'e', 'f'].indexOf(winner)];
      await net.tearDown(winner);
      const retry = await net.setUp(pod(loser));
      assert.ok(retry.ok && freed?.ok === true);
      assert.deepEqual(retry.ips, freed.ips);
      await net.close();
    }));

  it('tears down hostPorts, veth and netns and frees the address; a second tearDown does nothing', () =>
    withDir(async (dir) => {
      const sim = new SimulatedNetRunner();
      const net = network(dir, sim, { podCidr: '10.210.5.0/24' });
      await net.setUp(
        pod('a', [
          { protocol: 'TCP', containerPort: 80, hostPort: 8080 },
          { protocol: 'UDP', containerPort: 53, hostPort: 5353, hostIP: '127.0.0.1' },
        ]),
      );
      await net.setUp(pod('b', [{ protocol: 'TCP', containerPort: 80, hostPort: 8081 }]));
      assert.deepEqual(sim.elements('bt'), [
        'hostip_ports 127.0.0.1 . udp . 5353',
        'hostports tcp . 8080',
        'hostports tcp . 8081',
      ]);
      const before = sim.calls.length;
      await net.tearDown('a');
      assert.deepEqual(sim.elements('bt'), ['hostports tcp . 8081']);
      assert.ok(!sim.netns.has(net.netnsName('a')));
      assert.ok(!sim.links.has(net.vethName('a')));
      assert.ok(
        sim.lines(before).every((l) => !l.startsWith('ip link del')),
        'the veth went with its netns: no `ip link del`',
      );
      assert.ok(sim.netns.has(net.netnsName('b')));
      const calls = sim.calls.length;
      await net.tearDown('a');
      await net.tearDown('never-seen');
      assert.equal(sim.calls.length, calls);
      const state = JSON.parse(await readFile(join(dir, 'ipam.json'), 'utf8')) as {
        pods: Record<string, unknown>;
      };
      assert.deepEqual(Object.keys(state.pods), ['b']);
      await net.close();
    }));

  it('deletes the veth itself when a process still holds the pod’s netns', () =>
    withDir(async (dir) => {
      const sim = new SimulatedNetRunner();
      const net = network(dir, sim, { podCidr: '10.210.4.0/24' });
      assert.ok((await net.setUp(pod('a'))).ok);
      const veth = net.vethName('a');
      sim.heldNetns.add(net.netnsName('a'));
      const before = sim.calls.length;
      await net.tearDown('a');
      assert.ok(!sim.netns.has(net.netnsName('a')));
      assert.ok(!sim.links.has(veth), 'veth removed although the netns lives on');
      assert.deepEqual(sim.lines(before).slice(-2), [
        `ip netns del ${net.netnsName('a')}`,
        `ip link del ${veth}`,
      ]);
      // The same pod can be attached again at once: its veth name is free.
      assert.ok((await net.setUp(pod('a'))).ok);
      await net.close();
    }));

  it('refuses a hostPort another pod holds, and invalid mappings', () =>
    withDir(async (dir) => {
      const sim = new SimulatedNetRunner();
      const net = network(dir, sim, { podCidr: '10.210.6.0/24' });
      assert.ok((await net.setUp(pod('a', [{ protocol: 'TCP', containerPort: 80, hostPort: 8080 }]))).ok);
      assert.deepEqual(
        await net.setUp(
          pod('b', [{ protocol: 'TCP', containerPort: 81, hostPort: 8080, hostIP: '10.0.0.1' }]),
        ),
        {
          ok: false,
          message: 'hostPort 8080/TCP is already used by pod default/pod-a',
        },
      );
      assert.ok(
        (await net.setUp(pod('c', [{ protocol: 'UDP', containerPort: 80, hostPort: 8080 }]))).ok,
        'UDP is another port',
      );
      const v6 = await net.setUp(
        pod('d', [{ protocol: 'TCP', containerPort: 80, hostPort: 9090, hostIP: '::1' }]),
      );
      assert.ok(!v6.ok);
      assert.match(v6.message, /only IPv4/);
      assert.equal(sim.netns.size, 2);
      await net.close();
    }));

  it('undoes a half-made attachment when a command fails and reports the command’s error', () =>
    withDir(async (dir) => {
      const sim = new SimulatedNetRunner();
      const net = network(dir, sim, { podCidr: '10.210.7.0/24' });
      sim.failWhen = (c) =>
        c.args[0] === '-netns'
          ? { code: 2, stdout: '', stderr: 'RTNETLINK answers: Network is unreachable' }
          : undefined;
      const res = await net.setUp(pod('a'));
      assert.ok(!res.ok);
      assert.match(res.message, /Network is unreachable/);
      assert.equal(sim.netns.size, 0, 'netns removed');
      assert.ok(!sim.links.has(net.vethName('a')), 'veth removed');
      sim.failWhen = undefined;
      const state = JSON.parse(await readFile(join(dir, 'ipam.json'), 'utf8')) as { pods: object };
      assert.deepEqual(state.pods, {}, 'the address was freed');
      const retry = await net.setUp(pod('a'));
      assert.ok(retry.ok);
      await net.close();
    }));

  it('after a restart returns existing attachments, frees vanished ones, removes unknown netns and rewrites the table', () =>
    withDir(async (dir) => {
      const sim = new SimulatedNetRunner();
      const first = network(dir, sim, { podCidr: '10.210.8.0/24' });
      const a = await first.setUp(pod('a', [{ protocol: 'TCP', containerPort: 80, hostPort: 8080 }]));
      await first.setUp(pod('b', [{ protocol: 'TCP', containerPort: 80, hostPort: 8081 }]));
      await first.close();
      // While the agent was down: b's netns vanished, a stranger with our prefix appeared, and the
      // table was flushed.
      sim.netns.delete(first.netnsName('b'));
      sim.netns.add('bt-stranger');
      sim.tables.delete('bt');

      const second = network(dir, sim);
      const calls = sim.calls.length;
      assert.deepEqual(await second.setUp(pod('a')), a, 'existing attachment, even before the CIDR is known');
      assert.ok(!sim.netns.has('bt-stranger'));
      assert.ok(
        sim.lines(calls).every((l) => !l.startsWith('ip -batch')),
        'no links made for a',
      );
      assert.deepEqual(await second.setUp(pod('c')), { ok: false, message: 'node has no pod CIDR yet' });
      second.setPodCidr('10.210.8.0/24');
      await settle(second);
      assert.deepEqual(sim.elements('bt'), ['hostports tcp . 8080'], 'the table holds a’s hostPort, not b’s');
      const c = await second.setUp(pod('c', [{ protocol: 'TCP', containerPort: 80, hostPort: 8081 }]));
      assert.ok(c.ok, 'b’s hostPort and address are free again');
      assert.deepEqual(sim.addrs.get('bt0'), ['10.210.8.1/24'], 'bridge address not added twice');
      await second.close();
    }));

  it('redoes a setUp that was cut off before it finished', () =>
    withDir(async (dir) => {
      const sim = new SimulatedNetRunner();
      const first = network(dir, sim, { podCidr: '10.210.9.0/24' });
      // The agent "dies" after the host batch: the pod-side batch never answers, as if the process
      // were gone; the netns exists, the record says ready:false.
      const orig = sim.run.bind(sim);
      let frozen = false;
      sim.run = (file, args, opts) => {
        if (args[0] === '-netns') frozen = true;
        return frozen ? new Promise(() => undefined) : orig(file, args, opts);
      };
      void first.setUp(pod('a'));
      await until(() => frozen);
      assert.ok(frozen);
      sim.run = orig;
      assert.ok(sim.netns.has(first.netnsName('a')));

      const second = network(dir, sim, { podCidr: '10.210.9.0/24' });
      const res = await second.setUp(pod('a'));
      assert.deepEqual(res.ok ? res.ips : [], ['10.210.9.2'], 'same address as recorded');
      const redo = sim.calls.filter((c) => c.args[0] === '-netns');
      // The frozen call never reached the recorder: this one is the second network's.
      assert.equal(redo.length, 1, 'the pod side was configured again');
      assert.ok(
        sim.lines().includes(`ip netns del ${second.netnsName('a')}`),
        'leftovers removed before redoing',
      );
      await second.close();
    }));

  it('defers a pod CIDR change until the pods of the old one are gone', () =>
    withDir(async (dir) => {
      const sim = new SimulatedNetRunner();
      const net = network(dir, sim, { podCidr: '10.210.10.0/24' });
      const a = await net.setUp(pod('a'));
      net.setPodCidr('10.211.10.0/24');
      await settle(net);
      assert.equal(net.status().ready, false);
      assert.match(
        net.status().message ?? '',
        /changed from 10\.210\.10\.0\/24 to 10\.211\.10\.0\/24: 1 pod/,
      );
      const b = await net.setUp(pod('b'));
      assert.equal(b.ok, false);
      assert.deepEqual(await net.setUp(pod('a')), a, 'old pods keep their attachment');
      await net.tearDown('a');
      await settle(net);
      assert.deepEqual(net.status(), { ready: true });
      assert.deepEqual(sim.addrs.get('bt0'), ['10.211.10.1/24']);
      const b2 = await net.setUp(pod('b'));
      assert.deepEqual(b2.ok ? b2.ips : [], ['10.211.10.2']);
      await net.close();
    }));

  it('reports a malformed CIDR and keeps the one in force', () =>
    withDir(async (dir) => {
      const sim = new SimulatedNetRunner();
      const net = network(dir, sim);
      net.setPodCidr('10.210.11.0/31');
      assert.match(net.status().message ?? '', /prefix length/);
      net.setPodCidr('fd00::/64');
      assert.match(net.status().message ?? '', /not an IPv4 CIDR/);
      net.setPodCidr('10.210.11.0/24');
      await settle(net);
      assert.deepEqual(net.status(), { ready: true });
      await net.close();
    }));

  it('reports a bridge that cannot be made in status() and in setUp', () =>
    withDir(async (dir) => {
      const sim = new SimulatedNetRunner();
      sim.failWhen = (c) =>
        c.file === 'sysctl'
          ? { code: 255, stdout: '', stderr: 'sysctl: permission denied on key' }
          : undefined;
      const net = network(dir, sim, { podCidr: '10.210.12.0/24' });
      const res = await net.setUp(pod('a'));
      assert.ok(!res.ok);
      assert.match(res.message, /set up bridge bt0: .*permission denied/);
      assert.match(net.status().message ?? '', /permission denied/);
      sim.failWhen = undefined;
      assert.ok((await net.setUp(pod('a'))).ok, 'the next setUp tries again');
      await net.close();
    }));

  it('removeAll removes veths on the bridge, netns with the prefix, the bridge, the table and the record', () =>
    withDir(async (dir) => {
      const sim = new SimulatedNetRunner();
      const net = network(dir, sim, { podCidr: '10.210.13.0/24' });
      await net.setUp(pod('a', [{ protocol: 'TCP', containerPort: 80, hostPort: 8080 }]));
      await net.setUp(pod('b'));
      await net.close();
      sim.netns.add('other-ns');
      await BridgePodNetwork.removeAll({
        bridgeName: 'bt0',
        netnsPrefix: 'bt-',
        nftTable: 'bt',
        stateDir: dir,
        runner: sim,
      });
      assert.deepEqual([...sim.netns], ['other-ns']);
      assert.equal(sim.links.size, 0);
      assert.equal(sim.tables.size, 0);
      await assert.rejects(readFile(join(dir, 'ipam.json')), { code: 'ENOENT' });
      // Nothing left: removeAll again is fine.
      await BridgePodNetwork.removeAll({
        bridgeName: 'bt0',
        netnsPrefix: 'bt-',
        nftTable: 'bt',
        runner: sim,
      });
    }));

  it('refuses bad names at construction', () => {
    assert.throws(
      () =>
        new BridgePodNetwork({
          bridgeName: 'a-very-long-bridge',
          stateDir: '/nonexistent',
          logger: silentLogger(),
        }),
      /not a valid interface name/,
    );
    assert.throws(
      () =>
        new BridgePodNetwork({
          nftTable: 'x; flush ruleset',
          stateDir: '/nonexistent',
          logger: silentLogger(),
        }),
      /may only use/,
    );
  });
});
