/**
 * The spawn helper: a `CommandRunner` (and a launcher of detached processes) that starts programs from
 * a small long-lived child process (lib/spawn-helper-child.mjs) instead of from this one. Every
 * `child_process.spawn()` forks the calling process; in the ~300 MB server-with-agent that blocks the
 * event loop 15–30 ms per program (2–3 ms at 50 MB), and the agent runs about nine per pod. Through
 * the helper each costs this process one IPC message out and one in.
 *
 * Lifecycle of the child:
 *
 *     (none) ──first call──▶ up ──exits or fails (crash, killed)──▶ (none)   calls in flight resolve
 *                             │                                               with code null; the next
 *                             └──close()──▶ closed (calls reject)             call forks a new one
 *
 * The child dies with this process (IPC disconnect → exit). Processes it launched detached (the runc
 * shims) are in their own sessions and keep running. The child's environment is this process's
 * without NODE_OPTIONS (so it runs under bare node), and the programs it runs inherit that; changes
 * to `process.env` after the first call are not seen.
 *
 * The child (handle and IPC channel) is referenced only while calls are in flight, so an idle helper
 * never keeps this process alive — as no `execFile` child would.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { CommandResult, CommandRunner } from './command-runner.js';
import { BerthError, errorCodes } from './errors.js';

/** A process to start detached (own session, stdin /dev/null), not waited for. */
export interface DetachedSpec {
  readonly file: string;
  readonly args: readonly string[];
  /** Default `/`. */
  readonly cwd?: string;
  /** The whole environment; default the helper's. */
  readonly env?: Readonly<Record<string, string>>;
  /** Files the process's stdout / stderr are appended to (created 0600); default discarded. */
  readonly stdoutPath?: string;
  readonly stderrPath?: string;
}

export interface SpawnHelperOptions {
  /** The child script; default lib/spawn-helper-child.mjs (see {@link spawnHelperChildPath}). */
  readonly childPath?: string;
  /** V8 old-space cap of the child, in MB (default 64): it only holds one program's output at a time. */
  readonly maxOldSpaceMb?: number;
}

type Reply =
  | { readonly id: number; readonly code: number | null; readonly stdout: string; readonly stderr: string }
  | { readonly id: number; readonly pid: number }
  | { readonly id: number; readonly error: string };

interface Pending {
  settle(reply: Reply): void;
  /** The child went away before answering. */
  lost(why: string): void;
}

/**
 * Where the child script is: beside this module when run from source, else in the package's `lib/`
 * next to `dist/` (the build does not copy `.mjs` files). Undefined when neither exists.
 */
export function spawnHelperChildPath(): string | undefined {
  for (const rel of ['./spawn-helper-child.mjs', '../../lib/spawn-helper-child.mjs']) {
    const path = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(path)) return path;
  }
  return undefined;
}

/** See the module header. `run` behaves as `execCommandRunner`'s (same exit-code mapping, 64 MiB cap). */
export class SpawnHelper implements CommandRunner {
  readonly #childPath: string;
  readonly #execArgv: readonly string[];
  readonly #pending = new Map<number, Pending>();
  #child: ChildProcess | undefined;
  #nextId = 1;
  #closed = false;
  #forks = 0;

  constructor(opts: SpawnHelperOptions = {}) {
    const path = opts.childPath ?? spawnHelperChildPath();
    if (path === undefined) {
      throw new BerthError(errorCodes.PROCESS_FAILED, 'spawn helper: lib/spawn-helper-child.mjs not found');
    }
    this.#childPath = path;
    this.#execArgv = [`--max-old-space-size=${opts.maxOldSpaceMb ?? 64}`, '--max-semi-space-size=1'];
  }

  /** How many times the child was started (1 after the first call; more after it died). */
  get forks(): number {
    return this.#forks;
  }

