import { describe, expect, it } from 'vitest';
import { isRunActive, laterRun, runStage } from '../api/types.ts';
import { run } from '../test/fixtures.ts';
import { clockTime, untilTime } from '../widgets/time.ts';
import { attemptText, nextRetry, queuePositionText, waitingTitle } from './waiting.ts';

const NOW = Date.parse('2026-03-03T10:00:00Z');

describe('waiting runs in words', () => {
  it('says what a run waits for', () => {
    expect(waitingTitle(run('r', 't', { status: 'waiting_auth' }))).toBe('Waiting for credentials');
    expect(waitingTitle(run('r', 't', { status: 'waiting_quota' }))).toBe('Waiting for usage limit');
    expect(waitingTitle(run('r', 't', { status: 'auth_required' }))).toBeNull();
  });

  it('counts attempts, with the limit when it is known', () => {
    expect(attemptText(run('r', 't', { tries: 2 }), 20)).toBe('attempt 2 of 20');
    expect(attemptText(run('r', 't', { tries: 2 }), null)).toBe('attempt 2');
  });

  it('tells when the next try is, relative and on the local clock', () => {
    const waiting = run('r', 't', { status: 'waiting_quota', retry_at: '2026-03-03T11:05:00Z' });
    expect(nextRetry(waiting, NOW)).toEqual({ relative: 'in 1 h 5 min', absolute: clockTime('2026-03-03T11:05:00Z', NOW) });
    expect(nextRetry({ ...waiting, retry_at: '2026-03-03T09:59:00Z' }, NOW)?.relative).toBe('any moment now');
    expect(nextRetry({ ...waiting, retry_at: null }, NOW)).toBeNull();
    expect(nextRetry({ ...waiting, status: 'failed' }, NOW)).toBeNull();
  });

  it('counts down in words', () => {
    expect(untilTime('2026-03-03T10:00:30Z', NOW)).toBe('in 30 s');
    expect(untilTime('2026-03-03T10:05:00Z', NOW)).toBe('in 5 min');
    expect(untilTime('2026-03-03T12:00:00Z', NOW)).toBe('in 2 h');
    expect(untilTime('2026-03-06T10:00:00Z', NOW)).toBe('in 3 d');
    expect(untilTime('2026-03-03T09:00:00Z', NOW)).toBe('now');
    // Another day shows its date.
    expect(clockTime('2026-03-09T10:00:00Z', NOW)).toMatch(/,/);
  });

  it('names a queued run’s place', () => {
    expect(queuePositionText(run('r', 't', { status: 'queued', queue_position: 3 }))).toBe('#3 in queue');
    expect(queuePositionText(run('r', 't', { status: 'queued' }))).toBeNull();
    expect(queuePositionText(run('r', 't', { status: 'running', queue_position: 3 }))).toBeNull();
  });
});

describe('run lifecycle order', () => {
  it('treats waiting runs as live', () => {
    expect(isRunActive(run('r', 't', { status: 'waiting_auth' }))).toBe(true);
    expect(isRunActive(run('r', 't', { status: 'waiting_quota' }))).toBe(true);
    expect(isRunActive(run('r', 't', { status: 'quota_exceeded' }))).toBe(false);
  });

  it('orders the states of a run that executes several times', () => {
    const running = run('r', 't', { status: 'running', tries: 1 });
    const waiting = run('r', 't', { status: 'waiting_auth', tries: 1 });
    const requeued = run('r', 't', { status: 'queued', tries: 1 });
    const states = [
      run('r', 't', { status: 'queued', tries: 0 }),
      running,
      waiting,
      requeued,
      run('r', 't', { status: 'running', tries: 2 }),
      run('r', 't', { status: 'waiting_quota', tries: 2 }),
      run('r', 't', { status: 'running', tries: 3 }),
      run('r', 't', { status: 'failed', tries: 3 }),
    ];
    const stages = states.map(runStage);
    expect([...stages].sort((a, b) => a - b)).toEqual(stages);
    expect(new Set(stages).size).toBe(stages.length);
    // A late stop reply (still running) does not undo the wait that came after it.
    expect(laterRun(waiting, running)).toBe(waiting);
    // A retry that queued it again moves it on.
    expect(laterRun(waiting, requeued)).toBe(requeued);
  });
});
