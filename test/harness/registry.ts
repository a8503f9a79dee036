/**
 * A real Docker registry for tests: Debian's `docker-registry` (distribution 2.8) on a free loopback
 * port with its own storage dir, in one of four modes —
 *   plain     anonymous HTTP;
 *   htpasswd  HTTP Basic auth (bcrypt htpasswd file made with `htpasswd -B`);
 *   token     Docker token auth, with a small token server in this process that signs ES256 JWTs with
 *             a certificate from a throw-away CA (lib/pki); anonymous callers get pull (configurable);
 *   tls       HTTPS with a certificate from a throw-away CA (`caPem` is what clients must trust).
 *
 * `stop()` kills the registry, closes the token server and removes the directory; an exit hook does
 * the same for handles a test forgot, and a watchdog shell kills the registry if this process dies.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createPrivateKey, randomUUID, sign } from 'node:crypto';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCertificateAuthority, issueServingCertificate } from '../../lib/pki/certificate-authority.js';
import { freePorts } from './ports.js';

export type RegistryMode = 'plain' | 'htpasswd' | 'token' | 'tls';

export interface StartRegistryOptions {
  readonly mode?: RegistryMode;
  /** Users for htpasswd and token modes. Default `{ berth: 's3cret' }`. */
  readonly users?: Readonly<Record<string, string>>;
  /** Token mode: whether callers without credentials may pull. Default true. */
  readonly anonymousPull?: boolean;
}

export interface RegistryHandle {
  readonly mode: RegistryMode;
  /** `127.0.0.1:PORT` — the registry part of image references. */
  readonly host: string;
  /** `http://…` or `https://…`. */
  readonly url: string;
  readonly storageDir: string;
  /** TLS mode: the CA that signed the registry's certificate. */
  readonly caPem?: string;
  readonly users: Readonly<Record<string, string>>;
  /** Token mode: token requests served so far. */
  tokenRequests(): number;
  /** Registry log so far. */
  log(): string;
  stop(): Promise<void>;
}

const binary = '/usr/bin/docker-registry';

/** Why registry tests must be skipped here, or undefined. */
export function registryAvailable(): string | undefined {
  try {
    accessSync(binary, constants.X_OK);
  } catch {
    return `${binary} not found (Debian package docker-registry)`;
  }
  return undefined;
}

/** Why htpasswd-mode tests must be skipped, or undefined. */
export function htpasswdAvailable(): string | undefined {
  const r = spawnSync('htpasswd', ['-h'], { stdio: 'ignore' });
  return r.error === undefined ? undefined : 'htpasswd not found (Debian package apache2-utils)';
}

interface Live {
  child: ChildProcess;
  watchdog: ChildProcess | undefined;
  dir: string;
  token: Server | undefined;
}
const live = new Set<Live>();
let hooked = false;

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const l of live) {
      try {
        l.child.kill('SIGKILL');
        l.watchdog?.kill('SIGKILL');
      } catch {
        // gone
      }
      rmSync(l.dir, { recursive: true, force: true });
    }
  });
}

function b64url(b: Buffer | string): string {
  return Buffer.from(b).toString('base64url');
}

