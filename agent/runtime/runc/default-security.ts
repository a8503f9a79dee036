/**
 * The security defaults of a runc container and the translation of a pod's `securityContext` pieces
 * that need more than a field copy: Docker/containerd's default capability set, masked and read-only
 * `/proc`/`/sys` paths, the default mounts and device cgroup rules, the open-files rlimit, capability
 * add/drop arithmetic (containerd's order: add ALL, drop ALL, add named, drop named), and loading a
 * `Localhost` seccomp profile from disk.
 *
 * Everything here is data or a pure function except {@link loadSeccompProfile}, which reads one file.
 * `RuntimeDefault` and `Unconfined` both mean "no seccomp filter": Berth ships no default profile yet,
 * and an unfiltered container is what runc gives without one.
 */
import { open } from 'node:fs/promises';
import { constants as fsConstants, readFileSync } from 'node:fs';
import path from 'node:path';
import type { ContainerSecurityContext } from '../runtime.js';
import type { OciDeviceRule, OciMount, OciRlimit, OciSeccomp, OciSeccompSyscall } from './oci-spec.js';

/** Docker's and containerd's default bounding/effective/permitted set for unprivileged containers. */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

/** Every capability Linux defines up to 6.x (bit 0 … 40), in bit order. */
export const ALL_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
];

const knownCapabilities = new Set(ALL_CAPABILITIES);

/**
 * containerd's default masked paths: kernel memory, keys, timers and firmware that leak host details
 * or let a container poke hardware. runc bind-mounts `/dev/null` (files) or an empty read-only tmpfs
 * (directories) over them.
 */
export const DEFAULT_MASKED_PATHS: readonly string[] = [
  '/proc/acpi',
  '/proc/asound',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];

/** containerd's default read-only paths: `/proc/sys` above all (core_pattern is a host escape). */
export const DEFAULT_READONLY_PATHS: readonly string[] = [
  '/proc/bus',
  '/proc/fs',
  '/proc/irq',
  '/proc/sys',
  '/proc/sysrq-trigger',
];

/**
 * The open-files limit every container gets, containerd's default spec (`ctr run`): lowering is always
 * allowed, whereas a higher hard limit than the agent's own fails without CAP_SYS_RESOURCE (which root
 * lacks on some hosts, this CI VM included).
 */
export const DEFAULT_RLIMITS: readonly OciRlimit[] = [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }];

/** The PATH a container gets when neither the image nor the pod sets one (Docker's and containerd's). */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * The mounts every container gets before its own (runc's `spec` template and containerd's defaults).
 * A privileged container gets read-write `/sys` and cgroupfs, and the host's `/dev` instead of a tmpfs
 * (so it sees every host device, like Docker's `--privileged`); runc then skips creating device nodes.
 */
export function defaultMounts(privileged: boolean): OciMount[] {
  const ro = privileged ? 'rw' : 'ro';
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    privileged
      ? { destination: '/dev', type: 'bind', source: '/dev', options: ['rbind', 'rslave', 'nosuid'] }
      : {
          destination: '/dev',
          type: 'tmpfs',
          source: 'tmpfs',
          options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
        },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    {
      destination: '/dev/shm',
      type: 'tmpfs',
      source: 'shm',
      options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'],
    },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', ro] },
    {
      destination: '/sys/fs/cgroup',
      type: 'cgroup',
      source: 'cgroup',
      options: ['nosuid', 'noexec', 'nodev', 'relatime', ro],
    },
  ];
}

/**
 * Device cgroup rules. Unprivileged: deny everything, then allow mknod of any node and rw on the
 * devices runc creates (null, zero, full, random, urandom, tty, console, ptmx, pts) plus tun — Docker's
 * list. Privileged: allow everything.
 */
export function defaultDeviceRules(privileged: boolean): OciDeviceRule[] {
  if (privileged) return [{ allow: true, access: 'rwm' }];
  const rw = (type: 'c' | 'b', major: number, minor?: number, access = 'rwm'): OciDeviceRule =>
    minor === undefined ? { allow: true, type, major, access } : { allow: true, type, major, minor, access };
  return [
    { allow: false, access: 'rwm' },
    { allow: true, type: 'c', access: 'm' },
    { allow: true, type: 'b', access: 'm' },
    rw('c', 1, 3), // null
    rw('c', 1, 5), // zero
    rw('c', 1, 7), // full
    rw('c', 1, 8), // random
    rw('c', 1, 9), // urandom
    rw('c', 5, 0), // tty
    rw('c', 5, 1), // console
    rw('c', 5, 2), // ptmx
    rw('c', 136), // pts/*
    rw('c', 10, 200), // net/tun
  ];
}

