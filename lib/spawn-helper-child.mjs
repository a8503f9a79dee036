/**
 * The spawn helper's child (see lib/spawn-helper.ts): a small, long-lived plain-Node process that
 * starts programs on behalf of a big one. `fork()`ing from a process with hundreds of MB mapped
 * blocks its event loop for 15–30 ms per spawn; from this one it costs ~2 ms and blocks nobody.
 * Plain JavaScript so that it runs under bare `node` both from the source tree (tsx) and next to
 * dist; it imports nothing of Berth's.
 *
 * Messages in (IPC, `serialization: 'advanced'`):
 *
 *     { op: 'run', id, file, args, input?, cwd?, env? }        → { id, code, stdout, stderr }
 *                                                                 or { id, error } when it cannot be tried
 *     { op: 'launch', id, file, args, cwd?, env?, stdout?, stderr? }
 *                                                              → { id, pid } | { id, error }
 *         detached (own session), stdin /dev/null, stdout/stderr appended to the given files or
 *         discarded; the launched process is not waited for by the parent and outlives this helper.
 *     { op: 'kill', id }                                       kills a 'run' child (its reply has code null)
 *
 * The parent going away (IPC disconnect) ends this process at once; 'run' children still running
 * are left to finish on their own, launched ones are in their own sessions anyway.
 */
import { execFile, spawn } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';

const maxBuffer = 64 * 1024 * 1024;
/** id → that 'run' child. */
const running = new Map();

process.on('disconnect', () => {
  process.exit(0);
});

process.on('message', (m) => {
  try {
    if (m.op === 'run') run(m);
    else if (m.op === 'launch') launch(m);
    // SIGTERM, as execFile's abort does; the reply then says code null.
    else if (m.op === 'kill') running.get(m.id)?.kill('SIGTERM');
  } catch (err) {
    running.delete(m.id);
    reply({ id: m.id, error: err instanceof Error ? err.message : String(err) });
  }
});

function reply(msg) {
  // The parent may be gone: then 'disconnect' is on its way and the reply does not matter.
  if (process.connected) process.send(msg, undefined, {}, () => undefined);
}

/** The same mapping as `execCommandRunner` (lib/command-runner.ts), so both runners agree. */
function run(m) {
  const child = execFile(
    m.file,
    m.args,
    {
      maxBuffer,
      encoding: 'utf8',
      ...(m.cwd === undefined ? {} : { cwd: m.cwd }),
      ...(m.env === undefined ? {} : { env: m.env }),
    },
    (err, stdout, stderr) => {
      running.delete(m.id);
      if (err === null) {
        reply({ id: m.id, code: 0, stdout, stderr });
        return;
      }
      const code = err.code;
      if (typeof code === 'number') reply({ id: m.id, code, stdout, stderr });
      else if (code === 'ENOENT' || code === 'EACCES')
        reply({ id: m.id, code: 127, stdout, stderr: err.message });
      else reply({ id: m.id, code: null, stdout, stderr: stderr === '' ? err.message : stderr });
    },
  );
  running.set(m.id, child);
  // A program that exits without reading its input must not take this process down with EPIPE.
  child.stdin?.on('error', () => undefined);
  if (m.input !== undefined) child.stdin?.end(m.input);
  else child.stdin?.end();
}

function launch(m) {
  const fds = [];
  const sink = (path) => {
    if (path === undefined) return 'ignore';
    const fd = openSync(
      path,
      constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW,
      0o600,
    );
    fds.push(fd);
    return fd;
  };
  try {
    const child = spawn(m.file, m.args, {
      detached: true,
      stdio: ['ignore', sink(m.stdout), sink(m.stderr)],
      cwd: m.cwd ?? '/',
      ...(m.env === undefined ? {} : { env: m.env }),
    });
    child.once('error', (err) => {
      reply({ id: m.id, error: err.message });
    });
    child.once('spawn', () => {
      reply({ id: m.id, pid: child.pid });
    });
    child.unref();
  } finally {
    for (const fd of fds) closeSync(fd);
  }
}
