import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Clock } from '../../lib/clock.js';
import { isBerthError, errorCodes } from '../../lib/errors.js';
import { sha256Digest } from './digest.js';
import { mediaTypes, type Descriptor } from './manifest.js';
import type { RegistryEndpoint } from './registries-config.js';
import { RegistryClient, type RegistryTarget } from './registry-client.js';
import type { RegistryHttp, RegistryRequestInit } from './registry-http.js';

/** A clock whose sleeps return at once (recorded) and whose timers never fire. */
function instantClock(): Clock & { slept: number[] } {
  let now = 1_000_000;
  const slept: number[] = [];
  return {
    slept,
    now: () => now,
    sleep: (ms) => {
      slept.push(ms);
      now += ms;
      return Promise.resolve();
    },
    setTimer: () => ({ cancel: () => undefined }),
  };
}

interface Call {
  url: string;
  init: RegistryRequestInit;
}

type Handler = (url: URL, init: RegistryRequestInit, n: number) => Response | Promise<Response>;

function fakeHttp(handler: Handler): RegistryHttp & { calls: Call[] } {
  const calls: Call[] = [];
  return {
    calls,
    fetch: async (url, init) => {
      calls.push({ url, init });
      return handler(new URL(url), init, calls.length);
    },
    dispatcherFor: () => undefined,
    close: () => Promise.resolve(),
  };
}

const endpoint = (over: Partial<RegistryEndpoint> = {}): RegistryEndpoint => ({
  apiBase: 'https://reg.test/v2',
  host: 'reg.test',
  mirror: false,
  tls: {},
  plainHttpFallback: false,
  repository: 'team/app',
  ...over,
});

const manifestBody = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: mediaTypes.ociManifest,
    config: { mediaType: mediaTypes.ociConfig, digest: sha256Digest('c'), size: 1 },
    layers: [],
  }),
);

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', ...headers },
  });
}

function client(http: RegistryHttp, clock = instantClock()): RegistryClient {
  return new RegistryClient({ http, clock, initialBackoffMs: 100 });
}

describe('RegistryClient auth', () => {
  it('answers a Bearer challenge with Basic creds at the realm, then caches the token', async () => {
    const http = fakeHttp((url, init) => {
      if (url.host === 'auth.test') {
        assert.equal(url.searchParams.get('service'), 'reg');
        assert.deepEqual(url.searchParams.getAll('scope'), ['repository:team/app:pull']);
        assert.equal(init.headers?.['authorization'], `Basic ${Buffer.from('u:p').toString('base64')}`);
        return json(200, { token: 'T1', expires_in: 300 });
      }
      if (init.headers?.['authorization'] !== 'Bearer T1') {
        return json(
          401,
          { errors: [{ code: 'UNAUTHORIZED' }] },
          {
            'www-authenticate':
              'Bearer realm="https://auth.test/token",service="reg",scope="repository:team/app:pull"',
          },
        );
      }
      return new Response(manifestBody, { status: 200, headers: { 'content-type': mediaTypes.ociManifest } });
    });
    const c = client(http);
    const target: RegistryTarget = { endpoint: endpoint(), credentials: { username: 'u', password: 'p' } };
    const r = await c.getManifest(target, 'v1');
    assert.ok(r.ok);
    assert.equal(r.digest, sha256Digest(manifestBody));
    const r2 = await c.getManifest(target, 'v1');
    assert.ok(r2.ok);
    // 401, token, 200, then straight 200 with the cached token.
    assert.deepEqual(
      http.calls.map((x) => new URL(x.url).host),
      ['reg.test', 'auth.test', 'reg.test', 'reg.test'],
    );
  });

  it('asks again with the wider scope on insufficient_scope', async () => {
    let tokenCalls = 0;
    const http = fakeHttp((url, init) => {
      if (url.host === 'auth.test') {
        tokenCalls++;
        return json(200, { token: url.searchParams.getAll('scope').join('+') });
      }
      const auth = init.headers?.['authorization'];
      if (auth === 'Bearer repository:other/x:pull+repository:team/app:pull') {
        return new Response(manifestBody, {
          status: 200,
          headers: { 'content-type': mediaTypes.ociManifest },
        });
      }
      const scope = auth === undefined ? 'repository:team/app:pull' : 'repository:other/x:pull';
      return json(
        401,
        {},
        {
          'www-authenticate': `Bearer realm="https://auth.test/token",service="reg",scope="${scope}"${auth === undefined ? '' : ',error="insufficient_scope"'}`,
        },
      );
    });
    const r = await client(http).getManifest({ endpoint: endpoint() }, 'v1');
    assert.ok(r.ok);
    assert.equal(tokenCalls, 2);
  });

  it('Basic challenge without credentials is Unauthorized, as a value', async () => {
    const http = fakeHttp(() =>
      json(
        401,
        { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] },
        {
          'www-authenticate': 'Basic realm="r"',
        },
      ),
    );
    const r = await client(http).getManifest({ endpoint: endpoint() }, 'v1');
    assert.equal(r.ok, false);
    assert.equal(r.reason, 'Unauthorized');
    assert.match(r.message, /authentication required/);
    assert.equal(http.calls.length, 1);
  });

  it('wrong Basic credentials: one retry with them, then Unauthorized', async () => {
    const http = fakeHttp(() => json(401, {}, { 'www-authenticate': 'Basic realm="r"' }));
    const r = await client(http).getManifest(
      { endpoint: endpoint(), credentials: { username: 'u', password: 'bad' } },
      'v1',
    );
    assert.equal(r.ok, false);
    assert.match(r.message, /credentials refused/);
    assert.equal(http.calls.length, 2);
  });

  it('a token server refusing the credentials is Unauthorized', async () => {
    const http = fakeHttp((url) =>
      url.host === 'auth.test'
        ? json(401, { errors: [{ code: 'UNAUTHORIZED', message: 'bad password' }] })
        : json(401, {}, { 'www-authenticate': 'Bearer realm="https://auth.test/token",service="reg"' }),
    );
    const r = await client(http).getManifest(
      { endpoint: endpoint(), credentials: { username: 'u', password: 'x' } },
      'v1',
    );
    assert.equal(r.ok, false);
    assert.equal(r.reason, 'Unauthorized');
    assert.match(r.message, /refused the credentials.*bad password/);
  });
});

