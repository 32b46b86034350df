// A board answer built from a list of tasks, for board tests.
import type { BoardData, Task, TaskStatus } from '../api/types.ts';
import { STATUS_ORDER } from '../board/columns.ts';
import { project } from './fixtures.ts';

export function board(tasks: Task[], fields: Partial<Record<TaskStatus, { total?: number; more?: boolean }>> = {}): BoardData {
  return {
    project: project(),
    columns: STATUS_ORDER.map((status) => {
      const list = tasks.filter((t) => t.status === status).sort((a, b) => a.position - b.position);
      const extra = fields[status];
      const last = list.at(-1);
      return {
        status,
        total: extra?.total ?? list.length,
        tasks: list,
        next: extra?.more && last ? { position: last.position, id: last.id } : null,
      };
    }),
  };
}