/** A Docker token server: `GET /token?service&scope&account`, Basic auth optional. */
async function startTokenServer(opts: {
  port: number;
  certPem: string;
  keyPem: string;
  issuer: string;
  users: Readonly<Record<string, string>>;
  anonymousPull: boolean;
}): Promise<{ server: Server; count: () => number }> {
  const der = Buffer.from(
    opts.certPem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, ''),
    'base64',
  );
  const key = createPrivateKey(opts.keyPem);
  let count = 0;
  const server = createServer((req, res) => {
    count++;
    const url = new URL(req.url ?? '/', 'http://x');
    let user: string | undefined;
    const auth = req.headers.authorization;
    if (auth !== undefined) {
      const [scheme, value] = auth.split(' ');
      const decoded = Buffer.from(value ?? '', 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      const name = decoded.slice(0, colon);
      if (scheme?.toLowerCase() !== 'basic' || colon < 0 || opts.users[name] !== decoded.slice(colon + 1)) {
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'invalid username or password' }] }),
        );
        return;
      }
      user = name;
    }
    const access = url.searchParams.getAll('scope').flatMap((scope) => {
      const [type, name, actions] = scope.split(':');
      if (type !== 'repository' || name === undefined || actions === undefined) return [];
      const wanted = actions.split(',');
      const granted =
        user !== undefined ? wanted : opts.anonymousPull ? wanted.filter((a) => a === 'pull') : [];
      return granted.length === 0 ? [] : [{ type, name, actions: granted }];
    });
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: 'ES256', typ: 'JWT', x5c: [der.toString('base64')] };
    const claims = {
      iss: opts.issuer,
      sub: user ?? '',
      aud: url.searchParams.get('service') ?? '',
      exp: now + 300,
      nbf: now - 10,
      iat: now,
      jti: randomUUID(),
      access,
    };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const sig = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
    const token = `${input}.${b64url(sig)}`;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({ token, access_token: token, expires_in: 300, issued_at: new Date().toISOString() }),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, '127.0.0.1', resolve);
  });
  return { server, count: () => count };
}

/** Starts a registry in `opts.mode` and waits until `/v2/` answers. */
export async function startRegistry(opts: StartRegistryOptions = {}): Promise<RegistryHandle> {
  const reason = registryAvailable();
  if (reason !== undefined) throw new Error(reason);
  hookExit();
  let lastErr: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(opts);
    } catch (err) {
      lastErr = err;
      if (!/address already in use/.test(String(err))) throw err;
    }
  }
  throw lastErr;
}

