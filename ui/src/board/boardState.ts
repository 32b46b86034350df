/**
 * The board as the page holds it, and how it changes: a loaded board, further column pages,
 * board socket events (from this tab's own actions and from every other tab), optimistic
 * moves, and each task's latest run. Pure functions, so every case is a unit test.
 *
 * Columns may be partly loaded (`next` is where the rest starts). A task that shows up in an
 * event but is not on the page may have been in an unloaded part of some column; then its old
 * column's total is unknown, and the state says `stale` so the page reloads the board.
 */
import { laterRun, type BoardData, type BoardEvent, type Control, type Cursor, type Project, type Run, type Task, type TaskStatus } from '../api/types.ts';
import { STATUS_ORDER } from './columns.ts';
import { compareCards } from './positions.ts';

export interface ColumnState {
  status: TaskStatus;
  total: number;
  tasks: Task[];
  next: Cursor | null;
}

export interface BoardState {
  project: Project | null;
  columns: Record<TaskStatus, ColumnState>;
  /** The latest run of each task on the page that has one. */
  runs: Record<string, Run>;
  /** Events were missed or cannot be applied exactly: reload the board. */
  stale: boolean;
  /** The project was deleted (in another tab). */
  deleted: boolean;
}

export type BoardAction =
  | { type: 'loaded'; board: BoardData }
  | { type: 'page'; status: TaskStatus; tasks: Task[]; next: Cursor | null }
  | { type: 'task'; task: Task }
  | { type: 'removed'; taskId: string }
  | { type: 'runs'; runs: Run[] }
  | { type: 'event'; message: BoardEvent | Control };

function emptyColumns(): Record<TaskStatus, ColumnState> {
  const columns = {} as Record<TaskStatus, ColumnState>;
  for (const status of STATUS_ORDER) columns[status] = { status, total: 0, tasks: [], next: null };
  return columns;
}

export const EMPTY_BOARD: BoardState = { project: null, columns: emptyColumns(), runs: {}, stale: false, deleted: false };

export function boardReducer(state: BoardState, action: BoardAction): BoardState {
  switch (action.type) {
    case 'loaded':
      return loaded(state, action.board);
    case 'page':
      return page(state, action.status, action.tasks, action.next);
    case 'task':
      return upsertTask(state, action.task);
    case 'removed':
      return removeTask(state, action.taskId);
    case 'runs':
      return action.runs.reduce(setRun, state);
    case 'event':
      return applyEvent(state, action.message);
  }
}

function loaded(state: BoardState, board: BoardData): BoardState {
  const columns = emptyColumns();
  for (const column of board.columns) {
    columns[column.status] = {
      status: column.status,
      total: column.total,
      tasks: [...column.tasks].sort(compareCards),
      next: column.next ?? null,
    };
  }
  const onBoard = new Set(board.columns.flatMap((c) => c.tasks.map((t) => t.id)));
  const runs = Object.fromEntries(Object.entries(state.runs).filter(([taskId]) => onBoard.has(taskId)));
  return { project: board.project, columns, runs, stale: false, deleted: false };
}

function page(state: BoardState, status: TaskStatus, tasks: Task[], next: Cursor | null): BoardState {
  const column = state.columns[status];
  const known = new Set(column.tasks.map((t) => t.id));
  const merged = column.tasks.concat(tasks.filter((t) => !known.has(t.id))).sort(compareCards);
  return { ...state, columns: { ...state.columns, [status]: { ...column, tasks: merged, next } } };
}

export function findTask(state: BoardState, taskId: string): Task | undefined {
  for (const status of STATUS_ORDER) {
    const task = state.columns[status].tasks.find((t) => t.id === taskId);
    if (task) return task;
  }
  return undefined;
}

function isPaged(state: BoardState): boolean {
  return STATUS_ORDER.some((status) => state.columns[status].next !== null);
}

/** Whether `task` belongs in the loaded part of its column (not beyond `next`). */
function inLoadedRange(column: ColumnState, task: Task): boolean {
  if (!column.next) return true;
  return compareCards(task, column.next) <= 0;
}

/** A task as stored now: from an event, an API answer, or an optimistic local change. */
export function upsertTask(state: BoardState, task: Task): BoardState {
  if (state.project && task.project_id !== state.project.id) return state;
  const previous = findTask(state, task.id);
  // Events and answers can cross: never go back to an older version.
  if (previous && Date.parse(previous.updated_at) > Date.parse(task.updated_at)) return state;
  if (!previous && isPaged(state)) return { ...state, stale: true };

  const columns = { ...state.columns };
  if (previous) {
    const old = columns[previous.status];
    columns[previous.status] = {
      ...old,
      total: old.total - 1,
      tasks: old.tasks.filter((t) => t.id !== task.id),
    };
  }
  const target = columns[task.status];
  columns[task.status] = {
    ...target,
    total: target.total + 1,
    tasks: inLoadedRange(target, task) ? [...target.tasks, task].sort(compareCards) : target.tasks,
  };
  return { ...state, columns };
}

export function removeTask(state: BoardState, taskId: string): BoardState {
  const previous = findTask(state, taskId);
  if (!previous) return isPaged(state) ? { ...state, stale: true } : state;
  const column = state.columns[previous.status];
  const runs = Object.fromEntries(Object.entries(state.runs).filter(([id]) => id !== taskId));
  return {
    ...state,
    runs,
    columns: {
      ...state.columns,
      [previous.status]: { ...column, total: column.total - 1, tasks: column.tasks.filter((t) => t.id !== taskId) },
    },
  };
}

/**
 * Later attempts win; the same attempt is replaced by its newer state. Board events do not
 * carry a queued run's place: a run still queued keeps the place last read until the board
 * reads it again (see `useBoard`).
 */
function setRun(state: BoardState, run: Run): BoardState {
  const current = state.runs[run.task_id];
  if (current && current.attempt > run.attempt) return state;
  if (!current && !findTask(state, run.task_id)) return state;
  let next = current?.id === run.id ? laterRun(current, run) : run;
  if (
    current?.id === next.id &&
    next.status === 'queued' &&
    next.queue_position == null &&
    current.status === 'queued' &&
    current.queue_position != null
  ) {
    next = { ...next, queue_position: current.queue_position };
  }
  return next === current ? state : { ...state, runs: { ...state.runs, [run.task_id]: next } };
}

/** The board's runs that wait in the queue (their places change as runs ahead start). */
export function queuedRuns(state: BoardState): Run[] {
  return Object.values(state.runs).filter((run) => run.status === 'queued');
}

export function applyEvent(state: BoardState, message: BoardEvent | Control): BoardState {
  switch (message.type) {
    case 'resync':
      return { ...state, stale: true };
    case 'task_updated':
      return upsertTask(state, message.task);
    case 'task_deleted':
      return state.project && message.project_id !== state.project.id ? state : removeTask(state, message.task_id);
    case 'run_updated':
      return setRun(state, message.run);
    case 'project_updated':
      return state.project?.id === message.project.id ? { ...state, project: message.project } : state;
    case 'project_deleted':
      return state.project?.id === message.project_id ? { ...state, deleted: true } : state;
    case 'clone_progress':
    case 'clone_finished':
      return state;
  }
}
