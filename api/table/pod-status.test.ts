import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readinessGates, summarizePod } from './pod-status.js';

const now = Date.parse('2025-06-01T12:00:00Z');
const ago = (ms: number): string => new Date(now - ms).toISOString();
const minutes = 60_000;

const running = (name: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  name,
  ready: true,
  restartCount: 0,
  started: true,
  state: { running: { startedAt: ago(10 * minutes) } },
  ...extra,
});

function pod(
  spec: Record<string, unknown>,
  status: Record<string, unknown>,
  metadata: Record<string, unknown> = {},
) {
  return { metadata: { name: 'p', creationTimestamp: ago(60 * minutes), ...metadata }, spec, status };
}

const oneContainer = { containers: [{ name: 'web', image: 'nginx' }] };

describe('summarizePod (printPod)', () => {
  it('Running 1/1 with no restarts', () => {
    assert.deepEqual(
      summarizePod(pod(oneContainer, { phase: 'Running', containerStatuses: [running('web')] }), now),
      {
        ready: '1/1',
        status: 'Running',
        restarts: '0',
      },
    );
  });

  it('Pending with no statuses yet', () => {
    assert.deepEqual(summarizePod(pod(oneContainer, { phase: 'Pending' }), now), {
      ready: '0/1',
      status: 'Pending',
      restarts: '0',
    });
    assert.equal(summarizePod({}, now).status, '');
  });

  it('waiting reason and restarts with the last termination time', () => {
    const s = summarizePod(
      pod(oneContainer, {
        phase: 'Running',
        containerStatuses: [
          {
            name: 'web',
            ready: false,
            restartCount: 3,
            state: { waiting: { reason: 'CrashLoopBackOff' } },
            lastState: { terminated: { exitCode: 1, reason: 'Error', finishedAt: ago(5 * minutes) } },
          },
        ],
      }),
      now,
    );
    assert.deepEqual(s, { ready: '0/1', status: 'CrashLoopBackOff', restarts: '3 (5m ago)' });
  });

  it('the first container wins, and ExitCode/Signal when no reason', () => {
    const spec = { containers: [{ name: 'a' }, { name: 'b' }] };
    const s = summarizePod(
      pod(spec, {
        phase: 'Running',
        containerStatuses: [
          { name: 'a', state: { terminated: { exitCode: 3 } } },
          { name: 'b', state: { waiting: { reason: 'ImagePullBackOff' } } },
        ],
      }),
      now,
    );
    assert.equal(s.status, 'ExitCode:3');
    const sig = summarizePod(
      pod(oneContainer, {
        phase: 'Running',
        containerStatuses: [{ name: 'web', state: { terminated: { exitCode: 137, signal: 9 } } }],
      }),
      now,
    );
    assert.equal(sig.status, 'Signal:9');
  });

  it('Completed for a succeeded pod, with a Completed row condition', () => {
    const s = summarizePod(
      pod(oneContainer, {
        phase: 'Succeeded',
        containerStatuses: [
          { name: 'web', ready: false, state: { terminated: { exitCode: 0, reason: 'Completed' } } },
        ],
      }),
      now,
    );
    assert.deepEqual(s, { ready: '0/1', status: 'Completed', restarts: '0', completed: 'Succeeded' });
  });

  it('Completed turns into Running or NotReady while another container runs', () => {
    const spec = { containers: [{ name: 'job' }, { name: 'sidecar' }] };
    const statuses = [
      { name: 'job', state: { terminated: { exitCode: 0, reason: 'Completed' } } },
      running('sidecar'),
    ];
    assert.equal(
      summarizePod(
        pod(spec, {
          phase: 'Running',
          containerStatuses: statuses,
          conditions: [{ type: 'Ready', status: 'True' }],
        }),
        now,
      ).status,
      'Running',
    );
    const s = summarizePod(pod(spec, { phase: 'Running', containerStatuses: statuses }), now);
    assert.equal(s.status, 'NotReady');
    assert.equal(s.ready, '1/2');
  });

  it('init containers: Init:0/2, Init:reason, Init:ExitCode', () => {
    const spec = { initContainers: [{ name: 'i1' }, { name: 'i2' }], containers: [{ name: 'web' }] };
    const podInitializing = { name: 'web', state: { waiting: { reason: 'PodInitializing' } } };
    assert.equal(
      summarizePod(
        pod(spec, {
          phase: 'Pending',
          initContainerStatuses: [
            { name: 'i1', state: { running: {} } },
            { name: 'i2', state: { waiting: { reason: 'PodInitializing' } } },
          ],
          containerStatuses: [podInitializing],
        }),
        now,
      ).status,
      'Init:0/2',
    );
    assert.deepEqual(
      summarizePod(
        pod(spec, {
          phase: 'Pending',
          initContainerStatuses: [
            { name: 'i1', state: { terminated: { exitCode: 0, reason: 'Completed' } } },
            { name: 'i2', restartCount: 2, state: { waiting: { reason: 'CrashLoopBackOff' } } },
          ],
        }),
        now,
      ),
      { ready: '0/1', status: 'Init:CrashLoopBackOff', restarts: '2' },
    );
    assert.equal(
      summarizePod(
        pod(spec, {
          phase: 'Pending',
          initContainerStatuses: [{ name: 'i1', state: { terminated: { exitCode: 2 } } }],
        }),
        now,
      ).status,
      'Init:ExitCode:2',
    );
  });

  it('counts started restartable (sidecar) init containers as ready containers', () => {
    const spec = {
      initContainers: [{ name: 'proxy', restartPolicy: 'Always' }],
      containers: [{ name: 'web' }],
    };
    const s = summarizePod(
      pod(spec, {
        phase: 'Running',
        conditions: [{ type: 'Initialized', status: 'True' }],
        initContainerStatuses: [
          { name: 'proxy', started: true, ready: true, restartCount: 1, state: { running: {} } },
        ],
        containerStatuses: [running('web')],
      }),
      now,
    );
    assert.deepEqual(s, { ready: '2/2', status: 'Running', restarts: '1' });
  });

  it('Terminating once deletionTimestamp is set, unless already finished; Unknown for NodeLost', () => {
    const base = { phase: 'Running', containerStatuses: [running('web')] };
    assert.equal(
      summarizePod(pod(oneContainer, base, { deletionTimestamp: ago(0) }), now).status,
      'Terminating',
    );
    assert.equal(
      summarizePod(pod(oneContainer, { ...base, phase: 'Succeeded' }, { deletionTimestamp: ago(0) }), now)
        .status,
      'Succeeded',
    );
    assert.equal(
      summarizePod(pod(oneContainer, { ...base, reason: 'NodeLost' }, { deletionTimestamp: ago(0) }), now)
        .status,
      'Unknown',
    );
  });

  it('SchedulingGated and status.reason override the phase', () => {
    assert.equal(
      summarizePod(
        pod(oneContainer, {
          phase: 'Pending',
          conditions: [{ type: 'PodScheduled', status: 'False', reason: 'SchedulingGated' }],
        }),
        now,
      ).status,
      'SchedulingGated',
    );
    assert.equal(
      summarizePod(pod(oneContainer, { phase: 'Failed', reason: 'Evicted' }), now).status,
      'Evicted',
    );
  });

  it('readiness gates', () => {
    assert.equal(readinessGates(pod(oneContainer, {})), '<none>');
    assert.equal(
      readinessGates(
        pod(
          { ...oneContainer, readinessGates: [{ conditionType: 'a' }, { conditionType: 'b' }] },
          {
            conditions: [
              { type: 'a', status: 'True' },
              { type: 'b', status: 'False' },
            ],
          },
        ),
      ),
      '1/2',
    );
  });
});
