/**
 * How a FAKE container behaves, scripted by annotations (Nomad's `drivers/mock` is the model: a test
 * or a hollow cluster needs only manifests to reproduce crash loops, slow starts and slow pulls).
 *
 * Put them on the pod (they reach the runtime as sandbox annotations) or on a container config:
 *
 * | annotation                               | effect                                                   |
 * |------------------------------------------|----------------------------------------------------------|
 * | `berth.dev/fake-start-delay-ms`          | `startContainer` takes this long (container stays CREATED) |
 * | `berth.dev/fake-run-for-ms`              | the container exits by itself this long after starting    |
 * | `berth.dev/fake-exit-code`               | exit code when it exits by itself (default 0); set alone, it exits at once |
 * | `berth.dev/fake-oom-after-ms`            | OOM-killed this long after starting: exit 137, reason `OOMKilled` |
 * | `berth.dev/fake-create-error`            | `createContainer` fails with this message                |
 * | `berth.dev/fake-start-error`             | `startContainer` fails with this message (EXITED 128, `StartError`) |
 * | `berth.dev/fake-stop-delay-ms`           | time to exit after SIGTERM (default 0); longer than the stop timeout ⇒ SIGKILL, 137 |
 * | `berth.dev/fake-ignore-sigterm`          | `"true"`: SIGTERM does nothing; only the timeout's SIGKILL stops it |
 * | `berth.dev/fake-sigterm-exit-code`       | exit code after a graceful SIGTERM (default 143)          |
 * | `berth.dev/fake-exec-exit-code`          | exit code of exec commands the fake shell does not know (default 0) |
 * | `berth.dev/fake-cpu-millicores`          | CPU use reported by stats (default 1)                     |
 * | `berth.dev/fake-memory-bytes`            | working set reported by stats (default 4 MiB)             |
 * | `berth.dev/fake-pull-delay-ms`           | read by `FakeImageService`: a pull takes this long        |
 * | `berth.dev/fake-log`                     | text the container writes to stdout when it starts (its log file, CRI format) |
 * | `berth.dev/fake-log-every-ms`            | while running, writes a line `<fake-log-line> <n>` this often |
 * | `berth.dev/fake-log-line`                | the periodic line's text (default `tick`)                 |
 *
 * Lookup for a container named `app`: the container config's annotation `KEY`, then the pod's
 * `KEY.app` (per-container), then the pod's `KEY`. Pod-wide keys (`KEY` without a suffix) do not
 * apply to init containers (label `berth.dev/container-type=init`), so `fake-exit-code: "1"` crashes
 * the app containers while init containers still succeed; by default an init container exits 0 as
 * soon as it starts, and an app container runs until stopped.
 */
import { runtimeLabels } from '../labels.js';

/** The annotation keys understood by the fake runtime and fake image service. */
export const fakeAnnotations = {
  startDelayMs: 'berth.dev/fake-start-delay-ms',
  runForMs: 'berth.dev/fake-run-for-ms',
  exitCode: 'berth.dev/fake-exit-code',
  oomAfterMs: 'berth.dev/fake-oom-after-ms',
  createError: 'berth.dev/fake-create-error',
  startError: 'berth.dev/fake-start-error',
  stopDelayMs: 'berth.dev/fake-stop-delay-ms',
  ignoreSigterm: 'berth.dev/fake-ignore-sigterm',
  sigtermExitCode: 'berth.dev/fake-sigterm-exit-code',
  execExitCode: 'berth.dev/fake-exec-exit-code',
  cpuMillicores: 'berth.dev/fake-cpu-millicores',
  memoryBytes: 'berth.dev/fake-memory-bytes',
  pullDelayMs: 'berth.dev/fake-pull-delay-ms',
  log: 'berth.dev/fake-log',
  logEveryMs: 'berth.dev/fake-log-every-ms',
  logLine: 'berth.dev/fake-log-line',
} as const;

/** A container's scripted behaviour, resolved once at create time. */
export interface FakeScript {
  readonly startDelayMs: number;
  /** Exit by itself this long after start; undefined: run until stopped. */
  readonly exitAfterMs?: number;
  readonly exitCode: number;
  readonly oom: boolean;
  readonly createError?: string;
  readonly startError?: string;
  /** Infinity when SIGTERM is ignored. */
  readonly stopDelayMs: number;
  readonly sigtermExitCode: number;
  readonly execExitCode: number;
  readonly cpuMillicores: number;
  readonly memoryBytes: number;
  /** Written to stdout at start. */
  readonly logText?: string;
  /** Period of the `logLine` writer; undefined: none. */
  readonly logEveryMs?: number;
  readonly logLine: string;
}

type Annotations = Readonly<Record<string, string>>;

/** Resolves the script of one container from its own and its pod's annotations. */
export function resolveFakeScript(
  containerName: string,
  containerLabels: Annotations,
  containerAnnotations: Annotations,
  podAnnotations: Annotations,
): FakeScript {
  const isInit = containerLabels[runtimeLabels.containerType] === 'init';
  const get = (key: string): string | undefined =>
    containerAnnotations[key] ??
    podAnnotations[`${key}.${containerName}`] ??
    (isInit ? undefined : podAnnotations[key]);
  const num = (key: string): number | undefined => {
    const v = get(key);
    if (v === undefined) return undefined;
    const n = Number(v);
    return Number.isFinite(n) && n >= 0 ? n : undefined;
  };

  const exitCodeSet = num(fakeAnnotations.exitCode);
  const runFor = num(fakeAnnotations.runForMs);
  const oomAfter = num(fakeAnnotations.oomAfterMs);
  let exitAfterMs: number | undefined = runFor ?? (exitCodeSet !== undefined ? 0 : isInit ? 0 : undefined);
  let oom = false;
  if (oomAfter !== undefined && (exitAfterMs === undefined || oomAfter <= exitAfterMs)) {
    exitAfterMs = oomAfter;
    oom = true;
  }
  const ignore = get(fakeAnnotations.ignoreSigterm) === 'true';
  const createError = get(fakeAnnotations.createError);
  const startError = get(fakeAnnotations.startError);
  const script: FakeScript = {
    startDelayMs: num(fakeAnnotations.startDelayMs) ?? 0,
    exitCode: oom ? 137 : (exitCodeSet ?? 0),
    oom,
    stopDelayMs: ignore ? Infinity : (num(fakeAnnotations.stopDelayMs) ?? 0),
    sigtermExitCode: num(fakeAnnotations.sigtermExitCode) ?? 143,
    execExitCode: num(fakeAnnotations.execExitCode) ?? 0,
    cpuMillicores: num(fakeAnnotations.cpuMillicores) ?? 1,
    memoryBytes: num(fakeAnnotations.memoryBytes) ?? 4 * 1024 * 1024,
    logLine: get(fakeAnnotations.logLine) ?? 'tick',
  };
  const logText = get(fakeAnnotations.log);
  const logEveryMs = num(fakeAnnotations.logEveryMs);
  return {
    ...script,
    ...(exitAfterMs !== undefined ? { exitAfterMs } : {}),
    ...(createError !== undefined ? { createError } : {}),
    ...(startError !== undefined ? { startError } : {}),
    ...(logText !== undefined ? { logText } : {}),
    ...(logEveryMs !== undefined ? { logEveryMs } : {}),
  };
}
