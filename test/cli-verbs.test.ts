/**
 * The kubectl-like `berth` verbs against a real `berth server` process, each run as its own child
 * process (`node --import tsx cli/main.ts …`): apply (create, unchanged, three-way configure,
 * stdin, directories, --server-side, --dry-run=server), get (table, wide, yaml, json, name, -l, -A,
 * -w), describe with events, scale, rollout restart/history/undo/status, delete, error texts and
 * exit codes. Where kubectl 1.32 is installed, the same commands run through it against the same
 * server and the outputs are compared.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { request } from 'node:https';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { findKubectl, kubectl, startBerthServer, type BerthServerHandle } from './harness/berth-server.js';

const root = new URL('..', import.meta.url).pathname;
const fixtures = join(root, 'test/fixtures/cli');
const found = findKubectl();
if (found.skip !== undefined) console.log(`# kubectl comparisons skipped: ${found.skip}`);

interface Result {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

type Json = Record<string, unknown>;

/** Output with ages (`5s`, `2m3s`, `3d`) and column padding normalised: runs a second apart may differ there. */
function normalizeAges(s: string): string {
  return s.replace(/\b\d+(?:s|m\d*s?|h\d*m?|d\d*h?|y\d*d?)\b/g, 'AGE').replace(/ {2,}/g, '  ');
}

function obj(v: unknown): Json {
  assert.equal(typeof v, 'object');
  return v as Json;
}