async function startOnce(opts: StartRegistryOptions): Promise<RegistryHandle> {
  const mode = opts.mode ?? 'plain';
  const users = opts.users ?? { berth: 's3cret' };
  const dir = mkdtempSync(join(tmpdir(), `berth-registry-${mode}-`));
  const [port, tokenPort] = await freePorts(2);
  if (port === undefined || tokenPort === undefined) throw new Error('no free ports');
  const host = `127.0.0.1:${port}`;
  const lines = [
    'version: 0.1',
    'log:',
    '  level: info',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${join(dir, 'data')}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: ${host}`,
    '  secret: berth-test-secret',
  ];
  let caPem: string | undefined;
  let token: { server: Server; count: () => number } | undefined;
  const entry: Live = {
    child: undefined as unknown as ChildProcess,
    watchdog: undefined,
    dir,
    token: undefined,
  };
  try {
    if (mode === 'tls' || mode === 'token') {
      const now = Date.now();
      const ca = await createCertificateAuthority({
        commonName: `berth-test-registry-ca-${mode}`,
        validDays: 2,
        now,
      });
      caPem = mode === 'tls' ? ca.certPem : undefined;
      const leaf = await issueServingCertificate(ca, {
        commonName: mode === 'tls' ? '127.0.0.1' : 'berth-token-issuer',
        dnsNames: ['localhost'],
        ipAddresses: ['127.0.0.1'],
        validDays: 2,
        now,
      });
      writeFileSync(join(dir, 'ca.crt'), ca.certPem);
      writeFileSync(join(dir, 'leaf.crt'), leaf.certPem);
      writeFileSync(join(dir, 'leaf.key'), leaf.keyPem, { mode: 0o600 });
      if (mode === 'tls') {
        lines.push(
          '  tls:',
          `    certificate: ${join(dir, 'leaf.crt')}`,
          `    key: ${join(dir, 'leaf.key')}`,
        );
      } else {
        token = await startTokenServer({
          port: tokenPort,
          certPem: leaf.certPem,
          keyPem: leaf.keyPem,
          issuer: 'berth-token-issuer',
          users,
          anonymousPull: opts.anonymousPull ?? true,
        });
        entry.token = token.server;
        lines.push(
          'auth:',
          '  token:',
          `    realm: http://127.0.0.1:${tokenPort}/token`,
          '    service: berth-registry',
          '    issuer: berth-token-issuer',
          `    rootcertbundle: ${join(dir, 'ca.crt')}`,
        );
      }
    }
    if (mode === 'htpasswd') {
      const file = join(dir, 'htpasswd');
      let text = '';
      for (const [u, p] of Object.entries(users)) {
        const r = spawnSync('htpasswd', ['-Bbn', u, p], { encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`htpasswd failed: ${r.stderr}`);
        text += r.stdout.trim() + '\n';
      }
      writeFileSync(file, text);
      lines.push('auth:', '  htpasswd:', '    realm: berth-registry', `    path: ${file}`);
    }
    writeFileSync(join(dir, 'config.yml'), lines.join('\n') + '\n');
    const child = spawn(binary, ['serve', join(dir, 'config.yml')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    entry.child = child;
    let log = '';
    const append = (d: Buffer): void => {
      log += d.toString();
    };
    child.stdout.on('data', append);
    child.stderr.on('data', append);
    child.unref();
    (child.stdout as Socket).unref();
    (child.stderr as Socket).unref();
    entry.watchdog = startWatchdog(child.pid ?? 0, dir);
    live.add(entry);
    const state = { exited: false };
    const exitedP = new Promise<void>((resolve) => {
      child.once('exit', () => {
        state.exited = true;
        resolve();
      });
    });
    const url = `${mode === 'tls' ? 'https' : 'http'}://${host}`;
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (state.exited) throw new Error(`docker-registry exited during startup:\n${log}`);
      if (await answers(url)) break;
      if (Date.now() > deadline) throw new Error(`docker-registry did not start in 15 s:\n${log}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    let stopped: Promise<void> | undefined;
    const handle: RegistryHandle = {
      mode,
      host,
      url,
      storageDir: join(dir, 'data'),
      ...(caPem === undefined ? {} : { caPem }),
      users,
      tokenRequests: () => token?.count() ?? 0,
      log: () => log,
      stop: () => {
        stopped ??= (async () => {
          child.kill('SIGTERM');
          const t = setTimeout(() => child.kill('SIGKILL'), 3000);
          await exitedP;
          clearTimeout(t);
          entry.watchdog?.kill('SIGKILL');
          if (token !== undefined) {
            token.server.closeAllConnections();
            const server = token.server;
            await new Promise<void>((resolve) => {
              server.close(() => {
                resolve();
              });
            });
          }
          live.delete(entry);
          rmSync(dir, { recursive: true, force: true });
        })();
        return stopped;
      },
    };
    return handle;
  } catch (err) {
    (entry.child as ChildProcess | undefined)?.kill('SIGKILL');
    entry.watchdog?.kill('SIGKILL');
    if (entry.token !== undefined) {
      entry.token.closeAllConnections();
      entry.token.close();
    }
    live.delete(entry);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** True once `/v2/` answers as a registry (any status, with the distribution API header). */
function answers(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = (url.startsWith('https') ? httpsRequest : httpRequest)(
      `${url}/v2/`,
      { rejectUnauthorized: false, timeout: 1000 },
      (res) => {
        res.resume();
        resolve(res.headers['docker-distribution-api-version'] !== undefined);
      },
    );
    req.once('error', () => {
      resolve(false);
    });
    req.once('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

function startWatchdog(pid: number, dir: string): ChildProcess | undefined {
  if (pid === 0) return undefined;
  try {
    const w = spawn(
      '/bin/sh',
      [
        '-c',
        'cat >/dev/null; kill -KILL "$1" 2>/dev/null; rm -rf "$2"',
        'berth-registry-watchdog',
        String(pid),
        dir,
      ],
      {
        stdio: ['pipe', 'ignore', 'ignore'],
        detached: true,
      },
    );
    w.on('error', () => undefined);
    w.unref();
    if (w.stdin instanceof Socket) w.stdin.unref();
    return w;
  } catch {
    return undefined;
  }
}

/** Reads a file the registry wrote (for debugging a failed test). */
export function readRegistryFile(h: RegistryHandle, rel: string): string {
  return readFileSync(join(h.storageDir, '..', rel), 'utf8');
}