/**
 * `NET_ADMIN`, `cap_net_admin` and `CAP_NET_ADMIN` all name `CAP_NET_ADMIN`; `ALL` stays `ALL`.
 * Returns `undefined` for a name Linux does not define.
 */
export function normalizeCapability(name: string): string | undefined {
  const upper = name.trim().toUpperCase();
  if (upper === 'ALL') return 'ALL';
  const full = upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
  return knownCapabilities.has(full) ? full : undefined;
}

/** Names in `sc.capabilities` that are neither `ALL` nor a Linux capability. */
export function unknownCapabilities(sc: ContainerSecurityContext | undefined): string[] {
  const caps = sc?.capabilities;
  if (caps === undefined) return [];
  return [...caps.add, ...caps.drop].filter((c) => normalizeCapability(c) === undefined);
}

let hostCapabilitiesCache: readonly string[] | undefined;

/**
 * The capabilities in this process's bounding set (`CapBnd` of /proc/self/status), read once: what
 * "all capabilities" can mean for a container the agent starts. Root may lack some (this CI VM has no
 * CAP_SYS_RESOURCE), and runc fails with EPERM when asked for one outside its bounding set — so
 * privileged and `add: [ALL]` use this list, like containerd's `WithAllCurrentCapabilities`. Falls back
 * to {@link ALL_CAPABILITIES} where /proc is unreadable.
 */
export function hostCapabilities(): readonly string[] {
  if (hostCapabilitiesCache !== undefined) return hostCapabilitiesCache;
  let caps: readonly string[] = ALL_CAPABILITIES;
  try {
    const m = /^CapBnd:\s*([0-9a-f]+)$/im.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m?.[1] !== undefined) caps = capabilitiesFromMask(BigInt(`0x${m[1]}`));
  } catch {
    // Not Linux or no /proc: keep the full list; runc will say what it cannot grant.
  }
  hostCapabilitiesCache = caps;
  return caps;
}

/** The capability names whose bits are set in `mask` (bit n = `ALL_CAPABILITIES[n]`). */
export function capabilitiesFromMask(mask: bigint): string[] {
  return ALL_CAPABILITIES.filter((_, bit) => ((mask >> BigInt(bit)) & 1n) === 1n);
}

/**
 * The capability set a container runs with (bounding = effective = permitted; inheritable and ambient
 * stay empty, as containerd does since CVE-2022-29162). Privileged: every capability in `available`
 * (default {@link hostCapabilities}). Otherwise the
 * default set, then containerd's order: `add: [ALL]`, `drop: [ALL]`, named adds, named drops — so
 * `drop: [ALL], add: [NET_BIND_SERVICE]` leaves just that one. Unknown names are ignored here;
 * {@link unknownCapabilities} reports them.
 */
export function effectiveCapabilities(
  sc: ContainerSecurityContext | undefined,
  available: readonly string[] = hostCapabilities(),
): string[] {
  if (sc?.privileged === true) return [...available];
  const add = (sc?.capabilities?.add ?? []).map(normalizeCapability);
  const drop = (sc?.capabilities?.drop ?? []).map(normalizeCapability);
  let set = new Set(DEFAULT_CAPABILITIES);
  if (add.includes('ALL')) set = new Set(available);
  if (drop.includes('ALL')) set = new Set();
  for (const c of add) if (c !== undefined && c !== 'ALL') set.add(c);
  for (const c of drop) if (c !== undefined && c !== 'ALL') set.delete(c);
  // Bit order, so that the spec is stable whatever order the pod listed them in.
  return ALL_CAPABILITIES.filter((c) => set.has(c));
}

// ---------------------------------------------------------------------------------------------
// Seccomp

/** A parsed `seccompProfile` string. */
export type SeccompProfileRef =
  | { readonly kind: 'none' }
  | { readonly kind: 'localhost'; readonly path: string }
  | { readonly kind: 'invalid'; readonly message: string };

