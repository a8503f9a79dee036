/**
 * The runc command line, as the runc runtime uses it, over an injected `CommandRunner`: `state`,
 * `list`, `kill`, `delete`, `exec`, `--version`. Always the absolute runc path from the agent's
 * configuration (never a binary from an image), always with the runtime's own `--root` so that runc
 * state never mixes with other users of the machine.
 *
 * runc 1.1 answers "does not exist" with exit 1 and a message on stderr; those are mapped to values.
 */
import type { CommandResult, CommandRunner } from '../../../lib/command-runner.js';

export interface RuncState {
  readonly id: string;
  readonly pid: number;
  readonly status: 'creating' | 'created' | 'running' | 'paused' | 'stopped';
}

export class RuncCli {
  readonly path: string;
  readonly root: string;
  readonly #runner: CommandRunner;

  constructor(opts: { path: string; root: string; runner: CommandRunner }) {
    this.path = opts.path;
    this.root = opts.root;
    this.#runner = opts.runner;
  }

  /** Runs `runc --root <root> ...args`. */
  run(args: readonly string[], signal?: AbortSignal): Promise<CommandResult> {
    return this.#runner.run(
      this.path,
      ['--root', this.root, ...args],
      signal === undefined ? {} : { signal },
    );
  }

  /** `runc --version` first line, or undefined when runc cannot be run. */
  async version(): Promise<{ ok: true; version: string } | { ok: false; message: string }> {
    const r = await this.#runner.run(this.path, ['--version']);
    if (r.code !== 0)
      return { ok: false, message: `${this.path} --version: ${firstLine(r.stderr) || `exit ${r.code}`}` };
    const m = /runc version (\S+)/.exec(r.stdout);
    return { ok: true, version: m?.[1] ?? firstLine(r.stdout) };
  }

  /** The container's runc state, or undefined when runc does not know it. */
  async state(id: string): Promise<RuncState | undefined> {
    const r = await this.run(['state', id]);
    if (r.code !== 0) return undefined;
    try {
      return JSON.parse(r.stdout) as RuncState;
    } catch {
      return undefined;
    }
  }

  /** Every container under this root. */
  async list(): Promise<RuncState[]> {
    const r = await this.run(['list', '--format', 'json']);
    if (r.code !== 0) return [];
    const parsed = JSON.parse(r.stdout.trim() === '' ? 'null' : r.stdout) as RuncState[] | null;
    return parsed ?? [];
  }

  /** Sends `signal` to the container's init. False when it is not running (or not there). */
  async kill(id: string, signal: string): Promise<boolean> {
    const r = await this.run(['kill', id, signal.replace(/^SIG/, '')]);
    return r.code === 0;
  }

  /** `runc delete [-f]`; missing containers are fine. Returns runc's complaint otherwise. */
  async delete(id: string, force: boolean): Promise<string | undefined> {
    const r = await this.run(force ? ['delete', '-f', id] : ['delete', id]);
    if (r.code === 0 || /does not exist|not exist|container not found/i.test(r.stderr)) return undefined;
    return firstLine(r.stderr) || `exit ${r.code}`;
  }
}

export function firstLine(s: string): string {
  return s.trim().split('\n')[0] ?? '';
}

/** The `msg` of runc's last JSON log line (`--log-format json`), for start errors. */
export function lastRuncLogMessage(log: string): string | undefined {
  const lines = log
    .trim()
    .split('\n')
    .filter((l) => l !== '');
  for (let i = lines.length - 1; i >= 0; i--) {
    try {
      const rec = JSON.parse(lines[i] ?? '') as { level?: string; msg?: string };
      if (rec.msg !== undefined && (rec.level === 'error' || rec.level === 'fatal')) return rec.msg;
    } catch {
      // a plain-text line: use it as it is
      return lines[i];
    }
  }
  return undefined;
}
