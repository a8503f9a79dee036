/**
 * `berth server` started the way a user starts it (the real CLI through tsx): bad flags, a busy port
 * and an unusable data dir each end the process with a non-zero status and a message that says what
 * to fix; a good start logs "ready" exactly once; a second start on the same data dir reuses the CA,
 * the admin token and the kubeconfig.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBerthServer } from './harness/berth-server.js';
import { freePort } from './harness/ports.js';

const root = new URL('..', import.meta.url).pathname;
const scratch = mkdtempSync(join(tmpdir(), 'berth-server-cli-'));
const children = new Set<ChildProcess>();

after(() => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(scratch, { recursive: true, force: true });
});

interface RunResult {
  readonly code: number | null;
  readonly output: string;
}

/** Runs `berth server ARGS` to completion (it must exit on its own: these are failure cases). */
function runServer(args: readonly string[], timeoutMs = 60_000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'cli/main.ts'), 'server', ...args], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`berth server ${args.join(' ')} did not exit within ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code, output });
    });
  });
}

/** The `error: …` line the CLI prints on failure. */
function errorLine(output: string): string {
  return output.split('\n').find((l) => l.startsWith('error: ')) ?? `(no error line in:\n${output})`;
}

function dir(name: string): string {
  return join(scratch, name);
}

// Each case is a separate short-lived process; run a few at once.
describe('berth server on bad flags', { concurrency: 3 }, () => {
  const cases: readonly { readonly args: readonly string[]; readonly says: RegExp }[] = [
    { args: ['--bogus'], says: /unknown option '--bogus'/ },
    {
      args: ['--store', 'nosuch'],
      says: /option '--store <backend>' argument 'nosuch' is invalid\. Allowed choices are sqlite, etcd/,
    },
    {
      args: ['--listen', 'nonsense'],
      says: /option '--listen <host:port>' argument 'nonsense' is invalid\. expected HOST:PORT \(e\.g\. 127\.0\.0\.1:6443\)/,
    },
    { args: ['--listen', ':0'], says: /argument ':0' is invalid\. port 0 .*give a fixed one/ },
    { args: ['--compaction-window', 'soon'], says: /expected a duration like 300s, 5m or 1h, got "soon"/ },
    {
      args: ['--store', 'etcd'],
      says: /--store etcd needs --etcd-endpoints \(e\.g\. http:\/\/127\.0\.0\.1:2379\)/,
    },
  ];
  for (const { args, says } of cases) {
    it(`exits non-zero on ${args.join(' ')}`, async () => {
      const dataDir = dir(`flags-${args.join('_').replace(/[^\w]/g, '')}`);
      const res = await runServer(['--data-dir', dataDir, '--listen', '127.0.0.1:1', ...args]);
      assert.notEqual(res.code, 0, res.output);
      assert.match(errorLine(res.output), says);
      if (!args.includes('etcd')) {
        assert.ok(!existsSync(dataDir), 'a flag error stops the server before it touches the data dir');
      }
    });
  }
});

describe('berth server on a busy port', () => {
  let blocker: Server | undefined;
  after(() => {
    blocker?.close();
  });

  it('exits non-zero naming the address', async () => {
    const server = createServer();
    blocker = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    assert.ok(address !== null && typeof address === 'object');
    const res = await runServer(['--data-dir', dir('busy'), '--listen', `127.0.0.1:${address.port}`]);
    assert.notEqual(res.code, 0, res.output);
    assert.equal(
      errorLine(res.output),
      `error: cannot listen on 127.0.0.1:${address.port}: the port is already in use; pick another with --listen`,
    );
    assert.doesNotMatch(res.output, /berth server ready/);
  });
});

describe('berth server on an unusable data dir', () => {
  it('exits non-zero when the data dir is a regular file', async () => {
    const file = dir('a-file');
    writeFileSync(file, 'not a directory');
    const res = await runServer(['--data-dir', file, '--listen', `127.0.0.1:${await freePort()}`]);
    assert.notEqual(res.code, 0, res.output);
    assert.match(
      errorLine(res.output),
      new RegExp(
        `^error: data dir ${file} is not usable \\(.*\\): pass --data-dir with a writable directory$`,
      ),
    );
  });

  it('exits non-zero when the data dir would be under a regular file (fails for root too)', async () => {
    const file = dir('another-file');
    writeFileSync(file, '');
    const under = join(file, 'berth');
    const res = await runServer(['--data-dir', under, '--listen', `127.0.0.1:${await freePort()}`]);
    assert.notEqual(res.code, 0, res.output);
    assert.match(errorLine(res.output), /^error: data dir .*another-file\/berth is not usable \(ENOTDIR/);
    assert.match(errorLine(res.output), /pass --data-dir with a writable directory/);
  });

  const isRoot = process.getuid?.() === 0;
  if (isRoot) console.log('# skipping the mode-000 data dir test: root bypasses file permissions');
  it(
    'exits non-zero when the data dir is not readable or writable (mode 000)',
    { skip: isRoot ? 'running as root, which bypasses file permissions' : false },
    async () => {
      const locked = dir('locked');
      mkdirSync(locked, { mode: 0o000 });
      try {
        const res = await runServer(['--data-dir', locked, '--listen', `127.0.0.1:${await freePort()}`]);
        assert.notEqual(res.code, 0, res.output);
        assert.match(
          errorLine(res.output),
          /is not usable \(EACCES.*pass --data-dir with a writable directory/,
        );
      } finally {
        chmodSync(locked, 0o700);
      }
    },
  );
});

describe('berth server start and restart', () => {
  it('logs ready once, and a second start reuses the CA, token and kubeconfig', async () => {
    const dataDir = dir('restart');
    const port = await freePort();
    const readyLines = async (out: () => string): Promise<string[]> => {
      // The log line is written asynchronously; give it a moment after /readyz answered.
      const deadline = Date.now() + 5_000;
      while (!out().includes('berth server ready') && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
      return out()
        .split('\n')
        .filter((l) => /\bready\b/i.test(l));
    };
    const first = await startBerthServer({ dataDir, port });
    let files: Record<string, Buffer>;
    try {
      const lines = await readyLines(() => first.output());
      assert.equal(lines.length, 1, `exactly one ready line:\n${first.output()}`);
      assert.match(first.output(), /created cluster CA/);
      files = Object.fromEntries(
        ['pki/ca.crt', 'pki/ca.key', 'admin-token', 'kubeconfig.yaml'].map((f) => [
          f,
          readFileSync(join(dataDir, f)),
        ]),
      );
    } finally {
      await first.stop();
    }

    const second = await startBerthServer({ dataDir, port });
    try {
      const lines = await readyLines(() => second.output());
      assert.equal(lines.length, 1, `exactly one ready line:\n${second.output()}`);
      assert.doesNotMatch(second.output(), /created (cluster CA|admin token)|wrote admin kubeconfig/);
      for (const [f, bytes] of Object.entries(files)) {
        assert.ok(readFileSync(join(dataDir, f)).equals(bytes), `${f} is reused unchanged`);
      }
      // The old CA still verifies the serving certificate, and the old token still authenticates.
      const code = await new Promise<number | undefined>((resolve, reject) => {
        const req = request(
          {
            host: '127.0.0.1',
            port,
            path: '/api',
            ca: files['pki/ca.crt'],
            headers: { Authorization: `Bearer ${files['admin-token']?.toString().trim() ?? ''}` },
          },
          (res) => {
            res.resume();
            resolve(res.statusCode);
          },
        );
        req.on('error', reject);
        req.end();
      });
      assert.equal(code, 200);
    } finally {
      await second.destroy();
    }
  });
});
