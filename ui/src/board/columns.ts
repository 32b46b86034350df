/**
 * The board's columns, in workflow order. Ids match the server's task
 * statuses; once the typed client is generated from the OpenAPI document,
 * `ColumnId` should come from its `TaskStatus` type instead of this list.
 */
export const COLUMNS = [
  { id: 'backlog', title: 'Backlog', empty: 'No tasks in the backlog.' },
  { id: 'queued', title: 'Queued', empty: 'Nothing queued.' },
  { id: 'in_progress', title: 'In progress', empty: 'No agent is working on a task.' },
  { id: 'in_review', title: 'In review', empty: 'Nothing waiting for review.' },
  { id: 'done', title: 'Done', empty: 'No finished tasks yet.' },
] as const satisfies readonly Column[];

export interface Column {
  id: string;
  title: string;
  /** Shown when the column has no tasks. */
  empty: string;
}

export type ColumnId = (typeof COLUMNS)[number]['id'];
