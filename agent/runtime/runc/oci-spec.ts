/**
 * Builds the OCI runtime spec (`config.json`, runtime-spec 1.0) that runc runs a container from: the
 * process (argv, env, cwd, user, capabilities, rlimits, noNewPrivileges), the root filesystem, the
 * hostname, default and extra mounts, and the Linux section (namespaces to create or join, cgroup
 * resources and path, masked/read-only paths, devices, sysctls, seccomp).
 *
 * Pure: every input that needs I/O (the image user from the rootfs's /etc/passwd, a Localhost seccomp
 * profile) is resolved beforehand by `resolveImageUser` and `loadSeccompProfile`. Inputs that would
 * make an unsafe or unrunnable container (a working dir or mount inside `/proc`, a host path such as
 * `/proc/self/exe`, an unknown capability…) are reported by {@link validateOciSpecInput} as a value;
 * {@link buildOciSpec} throws `BERTH_ERR_CONTAINER_CONFIG_INVALID` for them.
 */
import path from 'node:path';
import { BerthError, errorCodes } from '../../../lib/errors.js';
import type { ContainerConfig, Mount, PodSandboxConfig, ResolvedProcess } from '../runtime.js';
import {
  DEFAULT_MASKED_PATHS,
  DEFAULT_PATH,
  DEFAULT_READONLY_PATHS,
  DEFAULT_RLIMITS,
  defaultDeviceRules,
  defaultMounts,
  effectiveCapabilities,
  parseSeccompProfile,
  unknownCapabilities,
} from './default-security.js';
import type { ResolvedUser } from './image-user.js';

// ---------------------------------------------------------------------------------------------
// runtime-spec 1.0 types (the subset Berth writes)

export interface OciUser {
  readonly uid: number;
  readonly gid: number;
  readonly additionalGids?: readonly number[];
  readonly umask?: number;
}

export interface OciCapabilities {
  readonly bounding: readonly string[];
  readonly effective: readonly string[];
  readonly permitted: readonly string[];
  readonly inheritable: readonly string[];
  readonly ambient: readonly string[];
}

export interface OciRlimit {
  readonly type: string;
  readonly hard: number;
  readonly soft: number;
}

export interface OciProcess {
  readonly terminal: boolean;
  readonly user: OciUser;
  readonly args: readonly string[];
  readonly env: readonly string[];
  readonly cwd: string;
  readonly capabilities: OciCapabilities;
  readonly rlimits: readonly OciRlimit[];
  readonly noNewPrivileges: boolean;
  readonly oomScoreAdj?: number;
}

export interface OciMount {
  readonly destination: string;
  readonly type: string;
  readonly source: string;
  readonly options?: readonly string[];
}

export interface OciNamespace {
  readonly type: 'pid' | 'network' | 'mount' | 'ipc' | 'uts' | 'user' | 'cgroup';
  readonly path?: string;
}

export interface OciDeviceRule {
  readonly allow: boolean;
  readonly type?: 'a' | 'c' | 'b';
  readonly major?: number;
  readonly minor?: number;
  readonly access?: string;
}

export interface OciResources {
  readonly devices: readonly OciDeviceRule[];
  readonly memory?: { readonly limit?: number };
  readonly cpu?: {
    readonly shares?: number;
    readonly quota?: number;
    readonly period?: number;
    readonly cpus?: string;
    readonly mems?: string;
  };
  readonly pids?: { readonly limit: number };
}

export interface OciSeccompArg {
  readonly index: number;
  readonly value: number;
  readonly valueTwo?: number;
  readonly op: string;
}

export interface OciSeccompSyscall {
  readonly names: readonly string[];
  readonly action: string;
  readonly errnoRet?: number;
  readonly args?: readonly OciSeccompArg[];
}

export interface OciSeccomp {
  readonly defaultAction: string;
  readonly defaultErrnoRet?: number;
  readonly architectures?: readonly string[];
  readonly flags?: readonly string[];
  readonly syscalls?: readonly OciSeccompSyscall[];
}

export interface OciLinux {
  readonly namespaces: readonly OciNamespace[];
  readonly resources: OciResources;
  readonly cgroupsPath: string;
  readonly maskedPaths: readonly string[];
  readonly readonlyPaths: readonly string[];
  readonly sysctl?: Readonly<Record<string, string>>;
  readonly seccomp?: OciSeccomp;
  readonly rootfsPropagation?: string;
}