/**
 * `undefined`, `''`, `RuntimeDefault`, `runtime/default`, `Unconfined` and `unconfined` → no filter;
 * `Localhost/<p>` or `localhost/<p>` → the file `<p>`, resolved against `seccompRoot` when relative
 * (the kubelet's `<root-dir>/seccomp`). A relative path that climbs out of the root is invalid.
 */
export function parseSeccompProfile(profile: string | undefined, seccompRoot?: string): SeccompProfileRef {
  if (profile === undefined) return { kind: 'none' };
  const p = profile.trim();
  if (p === '' || /^(runtimedefault|runtime\/default|docker\/default|unconfined)$/i.test(p)) {
    return { kind: 'none' };
  }
  const m = /^localhost\/(.+)$/i.exec(p);
  if (m === null) return { kind: 'invalid', message: `unknown seccomp profile ${JSON.stringify(profile)}` };
  const rel = m[1] ?? '';
  if (path.isAbsolute(rel)) return { kind: 'localhost', path: path.normalize(rel) };
  if (seccompRoot === undefined) {
    return {
      kind: 'invalid',
      message: `seccomp profile ${JSON.stringify(rel)} is relative and no seccomp root is set`,
    };
  }
  const full = path.resolve(seccompRoot, rel);
  if (!full.startsWith(path.resolve(seccompRoot) + path.sep)) {
    return { kind: 'invalid', message: `seccomp profile ${JSON.stringify(rel)} is outside ${seccompRoot}` };
  }
  return { kind: 'localhost', path: full };
}

const seccompActions = new Set([
  'SCMP_ACT_KILL',
  'SCMP_ACT_KILL_PROCESS',
  'SCMP_ACT_KILL_THREAD',
  'SCMP_ACT_TRAP',
  'SCMP_ACT_ERRNO',
  'SCMP_ACT_TRACE',
  'SCMP_ACT_ALLOW',
  'SCMP_ACT_LOG',
  'SCMP_ACT_NOTIFY',
]);
const seccompOps = new Set([
  'SCMP_CMP_NE',
  'SCMP_CMP_LT',
  'SCMP_CMP_LE',
  'SCMP_CMP_EQ',
  'SCMP_CMP_GE',
  'SCMP_CMP_GT',
  'SCMP_CMP_MASKED_EQ',
]);

/** Profiles are a few tens of KiB; anything near this is not a seccomp profile. */
const maxSeccompBytes = 1 << 20;

type SeccompResult =
  { readonly ok: true; readonly seccomp: OciSeccomp } | { readonly ok: false; readonly message: string };

/**
 * Validates a seccomp profile document and converts it to the runtime-spec shape. Accepts the OCI form
 * (`architectures`) and Docker's (`archMap` — flattened to its architectures and sub-architectures;
 * `name` instead of `names`). Docker's conditional `includes`/`excludes` rules are refused rather
 * than guessed at, since dropping an `ERRNO` rule would loosen the filter.
 */
