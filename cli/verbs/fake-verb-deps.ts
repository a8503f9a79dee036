/**
 * {@link VerbDeps} for unit tests: output captured in strings, a FakeClock, manifests from a map
 * (plus stdin text), and a client over a {@link FakeTransport}.
 */

import { FakeClock } from '../../lib/clock.js';
import { FakeTransport, type FakeHandler } from '../client/fake-transport.js';
import { KubeClient } from '../client/kube-client.js';
import type { ManifestIO } from '../client/manifest-reader.js';
import type { VerbDeps } from './verb-support.js';

/** Fake dependencies and what the verb wrote. */
export interface FakeVerbDeps extends VerbDeps {
  readonly transport: FakeTransport;
  readonly clock: FakeClock;
  stdout(): string;
  stderr(): string;
}

/** Builds fake deps answering API calls from `handlers`; `files` are readable manifests. */
export function fakeVerbDeps(
  handlers: readonly FakeHandler[],
  files: Readonly<Record<string, string>> = {},
  stdin = '',
): FakeVerbDeps {
  let out = '';
  let err = '';
  const clock = new FakeClock(Date.parse('2026-11-27T21:00:00Z'));
  const transport = new FakeTransport(handlers);
  const client = new KubeClient(transport);
  const manifests: ManifestIO = {
    readFile: (p) =>
      files[p] === undefined ? Promise.reject(new Error(`no file ${p}`)) : Promise.resolve(files[p]),
    kind: (p) => Promise.resolve(files[p] === undefined ? 'missing' : 'file'),
    readDir: () => Promise.resolve([]),
    readStdin: () => Promise.resolve(stdin),
    fetchUrl: () => Promise.reject(new Error('offline')),
  };
  return {
    transport,
    clock,
    io: { stdout: { write: (t) => (out += t) }, stderr: { write: (t) => (err += t) }, clock, manifests },
    connect: (flags) =>
      Promise.resolve({
        client,
        namespace: flags.namespace ?? 'default',
        explicitNamespace: flags.namespace !== undefined,
      }),
    stdout: () => out,
    stderr: () => err,
  };
}
