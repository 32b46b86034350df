import { describe, expect, it } from 'vitest';
import type { EventMessage } from '../api/events.ts';
import type { Run } from '../api/types.ts';
import { PROJECT_ID, project, run, task } from '../test/fixtures.ts';
import { MAX_REMEMBERED, RunWatch, type Snapshot } from './watch.ts';

function updated(r: Run, projectId = PROJECT_ID): EventMessage {
  return { type: 'run_updated', project_id: projectId, run: r };
}

function snapshot(runs: Run[]): Snapshot {
  return { projects: [project()], tasks: [], runs: runs.map((r) => ({ run: r, projectId: PROJECT_ID })) };
}

describe('RunWatch', () => {
  it('tells each outcome once, when a run reaches it', () => {
    const watch = new RunWatch();
    expect(watch.apply(updated(run('r1', 't1', { status: 'queued' })))).toBeNull();
    expect(watch.apply(updated(run('r1', 't1', { status: 'running' })))).toBeNull();
    expect(watch.running).toBe(1);
    // The runner publishes a claimed run, then the same run once its process started.
    expect(watch.apply(updated(run('r1', 't1', { status: 'running' })))).toBeNull();
    expect(watch.apply(updated(run('r1', 't1', { status: 'succeeded' })))).toEqual({
      outcome: 'finished',
      runId: 'r1',
      taskId: 't1',
      projectId: PROJECT_ID,
    });
    expect(watch.running).toBe(0);
    expect(watch.apply(updated(run('r1', 't1', { status: 'succeeded' })))).toBeNull();
  });

  it.each([
    ['succeeded', 'finished'],
    ['failed', 'failed'],
    ['interrupted', 'failed'],
    ['auth_required', 'failed'],
    ['quota_exceeded', 'failed'],
    ['billing', 'failed'],
    ['server_error', 'failed'],
    ['max_turns', 'failed'],
    ['waiting_auth', 'waiting_auth'],
    ['waiting_quota', 'waiting_quota'],
    ['cancelled', null],
    ['queued', null],
  ] as const)('a running run that becomes %s tells %s', (status, outcome) => {
    const watch = new RunWatch();
    watch.apply(updated(run('r1', 't1', { status: 'running' })));
    // A requeued run keeps its try count (a plain failure the project retries).
    expect(watch.apply(updated(run('r1', 't1', { status, tries: 1 })))?.outcome ?? null).toBe(outcome);
    expect(watch.running).toBe(0);
  });

  it('tells an outcome of a run it had not seen before (its earlier states came before the page)', () => {
    const watch = new RunWatch();
    expect(watch.apply(updated(run('r1', 't1', { status: 'failed' })))?.outcome).toBe('failed');
    expect(watch.running).toBe(0);
  });

  it('does not tell a wait again when a retry waits for the same reason', () => {
    const watch = new RunWatch();
    watch.apply(updated(run('r1', 't1', { status: 'running', tries: 1 })));
    expect(watch.apply(updated(run('r1', 't1', { status: 'waiting_auth', tries: 1 })))?.outcome).toBe('waiting_auth');
    expect(watch.apply(updated(run('r1', 't1', { status: 'running', tries: 2 })))).toBeNull();
    expect(watch.apply(updated(run('r1', 't1', { status: 'waiting_auth', tries: 2 })))).toBeNull();
    expect(watch.apply(updated(run('r1', 't1', { status: 'running', tries: 3 })))).toBeNull();
    // A different reason is news, and so is the end.
    expect(watch.apply(updated(run('r1', 't1', { status: 'waiting_quota', tries: 3 })))?.outcome).toBe('waiting_quota');
    expect(watch.apply(updated(run('r1', 't1', { status: 'running', tries: 4 })))).toBeNull();
    expect(watch.apply(updated(run('r1', 't1', { status: 'succeeded', tries: 4 })))?.outcome).toBe('finished');
  });

  it('does not tell states present when the page loaded, nor a retry of a run that waited then', () => {
    const watch = new RunWatch();
    watch.seed(snapshot([run('r1', 't1', { status: 'running' }), run('r2', 't2', { status: 'waiting_auth', tries: 1 })]), new Set());
    expect(watch.running).toBe(1);
    expect(watch.apply(updated(run('r2', 't2', { status: 'running', tries: 2 })))).toBeNull();
    expect(watch.running).toBe(2);
    expect(watch.apply(updated(run('r2', 't2', { status: 'waiting_auth', tries: 2 })))).toBeNull();
    expect(watch.running).toBe(1);
    expect(watch.apply(updated(run('r1', 't1', { status: 'succeeded' })))?.outcome).toBe('finished');
  });

  it('ignores a late event carrying an earlier state', () => {
    const watch = new RunWatch();
    watch.apply(updated(run('r1', 't1', { status: 'running' })));
    watch.apply(updated(run('r1', 't1', { status: 'succeeded' })));
    expect(watch.apply(updated(run('r1', 't1', { status: 'running' })))).toBeNull();
    expect(watch.running).toBe(0);
  });

  it('keeps what events said while a snapshot was read, and drops running runs it no longer shows', () => {
    const watch = new RunWatch();
    watch.apply(updated(run('r1', 't1', { status: 'running' })));
    watch.apply(updated(run('r2', 't2', { status: 'running' })));
    watch.apply(updated(run('r3', 't3', { status: 'running' })));
    expect(watch.running).toBe(3);
    // r1 ended while events were missed; r2 ended during the read (the event is newer); r4 started unseen.
    watch.apply(updated(run('r2', 't2', { status: 'succeeded' })));
    watch.seed(
      snapshot([run('r2', 't2', { status: 'running' }), run('r3', 't3', { status: 'running' }), run('r4', 't4', { status: 'running' })]),
      new Set(['r2']),
    );
    expect(watch.running).toBe(2);
    expect(watch.apply(updated(run('r4', 't4', { status: 'failed' })))?.outcome).toBe('failed');
    expect(watch.running).toBe(1);
  });

  it('forgets the running runs of deleted tasks and projects', () => {
    const watch = new RunWatch();
    watch.apply(updated(run('r1', 't1', { status: 'running' })));
    watch.apply(updated(run('r2', 't2', { status: 'running' }), 'p2'));
    watch.apply({ type: 'task_deleted', project_id: PROJECT_ID, task_id: 't1' });
    expect(watch.running).toBe(1);
    watch.apply({ type: 'project_deleted', project_id: 'p2' });
    expect(watch.running).toBe(0);
  });

  it('learns titles and project names from events and snapshots', () => {
    const watch = new RunWatch();
    watch.seed({ projects: [project({ name: 'alpha' })], tasks: [task('t1', { title: 'First' })], runs: [] }, new Set());
    expect(watch.taskTitle('t1')).toBe('First');
    expect(watch.projectName(PROJECT_ID)).toBe('alpha');
    watch.apply({ type: 'task_updated', task: task('t1', { title: 'Renamed' }) });
    watch.apply({ type: 'project_updated', project: project({ name: 'beta' }) });
    expect(watch.taskTitle('t1')).toBe('Renamed');
    expect(watch.projectName(PROJECT_ID)).toBe('beta');
    watch.apply({ type: 'task_deleted', project_id: PROJECT_ID, task_id: 't1' });
    expect(watch.taskTitle('t1')).toBeUndefined();
  });

  it('remembers a bounded number of runs and tasks, keeping the running ones counted', () => {
    const watch = new RunWatch();
    watch.apply(updated(run('live', 'tl', { status: 'running' })));
    for (let i = 0; i < MAX_REMEMBERED + 10; i++) {
      watch.apply({ type: 'task_updated', task: task(`t${i}`) });
      watch.apply(updated(run(`r${i}`, `t${i}`, { status: 'succeeded' })));
    }
    expect(watch.taskTitle('t0')).toBeUndefined();
    expect(watch.taskTitle(`t${MAX_REMEMBERED + 9}`)).toBe(`Task t${MAX_REMEMBERED + 9}`);
    expect(watch.running).toBe(1);
    expect(watch.apply(updated(run('live', 'tl', { status: 'succeeded' })))?.outcome).toBe('finished');
    expect(watch.running).toBe(0);
  });
});
