/**
 * The only place the runc runtime starts long-lived processes: the per-container shim (detached, so it
 * outlives the agent) and interactive `runc exec` sessions (piped). Behind an interface so that the
 * runtime's logic can be tested with a scripted launcher; short runc calls go through the
 * `CommandRunner` instead.
 *
 * The shim is a fixed `/bin/sh` script ({@link shimScript}); everything variable (runc path, state
 * root, bundle, container id, container dir) is passed as positional parameters, never spliced into
 * the script text. What it does, in order:
 *
 *     open out.fifo and err.fifo read-WRITE (fd 3, 4)   — never blocks, and the container never gets
 *                                                        EPIPE/SIGPIPE while the agent is down
 *     runc run --keep … <id>  (foreground, stdio 3/4)    — writes `pid` once the process is started;
 *                                                        --keep leaves the stopped container and its
 *                                                        cgroup, so the agent can read the OOM counter
 *     echo $? > exit.tmp && mv exit.tmp exit             — the exit code, durable and atomic
 *
 * runc's own errors go to `runc.log` (JSON lines), not to the container's log.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { SpawnHelper } from '../../../lib/spawn-helper.js';

/**
 * `$1` runc, `$2` runc root, `$3` bundle, `$4` container id, `$5` container dir (holds the FIFOs, the
 * pid file, runc.log and the exit file).
 */
export const shimScript = [
  'exec 3<>"$5/out.fifo" 4<>"$5/err.fifo" || exit 1',
  '"$1" --root "$2" --log "$5/runc.log" --log-format json run --keep --bundle "$3" --pid-file "$5/pid" "$4" </dev/null >&3 2>&4',
  'code=$?',
  'echo "$code" > "$5/exit.tmp" && mv -f "$5/exit.tmp" "$5/exit"',
].join('\n');

/**
 * Runs `argv` (passed as environment variables `BERTH_ARGC`, `BERTH_ARG_<i>`) from a constant shell
 * string: util-linux `script` only takes a command string, and this keeps user data out of it.
 */
export const argvFromEnvScript =
  'i=0; set --; while [ "$i" -lt "$BERTH_ARGC" ]; do eval "set -- \\"\\$@\\" \\"\\$BERTH_ARG_$i\\""; i=$((i+1)); done; exec "$@"';

export interface ShimSpec {
  readonly runcPath: string;
  readonly runcRoot: string;
  readonly bundle: string;
  readonly containerId: string;
  readonly containerDir: string;
}

export interface PipedSpec {
  readonly file: string;
  readonly args: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  /** Give the process a stdin pipe (otherwise /dev/null). */
  readonly stdin: boolean;
}

export interface ProcessLauncher {
  /** Starts the shim of one container, detached from the agent (own session, no stdio), and forgets it. */
  launchShim(spec: ShimSpec): void;
  /** Starts a process with stdout/stderr (and optionally stdin) pipes. */
  launchPiped(spec: PipedSpec): ChildProcess;
}

function shimArgs(s: ShimSpec): string[] {
  return ['-c', shimScript, 'berth-shim', s.runcPath, s.runcRoot, s.bundle, s.containerId, s.containerDir];
}

/** The real launcher: `child_process.spawn`. */
export const spawnProcessLauncher: ProcessLauncher = {
  launchShim: (s) => {
    const child = spawn('/bin/sh', shimArgs(s), { detached: true, stdio: 'ignore', cwd: '/' });
    // A spawn failure (no /bin/sh) shows up as an exit file that never appears; the start times out.
    child.on('error', () => undefined);
    child.unref();
  },
  launchPiped: (s) =>
    spawn(s.file, [...s.args], {
      stdio: [s.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      cwd: '/',
      ...(s.env === undefined ? {} : { env: { ...process.env, ...s.env } }),
    }),
};

/**
 * The launcher of a real node whose programs go through the spawn helper (lib/spawn-helper.ts): the
 * shim is started by the helper, detached in its own session as above, so it outlives both the helper
 * and the agent. The caller opens the FIFOs before calling `launchShim`, and the request leaves this
 * process only after that, so the ordering guarantee holds. Piped `runc exec` sessions need pipes to
 * this process and stay on `child_process.spawn`.
 */
export function helperProcessLauncher(helper: SpawnHelper): ProcessLauncher {
  return {
    launchShim: (s) => {
      // As with spawn: a failure shows up as an exit file that never appears; the start times out.
      helper.launchDetached({ file: '/bin/sh', args: shimArgs(s), cwd: '/' }).catch(() => undefined);
    },
    launchPiped: (s) => spawnProcessLauncher.launchPiped(s),
  };
}