/** The runtime-spec 1.0 `config.json` document. */
export interface OciSpec {
  readonly ociVersion: string;
  readonly process: OciProcess;
  readonly root: { readonly path: string; readonly readonly: boolean };
  readonly hostname?: string;
  readonly mounts: readonly OciMount[];
  readonly annotations?: Readonly<Record<string, string>>;
  readonly linux: OciLinux;
}

// ---------------------------------------------------------------------------------------------
// Input

/** Everything {@link buildOciSpec} needs; see the team's agreed API (issue #6). */
export interface OciSpecInput {
  readonly containerId: string;
  readonly sandbox: PodSandboxConfig;
  readonly config: ContainerConfig;
  /** `resolveProcessArgs(config)`. */
  readonly process: ResolvedProcess;
  /** `resolveImageUser(...)`'s user. */
  readonly user: ResolvedUser;
  /** Absolute path of the mounted rootfs. */
  readonly rootfsPath: string;
  /** cgroupfs path, e.g. `/berth/pod<uid>/<containerId>`. */
  readonly cgroupsPath: string;
  /** Namespaces to join by path; an absent one is created, except network with `hostNetwork` (host's). */
  readonly namespaces: {
    readonly network?: string;
    readonly pid?: string;
    readonly ipc?: string;
    readonly uts?: string;
  };
  readonly hostNetwork: boolean;
  /**
   * Every bind mount of the container, in order: /etc/hosts, resolv.conf, hostname, volumes. This list
   * is used as is — `config.mounts` is NOT read, the caller folds it in. A mount whose destination
   * equals a default mount's (e.g. the pod's shared `/dev/shm`) replaces the default.
   */
  readonly mounts: readonly Mount[];
  /**
   * The loaded `Localhost` seccomp profile (`loadSeccompProfile`). Required when the container's
   * `seccompProfile` names one: building without it would silently run unconfined, so it is an error.
   */
  readonly seccomp?: OciSeccomp;
  /**
   * What "all capabilities" means (privileged, `add: [ALL]`); default `hostCapabilities()`, the agent's
   * own bounding set. Tests pass a fixed list.
   */
  readonly availableCapabilities?: readonly string[];
}

type Check = { readonly ok: true } | { readonly ok: false; readonly message: string };

/** The runtime-spec version written; runc 1.1 accepts any 1.0.x. */
export const OCI_VERSION = '1.0.2';

const containerIdPattern = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const envKeyPattern = /^[^=\0]+$/;
const sysctlPattern = /^[a-z0-9_][a-z0-9_./-]*$/i;

