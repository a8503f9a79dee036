import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatTime, phaseOf, shouldRestart } from './pod-status.js';

const running = { state: { running: {} } };
const exited = (exitCode: number) => ({ state: { terminated: { exitCode } } });
const waiting = { state: { waiting: { reason: 'ContainerCreating' } } };
const restarting = {
  state: { waiting: { reason: 'CrashLoopBackOff' } },
  lastState: { terminated: { exitCode: 1 } },
};

describe('pod phase (kubelet getPhase)', () => {
  it('follows the kubelet table', () => {
    assert.equal(phaseOf('Always', [], [waiting]), 'Pending');
    assert.equal(phaseOf('Always', [], [running, waiting]), 'Pending');
    assert.equal(phaseOf('Always', [], [running]), 'Running');
    assert.equal(phaseOf('Always', [], [restarting]), 'Running');
    assert.equal(phaseOf('Always', [], [exited(0)]), 'Running');
    assert.equal(phaseOf('OnFailure', [], [exited(0), exited(0)]), 'Succeeded');
    assert.equal(phaseOf('OnFailure', [], [exited(0), exited(1)]), 'Running');
    assert.equal(phaseOf('Never', [], [exited(0), exited(1)]), 'Failed');
    assert.equal(phaseOf('Never', [], [running, exited(1)]), 'Running');
    assert.equal(phaseOf('Always', [running], [waiting]), 'Pending');
    assert.equal(phaseOf('Never', [exited(2)], [waiting]), 'Failed');
    assert.equal(phaseOf('Always', [restarting], [waiting]), 'Pending');
    assert.equal(phaseOf('Always', [exited(0)], [running]), 'Running');
  });

  it('restarts containers as the restart policy says', () => {
    assert.equal(shouldRestart('Never', undefined, false), true, 'never started: start it');
    assert.equal(shouldRestart('Never', { state: 'EXITED', exitCode: 1 }, false), false);
    assert.equal(shouldRestart('OnFailure', { state: 'EXITED', exitCode: 0 }, false), false);
    assert.equal(shouldRestart('OnFailure', { state: 'EXITED', exitCode: 1 }, false), true);
    assert.equal(shouldRestart('Always', { state: 'EXITED', exitCode: 0 }, false), true);
    assert.equal(shouldRestart('Always', { state: 'RUNNING' }, false), false);
    assert.equal(
      shouldRestart('Always', { state: 'EXITED', exitCode: 1 }, true),
      false,
      'not while terminating',
    );
  });

  it('formats times with second precision', () => {
    assert.equal(formatTime(Date.UTC(2026, 0, 1, 0, 0, 1, 999)), '2026-01-01T00:00:01Z');
  });
});
