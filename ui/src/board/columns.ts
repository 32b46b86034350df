/**
 * The board's columns in workflow order: five main columns, then the side states (waiting for
 * auth or quota, failed, cancelled). Ids are the server's `TaskStatus`; the `Record` makes the
 * compiler insist on every status the API knows.
 */
import type { TaskStatus } from '../api/types.ts';

export interface ColumnMeta {
  id: TaskStatus;
  title: string;
  /** Shown when the column has no tasks. */
  empty: string;
  /** Side states sit below the main board. */
  side: boolean;
}

const META: Record<TaskStatus, Omit<ColumnMeta, 'id'>> = {
  backlog: { title: 'Backlog', empty: 'No tasks in the backlog.', side: false },
  queued: { title: 'Queued', empty: 'Nothing queued.', side: false },
  in_progress: { title: 'In progress', empty: 'No agent is working on a task.', side: false },
  in_review: { title: 'In review', empty: 'Nothing waiting for review.', side: false },
  done: { title: 'Done', empty: 'No finished tasks yet.', side: false },
  waiting: { title: 'Waiting', empty: 'Nothing waiting for sign-in or quota.', side: true },
  failed: { title: 'Failed', empty: 'No failed tasks.', side: true },
  cancelled: { title: 'Cancelled', empty: 'No cancelled tasks.', side: true },
};

export const STATUS_ORDER: readonly TaskStatus[] = [
  'backlog',
  'queued',
  'in_progress',
  'in_review',
  'done',
  'waiting',
  'failed',
  'cancelled',
];

export const COLUMNS: readonly ColumnMeta[] = STATUS_ORDER.map((id) => ({ id, ...META[id] }));
export const MAIN_COLUMNS = COLUMNS.filter((c) => !c.side);
export const SIDE_COLUMNS = COLUMNS.filter((c) => c.side);

export function columnTitle(status: TaskStatus): string {
  return META[status].title;
}
