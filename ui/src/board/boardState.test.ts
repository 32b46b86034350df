import { describe, expect, it } from 'vitest';
import { board } from '../test/boardFixture.ts';
import { project, run, task, PROJECT_ID } from '../test/fixtures.ts';
import { EMPTY_BOARD, boardReducer, findTask, queuedRuns, type BoardState } from './boardState.ts';

function load(...args: Parameters<typeof board>): BoardState {
  return boardReducer(EMPTY_BOARD, { type: 'loaded', board: board(...args) });
}

const ids = (state: BoardState, status: keyof BoardState['columns']) => state.columns[status].tasks.map((t) => t.id);

describe('board reducer', () => {
  it('loads columns in board order', () => {
    const state = load([task('b', { position: 2 }), task('a', { position: 1 }), task('r', { status: 'in_review' })]);
    expect(ids(state, 'backlog')).toEqual(['a', 'b']);
    expect(state.columns.backlog.total).toBe(2);
    expect(ids(state, 'in_review')).toEqual(['r']);
  });

  it('adds a task created in another tab', () => {
    const state = boardReducer(load([task('a')]), {
      type: 'event',
      message: { type: 'task_updated', task: task('n', { position: 2 }) },
    });
    expect(ids(state, 'backlog')).toEqual(['a', 'n']);
    expect(state.columns.backlog.total).toBe(2);
  });

  it('moves a task between columns and keeps totals', () => {
    const state = boardReducer(load([task('a'), task('b', { position: 2 })]), {
      type: 'event',
      message: {
        type: 'task_updated',
        task: task('a', { status: 'queued', position: 5, updated_at: '2026-01-02T00:00:00Z' }),
      },
    });
    expect(ids(state, 'backlog')).toEqual(['b']);
    expect(ids(state, 'queued')).toEqual(['a']);
    expect(state.columns.backlog.total).toBe(1);
    expect(state.columns.queued.total).toBe(1);
  });

  it('reorders within a column', () => {
    const state = boardReducer(load([task('a', { position: 1 }), task('b', { position: 2 })]), {
      type: 'task',
      task: task('b', { position: 0.5, updated_at: '2026-01-02T00:00:00Z' }),
    });
    expect(ids(state, 'backlog')).toEqual(['b', 'a']);
    expect(state.columns.backlog.total).toBe(2);
  });

  it('ignores an event older than what it shows', () => {
    const newer = load([task('a', { status: 'queued', updated_at: '2026-01-03T00:00:00Z' })]);
    const state = boardReducer(newer, { type: 'task', task: task('a', { updated_at: '2026-01-02T00:00:00Z' }) });
    expect(state).toBe(newer);
  });

  it('removes deleted tasks', () => {
    const state = boardReducer(load([task('a'), task('b', { position: 2 })]), {
      type: 'event',
      message: { type: 'task_deleted', project_id: project().id, task_id: 'a' },
    });
    expect(ids(state, 'backlog')).toEqual(['b']);
    expect(state.columns.backlog.total).toBe(1);
  });

  it("ignores other projects' tasks", () => {
    const before = load([task('a')]);
    const other = task('x', { project_id: 'another' });
    expect(boardReducer(before, { type: 'event', message: { type: 'task_updated', task: other } })).toBe(before);
  });

  it('counts but does not show a task that belongs beyond the loaded page', () => {
    const state = load([task('a', { position: 1 }), task('b', { position: 2 })], { backlog: { total: 10, more: true } });
    const moved = boardReducer(state, { type: 'task', task: task('a', { position: 9, updated_at: '2026-01-02T00:00:00Z' }) });
    expect(ids(moved, 'backlog')).toEqual(['b']);
    expect(moved.columns.backlog.total).toBe(10);
  });

  it('asks for a reload when an unknown task moves on a paged board', () => {
    const state = load([task('a')], { backlog: { total: 60, more: true } });
    expect(boardReducer(state, { type: 'task', task: task('zz', { status: 'queued' }) }).stale).toBe(true);
    expect(boardReducer(state, { type: 'removed', taskId: 'zz' }).stale).toBe(true);
  });

  it('asks for a reload on resync', () => {
    expect(boardReducer(load([]), { type: 'event', message: { type: 'resync' } }).stale).toBe(true);
  });

  it('appends column pages without duplicates', () => {
    const state = load([task('a', { position: 1 })], { backlog: { total: 3, more: true } });
    const next = boardReducer(state, {
      type: 'page',
      status: 'backlog',
      tasks: [task('a', { position: 1 }), task('b', { position: 2 }), task('c', { position: 3 })],
      next: null,
    });
    expect(ids(next, 'backlog')).toEqual(['a', 'b', 'c']);
    expect(next.columns.backlog.next).toBeNull();
  });

  it('keeps the latest run of each task', () => {
    let state = load([task('a', { status: 'in_progress' })]);
    state = boardReducer(state, { type: 'runs', runs: [run('r1', 'a', { status: 'failed' }), run('r2', 'a', { attempt: 2 })] });
    expect(state.runs['a']?.id).toBe('r2');
    state = boardReducer(state, { type: 'event', message: { type: 'run_updated', project_id: PROJECT_ID, run: run('r1', 'a', { status: 'failed' }) } });
    expect(state.runs['a']?.id).toBe('r2');
    state = boardReducer(state, {
      type: 'event',
      message: { type: 'run_updated', project_id: PROJECT_ID, run: run('r2', 'a', { attempt: 2, status: 'succeeded' }) },
    });
    expect(state.runs['a']?.status).toBe('succeeded');
    // Runs of tasks that are not on the page are not kept.
    state = boardReducer(state, { type: 'event', message: { type: 'run_updated', project_id: PROJECT_ID, run: run('r9', 'elsewhere') } });
    expect(state.runs['elsewhere']).toBeUndefined();
  });

  it("keeps a queued run's place until it is read again or the run starts", () => {
    let state = load([task('a', { status: 'queued' }), task('b', { status: 'queued' })]);
    state = boardReducer(state, {
      type: 'runs',
      runs: [run('r1', 'a', { status: 'queued', queue_position: 3 }), run('r2', 'b', { status: 'running' })],
    });
    expect(queuedRuns(state).map((r) => r.id)).toEqual(['r1']);
    // A board event carries no place: the one last read stays.
    const event = (r: ReturnType<typeof run>) =>
      boardReducer(state, { type: 'event', message: { type: 'run_updated', project_id: PROJECT_ID, run: r } });
    state = event(run('r1', 'a', { status: 'queued', queue_position: null }));
    expect(state.runs['a']?.queue_position).toBe(3);
    // A fresh read moves it.
    state = boardReducer(state, { type: 'runs', runs: [run('r1', 'a', { status: 'queued', queue_position: 1 })] });
    expect(state.runs['a']?.queue_position).toBe(1);
    // Once it starts, it has no place.
    state = event(run('r1', 'a', { status: 'running', queue_position: null }));
    expect(state.runs['a']?.queue_position).toBeNull();
    expect(queuedRuns(state)).toEqual([]);
  });

  it('keeps a finished run finished when an older state arrives late', () => {
    let state = load([task('a', { status: 'in_progress' })]);
    state = boardReducer(state, { type: 'runs', runs: [run('r1', 'a', { status: 'cancelled' })] });
    state = boardReducer(state, { type: 'event', message: { type: 'run_updated', project_id: PROJECT_ID, run: run('r1', 'a', { status: 'running' }) } });
    expect(state.runs['a']?.status).toBe('cancelled');
  });

  it('follows project changes and deletion', () => {
    let state = load([task('a')]);
    state = boardReducer(state, { type: 'event', message: { type: 'project_updated', project: project({ name: 'renamed' }) } });
    expect(state.project?.name).toBe('renamed');
    state = boardReducer(state, { type: 'event', message: { type: 'project_deleted', project_id: project().id } });
    expect(state.deleted).toBe(true);
    expect(findTask(state, 'a')?.id).toBe('a');
  });
});