/** `/a/../b/` → `/b`; `undefined` when `p` is not absolute. */
function cleanAbsolute(p: string): string | undefined {
  if (!p.startsWith('/')) return undefined;
  const n = path.posix.normalize(p);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

function isUnder(p: string, dir: string): boolean {
  return p === dir || p.startsWith(`${dir}/`);
}

/**
 * Host paths that are a process's own view of the host (`/proc/self/exe` is runc itself, see
 * CVE-2019-5736; `/proc/<pid>/root` is another process's root): never bind-mounted into a container.
 */
function isPerProcessProcPath(p: string): boolean {
  return /^\/proc\/(self|thread-self|\d+)(\/|$)/.test(p);
}

/**
 * Checks what {@link buildOciSpec} would refuse, as a value, so that a runtime can report it as
 * `InvalidConfig`. `message` says what is wrong in words a pod author understands.
 */
export function validateOciSpecInput(input: OciSpecInput): Check {
  const bad = (message: string): Check => ({ ok: false, message });
  if (!containerIdPattern.test(input.containerId))
    return bad(`invalid container id ${JSON.stringify(input.containerId)}`);
  if (!path.isAbsolute(input.rootfsPath)) return bad(`rootfs path ${input.rootfsPath} is not absolute`);
  if (!input.cgroupsPath.startsWith('/') || input.cgroupsPath.split('/').includes('..')) {
    return bad(`cgroups path ${input.cgroupsPath} must be absolute`);
  }
  if (input.process.argv.length === 0 || input.process.argv[0] === '') {
    return bad('no command specified: the pod gives no command and the image has no entrypoint or cmd');
  }
  const cwd = cleanAbsolute(input.process.workingDir);
  if (cwd === undefined)
    return bad(`working directory ${JSON.stringify(input.process.workingDir)} is not absolute`);
  // CVE-2024-21626: a cwd under /proc (e.g. /proc/self/fd/7) can land on a host directory.
  if (isUnder(cwd, '/proc')) return bad(`working directory ${cwd} is inside /proc`);
  for (const kv of input.process.env) {
    if (!envKeyPattern.test(kv.key))
      return bad(`invalid environment variable name ${JSON.stringify(kv.key)}`);
  }
  for (const kind of ['network', 'pid', 'ipc', 'uts'] as const) {
    const p = input.namespaces[kind];
    if (p !== undefined && !path.isAbsolute(p)) return bad(`${kind} namespace path ${p} is not absolute`);
  }
  for (const m of input.mounts) {
    const dest = cleanAbsolute(m.containerPath);
    if (dest === undefined) return bad(`mount path ${JSON.stringify(m.containerPath)} is not absolute`);
    if (dest === '/') return bad('cannot mount over the container root');
    if (isUnder(dest, '/proc')) return bad(`cannot mount over ${dest}: inside /proc`);
    const src = cleanAbsolute(m.hostPath);
    if (src === undefined) return bad(`host path ${JSON.stringify(m.hostPath)} is not absolute`);
    if (isPerProcessProcPath(src))
      return bad(`host path ${src} is a per-process /proc path and cannot be mounted`);
  }
  const unknown = unknownCapabilities(input.config.linux?.securityContext);
  if (unknown.length > 0) return bad(`unknown capabilities: ${unknown.join(', ')}`);
  for (const name of Object.keys(input.sandbox.linux?.sysctls ?? {})) {
    if (!sysctlPattern.test(name)) return bad(`invalid sysctl name ${JSON.stringify(name)}`);
    // The kubelet refuses these too: they would change the node's own network stack.
    if (input.hostNetwork && input.namespaces.network === undefined && /^net[./]/.test(name)) {
      return bad(`sysctl ${name} is not allowed with hostNetwork`);
    }
  }
  const sc = input.config.linux?.securityContext;
  const seccomp = parseSeccompProfile(sc?.seccompProfile, '/');
  if (seccomp.kind === 'invalid') return bad(seccomp.message);
  if (seccomp.kind === 'localhost' && sc?.privileged !== true && input.seccomp === undefined) {
    return bad(`seccomp profile ${sc?.seccompProfile ?? ''} was not loaded (call loadSeccompProfile first)`);
  }
  const r = input.config.linux?.resources;
  for (const [k, v] of Object.entries(r ?? {})) {
    if (typeof v === 'number' && (!Number.isSafeInteger(v) || (v < 0 && k !== 'oomScoreAdj'))) {
      return bad(`resource ${k} must be a non-negative integer, got ${v}`);
    }
  }
  return { ok: true };
}

const propagationOption = {
  private: 'rprivate',
  'host-to-container': 'rslave',
  bidirectional: 'rshared',
} as const;

function bindMount(m: Mount): OciMount {
  return {
    destination: cleanAbsolute(m.containerPath) ?? m.containerPath,
    type: 'bind',
    source: cleanAbsolute(m.hostPath) ?? m.hostPath,
    options: ['rbind', propagationOption[m.propagation ?? 'private'], m.readonly === true ? 'ro' : 'rw'],
  };
}

/** Env as `KEY=VALUE`, in order; PATH and HOSTNAME (containerd) defaulted, TERM with a tty, HOME from the user. */
function envOf(input: OciSpecInput): string[] {
  const keys = new Set(input.process.env.map((kv) => kv.key));
  const env: string[] = [];
  if (!keys.has('PATH')) env.push(`PATH=${DEFAULT_PATH}`);
  if (!keys.has('HOSTNAME') && input.sandbox.hostname !== '') env.push(`HOSTNAME=${input.sandbox.hostname}`);
  for (const kv of input.process.env) env.push(`${kv.key}=${kv.value}`);
  if (input.config.tty === true && !keys.has('TERM')) env.push('TERM=xterm');
  if (!keys.has('HOME') && input.user.home !== undefined && input.user.home !== '') {
    env.push(`HOME=${input.user.home}`);
  }
  return env;
}

function namespacesOf(input: OciSpecInput): OciNamespace[] {
  const ns = input.namespaces;
  const entry = (type: OciNamespace['type'], p: string | undefined): OciNamespace =>
    p === undefined ? { type } : { type, path: p };
  const out = [entry('pid', ns.pid), entry('ipc', ns.ipc), entry('uts', ns.uts), { type: 'mount' } as const];
  if (ns.network !== undefined) out.push(entry('network', ns.network));
  else if (!input.hostNetwork) out.push({ type: 'network' });
  return out;
}

function resourcesOf(input: OciSpecInput, privileged: boolean): OciResources {
  const r = input.config.linux?.resources ?? {};
  const cpu = {
    ...(r.cpuShares !== undefined ? { shares: r.cpuShares } : {}),
    ...(r.cpuQuota !== undefined && r.cpuQuota > 0 ? { quota: r.cpuQuota } : {}),
    ...(r.cpuPeriod !== undefined && r.cpuPeriod > 0 ? { period: r.cpuPeriod } : {}),
    ...(r.cpusetCpus !== undefined && r.cpusetCpus !== '' ? { cpus: r.cpusetCpus } : {}),
    ...(r.cpusetMems !== undefined && r.cpusetMems !== '' ? { mems: r.cpusetMems } : {}),
  };
  return {
    devices: defaultDeviceRules(privileged),
    ...(r.memoryLimitInBytes !== undefined && r.memoryLimitInBytes > 0
      ? { memory: { limit: r.memoryLimitInBytes } }
      : {}),
    ...(Object.keys(cpu).length > 0 ? { cpu } : {}),
    ...(r.pidsLimit !== undefined && r.pidsLimit > 0 ? { pids: { limit: r.pidsLimit } } : {}),
  };
}

/**
 * The runc `config.json` for one container. Pure. Throws `BERTH_ERR_CONTAINER_CONFIG_INVALID` when
 * {@link validateOciSpecInput} refuses the input; call that first to get the reason as a value.
 *
 * Privileged containers get every capability the agent holds, no masked or read-only paths, read-write `/sys` and
 * cgroupfs, the host's `/dev`, all devices and no seccomp filter. Otherwise: the default capability set
 * with the pod's add/drop, Docker's masked/read-only paths (or the security context's own lists), the
 * default device rules, and the Localhost seccomp profile if one was given.
 */
export function buildOciSpec(input: OciSpecInput): OciSpec {
  const check = validateOciSpecInput(input);
  if (!check.ok) {
    throw new BerthError(
      errorCodes.CONTAINER_CONFIG_INVALID,
      `container ${input.containerId}: ${check.message}`,
    );
  }
  const sc = input.config.linux?.securityContext;
  const privileged = sc?.privileged === true;
  const caps = effectiveCapabilities(sc, input.availableCapabilities);
  const resources = input.config.linux?.resources;
  const extra = input.mounts.map(bindMount);
  const overridden = new Set(extra.map((m) => m.destination));
  const mounts = [...defaultMounts(privileged).filter((m) => !overridden.has(m.destination)), ...extra];
  const propagation = input.mounts.some((m) => m.propagation === 'bidirectional')
    ? 'rshared'
    : input.mounts.some((m) => m.propagation === 'host-to-container')
      ? 'rslave'
      : undefined;
  const sysctls = input.sandbox.linux?.sysctls ?? {};

  return {
    ociVersion: OCI_VERSION,
    process: {
      terminal: input.config.tty === true,
      user: {
        uid: input.user.uid,
        gid: input.user.gid,
        ...(input.user.additionalGids.length > 0 ? { additionalGids: [...input.user.additionalGids] } : {}),
      },
      args: [...input.process.argv],
      env: envOf(input),
      cwd: cleanAbsolute(input.process.workingDir) ?? '/',
      capabilities: { bounding: caps, effective: caps, permitted: caps, inheritable: [], ambient: [] },
      rlimits: DEFAULT_RLIMITS.map((r) => ({ ...r })),
      noNewPrivileges: !privileged && sc?.noNewPrivs === true,
      ...(resources?.oomScoreAdj !== undefined ? { oomScoreAdj: resources.oomScoreAdj } : {}),
    },
    root: { path: input.rootfsPath, readonly: sc?.readonlyRootfs === true },
    hostname: input.sandbox.hostname,
    mounts,
    linux: {
      namespaces: namespacesOf(input),
      resources: resourcesOf(input, privileged),
      cgroupsPath: input.cgroupsPath,
      maskedPaths: privileged ? [] : [...(sc?.maskedPaths ?? DEFAULT_MASKED_PATHS)],
      readonlyPaths: privileged ? [] : [...(sc?.readonlyPaths ?? DEFAULT_READONLY_PATHS)],
      ...(Object.keys(sysctls).length > 0 ? { sysctl: { ...sysctls } } : {}),
      ...(!privileged && input.seccomp !== undefined ? { seccomp: input.seccomp } : {}),
      ...(propagation !== undefined ? { rootfsPropagation: propagation } : {}),
    },
  };
}
