import { describe, expect, it } from 'vitest';
import { run, task, PROJECT_ID } from '../test/fixtures.ts';
import { EMPTY_TASK, applyTaskEvent, latestRun, upsertRun } from './taskState.ts';

describe('task state', () => {
  const loaded = { ...EMPTY_TASK, task: task('t1'), runs: [run('r1', 't1', { status: 'succeeded' })] };

  it('adds follow-up runs in attempt order and updates them in place', () => {
    let state = applyTaskEvent(loaded, 't1', { type: 'run_updated', project_id: PROJECT_ID, run: run('r2', 't1', { attempt: 2, kind: 'follow_up' }) });
    expect(state.runs.map((r) => r.id)).toEqual(['r1', 'r2']);
    state = applyTaskEvent(state, 't1', { type: 'run_updated', project_id: PROJECT_ID, run: run('r2', 't1', { attempt: 2, status: 'cancelled' }) });
    expect(state.runs).toHaveLength(2);
    expect(latestRun(state.runs)?.status).toBe('cancelled');
  });

  it("ignores other tasks' events", () => {
    expect(applyTaskEvent(loaded, 't1', { type: 'run_updated', project_id: PROJECT_ID, run: run('x', 't2') })).toBe(loaded);
    expect(applyTaskEvent(loaded, 't1', { type: 'task_updated', task: task('t2') })).toBe(loaded);
  });

  it('follows task changes, but not older ones', () => {
    const changed = task('t1', { status: 'in_review', updated_at: '2026-01-02T00:00:00Z' });
    const state = applyTaskEvent(loaded, 't1', { type: 'task_updated', task: changed });
    expect(state.task?.status).toBe('in_review');
    expect(applyTaskEvent(state, 't1', { type: 'task_updated', task: task('t1') })).toBe(state);
  });

  it('notices deletion and missed events', () => {
    expect(applyTaskEvent(loaded, 't1', { type: 'task_deleted', project_id: 'p', task_id: 't1' }).deleted).toBe(true);
    expect(applyTaskEvent(loaded, 't1', { type: 'resync' }).stale).toBe(true);
  });

  it('never takes a run back to an earlier state (a late reply crossing an event)', () => {
    const cancelled = applyTaskEvent(loaded, 't1', { type: 'run_updated', project_id: PROJECT_ID, run: run('r2', 't1', { attempt: 2, status: 'cancelled' }) });
    const stale = upsertRun(cancelled.runs, run('r2', 't1', { attempt: 2, status: 'running' }));
    expect(latestRun(stale)?.status).toBe('cancelled');
    expect(latestRun(upsertRun(stale, run('r2', 't1', { attempt: 2, status: 'cancelled', error: 'stopped' })))?.error).toBe('stopped');
  });

  it('sorts by attempt', () => {
    expect(upsertRun([run('b', 't', { attempt: 2 })], run('a', 't', { attempt: 1 })).map((r) => r.id)).toEqual(['a', 'b']);
  });
});
