/**
 * A `CommandRunner` that plays the kernel for the bridge network's unit tests: it keeps netns, links,
 * bridge addresses, sysctls and the nft table's map elements in memory, answers the `ip`, `sysctl` and
 * `nft` invocations BridgePodNetwork issues the way the real programs do (including their "not found"
 * messages), records every call, and fails whatever a test's `failWhen` picks.
 */
import type { CommandResult, CommandRunner } from '../../../lib/command-runner.js';

export interface RecordedCall {
  readonly file: string;
  readonly args: readonly string[];
  readonly input?: string;
}

interface Link {
  readonly kind: 'bridge' | 'veth';
  master?: string;
  /** For a veth: the netns its peer (`eth0`) lives in. */
  peerNetns?: string;
}

const ok: CommandResult = { code: 0, stdout: '', stderr: '' };
const fail = (stderr: string): CommandResult => ({ code: 1, stdout: '', stderr });

export class SimulatedNetRunner implements CommandRunner {
  readonly calls: RecordedCall[] = [];
  readonly netns = new Set<string>();
  readonly links = new Map<string, Link>();
  readonly addrs = new Map<string, string[]>();
  readonly sysctls = new Map<string, string>();
  /** Table name → set of `<map> <key>` element keys. */
  readonly tables = new Map<string, Set<string>>();
  /**
   * Netns a process still holds: `ip netns del` removes the name, but the namespace (and the veth
   * whose peer is in it) lives on, as in the kernel.
   */
  readonly heldNetns = new Set<string>();
  /** Return a result to fail (or otherwise answer) a call instead of simulating it. */
  failWhen: ((call: RecordedCall) => CommandResult | undefined) | undefined;

  /** For `BridgePodNetworkOptions.linkExists`: whether the simulated host namespace has `name`. */
  readonly linkExists = (name: string): Promise<boolean> => Promise.resolve(this.links.has(name));

  run(
    file: string,
    args: readonly string[],
    opts?: { readonly input?: string | Uint8Array; readonly signal?: AbortSignal },
  ): Promise<CommandResult> {
    const input = typeof opts?.input === 'string' ? opts.input : undefined;
    const call: RecordedCall = { file, args: [...args], ...(input === undefined ? {} : { input }) };
    this.calls.push(call);
    const scripted = this.failWhen?.(call);
    if (scripted !== undefined) return Promise.resolve(scripted);
    return Promise.resolve(this.#simulate(call));
  }

  /** The calls as `file arg arg` lines (inputs left out), for compact assertions. */
  lines(from = 0): string[] {
    return this.calls.slice(from).map((c) => [c.file, ...c.args].join(' '));
  }

  /** Elements of `table`'s maps, as `<map> <key>`. */
  elements(table: string): string[] {
    return [...(this.tables.get(table) ?? [])].sort();
  }

  #simulate(c: RecordedCall): CommandResult {
    if (c.file === 'sysctl') {
      const [key, value] = (c.args[1] ?? '').split('=');
      this.sysctls.set(key ?? '', value ?? '');
      return ok;
    }
    if (c.file === 'nft') return this.#nft(c);
    if (c.file !== 'ip') return { code: 127, stdout: '', stderr: `${c.file}: not found` };
    const a = c.args;
    if (a[0] === '-batch') return this.#batch(c.input ?? '', undefined);
    if (a[0] === '-netns' && a[2] === '-batch') {
      const ns = a[1] ?? '';
      if (!this.netns.has(ns))
        return fail(`Cannot open network namespace "${ns}": No such file or directory`);
      return this.#batch(c.input ?? '', ns);
    }
    if (a[0] === '-j' && a[1] === 'netns') {
      return {
        ...ok,
        stdout: this.netns.size === 0 ? '' : JSON.stringify([...this.netns].map((name) => ({ name }))),
      };
    }
    if (a[0] === '-j' && a[1] === 'addr') {
      const dev = a[4] ?? '';
      if (!this.links.has(dev)) return fail(`Device "${dev}" does not exist.`);
      const addrInfo = (this.addrs.get(dev) ?? []).map((cidr) => {
        const [local, prefixlen] = cidr.split('/');
        return { family: 'inet', local, prefixlen: Number(prefixlen) };
      });
      return { ...ok, stdout: JSON.stringify([{ ifname: dev, addr_info: addrInfo }]) };
    }
    if (a[0] === '-j' && a[1] === 'link' && a[3] === 'master') {
      const master = a[4] ?? '';
      if (!this.links.has(master)) return fail(`Device "${master}" does not exist.`);
      const ports = [...this.links].filter(([, l]) => l.master === master).map(([ifname]) => ({ ifname }));
      return { ...ok, stdout: JSON.stringify(ports) };
    }
    return this.#command(a.join(' '), undefined);
  }