describe('berth CLI verbs against berth server', { timeout: 1_800_000 }, () => {
  let server: BerthServerHandle;

  /** Runs `berth ARGS` (with --kubeconfig unless `env` brings its own). */
  const berth = (
    args: readonly string[],
    opts: { input?: string; env?: NodeJS.ProcessEnv; noKubeconfig?: boolean } = {},
  ): Promise<Result> =>
    new Promise((resolve) => {
      const child = execFile(
        process.execPath,
        [
          '--import',
          'tsx',
          join(root, 'cli/main.ts'),
          ...args,
          ...(opts.noKubeconfig === true ? [] : ['--kubeconfig', server.kubeconfig]),
        ],
        { cwd: root, env: { ...process.env, ...opts.env }, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 },
        (err, stdout, stderr) => {
          const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
          resolve({ code, stdout, stderr });
        },
      );
      child.stdin?.end(opts.input ?? '');
    });

  const k = (args: readonly string[], input?: string): Promise<Result> =>
    kubectl(server, args, { kubectlPath: found.path ?? '', ...(input === undefined ? {} : { input }) });

  /** A raw API call with the admin token, for what no verb does (writing status, creating events). */
  const api = (
    method: string,
    path: string,
    body?: unknown,
    contentType = 'application/json',
  ): Promise<{ code: number; body: Json }> =>
    new Promise((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: server.port,
          path,
          method,
          ca: server.caPem,
          headers: { Authorization: `Bearer ${server.token}`, 'Content-Type': contentType },
        },
        (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => {
            resolve({ code: res.statusCode ?? 0, body: text === '' ? {} : (JSON.parse(text) as Json) });
          });
        },
      );
      req.on('error', reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });

  const getJson = async (args: readonly string[]): Promise<Json> => {
    const r = await berth(['get', ...args, '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    return obj(JSON.parse(r.stdout));
  };

  before(async () => {
    server = await startBerthServer();
  });
  after(async () => {
    await server.destroy();
  });

  it('applies a Deployment, Service and ConfigMap, then reports them unchanged', async () => {
    const first = await berth(['apply', '-f', join(fixtures, 'app-v1.yaml')]);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(
      first.stdout,
      'configmap/web-config created\ndeployment.apps/web created\nservice/web created\n',
    );
    const again = await berth(['apply', '-f', join(fixtures, 'app-v1.yaml')]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(
      again.stdout,
      'configmap/web-config unchanged\ndeployment.apps/web unchanged\nservice/web unchanged\n',
    );
  });

  it('applies a changed manifest with the three-way strategic merge (container removed, env changed)', async () => {
    const r = await berth(['apply', '-f', join(fixtures, 'app-v2.yaml')]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      'configmap/web-config unchanged\ndeployment.apps/web configured\nservice/web unchanged\n',
    );
    const d = await getJson(['deployment', 'web']);
    const containers = obj(obj(obj(d['spec'])['template'])['spec'])['containers'] as Json[];
    assert.deepEqual(
      containers.map((c) => c['name']),
      ['app'],
      'the sidecar removed from the manifest is gone',
    );
    const app = containers[0];
    assert.equal(app?.['image'], 'busybox:1.37');
    assert.deepEqual(app['env'], [{ name: 'MODE', value: 'green' }], 'MODE changed, KEEP removed');
    const annotations = obj(obj(d['metadata'])['annotations']);
    const lastApplied = obj(
      JSON.parse(annotations['kubectl.kubernetes.io/last-applied-configuration'] as string),
    );
    assert.equal(obj(obj(obj(lastApplied['spec'])['template'])['spec'])['containers'] instanceof Array, true);
    if (found.path !== undefined) {
      // kubectl computes the same patch from the annotation berth wrote: nothing to do.
      const kr = await k(['apply', '-f', join(fixtures, 'app-v2.yaml')]);
      assert.equal(kr.code, 0, kr.stderr);
      assert.match(kr.stdout, /deployment.apps\/web unchanged/);
    }
  });

  it('applies from stdin, from a directory, and recursively', async () => {
    // Independent objects: run together (each CLI process takes seconds to start on a loaded machine).
    const [stdin, dir] = await Promise.all([
      berth(['apply', '-f', '-'], {
        input: 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: from-stdin}\ndata: {a: "1"}\n',
      }),
      berth(['apply', '-f', join(fixtures, 'dir')]),
    ]);
    assert.equal(stdin.code, 0, stdin.stderr);
    assert.equal(stdin.stdout, 'configmap/from-stdin created\n');
    assert.equal(dir.code, 0, dir.stderr);
    assert.equal(dir.stdout, 'configmap/dir-a created\nconfigmap/dir-b created\n', 'no recursion without -R');
    const rec = await berth(['apply', '-R', '-f', join(fixtures, 'dir')]);
    assert.equal(rec.code, 0, rec.stderr);
    assert.equal(
      rec.stdout,
      'configmap/dir-a unchanged\nconfigmap/dir-b unchanged\nconfigmap/dir-c created\n',
    );
  });

  it('applies server-side, and --dry-run=server persists nothing', async () => {
    const manifest = 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ssa}\ndata: {k: v}\n';
    const ssa = await berth(['apply', '--server-side', '-f', '-'], { input: manifest });
    assert.equal(ssa.code, 0, ssa.stderr);
    assert.equal(ssa.stdout, 'configmap/ssa serverside-applied\n');
    const cm = await getJson(['configmap', 'ssa', '--show-managed-fields']);
    const managers = (obj(cm['metadata'])['managedFields'] as Json[]).map((m) => [
      m['manager'],
      m['operation'],
    ]);
    assert.deepEqual(managers, [['kubectl', 'Apply']]);

    const dry = await berth(['apply', '--dry-run=server', '-f', '-'], {
      input: 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: dry}\ndata: {k: v}\n',
    });
    assert.equal(dry.code, 0, dry.stderr);
    assert.equal(dry.stdout, 'configmap/dry created (server dry run)\n');
    const missing = await berth(['get', 'configmap', 'dry']);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, 'Error from server (NotFound): configmaps "dry" not found\n');
  });

  it('gets tables like kubectl (default and -o wide, -l, -A) and objects as yaml, json and names', async () => {
    // Read-only, so run together (each CLI process takes seconds to start on a loaded machine).
    const [table, wide, selected, all, names, yaml] = await Promise.all([
      berth(['get', 'deploy,svc,cm']),
      berth(['get', 'deployments', '-o', 'wide']),
      berth(['get', 'cm', '-l', 'nope=nope']),
      berth(['get', 'configmaps', '-A']),
      berth(['get', 'cm', '-o', 'name', '-l', 'app!=x']),
      berth(['get', 'deploy', 'web', '-o', 'yaml']),
    ]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(
      table.stdout,
      /^NAME +READY +UP-TO-DATE +AVAILABLE +AGE\ndeployment\.apps\/web +\d+\/2 +\d+ +\d+ +\S+\n\nNAME +TYPE/,
    );
    assert.match(
      wide.stdout,
      /^NAME +READY +UP-TO-DATE +AVAILABLE +AGE +CONTAINERS +IMAGES +SELECTOR\nweb +\d+\/2 +\d+ +\d+ +\S+ +app +busybox:1\.37 +app=web\n$/,
    );
    assert.equal(selected.code, 0);
    assert.equal(selected.stdout, '');
    assert.equal(selected.stderr, 'No resources found in default namespace.\n');
    assert.match(all.stdout, /^NAMESPACE +NAME +DATA +AGE\n/);
    assert.match(all.stdout, /\ndefault +web-config +1 +\S+\n/);
    assert.match(names.stdout, /^configmap\/dir-a\n/m);
    assert.match(yaml.stdout, /^apiVersion: apps\/v1\nkind: Deployment\nmetadata:\n/);
    assert.doesNotMatch(yaml.stdout, /managedFields/);

    if (found.path === undefined) return;
    // Same server, same moment: the outputs must be identical but for ages that ticked between runs.
    for (const args of [
      ['deploy,svc,cm'],
      ['deployments', '-o', 'wide'],
      ['configmaps', '-A'],
      ['services', '-o', 'wide'],
      ['cm', '--show-labels'],
      ['namespaces'],
    ]) {
      const [ours, theirs] = await Promise.all([berth(['get', ...args]), k(['get', ...args])]);
      assert.equal(ours.code, theirs.code, `${args.join(' ')}: ${theirs.stderr}`);
      if (ours.stdout !== theirs.stdout) {
        assert.equal(normalizeAges(ours.stdout), normalizeAges(theirs.stdout), `get ${args.join(' ')}`);
      }
    }
    for (const format of ['json', 'yaml', 'name']) {
      const [ours, theirs] = await Promise.all([
        berth(['get', 'deploy,cm', '-o', format]),
        k(['get', 'deploy,cm', '-o', format]),
      ]);
      assert.equal(ours.stdout, theirs.stdout, `get -o ${format} matches kubectl byte for byte`);
    }
    const [ours, theirs] = await Promise.all([
      berth(['get', 'deploy', 'nope']),
      k(['get', 'deploy', 'nope']),
    ]);
    assert.equal(ours.stderr, theirs.stderr);
    assert.equal(ours.code, theirs.code);
  });

  it('watches with get -w and sees a change', async () => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        join(root, 'cli/main.ts'),
        'get',
        'configmaps',
        '-w',
        '--output-watch-events',
        '--kubeconfig',
        server.kubeconfig,
      ],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const waitFor = async (re: RegExp): Promise<void> => {
      const deadline = Date.now() + 60_000;
      while (!re.test(out)) {
        if (Date.now() > deadline || child.exitCode !== null)
          throw new Error(`no ${re} in get -w output:\n${out}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    try {
      await waitFor(/ADDED +web-config/);
      const r = await berth(['apply', '-f', '-'], {
        input: 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: watched}\ndata: {a: "1"}\n',
      });
      assert.equal(r.code, 0, r.stderr);
      await waitFor(/ADDED +watched +1 /);
      const d = await berth(['delete', 'configmap', 'watched']);
      assert.equal(d.stdout, 'configmap "watched" deleted\n');
      await waitFor(/DELETED +watched/);
      assert.match(out, /^EVENT +NAME +DATA +AGE\n/);
    } finally {
      child.kill();
    }
  });

  it('describes a deployment and a pod with their events', async () => {
    const pod = await berth(['apply', '-f', '-'], {
      input:
        'apiVersion: v1\nkind: Pod\nmetadata: {name: web-0, labels: {app: web}}\n' +
        'spec:\n  containers:\n  - {name: app, image: "busybox:1.37", command: [sleep, "3600"]}\n',
    });
    assert.equal(pod.code, 0, pod.stderr);
    const d = await getJson(['deploy', 'web']);
    const p = await getJson(['pod', 'web-0']);
    const longAgo = new Date(Date.now() - 3 * 24 * 3600_000).toISOString().replace(/\.\d+Z$/, 'Z');
    const event = (name: string, target: Json, kind: string, reason: string, message: string): Json => ({
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace: 'default' },
      involvedObject: {
        kind,
        name: obj(target['metadata'])['name'],
        namespace: 'default',
        uid: obj(target['metadata'])['uid'],
      },
      reason,
      message,
      type: 'Normal',
      source: { component: 'deployment-controller' },
      firstTimestamp: longAgo,
      lastTimestamp: longAgo,
      count: 1,
    });
    for (const ev of [
      event('web.1', d, 'Deployment', 'ScalingReplicaSet', 'Scaled up replica set web-abc to 2'),
      event('web-0.1', p, 'Pod', 'Scheduled', 'Successfully assigned default/web-0 to node-1'),
      event('other.1', p, 'Pod', 'Unrelated', 'uid does not match'),
    ]) {
      if (ev['reason'] === 'Unrelated') obj(ev['involvedObject'])['uid'] = 'not-this-pod';
      const res = await api('POST', '/api/v1/namespaces/default/events', ev);
      assert.equal(res.code, 201, JSON.stringify(res.body));
    }
    const dd = await berth(['describe', 'deployment', 'web']);
    assert.equal(dd.code, 0, dd.stderr);
    assert.match(dd.stdout, /^Name: +web\nNamespace: +default\nCreationTimestamp: /);
    // The numbers depend on whether a deployment controller has acted yet; the layout does not.
    assert.match(
      dd.stdout,
      /\nReplicas: +2 desired \| \d+ updated \| \d+ total \| \d+ available \| \d+ unavailable\n/,
    );
    assert.match(
      dd.stdout,
      /\nEvents:\n {2}Type +Reason +Age +From +Message\n {2}---- +------ +---- +---- +-------\n {2}Normal +ScalingReplicaSet +3d +deployment-controller +Scaled up replica set web-abc to 2\n/,
    );
    const dp = await berth(['describe', 'pod/web-0']);
    assert.equal(dp.code, 0, dp.stderr);
    assert.match(dp.stdout, /\nContainers:\n {2}app:\n {4}Image: +busybox:1\.37\n/);
    assert.match(
      dp.stdout,
      /\n {2}Normal +Scheduled +3d +deployment-controller +Successfully assigned default\/web-0 to node-1\n/,
    );
    assert.doesNotMatch(dp.stdout, /Unrelated/, 'events of another object (by uid) are not shown');
    if (found.path !== undefined) {
      for (const args of [
        ['deployment', 'web'],
        ['pod', 'web-0'],
        ['service', 'web'],
        ['namespace', 'default'],
        ['configmap', 'web-config'],
      ]) {
        const [ours, theirs] = await Promise.all([berth(['describe', ...args]), k(['describe', ...args])]);
        if (ours.stdout !== theirs.stdout) {
          // Controllers' recent events age between the two runs; nothing else may differ.
          assert.equal(
            normalizeAges(ours.stdout),
            normalizeAges(theirs.stdout),
            `describe ${args.join(' ')}`,
          );
        }
      }
    }
    const gone = await berth(['delete', 'pod', 'web-0']);
    assert.equal(gone.code, 0, gone.stderr);
  });

  it('scales through the scale subresource and restarts a rollout', async () => {
    const s = await berth(['scale', 'deployment/web', '--replicas=3']);
    assert.equal(s.code, 0, s.stderr);
    assert.equal(s.stdout, 'deployment.apps/web scaled\n');
    const d = await getJson(['deploy', 'web']);
    assert.equal(obj(d['spec'])['replicas'], 3);

    const r = await berth(['rollout', 'restart', 'deploy/web']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'deployment.apps/web restarted\n');
    const after = await getJson(['deploy', 'web']);
    const annotations = obj(obj(obj(obj(after['spec'])['template'])['metadata'])['annotations']);
    assert.match(
      String(annotations['kubectl.kubernetes.io/restartedAt']),
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$/,
    );
  });

  it('shows rollout history and undoes to a revision from the owned ReplicaSets', async () => {
    const d = await getJson(['deploy', 'web']);
    const meta = obj(d['metadata']);
    const uid = meta['uid'];
    const hashless = (template: unknown): Json => {
      const t = structuredClone(obj(template));
      const labels = obj(obj(t['metadata'])['labels']);
      delete labels['pod-template-hash'];
      return t;
    };
    const ownedReplicaSets = async (): Promise<Json[]> => {
      const list = await api('GET', '/apis/apps/v1/namespaces/default/replicasets');
      return (list.body['items'] as Json[]).filter((rs) =>
        ((obj(rs['metadata'])['ownerReferences'] as Json[] | undefined) ?? []).some(
          (o) => o['uid'] === uid && o['controller'] === true,
        ),
      );
    };
    const revision = (rs: Json): number =>
      Number(obj(obj(rs['metadata'])['annotations'])['deployment.kubernetes.io/revision']);
    /** Waits until the ReplicaSets stop changing: a deployment controller, if one runs, has caught up. */
    const settled = async (): Promise<Json[]> => {
      let last = '';
      for (let i = 0; i < 40; i++) {
        const now = await ownedReplicaSets();
        const key = JSON.stringify(now.map((rs) => [obj(rs['metadata'])['name'], revision(rs)]));
        if (key === last) return now;
        last = key;
        await new Promise((r) => setTimeout(r, 1500));
      }
      throw new Error('the ReplicaSets never settled');
    };

    let replicaSets = await settled();
    if (replicaSets.length < 2) {
      // No deployment controller: create what it would have — ReplicaSets owned by the Deployment,
      // their templates labelled with a pod-template-hash, numbered by the revision annotation.
      const current = obj(obj(d['spec'])['template']);
      const oldContainers = structuredClone(obj(current['spec'])['containers']) as Json[];
      oldContainers[0] = { ...oldContainers[0], image: 'busybox:1.36' };
      const old: Json = { ...current, spec: { ...obj(current['spec']), containers: oldContainers } };
      const rs = (name: string, rev: string, template: Json, cause?: string): Json => ({
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        metadata: {
          name,
          namespace: 'default',
          labels: { app: 'web', 'pod-template-hash': name.slice(4) },
          annotations: {
            'deployment.kubernetes.io/revision': rev,
            ...(cause === undefined ? {} : { 'kubernetes.io/change-cause': cause }),
          },
          ownerReferences: [
            {
              apiVersion: 'apps/v1',
              kind: 'Deployment',
              name: 'web',
              uid,
              controller: true,
              blockOwnerDeletion: true,
            },
          ],
        },
        spec: {
          replicas: 0,
          selector: { matchLabels: { app: 'web', 'pod-template-hash': name.slice(4) } },
          template: {
            ...template,
            metadata: {
              ...obj(template['metadata']),
              labels: { app: 'web', 'pod-template-hash': name.slice(4) },
            },
          },
        },
      });
      for (const body of [rs('web-aaa111', '1', old, 'first version'), rs('web-bbb222', '2', current)]) {
        const res = await api('POST', '/apis/apps/v1/namespaces/default/replicasets', body);
        assert.equal(res.code, 201, JSON.stringify(res.body));
      }
      replicaSets = await settled();
    }
    const byRevision = [...replicaSets].sort((a, b) => revision(a) - revision(b));
    const expected =
      'deployment.apps/web \nREVISION  CHANGE-CAUSE\n' +
      byRevision
        .map((rs) => {
          const cause = obj(obj(rs['metadata'])['annotations'])['kubernetes.io/change-cause'];
          return `${String(revision(rs)).padEnd(10)}${typeof cause === 'string' ? cause : '<none>'}\n`;
        })
        .join('') +
      '\n';
    const h = await berth(['rollout', 'history', 'deployment/web']);
    assert.equal(h.code, 0, h.stderr);
    assert.equal(h.stdout, expected);
    const oldest = byRevision[0]!;
    if (found.path !== undefined) {
      const [kh, ours, theirs] = await Promise.all([
        k(['rollout', 'history', 'deployment/web']),
        berth(['rollout', 'history', 'deployment/web', `--revision=${revision(oldest)}`]),
        k(['rollout', 'history', 'deployment/web', `--revision=${revision(oldest)}`]),
      ]);
      assert.equal(h.stdout, kh.stdout);
      assert.equal(ours.stdout, theirs.stdout);
    }

    // Roll back to the oldest revision: the template becomes its template, minus pod-template-hash.
    const u = await berth(['rollout', 'undo', 'deployment/web', `--to-revision=${revision(oldest)}`]);
    assert.equal(u.code, 0, u.stderr);
    assert.equal(u.stdout, 'deployment.apps/web rolled back\n');
    const undone = await getJson(['deploy', 'web']);
    const tpl = obj(obj(undone['spec'])['template']);
    assert.deepEqual(tpl, hashless(obj(oldest['spec'])['template']));
    assert.equal(
      obj(obj(tpl['metadata'])['labels'])['pod-template-hash'],
      undefined,
      'pod-template-hash is not copied back',
    );

    // Undoing to the revision whose template the Deployment now has is skipped.
    const matching = (await settled()).find((rs) =>
      isDeepStrictEqual(hashless(obj(rs['spec'])['template']), tpl),
    );
    assert.ok(matching !== undefined);
    const [skip, missing] = await Promise.all([
      berth(['rollout', 'undo', 'deployment/web', `--to-revision=${revision(matching)}`]),
      berth(['rollout', 'undo', 'deployment/web', '--to-revision=99']),
    ]);
    assert.equal(
      skip.stdout,
      `deployment.apps/web skipped rollback (current template already matches revision ${revision(matching)})\n`,
    );
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, 'error: unable to find specified revision 99 in history\n');
  });

  it('rollout status times out, then succeeds once a status satisfying it is written', async () => {
    // No agent runs the pods, so with replicas > 0 the rollout cannot complete.
    const timedOut = await berth(['rollout', 'status', 'deployment/web', '--timeout=2s']);
    assert.equal(timedOut.code, 1);
    assert.match(timedOut.stdout, /^Waiting for deployment/);
    assert.equal(timedOut.stderr, 'error: timed out waiting for the condition\n');

    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        join(root, 'cli/main.ts'),
        'rollout',
        'status',
        'deploy/web',
        '--timeout=120s',
        '--kubeconfig',
        server.kubeconfig,
      ],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<number>((resolve) =>
      child.once('exit', (code) => {
        resolve(code ?? 1);
      }),
    );
    try {
      const deadline = Date.now() + 60_000;
      while (!out.includes('Waiting for deployment')) {
        if (Date.now() > deadline) throw new Error(`rollout status printed nothing:\n${out}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      // Zero replicas is a rollout that can complete without running pods. Write the status that
      // says so through the status subresource (a deployment controller, if one runs, may write the
      // same first; conflicting with it is retried).
      const scaled = await berth(['scale', 'deploy/web', '--replicas=0']);
      assert.equal(scaled.code, 0, scaled.stderr);
      for (let attempt = 0; ; attempt++) {
        const d = await getJson(['deploy', 'web']);
        const res = await api(
          'PATCH',
          '/apis/apps/v1/namespaces/default/deployments/web/status',
          {
            metadata: { resourceVersion: obj(d['metadata'])['resourceVersion'] },
            status: {
              observedGeneration: obj(d['metadata'])['generation'],
              replicas: 0,
              updatedReplicas: 0,
              readyReplicas: 0,
              availableReplicas: 0,
            },
          },
          'application/merge-patch+json',
        );
        if (res.code === 200) break;
        assert.equal(res.code, 409, JSON.stringify(res.body));
        assert.ok(attempt < 10, 'status write kept conflicting');
      }
      assert.equal(await exited, 0, out);
      assert.match(out, /^Waiting for deployment /);
      assert.match(out, /deployment "web" successfully rolled out\n$/);
    } finally {
      child.kill();
    }
  });

  it('deletes by file and by kind and name, waiting until they are gone', async () => {
    const [byFile, byName] = await Promise.all([
      berth(['delete', '-f', join(fixtures, 'app-v2.yaml')]),
      berth(['delete', 'configmap', 'dir-a', 'dir-b']),
    ]);
    assert.equal(byFile.code, 0, byFile.stderr);
    assert.equal(
      byFile.stdout,
      'configmap "web-config" deleted\ndeployment.apps "web" deleted\nservice "web" deleted\n',
    );
    const gone = await berth(['get', 'deployment', 'web']);
    assert.equal(gone.code, 1);
    assert.equal(gone.stderr, 'Error from server (NotFound): deployments.apps "web" not found\n');

    assert.equal(byName.code, 0, byName.stderr);
    assert.equal(byName.stdout, 'configmap "dir-a" deleted\nconfigmap "dir-b" deleted\n');
    const missing = await berth(['delete', 'cm', 'dir-a']);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, 'Error from server (NotFound): configmaps "dir-a" not found\n');
  });

  it('reads $KUBECONFIG and rejects a bad flag like commander does', async () => {
    const [env, bad, unknown] = await Promise.all([
      berth(['get', 'namespaces', '-o', 'name'], {
        env: { KUBECONFIG: server.kubeconfig },
        noKubeconfig: true,
      }),
      berth(['get', 'pods', '--bogus']),
      berth(['get', 'frobnicators']),
    ]);
    assert.equal(env.code, 0, env.stderr);
    assert.match(env.stdout, /^namespace\/default\n/m);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /error: unknown option '--bogus'/);
    assert.equal(unknown.code, 1);
    assert.equal(unknown.stderr, 'error: the server doesn\'t have a resource type "frobnicators"\n');
  });
});
