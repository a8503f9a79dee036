/**
 * Resource arithmetic for scheduling: parsing quantities once (memoised, since thousands of pods share
 * the same few request strings), a pod's effective requests (the init-container max rule, sidecars,
 * overhead) and the "non-zero" requests that scoring uses so that request-less pods still spread.
 * CPU is counted in millicores, memory and every other resource in whole units (bytes).
 */
import { parseQuantity } from '../../api/validation/quantity.js';
import type { ContainerLike, PodSpecLike, ResourceListLike } from './types.js';

/** Requests or allocatable amounts. `scalar` holds every resource other than cpu, memory and pods. */
export interface Resources {
  milliCpu: number;
  memory: number;
  /** ephemeral-storage, hugepages-*, extended resources; `undefined` when there are none (the usual case). */
  scalar: Map<string, number> | undefined;
}

/** What the scoring strategies count for a pod that requests nothing (kube's DefaultMilliCPURequest/DefaultMemoryRequest). */
export const defaultMilliCpuRequest = 100;
export const defaultMemoryRequest = 200 * 1024 * 1024;

const memo = new Map<string, number>();
const memoLimit = 4096;

/** Millicores (`cpu`) or whole units (anything else) of one quantity; an unparsable quantity counts 0. */
export function quantityAmount(resource: string, q: string | number): number {
  const memoKey = resource === 'cpu' ? `m${String(q)}` : `v${String(q)}`;
  const hit = memo.get(memoKey);
  if (hit !== undefined) return hit;
  const r = parseQuantity(q);
  const v = r.ok ? (resource === 'cpu' ? r.quantity.milliValue : r.quantity.value) : 0;
  // A bounded memo: request strings repeat across pods, but a hostile spread of values must not grow it forever.
  if (memo.size >= memoLimit) memo.clear();
  memo.set(memoKey, v);
  return v;
}

/** Zero requests. */
export function emptyResources(): Resources {
  return { milliCpu: 0, memory: 0, scalar: undefined };
}

/** Parses a resource list (node allocatable, a container's requests); `pods` is left out. */
export function parseResourceList(list: ResourceListLike | undefined): Resources {
  const r = emptyResources();
  if (list === undefined) return r;
  for (const [name, q] of Object.entries(list)) {
    if (name === 'pods') continue;
    const v = quantityAmount(name, q);
    if (name === 'cpu') r.milliCpu = v;
    else if (name === 'memory') r.memory = v;
    else (r.scalar ??= new Map()).set(name, v);
  }
  return r;
}

function addInto(acc: Resources, r: Resources): void {
  acc.milliCpu += r.milliCpu;
  acc.memory += r.memory;
  if (r.scalar !== undefined) {
    acc.scalar ??= new Map();
    for (const [k, v] of r.scalar) acc.scalar.set(k, (acc.scalar.get(k) ?? 0) + v);
  }
}

function maxInto(acc: Resources, r: Resources): void {
  acc.milliCpu = Math.max(acc.milliCpu, r.milliCpu);
  acc.memory = Math.max(acc.memory, r.memory);
  if (r.scalar !== undefined) {
    acc.scalar ??= new Map();
    for (const [k, v] of r.scalar) acc.scalar.set(k, Math.max(acc.scalar.get(k) ?? 0, v));
  }
}

function cloneResources(r: Resources): Resources {
  return {
    milliCpu: r.milliCpu,
    memory: r.memory,
    scalar: r.scalar === undefined ? undefined : new Map(r.scalar),
  };
}

function containerRequests(c: ContainerLike): Resources {
  return parseResourceList(c.resources?.requests);
}

/** Requests with kube's defaults filled in where a container sets no cpu or memory request (for scoring). */
function containerNonZero(c: ContainerLike): { milliCpu: number; memory: number } {
  const req = c.resources?.requests;
  const cpu = req?.['cpu'];
  const mem = req?.['memory'];
  return {
    milliCpu: cpu === undefined ? defaultMilliCpuRequest : quantityAmount('cpu', cpu),
    memory: mem === undefined ? defaultMemoryRequest : quantityAmount('memory', mem),
  };
}

/** A pod's effective requests: what it holds on a node while it runs. */
export interface PodRequests {
  readonly requests: Resources;
  /** Requests with per-container defaults for unset cpu/memory; used by scoring only. */
  readonly nonZero: { readonly milliCpu: number; readonly memory: number };
}

/**
 * kube's resource.PodRequests: the sum over containers, raised to the largest init container (an init
 * container runs alone, before the others, but alongside the sidecars started before it), plus the
 * sidecars (restartable init containers, which keep running), plus `spec.overhead`.
 */
export function computePodRequests(spec: PodSpecLike | undefined): PodRequests {
  const reqs = emptyResources();
  const nonZero = { milliCpu: 0, memory: 0 };
  if (spec === undefined) return { requests: reqs, nonZero };
  for (const c of spec.containers) {
    addInto(reqs, containerRequests(c));
    const nz = containerNonZero(c);
    nonZero.milliCpu += nz.milliCpu;
    nonZero.memory += nz.memory;
  }
  const inits = spec.initContainers;
  if (inits !== undefined && inits.length > 0) {
    const sidecars = emptyResources();
    const sidecarsNz = { milliCpu: 0, memory: 0 };
    const initMax = emptyResources();
    const initMaxNz = { milliCpu: 0, memory: 0 };
    for (const c of inits) {
      const r = containerRequests(c);
      const nz = containerNonZero(c);
      if (c.restartPolicy === 'Always') {
        addInto(sidecars, r);
        sidecarsNz.milliCpu += nz.milliCpu;
        sidecarsNz.memory += nz.memory;
        maxInto(initMax, sidecars);
        initMaxNz.milliCpu = Math.max(initMaxNz.milliCpu, sidecarsNz.milliCpu);
        initMaxNz.memory = Math.max(initMaxNz.memory, sidecarsNz.memory);
      } else {
        const during = cloneResources(sidecars);
        addInto(during, r);
        maxInto(initMax, during);
        initMaxNz.milliCpu = Math.max(initMaxNz.milliCpu, sidecarsNz.milliCpu + nz.milliCpu);
        initMaxNz.memory = Math.max(initMaxNz.memory, sidecarsNz.memory + nz.memory);
      }
    }
    addInto(reqs, sidecars);
    maxInto(reqs, initMax);
    nonZero.milliCpu = Math.max(nonZero.milliCpu + sidecarsNz.milliCpu, initMaxNz.milliCpu);
    nonZero.memory = Math.max(nonZero.memory + sidecarsNz.memory, initMaxNz.memory);
  }
  if (spec.overhead !== undefined) {
    const o = parseResourceList(spec.overhead);
    addInto(reqs, o);
    nonZero.milliCpu += o.milliCpu;
    nonZero.memory += o.memory;
  }
  return { requests: reqs, nonZero };
}

/** Adds (sign 1) or removes (sign -1) `r` from `acc` in place. */
export function applyResources(acc: Resources, r: Resources, sign: 1 | -1): void {
  acc.milliCpu += sign * r.milliCpu;
  acc.memory += sign * r.memory;
  if (r.scalar !== undefined) {
    acc.scalar ??= new Map();
    for (const [k, v] of r.scalar) acc.scalar.set(k, (acc.scalar.get(k) ?? 0) + sign * v);
  }
}
