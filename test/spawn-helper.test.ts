/**
 * The spawn helper (lib/spawn-helper.ts) with its real child process: results as `execCommandRunner`
 * gives them, aborts, the child dying and coming back, detached launches outliving it, and an idle
 * helper not keeping its parent alive.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SpawnHelper } from '../lib/spawn-helper.js';

const repoRoot = join(import.meta.dirname, '..');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(check: () => boolean, ms = 5000): Promise<boolean> {
  for (let t = 0; t < ms && !check(); t += 20) await new Promise((r) => setTimeout(r, 20));
  return check();
}

async function withHelper(fn: (h: SpawnHelper, dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-spawn-helper-'));
  const h = new SpawnHelper();
  try {
    await fn(h, dir);
  } finally {
    await h.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('SpawnHelper', () => {
  it('runs a program and returns its output; input as string or bytes', () =>
    withHelper(async (h) => {
      const pidOf = (x: SpawnHelper): number | undefined => x.pid;
      assert.equal(pidOf(h), undefined, 'no child before the first call');
      assert.deepEqual(await h.run('/bin/echo', ['hello', 'a b']), {
        code: 0,
        stdout: 'hello a b\n',
        stderr: '',
      });
      assert.ok(pidOf(h) !== undefined && pidOf(h) !== process.pid);
      assert.equal((await h.run('cat', [], { input: 'from a string' })).stdout, 'from a string');
      assert.equal(
        (await h.run('cat', [], { input: new TextEncoder().encode('from bytes') })).stdout,
        'from bytes',
      );
      // Calls run concurrently in the child.
      const many = await Promise.all(
        Array.from({ length: 20 }, (_, i) => h.run('/bin/sh', ['-c', `echo ${i}`])),
      );
      assert.deepEqual(
        many.map((r) => r.stdout),
        Array.from({ length: 20 }, (_, i) => `${i}\n`),
      );
      assert.equal(h.forks, 1);
    }));

  it('returns a non-zero exit as a value, and 127 for a missing program', () =>
    withHelper(async (h) => {
      assert.deepEqual(await h.run('/bin/sh', ['-c', 'echo out; echo oops >&2; exit 3']), {
        code: 3,
        stdout: 'out\n',
        stderr: 'oops\n',
      });
      const missing = await h.run('/no/such/program', ['x']);
      assert.equal(missing.code, 127);
      assert.match(missing.stderr, /ENOENT/);
      // A program that exits without reading its input does not take the helper down.
      assert.equal((await h.run('true', [], { input: 'x'.repeat(1 << 20) })).code, 0);
      assert.equal((await h.run('true', [])).code, 0);
      assert.equal(h.forks, 1);
    }));

  it('kills the program on abort and resolves with code null', () =>
    withHelper(async (h, dir) => {
      const pidFile = join(dir, 'pid');
      const ac = new AbortController();
      const started = Date.now();
      const running = h.run('/bin/sh', ['-c', `echo $$ > ${pidFile}; exec sleep 30`], { signal: ac.signal });
      assert.ok(await until(() => readPid(pidFile) !== undefined));
      const pid = readPid(pidFile) ?? 0;
      ac.abort();
      const r = await running;
      assert.equal(r.code, null);
      assert.ok(Date.now() - started < 10_000);
      assert.ok(await until(() => !alive(pid)), 'the program is gone');
      // Already aborted: nothing is run.
      const pre = await h.run('/bin/sh', ['-c', `echo ran > ${join(dir, 'ran')}`], { signal: ac.signal });
      assert.equal(pre.code, null);
      assert.equal(readPid(join(dir, 'ran')), undefined);
    }));

  it('answers calls in flight with code null when its child dies, and starts a new one on the next call', () =>
    withHelper(async (h) => {
      assert.equal((await h.run('true', [])).code, 0);
      const first = h.pid ?? 0;
      const inFlight = h.run('sleep', ['30']);
      process.kill(first, 'SIGKILL');
      const r = await inFlight;
      assert.equal(r.code, null);
      assert.match(r.stderr, /spawn helper exited/);
      assert.deepEqual(await h.run('/bin/echo', ['again']), { code: 0, stdout: 'again\n', stderr: '' });
      assert.equal(h.forks, 2);
      assert.ok(h.pid !== undefined && h.pid !== first);
    }));

  it('launches detached processes that outlive the helper, with stdout to a file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-spawn-helper-'));
    const h = new SpawnHelper();
    let pid = 0;
    try {
      const out = join(dir, 'out.log');
      pid = await h.launchDetached({
        file: '/bin/sh',
        args: ['-c', 'echo started; echo "$(pwd) $(cut -d" " -f6 /proc/$$/stat)"; exec sleep 30'],
        stdoutPath: out,
      });
      assert.ok(pid > 0);
      assert.ok(await until(() => readFileSync(out, 'utf8').split('\n').length > 2));
      const [first, second] = readFileSync(out, 'utf8').split('\n');
      assert.equal(first, 'started');
      // cwd `/`, and its own session (session id = its pid).
      assert.equal(second, `/ ${pid}`);
      await assert.rejects(h.launchDetached({ file: '/no/such/program', args: [] }), /ENOENT/);
      await h.close();
      await assert.rejects(h.run('true', []), /closed/);
      assert.ok(alive(pid), 'the launched process survived the helper');
    } finally {
      await h.close();
      if (pid > 0 && alive(pid)) process.kill(pid, 'SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('does not keep its parent alive when idle; its child exits with the parent', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-spawn-helper-'));
    try {
      const pidFile = join(dir, 'helper.pid');
      const script = [
        `import { writeFileSync } from 'node:fs';`,
        `import { SpawnHelper } from ${JSON.stringify(join(repoRoot, 'lib/spawn-helper.ts'))};`,
        'const h = new SpawnHelper();',
        `const r = await h.run('/bin/echo', ['ok']);`,
        `writeFileSync(${JSON.stringify(pidFile)}, String(h.pid));`,
        'process.stdout.write(r.stdout);',
      ].join('\n');
      const result = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
        const c = execFile(
          process.execPath,
          ['--import', 'tsx', '--input-type=module', '-e', script],
          { cwd: repoRoot, timeout: 30_000 },
          (err, stdout) => {
            resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout });
          },
        );
        c.stdin?.end();
      });
      assert.deepEqual(result, { code: 0, stdout: 'ok\n' }, 'the parent exited by itself');
      const helperPid = readPid(pidFile) ?? 0;
      assert.ok(helperPid > 0);
      assert.ok(await until(() => !alive(helperPid)), 'the helper exited with its parent');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function readPid(path: string): number | undefined {
  try {
    const n = Number.parseInt(readFileSync(path, 'utf8'), 10);
    return Number.isInteger(n) ? n : undefined;
  } catch {
    return undefined;
  }
}