describe('RegistryClient transport', () => {
  it('follows redirects and drops Authorization when the origin changes', async () => {
    const blob = Buffer.from('config!');
    const desc: Descriptor = {
      mediaType: mediaTypes.ociConfig,
      digest: sha256Digest(blob),
      size: blob.length,
    };
    const http = fakeHttp((url, init) => {
      if (url.host === 'reg.test') {
        return new Response(null, { status: 307, headers: { location: 'https://s3.test/bucket/obj?sig=1' } });
      }
      assert.equal(init.headers?.['authorization'], undefined);
      return new Response(blob, { status: 200 });
    });
    const got = await client(http).getBlobBytes(
      { endpoint: endpoint(), credentials: { registryToken: 'secret' } },
      desc,
      1024,
    );
    assert.deepEqual(got, blob);
    assert.equal(http.calls[0]?.init.headers?.['authorization'], 'Bearer secret');
  });

  it('retries 503 honouring Retry-After, and 500s with back-off', async () => {
    const clock = instantClock();
    const http = fakeHttp((_url, _init, n) => {
      if (n === 1) return json(503, {}, { 'retry-after': '2' });
      if (n === 2) return json(500, {});
      return new Response(manifestBody, { status: 200, headers: { 'content-type': mediaTypes.ociManifest } });
    });
    const r = await client(http, clock).getManifest({ endpoint: endpoint() }, 'v1');
    assert.ok(r.ok);
    assert.deepEqual(clock.slept, [2000, 200]);
  });

  it('gives up after maxAttempts with a registry error', async () => {
    const http = fakeHttp(() => json(502, { errors: [{ code: 'X', message: 'bad gateway' }] }));
    await assert.rejects(
      client(http).getManifest({ endpoint: endpoint() }, 'v1'),
      (err) => isBerthError(err, errorCodes.IMAGE_REGISTRY) && /bad gateway/.test(err.message),
    );
    assert.equal(http.calls.length, 5);
  });

  it('falls back to plain HTTP for loopback registries that do not speak TLS, and remembers it', async () => {
    const http = fakeHttp((url) => {
      if (url.protocol === 'https:')
        throw new TypeError('fetch failed', {
          cause: Object.assign(new Error('wrong version number'), { code: 'ERR_SSL_WRONG_VERSION_NUMBER' }),
        });
      return new Response(manifestBody, { status: 200, headers: { 'content-type': mediaTypes.ociManifest } });
    });
    const c = client(http);
    const target = {
      endpoint: endpoint({
        apiBase: 'https://127.0.0.1:5000/v2',
        host: '127.0.0.1:5000',
        plainHttpFallback: true,
      }),
    };
    assert.ok((await c.getManifest(target, 'v1')).ok);
    assert.ok((await c.getManifest(target, 'v1')).ok);
    assert.deepEqual(
      http.calls.map((x) => new URL(x.url).protocol),
      ['https:', 'http:', 'http:'],
    );
  });

  it('does not fall back to HTTP on certificate errors', async () => {
    const http = fakeHttp(() => {
      throw new TypeError('fetch failed', {
        cause: Object.assign(new Error('self-signed'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }),
      });
    });
    await assert.rejects(
      client(http).getManifest({ endpoint: endpoint({ plainHttpFallback: true }) }, 'v1'),
      /self-signed.*configure a CA/,
    );
    assert.equal(http.calls.length, 1);
  });

  it('checks a manifest fetched by digest', async () => {
    const http = fakeHttp(() => new Response(Buffer.from('{"evil":1}'), { status: 200 }));
    await assert.rejects(
      client(http).getManifest({ endpoint: endpoint() }, sha256Digest(manifestBody)),
      (err) => isBerthError(err, errorCodes.IMAGE_INVALID) && /digest mismatch/.test(err.message),
    );
  });
});

