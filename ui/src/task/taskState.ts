/**
 * A task and its runs as the task page holds them, kept current by board socket events.
 */
import { laterRun, type BoardEvent, type Control, type Run, type Task } from '../api/types.ts';

export interface TaskState {
  task: Task | null;
  /** First attempt first. */
  runs: Run[];
  deleted: boolean;
  /** Events were missed: reload. */
  stale: boolean;
}

export const EMPTY_TASK: TaskState = { task: null, runs: [], deleted: false, stale: false };

export function upsertRun(runs: readonly Run[], run: Run): Run[] {
  const kept = laterRun(runs.find((r) => r.id === run.id), run);
  const others = runs.filter((r) => r.id !== run.id);
  return [...others, kept].sort((a, b) => a.attempt - b.attempt || a.created_at.localeCompare(b.created_at));
}

function newer(current: Task | null, next: Task): boolean {
  return !current || Date.parse(next.updated_at) >= Date.parse(current.updated_at);
}

export function applyTaskEvent(state: TaskState, taskId: string, message: BoardEvent | Control): TaskState {
  switch (message.type) {
    case 'resync':
      return { ...state, stale: true };
    case 'task_updated':
      return message.task.id === taskId && newer(state.task, message.task) ? { ...state, task: message.task } : state;
    case 'task_deleted':
      return message.task_id === taskId ? { ...state, deleted: true } : state;
    case 'run_updated':
      return message.run.task_id === taskId ? { ...state, runs: upsertRun(state.runs, message.run) } : state;
    default:
      return state;
  }
}

export function latestRun(runs: readonly Run[]): Run | undefined {
  return runs.at(-1);
}