export function parseSeccompJson(doc: unknown, source = 'seccomp profile'): SeccompResult {
  const bad = (why: string): SeccompResult => ({ ok: false, message: `${source}: ${why}` });
  if (!isRecord(doc)) return bad('not a JSON object');
  const defaultAction = doc['defaultAction'];
  if (typeof defaultAction !== 'string' || !seccompActions.has(defaultAction)) {
    return bad(`defaultAction ${JSON.stringify(defaultAction)} is not a seccomp action`);
  }
  const architectures: string[] = [];
  if (Array.isArray(doc['architectures'])) {
    for (const a of doc['architectures']) if (typeof a === 'string') architectures.push(a);
  }
  if (Array.isArray(doc['archMap'])) {
    for (const entry of doc['archMap']) {
      if (!isRecord(entry)) continue;
      if (typeof entry['architecture'] === 'string') architectures.push(entry['architecture']);
      if (Array.isArray(entry['subArchitectures'])) {
        for (const a of entry['subArchitectures']) if (typeof a === 'string') architectures.push(a);
      }
    }
  }
  for (const a of architectures) if (!a.startsWith('SCMP_ARCH_')) return bad(`unknown architecture ${a}`);
  const syscalls: OciSeccompSyscall[] = [];
  const rules = doc['syscalls'] ?? [];
  if (!Array.isArray(rules)) return bad('syscalls is not a list');
  for (const [i, rule] of rules.entries()) {
    if (!isRecord(rule)) return bad(`syscalls[${i}] is not an object`);
    if (
      (isRecord(rule['includes']) && Object.keys(rule['includes']).length > 0) ||
      (isRecord(rule['excludes']) && Object.keys(rule['excludes']).length > 0)
    ) {
      return bad(`syscalls[${i}] uses includes/excludes, which Berth does not support`);
    }
    const names = Array.isArray(rule['names'])
      ? rule['names'].filter((n): n is string => typeof n === 'string')
      : typeof rule['name'] === 'string'
        ? [rule['name']]
        : [];
    if (names.length === 0) return bad(`syscalls[${i}] names no syscall`);
    const action = rule['action'];
    if (typeof action !== 'string' || !seccompActions.has(action)) {
      return bad(`syscalls[${i}].action ${JSON.stringify(action)} is not a seccomp action`);
    }
    const out: { -readonly [K in keyof OciSeccompSyscall]: OciSeccompSyscall[K] } = { names, action };
    if (typeof rule['errnoRet'] === 'number') out.errnoRet = rule['errnoRet'];
    if (Array.isArray(rule['args']) && rule['args'].length > 0) {
      const args = [];
      for (const arg of rule['args']) {
        if (
          !isRecord(arg) ||
          typeof arg['index'] !== 'number' ||
          typeof arg['value'] !== 'number' ||
          typeof arg['op'] !== 'string' ||
          !seccompOps.has(arg['op'])
        ) {
          return bad(`syscalls[${i}] has a malformed argument filter`);
        }
        args.push({
          index: arg['index'],
          value: arg['value'],
          ...(typeof arg['valueTwo'] === 'number' ? { valueTwo: arg['valueTwo'] } : {}),
          op: arg['op'],
        });
      }
      out.args = args;
    }
    syscalls.push(out);
  }
  const seccomp: OciSeccomp = {
    defaultAction,
    ...(typeof doc['defaultErrnoRet'] === 'number' ? { defaultErrnoRet: doc['defaultErrnoRet'] } : {}),
    ...(architectures.length > 0 ? { architectures: [...new Set(architectures)] } : {}),
    ...(Array.isArray(doc['flags'])
      ? { flags: doc['flags'].filter((f): f is string => typeof f === 'string') }
      : {}),
    syscalls,
  };
  return { ok: true, seccomp };
}

/**
 * Resolves a container's `seccompProfile` to what {@link buildOciSpec} needs as `seccomp`:
 * `{ ok: true }` without `seccomp` for no filter, the parsed profile for `Localhost/<path>`, or
 * `{ ok: false, message }` when the file is missing, unreadable, not a regular file, too large or not a
 * valid profile (the kubelet reports these as `CreateContainerError`). A privileged container gets no
 * filter, as in containerd.
 */
export async function loadSeccompProfile(
  sc: ContainerSecurityContext | undefined,
  opts: { readonly seccompRoot?: string } = {},
): Promise<
  { readonly ok: true; readonly seccomp?: OciSeccomp } | { readonly ok: false; readonly message: string }
> {
  if (sc?.privileged === true) return { ok: true };
  const ref = parseSeccompProfile(sc?.seccompProfile, opts.seccompRoot);
  if (ref.kind === 'none') return { ok: true };
  if (ref.kind === 'invalid') return { ok: false, message: ref.message };
  let text: string;
  try {
    // O_NONBLOCK: a FIFO at the path must not hang the agent; fstat then refuses anything not regular.
    const fh = await open(ref.path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
    try {
      const st = await fh.stat();
      if (!st.isFile()) return { ok: false, message: `seccomp profile ${ref.path} is not a regular file` };
      if (st.size > maxSeccompBytes)
        return { ok: false, message: `seccomp profile ${ref.path} is too large` };
      text = await fh.readFile({ encoding: 'utf8' });
    } finally {
      await fh.close();
    }
  } catch (err) {
    return { ok: false, message: `cannot read seccomp profile ${ref.path}: ${(err as Error).message}` };
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return { ok: false, message: `seccomp profile ${ref.path} is not JSON: ${(err as Error).message}` };
  }
  return parseSeccompJson(doc, `seccomp profile ${ref.path}`);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