describe('RegistryClient blob streams', () => {
  const data = Buffer.alloc(100_000);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7) % 251;
  const desc: Descriptor = {
    mediaType: mediaTypes.ociLayerGzip,
    digest: sha256Digest(data),
    size: data.length,
  };

  /** A body that sends `bytes` then fails like a reset connection. */
  function brokenBody(bytes: Buffer): ReadableStream<Uint8Array> {
    let sent = false;
    return new ReadableStream({
      pull(controller) {
        // error() drops queued chunks, so the bytes go out on one pull and the failure on the next.
        if (!sent && bytes.length > 0) {
          sent = true;
          controller.enqueue(new Uint8Array(bytes));
          return;
        }
        controller.error(new TypeError('terminated', { cause: new Error('other side closed') }));
      },
    });
  }

  async function collect(c: RegistryClient, d = desc): Promise<Buffer> {
    const parts: Uint8Array[] = [];
    for await (const chunk of c.blobStream({ endpoint: endpoint() }, d)) parts.push(chunk);
    return Buffer.concat(parts);
  }

  it('resumes a cut-off blob with Range', async () => {
    const http = fakeHttp((_url, init) => {
      const range = init.headers?.['range'];
      if (range === undefined) return new Response(brokenBody(data.subarray(0, 30_000)), { status: 200 });
      assert.equal(range, 'bytes=30000-');
      return new Response(data.subarray(30_000), {
        status: 206,
        headers: { 'content-range': `bytes 30000-${data.length - 1}/${data.length}` },
      });
    });
    assert.deepEqual(await collect(client(http)), data);
  });

  it('copes with a registry that ignores Range (200 from the start)', async () => {
    let n = 0;
    const http = fakeHttp(() => {
      n++;
      return n === 1
        ? new Response(brokenBody(data.subarray(0, 12_345)), { status: 200 })
        : new Response(data, { status: 200 });
    });
    assert.deepEqual(await collect(client(http)), data);
  });

  it('refuses a 206 that starts after the offset asked for', async () => {
    let n = 0;
    const http = fakeHttp(() => {
      n++;
      return n === 1
        ? new Response(brokenBody(data.subarray(0, 10)), { status: 200 })
        : new Response(data.subarray(50), {
            status: 206,
            headers: { 'content-range': `bytes 50-99999/100000` },
          });
    });
    await assert.rejects(collect(client(http)), /Content-Range/);
  });

  it('refuses more bytes than the descriptor declares', async () => {
    const http = fakeHttp(() => new Response(Buffer.concat([data, Buffer.from('extra')]), { status: 200 }));
    await assert.rejects(collect(client(http)), (err) => isBerthError(err, errorCodes.IMAGE_INVALID));
  });

  it('gives up after repeated failures without progress', async () => {
    const http = fakeHttp(() => new Response(brokenBody(Buffer.alloc(0)), { status: 200 }));
    await assert.rejects(collect(client(http)), /retries without progress/);
    assert.equal(http.calls.length, 4);
  });
});