  /** The current child's pid, if one is up (for tests and diagnostics). */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /**
   * Runs `file` with `args` in the helper. A non-zero exit is a value; a program that cannot be
   * started resolves with 127; an abort kills it and resolves with code null (as `execFile` does); the
   * helper dying meanwhile resolves with code null. Rejects only after `close()` or for arguments the
   * helper refuses outright (e.g. a NUL byte).
   */
  run(
    file: string,
    args: readonly string[],
    opts?: { readonly input?: string | Uint8Array; readonly signal?: AbortSignal },
  ): Promise<CommandResult> {
    const signal = opts?.signal;
    if (signal?.aborted === true) {
      return Promise.resolve({ code: null, stdout: '', stderr: 'The operation was aborted' });
    }
    return new Promise<CommandResult>((resolve, reject) => {
      const id = this.#nextId++;
      const onAbort = (): void => {
        this.#child?.send({ op: 'kill', id }, undefined, {}, () => undefined);
      };
      const done = (): void => {
        signal?.removeEventListener('abort', onAbort);
      };
      const accepted = this.#call(
        { op: 'run', id, file, args: [...args], ...(opts?.input === undefined ? {} : { input: opts.input }) },
        {
          settle: (r) => {
            done();
            if ('error' in r) reject(new BerthError(errorCodes.PROCESS_FAILED, `spawn helper: ${r.error}`));
            else if ('code' in r) resolve({ code: r.code, stdout: r.stdout, stderr: r.stderr });
            else reject(new BerthError(errorCodes.PROCESS_FAILED, 'spawn helper: unexpected reply'));
          },
          lost: (why) => {
            done();
            resolve({ code: null, stdout: '', stderr: why });
          },
        },
        reject,
      );
      if (accepted) signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Starts a process detached (its own session) from the helper and resolves with its pid once it
   * runs; it is never waited for and outlives the helper and this process. Rejects when it cannot be
   * started, or when the helper went away before saying.
   */
  launchDetached(spec: DetachedSpec): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const id = this.#nextId++;
      this.#call(
        {
          op: 'launch',
          id,
          file: spec.file,
          args: [...spec.args],
          cwd: spec.cwd ?? '/',
          ...(spec.env === undefined ? {} : { env: { ...spec.env } }),
          ...(spec.stdoutPath === undefined ? {} : { stdout: spec.stdoutPath }),
          ...(spec.stderrPath === undefined ? {} : { stderr: spec.stderrPath }),
        },
        {
          settle: (r) => {
            if ('pid' in r) resolve(r.pid);
            else
              reject(
                new BerthError(
                  errorCodes.PROCESS_FAILED,
                  `spawn helper: launch ${spec.file}: ${'error' in r ? r.error : 'unexpected reply'}`,
                ),
              );
          },
          lost: (why) => {
            reject(new BerthError(errorCodes.PROCESS_FAILED, `spawn helper: launch ${spec.file}: ${why}`));
          },
        },
        reject,
      );
    });
  }

  /** Stops the child (programs it is running carry on) and refuses further calls. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    const child = this.#child;
    if (child === undefined) return;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => {
      child.once('exit', () => {
        resolve();
      });
    });
    // Held until it is gone, so that a caller awaiting close() is not left behind by an empty loop.
    child.ref();
    if (child.connected) child.disconnect();
    else child.kill('SIGKILL');
    await exited;
  }

  /** Sends `msg`; false (and `reject` called) when it could not be. */
  #call(
    msg: Record<string, unknown> & { id: number },
    pending: Pending,
    reject: (e: unknown) => void,
  ): boolean {
    if (this.#closed) {
      reject(new BerthError(errorCodes.PROCESS_FAILED, 'spawn helper is closed'));
      return false;
    }
    let child: ChildProcess;
    try {
      child = this.#ensureChild();
    } catch (err) {
      reject(new BerthError(errorCodes.PROCESS_FAILED, 'spawn helper: cannot start', { cause: err }));
      return false;
    }
    this.#pending.set(msg.id, pending);
    // Both: the answer comes over the channel, the news of the child's death through its handle.
    child.ref();
    child.channel?.ref();
    try {
      child.send(msg, undefined, {}, (err) => {
        // Not delivered: the child is gone (its 'exit' settles the rest) or the message cannot be sent.
        if (err !== null) this.#lose(msg.id, `spawn helper: ${err.message}`);
      });
    } catch (err) {
      // Not serialisable.
      this.#pending.delete(msg.id);
      this.#unrefWhenIdle(child);
      reject(
        new BerthError(errorCodes.PROCESS_FAILED, 'spawn helper: cannot send the request', { cause: err }),
      );
      return false;
    }
    return true;
  }

  #ensureChild(): ChildProcess {
    if (this.#child !== undefined) return this.#child;
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env['NODE_OPTIONS'];
    const child = fork(this.#childPath, [], {
      execArgv: [...this.#execArgv],
      env,
      serialization: 'advanced',
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    this.#forks++;
    this.#child = child;
    child.unref();
    child.on('message', (m: Reply) => {
      const p = this.#pending.get(m.id);
      if (p === undefined) return;
      this.#pending.delete(m.id);
      this.#unrefWhenIdle(child);
      p.settle(m);
    });
    const gone = (why: string): void => {
      if (this.#child !== child) return;
      this.#child = undefined;
      for (const id of [...this.#pending.keys()]) this.#lose(id, why);
    };
    child.once('error', (err) => {
      gone(`spawn helper failed: ${err.message}`);
      // Not to be used again, and not to linger if it is still there.
      child.kill('SIGKILL');
    });
    child.once('exit', (code, sig) => {
      gone(`spawn helper exited (${sig ?? `code ${String(code)}`})`);
    });
    return child;
  }

  #lose(id: number, why: string): void {
    const p = this.#pending.get(id);
    if (p === undefined) return;
    this.#pending.delete(id);
    if (this.#child !== undefined) this.#unrefWhenIdle(this.#child);
    p.lost(why);
  }

  #unrefWhenIdle(child: ChildProcess): void {
    if (this.#pending.size > 0) return;
    child.channel?.unref();
    child.unref();
  }
}

/** A {@link SpawnHelper}; its child is forked on the first call. Throws when the child script is missing. */
export function spawnHelperCommandRunner(opts?: SpawnHelperOptions): SpawnHelper {
  return new SpawnHelper(opts);
}