  #batch(script: string, ns: string | undefined): CommandResult {
    for (const line of script.split('\n')) {
      if (line.trim() === '') continue;
      const r = this.#command(line.trim(), ns);
      if (r.code !== 0) return { ...r, stderr: `${r.stderr}\nCommand failed -:1` };
    }
    return ok;
  }

  #command(cmd: string, ns: string | undefined): CommandResult {
    let m: RegExpExecArray | null;
    if (ns !== undefined) return ok; // addresses, routes and links inside a pod's netns are not modelled
    if ((m = /^netns add (\S+)$/.exec(cmd)) !== null) {
      const name = m[1] ?? '';
      if (this.netns.has(name))
        return fail(`Cannot create namespace file "/var/run/netns/${name}": File exists`);
      this.netns.add(name);
      return ok;
    }
    if ((m = /^netns del (\S+)$/.exec(cmd)) !== null) {
      const name = m[1] ?? '';
      if (!this.netns.delete(name)) {
        return fail(`Cannot remove namespace file "/var/run/netns/${name}": No such file or directory`);
      }
      if (this.heldNetns.has(name)) return ok;
      for (const [link, l] of this.links) if (l.peerNetns === name) this.links.delete(link);
      return ok;
    }
    if ((m = /^link add (\S+) type veth peer name eth0 netns (\S+)$/.exec(cmd)) !== null) {
      if (!this.netns.has(m[2] ?? '')) return fail(`Invalid "netns" value "${m[2] ?? ''}"`);
      if (this.links.has(m[1] ?? '')) return fail('RTNETLINK answers: File exists');
      this.links.set(m[1] ?? '', { kind: 'veth', peerNetns: m[2] ?? '' });
      return ok;
    }
    if ((m = /^link add (\S+) type bridge$/.exec(cmd)) !== null) {
      if (this.links.has(m[1] ?? '')) return fail('RTNETLINK answers: File exists');
      this.links.set(m[1] ?? '', { kind: 'bridge' });
      return ok;
    }
    if ((m = /^link del (\S+)$/.exec(cmd)) !== null) {
      const link = this.links.get(m[1] ?? '');
      if (link === undefined) return fail(`Cannot find device "${m[1] ?? ''}"`);
      this.links.delete(m[1] ?? '');
      for (const l of this.links.values()) if (l.master === m[1]) delete l.master;
      return ok;
    }
    if ((m = /^link set (\S+) master (\S+)$/.exec(cmd)) !== null) {
      const link = this.links.get(m[1] ?? '');
      if (link === undefined || !this.links.has(m[2] ?? ''))
        return fail(`Cannot find device "${m[1] ?? ''}"`);
      link.master = m[2] ?? '';
      return ok;
    }
    if ((m = /^link set (\S+) /.exec(cmd)) !== null) {
      return this.links.has(m[1] ?? '') ? ok : fail(`Cannot find device "${m[1] ?? ''}"`);
    }
    if ((m = /^addr (add|del) (\S+) dev (\S+)$/.exec(cmd)) !== null) {
      const dev = m[3] ?? '';
      if (!this.links.has(dev)) return fail(`Cannot find device "${dev}"`);
      const list = this.addrs.get(dev) ?? [];
      this.addrs.set(dev, m[1] === 'add' ? [...list, m[2] ?? ''] : list.filter((x) => x !== m?.[2]));
      return ok;
    }
    return fail(`simulated ip: unknown command "${cmd}"`);
  }

  #nft(c: RecordedCall): CommandResult {
    if (c.args[0] === 'delete' && c.args[1] === 'table') {
      const name = c.args[3] ?? '';
      if (!this.tables.delete(name)) return fail('Error: Could not process rule: No such file or directory');
      return ok;
    }
    const script = c.input ?? '';
    const replace = /^delete table ip (\S+)$/m.exec(script);
    if (replace !== null) {
      const elements = new Set<string>();
      let map = '';
      for (const line of script.split('\n')) {
        const mm = /^\s*map (\S+) \{/.exec(line);
        if (mm !== null) map = mm[1] ?? '';
        const em = /^\s*elements = \{ (.*) \}$/.exec(line);
        if (em !== null) for (const e of (em[1] ?? '').split(', ')) elements.add(`${map} ${keyOf(e)}`);
      }
      this.tables.set(replace[1] ?? '', elements);
      return ok;
    }
    for (const line of script.split('\n')) {
      const m = /^(add|delete) element ip (\S+) (\S+) \{ (.*) \}$/.exec(line);
      if (m === null) continue;
      const table = this.tables.get(m[2] ?? '');
      if (table === undefined) return fail('Error: No such file or directory');
      const keys = (m[4] ?? '').split(', ').map((e) => `${m[3] ?? ''} ${keyOf(e)}`);
      if (m[1] === 'delete' && keys.some((k) => !table.has(k))) {
        return fail('Error: Could not process rule: No such file or directory');
      }
      for (const k of keys) {
        if (m[1] === 'add') table.add(k);
        else table.delete(k);
      }
    }
    return ok;
  }
}

function keyOf(element: string): string {
  return (element.split(' : ')[0] ?? '').trim();
}
