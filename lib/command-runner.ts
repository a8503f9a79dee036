/**
 * Running helper programs (`runc`, `ip`, `nft`, `docker-credential-*`, `tar`, `setfattr`) for the agent,
 * behind an interface so that tests can script them. Programs are always run with an argument vector,
 * never through a shell string built from data, and never from a path inside an image.
 */
import { execFile } from 'node:child_process';

export interface CommandResult {
  /** Exit code; null when killed by a signal. */
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CommandRunner {
  /** Runs `file` with `args`; resolves with the exit status (a non-zero exit is a value, not a throw). */
  run(
    file: string,
    args: readonly string[],
    opts?: { readonly input?: string | Uint8Array; readonly signal?: AbortSignal },
  ): Promise<CommandResult>;
}

/** The real runner: `execFile`, 64 MiB output cap. A program that cannot be started resolves with code 127. */
export const execCommandRunner: CommandRunner = {
  run: (file, args, opts) =>
    new Promise((resolve) => {
      const child = execFile(
        file,
        [...args],
        {
          maxBuffer: 64 * 1024 * 1024,
          encoding: 'utf8',
          ...(opts?.signal === undefined ? {} : { signal: opts.signal }),
        },
        (err, stdout, stderr) => {
          if (err === null) {
            resolve({ code: 0, stdout, stderr });
            return;
          }
          const code = (err as NodeJS.ErrnoException & { code?: unknown }).code;
          if (typeof code === 'number') resolve({ code, stdout, stderr });
          else if (code === 'ENOENT' || code === 'EACCES')
            resolve({ code: 127, stdout, stderr: err.message });
          else resolve({ code: null, stdout, stderr: stderr === '' ? err.message : stderr });
        },
      );
      if (opts?.input !== undefined) child.stdin?.end(opts.input);
      else child.stdin?.end();
    }),
};
